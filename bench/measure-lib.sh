# bench/measure-lib.sh: what bench/barerelay/measure.sh and bench/looprelay/measure.sh share, sourced by both.
# measure_setup NAME: a work directory (WORK, removed at exit with every pid in pids and the PostgreSQL in it),
# a throwaway PostgreSQL 15+ on a free port (PGPORT; trust, pgbench scale 10), run as the postgres user.
# measure_rounds LABEL TARGET...: ROUNDS interleaved rounds of pgbench -S (plus PGBENCH_ARGS, e.g. "-M extended") for SECS seconds at each of CLIENTS
# through each target (PORT[t], PID[t]), one TSV line per run in $WORK/results.tsv: the target's CPU time
# (utime+stime from /proc/PID/stat) per transaction, in microseconds. measure_medians prints the medians, with
# the CPU ratio to the target "pgbouncer" when it ran.
# SERVER_TLS=require (or another server_tls_sslmode) turns on ssl in that PostgreSQL (a self-signed certificate
# made with openssl) and sets the poolers' server_tls_sslmode to it (pgpooler_toml; PgBouncer: pgbouncer_tls);
# default disable, PostgreSQL without ssl. CLIENT_TLS=require makes pgbench use TLS (PGSSLMODE) and both poolers
# accept it (client_tls_sslmode, with that certificate).
# APPNAMES="a b": each pgbench run is one group of clients per name at once, with that application_name
# (run_groups), so that a server passed between groups needs a parameter sync at each lending.
# AUTH=scram: PostgreSQL asks TCP clients for scram-sha-256 (role postgres, password "bench", PGPASSWORD set) and
# both poolers check SCRAM against an auth_file holding that secret copied out of pg_authid ($WORK/userlist.txt,
# write_userlist), as the bench suite does; otherwise trust. LOG_CONNECTIONS=1 logs connections and
# disconnections in both poolers (the suite's setting; off by default here).
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
TCK=$(getconf CLK_TCK)
pids=()
declare -A PORT PID

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	su postgres -c "$PGBIN/pg_ctl -D $WORK/data -m immediate stop" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}

measure_setup() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	chown postgres "$WORK"
	trap measure_cleanup EXIT
	PGPORT=$(freeport)
	if [ "${AUTH:-}" = scram ]; then
		su postgres -c "$PGBIN/initdb -D $WORK/data --auth-local=trust --auth-host=scram-sha-256 -U postgres" >/dev/null
	else
		su postgres -c "$PGBIN/initdb -D $WORK/data -A trust -U postgres" >/dev/null
	fi
	local ssl=""
	if [ "${SERVER_TLS:-disable}" != disable ] || [ "${CLIENT_TLS:-disable}" != disable ]; then
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -keyout "$WORK/data/server.key" \
			-out "$WORK/data/server.crt" >/dev/null 2>&1
		chown postgres "$WORK/data/server.key" "$WORK/data/server.crt"
		chmod 600 "$WORK/data/server.key"
		cp "$WORK/data/server.key" "$WORK/data/server.crt" "$WORK/"
		chown postgres "$WORK/server.key" "$WORK/server.crt"
	fi
	if [ "${SERVER_TLS:-disable}" != disable ]; then ssl="-c ssl=on"; fi
	su postgres -c "$PGBIN/pg_ctl -D $WORK/data -l $WORK/pg.log -o '-p $PGPORT -k $WORK -c max_connections=200 -c shared_buffers=256MB -c fsync=off $ssl' -w start" >/dev/null
	if [ "${AUTH:-}" = scram ]; then
		su postgres -c "$PGBIN/psql -h $WORK -p $PGPORT -U postgres -qc \"ALTER ROLE postgres PASSWORD 'bench'\"" >/dev/null
		export PGPASSWORD=bench
	fi
	"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
	write_userlist
}

# write_userlist: $WORK/userlist.txt, the poolers' auth_file (the role's SCRAM secret with AUTH=scram, else "").
write_userlist() {
	local secret=""
	[ "${AUTH:-}" = scram ] && secret=$(su postgres -c "$PGBIN/psql -h $WORK -p $PGPORT -U postgres -Atc \"SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'\"")
	printf '"postgres" "%s"\n' "$secret" >"$WORK/userlist.txt"
	chown postgres "$WORK/userlist.txt"
}

# Settings that AUTH and LOG_CONNECTIONS choose, in each pooler's syntax.
auth_pgbouncer() { [ "${AUTH:-}" = scram ] && echo scram-sha-256 || echo trust; }
log_pgbouncer() { [ "${LOG_CONNECTIONS:-}" = 1 ] && echo 1 || echo 0; }
auth_pgpooler() { [ "${AUTH:-}" = scram ] && echo "\"scram-sha-256\"" || echo "\"trust\""; }
# The database entries' forced user: none with AUTH=scram (a forced user's server login would need its
# password, where the clients' SCRAM keys are what both poolers log in with).
user_pgbouncer() { [ "${AUTH:-}" = scram ] || echo " user=postgres"; }
user_pgpooler() { [ "${AUTH:-}" = scram ] || echo 'user = "postgres"'; }
log_pgpooler() { [ "${LOG_CONNECTIONS:-}" = 1 ] && echo true || echo false; }

# pgpooler_toml PORT EVENT_LOOPS [EXTRA]: the looprelay measurements' pgpooler config (transaction mode, pool 20,
# trust or AUTH, no prepared-statement tracking, server_tls_sslmode SERVER_TLS or disable) on stdout, EXTRA
# lines added to [pooler].
pgpooler_toml() {
	cat <<TOML
[pooler]
listen_addr = "127.0.0.1"
listen_port = $1
unix_socket_dir = ""
auth_type = $(auth_pgpooler)
auth_file = "$WORK/userlist.txt"
pool_mode = "transaction"
default_pool_size = 20
max_client_conn = 1000
max_prepared_statements = 0
server_tls_sslmode = "${SERVER_TLS:-disable}"
client_tls_sslmode = "${CLIENT_TLS:-disable}"
$([ "${CLIENT_TLS:-disable}" = disable ] || printf 'client_tls_key_file = "%s"\nclient_tls_cert_file = "%s"' "$WORK/server.key" "$WORK/server.crt")
log_connections = $(log_pgpooler)
log_disconnections = $(log_pgpooler)
event_loops = $2
${3:-}
[databases.postgres]
host = "127.0.0.1"
port = $PGPORT
$(user_pgpooler)
TOML
}

# pgbouncer_tls: PgBouncer's server_tls_sslmode line for SERVER_TLS and client_tls_* lines for CLIENT_TLS (none
# when disable).
pgbouncer_tls() {
	[ "${SERVER_TLS:-disable}" = disable ] || echo "server_tls_sslmode = $SERVER_TLS"
	[ "${CLIENT_TLS:-disable}" = disable ] || printf 'client_tls_sslmode = %s\nclient_tls_key_file = %s\nclient_tls_cert_file = %s\n' \
		"$CLIENT_TLS" "$WORK/server.key" "$WORK/server.crt"
}

cpu() { awk '{print ($14+$15)}' "/proc/$1/stat"; }

measure_rounds() {
	local label=$1 r c j t before after out txns tps us
	shift
	echo -e "round\t$label\tclients\ttps\ttxns\tcpu_us_per_txn" | tee "$WORK/results.tsv"
	for r in $(seq "$ROUNDS"); do
		for c in $CLIENTS; do
			j=$((c < 2 ? 1 : 2))
			for t in "$@"; do
				before=$(cpu "${PID[$t]}")
				if [ -n "${APPNAMES:-}" ]; then
					run_groups "$t" "$c"
				else
					out=$(PGSSLMODE=${CLIENT_TLS:-prefer} "$PGBIN/pgbench" -n -S ${PGBENCH_ARGS:-} -c "$c" -j "$j" -T "$SECS" -h 127.0.0.1 -p "${PORT[$t]}" -U postgres postgres 2>&1)
				fi
				after=$(cpu "${PID[$t]}")
				txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out" | awk '{n+=$1} END{print n}')
				tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | awk '{n+=$1} END{print n}')
				us=$(awk -v a="$after" -v b="$before" -v n="$txns" -v t="$TCK" 'BEGIN{printf "%.1f", (a-b)/t*1e6/n}')
				echo -e "$r\t$t\t$c\t$tps\t$txns\t$us" | tee -a "$WORK/results.tsv"
			done
		done
	done
}

# run_groups TARGET CLIENTS: pgbench -S at TARGET in one group per name in APPNAMES at once (PGAPPNAME, so
# their application_name differs and a server passed between groups is synced at its lending), CLIENTS
# divided between them; their outputs concatenated in out (measure_rounds sums them).
run_groups() {
	local t=$1 c=$2 n g k=0 waits=()
	set -- $APPNAMES
	n=$(($c / $#))
	for g in "$@"; do
		PGAPPNAME=$g PGSSLMODE=${CLIENT_TLS:-prefer} "$PGBIN/pgbench" -n -S ${PGBENCH_ARGS:-} -c "$n" -j 1 -T "$SECS" \
			-h 127.0.0.1 -p "${PORT[$t]}" -U postgres postgres >"$WORK/group.$k" 2>&1 &
		waits+=("$!")
		k=$((k + 1))
	done
	wait "${waits[@]}" # not the poolers, also children of this shell
	out=$(cat "$WORK"/group.*)
	rm -f "$WORK"/group.*
}

measure_medians() {
	echo
	echo "medians: target clients tps cpu_us_per_txn ratio_to_pgbouncer"
	python3 - "$WORK/results.tsv" <<'PY'
import sys, statistics as st, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
d = collections.defaultdict(list)
for r, t, c, tps, n, us in rows:
    d[(t, int(c))].append((float(tps), float(us)))
med = {k: (st.median(x for x, _ in v), st.median(y for _, y in v)) for k, v in d.items()}
for (t, c), (tps, us) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    b = med.get(("pgbouncer", c))
    ratio = f"{us / b[1]:.2f}" if b else "-"
    print(f"{t}\t{c}\t{tps:.0f}\t{us:.1f}\t{ratio}")
PY
}
