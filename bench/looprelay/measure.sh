#!/usr/bin/env bash
# measure.sh: CPU microseconds per transaction of pgpooler with event_loops off and on, driven by
# pgbench -S through bin/pgpooler (transaction mode, pool 20, max_prepared_statements 0,
# server_tls_sslmode disable, trust), interleaved rounds, medians. PgBouncer (PGBOUNCER, default
# /usr/sbin/pgbouncer; transaction mode, pool 20, trust) runs in the same rounds when installed; with
# BASE=<git rev>, pgpooler built at that revision runs too, event_loops on ("base-on"), for a before/after.
# Usage: [BASE=rev] [PGBOUNCER=path] bench/looprelay/measure.sh [rounds] [seconds] ["clients..."]
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-5}
CLIENTS=${3:-"1 10 50"}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/looprelay.XXXXXX)
chown postgres "$WORK"
TCK=$(getconf CLK_TCK)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	su postgres -c "$PGBIN/pg_ctl -D $WORK/data -m immediate stop" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PGPORT=$(freeport)
su postgres -c "$PGBIN/initdb -D $WORK/data -A trust -U postgres" >/dev/null
su postgres -c "$PGBIN/pg_ctl -D $WORK/data -l $WORK/pg.log -o '-p $PGPORT -k $WORK -c max_connections=200 -c shared_buffers=256MB -c fsync=off' -w start" >/dev/null
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q postgres >/dev/null 2>&1
(cd "$ROOT" && go build -o "$WORK/pgpooler" ./cmd/pgpooler)
MODES="off on"
if [ -n "${BASE:-}" ]; then
	mkdir "$WORK/base"
	git -C "$ROOT" archive "$BASE" | tar -x -C "$WORK/base"
	(cd "$WORK/base" && go build -o "$WORK/pgpooler-base" ./cmd/pgpooler)
	MODES="$MODES base-on"
fi
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
[ -x "$PGBOUNCER" ] && MODES="$MODES pgbouncer"

declare -A PORT PID
for m in $MODES; do
	PORT[$m]=$(freeport)
	if [ "$m" = pgbouncer ]; then
		echo '"postgres" ""' >"$WORK/userlist.txt"
		cat >"$WORK/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PGPORT user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PORT[$m]}
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
log_connections = 0
log_disconnections = 0
logfile = $WORK/pgbouncer.log
INI
		chown postgres "$WORK/pgbouncer.ini" "$WORK/userlist.txt"
		su postgres -s /bin/sh -c "exec $PGBOUNCER $WORK/pgbouncer.ini" >/dev/null 2>&1 &
		PID[$m]=$!; pids+=("$!")
		continue
	fi
	loops=false; [ "$m" != off ] && loops=true
	bin="$WORK/pgpooler"; [ "$m" = base-on ] && bin="$WORK/pgpooler-base"
	cat >"$WORK/$m.toml" <<TOML
[pooler]
listen_addr = "127.0.0.1"
listen_port = ${PORT[$m]}
unix_socket_dir = ""
auth_type = "trust"
pool_mode = "transaction"
default_pool_size = 20
max_client_conn = 1000
max_prepared_statements = 0
server_tls_sslmode = "disable"
log_connections = false
log_disconnections = false
event_loops = $loops
[databases.postgres]
host = "127.0.0.1"
port = $PGPORT
user = "postgres"
TOML
	"$bin" -config "$WORK/$m.toml" >"$WORK/$m.log" 2>&1 &
	PID[$m]=$!; pids+=("$!")
done
sleep 1
if [ -n "${PID[pgbouncer]:-}" ]; then # su's child is PgBouncer itself (exec)
	sleep 1
	PID[pgbouncer]=$(pgrep -P "${PID[pgbouncer]}" || echo "${PID[pgbouncer]}")
	pids+=("${PID[pgbouncer]}")
fi
cpu() { awk '{print ($14+$15)}' "/proc/$1/stat"; }
echo -e "round\tevent_loops\tclients\ttps\ttxns\tcpu_us_per_txn" | tee "$WORK/results.tsv"
for r in $(seq "$ROUNDS"); do
	for c in $CLIENTS; do
		j=$(( c < 2 ? 1 : 2 ))
		for m in $MODES; do
			before=$(cpu "${PID[$m]}")
			out=$("$PGBIN/pgbench" -n -S -c "$c" -j "$j" -T "$SECS" -h 127.0.0.1 -p "${PORT[$m]}" -U postgres postgres 2>&1)
			after=$(cpu "${PID[$m]}")
			txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
			tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
			us=$(awk -v a="$after" -v b="$before" -v n="$txns" -v t="$TCK" 'BEGIN{printf "%.1f", (a-b)/t*1e6/n}')
			echo -e "$r\t$m\t$c\t$tps\t$txns\t$us" | tee -a "$WORK/results.tsv"
		done
	done
done
echo; echo "medians: event_loops clients tps cpu_us_per_txn"
python3 - "$WORK/results.tsv" <<'PY'
import sys, statistics as st, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
d = collections.defaultdict(list)
for r, m, c, tps, n, us in rows:
    d[(m, int(c))].append((float(tps), float(us)))
for (m, c), v in sorted(d.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    print(f"{m}\t{c}\t{st.median(x for x, _ in v):.0f}\t{st.median(y for _, y in v):.1f}")
PY
