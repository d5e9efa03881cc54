#!/usr/bin/env bash
# The quick start in one command (`make run`):
#   1. builds bin/pgpooler;
#   2. if no PostgreSQL answers on the backend address, starts a throwaway one from the installed server
#      binaries (initdb into ${TMPDIR:-/tmp}/pgpooler-run-pg, trust auth, 127.0.0.1:5432), stopped and
#      removed when this script exits;
#   3. runs `bin/pgpooler -config config.toml` in the foreground until Ctrl-C.
#
# Environment:
#   PGPOOLER_CONFIG        config file (default ./config.toml)
#   PGPOOLER_BACKEND_HOST  PostgreSQL host to check/start (default 127.0.0.1)
#   PGPOOLER_BACKEND_PORT  PostgreSQL port to check/start (default 5432)
#   PGPOOLER_PORT          the pooler's listen_port, for the printed URL (default 6432)
#   PGPOOLER_SOCKET_DIR    the pooler's unix_socket_dir, for the printed console command (default /tmp)
#   PGPOOLER_BIN           run this binary instead of building bin/pgpooler (a prebuilt one, or a stub)
#   PG_BINDIR              directory of initdb/pg_ctl/postgres (default: found as tests/pgtest does)
# The config file is not parsed: keep the backend and listen ports and unix_socket_dir in it the same as
# these variables (their defaults match the quick start's config.toml). Simple on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."

config="${PGPOOLER_CONFIG:-./config.toml}"
backend_host="${PGPOOLER_BACKEND_HOST:-127.0.0.1}"
backend_port="${PGPOOLER_BACKEND_PORT:-5432}"
pooler_port="${PGPOOLER_PORT:-6432}"
socket_dir="${PGPOOLER_SOCKET_DIR:-/tmp}"
pgdir="${TMPDIR:-/tmp}/pgpooler-run-pg"

say() { echo "run.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ -f "$config" ] || die "no config file $config (set PGPOOLER_CONFIG)"

# --- 1. the pooler binary
if [ -n "${PGPOOLER_BIN:-}" ]; then
	bin="$PGPOOLER_BIN"
else
	command -v go >/dev/null || PATH="/usr/local/go/bin:$PATH"
	say "building bin/pgpooler"
	go build -o bin/pgpooler ./cmd/pgpooler
	bin=bin/pgpooler
fi

# --- 2. PostgreSQL
server_bindir() { # where initdb, pg_ctl and postgres are, as tests/pgtest.FindBinDir looks
	local d candidates=()
	if [ -n "${PG_BINDIR:-}" ]; then
		candidates+=("$PG_BINDIR")
	else
		d=$(pg_config --bindir 2>/dev/null) && candidates+=("$d")
		while IFS= read -r d; do candidates+=("$d"); done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn)
		d=$(command -v initdb 2>/dev/null) && candidates+=("$(dirname "$(readlink -f "$d")")")
	fi
	for d in "${candidates[@]}"; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

bindir=$(server_bindir || true)
pg_isready_bin=$(command -v pg_isready || true)
[ -n "$pg_isready_bin" ] || { [ -n "$bindir" ] && pg_isready_bin="$bindir/pg_isready"; }
[ -x "$pg_isready_bin" ] || die "pg_isready not found: install the Debian package postgresql-client (apt-get install postgresql-client)"

ready() { "$pg_isready_bin" -q -h "$backend_host" -p "$backend_port" -t 2; }

# as_postgres runs a PostgreSQL binary; initdb and postgres refuse root, so as root they run as the OS
# user postgres (created by the postgresql package), from a directory that user can enter.
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

started_pg=""
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [ -n "${pooler_pid:-}" ] && kill -0 "$pooler_pid" 2>/dev/null; then
		kill -TERM "$pooler_pid" 2>/dev/null || true
		wait "$pooler_pid" 2>/dev/null || true
	fi
	if [ -n "$started_pg" ]; then
		say "stopping the throwaway PostgreSQL and removing $pgdir"
		as_postgres "$bindir/pg_ctl" stop -D "$pgdir/data" -m fast -w -s >/dev/null 2>&1 || true
		rm -rf "$pgdir"
	fi
	exit "$status"
}

"$pg_isready_bin" -q -h "$backend_host" -p "$backend_port" -t 1 && answered=0 || answered=$?
if [ "$answered" = 1 ]; then # 1: the server is there but still starting
	say "PostgreSQL on $backend_host:$backend_port is starting; waiting"
	for _ in $(seq 30); do ready && break; sleep 1; done
	ready || die "PostgreSQL on $backend_host:$backend_port keeps rejecting connections"
elif [ "$answered" = 0 ] && [ -f "$pgdir/data/postmaster.pid" ] && [ -n "$bindir" ]; then
	say "reusing the throwaway PostgreSQL an earlier run left in $pgdir; it is stopped when this script exits"
	started_pg=1
elif [ "$answered" = 0 ]; then
	say "using the PostgreSQL that answers on $backend_host:$backend_port"
else
	[ -n "$bindir" ] || die "no PostgreSQL answers on $backend_host:$backend_port and no server binaries are installed: install the Debian package postgresql (apt-get install postgresql), or start one yourself"
	[ "$backend_host" = 127.0.0.1 ] || [ "$backend_host" = localhost ] ||
		die "no PostgreSQL answers on $backend_host:$backend_port, which is not local: start it, or unset PGPOOLER_BACKEND_HOST"
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		die "running as root, PostgreSQL needs the OS user postgres: install the Debian package postgresql"
	fi
	say "no PostgreSQL on 127.0.0.1:$backend_port: starting a throwaway one from $bindir in $pgdir"
	rm -rf "$pgdir" # left over from a run that was killed
	mkdir -p -m 0700 "$pgdir"
	[ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
	started_pg=1
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	as_postgres "$bindir/initdb" -D "$pgdir/data" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$pgdir/initdb.log" 2>&1 ||
		{ cat "$pgdir/initdb.log" >&2; die "initdb failed"; }
	cat >>"$pgdir/data/postgresql.conf" <<-CONF
		# scripts/run.sh
		listen_addresses = '127.0.0.1'
		port = $backend_port
		unix_socket_directories = '$pgdir'
		max_connections = 200
	CONF
	# setsid: a Ctrl-C in the terminal reaches the pooler, not PostgreSQL; cleanup stops it after the pooler.
	detach=()
	command -v setsid >/dev/null && detach=(setsid --wait)
	if ! as_postgres "${detach[@]}" "$bindir/pg_ctl" start -D "$pgdir/data" -l "$pgdir/postgres.log" -w -t 60 -s; then
		tail -n 20 "$pgdir/postgres.log" >&2 || true
		die "PostgreSQL did not start (is port $backend_port taken by something else?)"
	fi
	say "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') listens on 127.0.0.1:$backend_port (user postgres, trust auth; log $pgdir/postgres.log)"
fi

# --- 3. the pooler, in the foreground
cat <<EOF

  pgpooler is starting on 127.0.0.1:$pooler_port (config $config). Point your application at it:

    DATABASE_URL=postgres://postgres@127.0.0.1:$pooler_port/postgres
    psql -h 127.0.0.1 -p $pooler_port -U postgres postgres

  The admin console, without a password over the Unix socket as the OS user running this script
  ($(id -un)), as in PgBouncer:

    psql -h $socket_dir -p $pooler_port -U pgbouncer pgbouncer -c 'SHOW POOLS'

  Ctrl-C stops it$([ -n "$started_pg" ] && echo " and the throwaway PostgreSQL").

EOF
# In the background plus `wait`, so that a signal to this script is handled at once (bash would defer
# its traps until a foreground child exits) and forwarded to the pooler as SIGTERM by cleanup.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$bin" -config "$config" &
pooler_pid=$!
status=0
wait "$pooler_pid" || status=$?
pooler_pid=""
exit "$status"
