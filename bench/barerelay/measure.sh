#!/usr/bin/env bash
# measure.sh: CPU microseconds per transaction of each bare-relay mode and of
# PgBouncer (session mode, so also a 1:1 relay), driven by pgbench -S.
# Usage: bench/barerelay/measure.sh [rounds] [seconds] ["clients..."]
# Prints one TSV line per run and a median summary. Needs PostgreSQL's binaries
# (PGBIN), pgbench, and optionally /usr/sbin/pgbouncer; runs as root, starting
# PostgreSQL and PgBouncer as the postgres user.
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-5}
CLIENTS=${3:-"1 10 50"}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
MODES=${MODES:-"goroutine gnet gnet-enroll nbio nbio-et"}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/barerelay.XXXXXX)
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

go build -o "$WORK/barerelay" "$HERE"
declare -A PORT PID
for m in $MODES; do
	PORT[$m]=$(freeport)
	"$WORK/barerelay" -mode "$m" -listen "127.0.0.1:${PORT[$m]}" -upstream "127.0.0.1:$PGPORT" >"$WORK/$m.log" 2>&1 &
	PID[$m]=$!; pids+=("$!")
done
TARGETS="$MODES"
if [ -x "$PGBOUNCER" ]; then
	PORT[pgbouncer]=$(freeport)
	cat >"$WORK/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PORT[pgbouncer]}
unix_socket_dir =
auth_type = trust
auth_file = $WORK/userlist.txt
pool_mode = session
default_pool_size = 100
max_client_conn = 500
pidfile = $WORK/pgbouncer.pid
INI
	echo '"postgres" ""' >"$WORK/userlist.txt"
	chown postgres "$WORK"/pgbouncer.ini "$WORK"/userlist.txt
	su postgres -s /bin/sh -c "$PGBOUNCER $WORK/pgbouncer.ini" >"$WORK/pgbouncer.log" 2>&1 &
	for _ in $(seq 50); do [ -s "$WORK/pgbouncer.pid" ] && break; sleep 0.1; done
	PID[pgbouncer]=$(cat "$WORK/pgbouncer.pid")
	pids+=("${PID[pgbouncer]}")
	TARGETS="$TARGETS pgbouncer"
fi
sleep 1

cpu() { awk -v t="$TCK" '{print ($14+$15)}' "/proc/$1/stat"; }

echo -e "round\ttarget\tclients\ttps\ttxns\tcpu_us_per_txn" | tee "$WORK/results.tsv"
for r in $(seq "$ROUNDS"); do
	for c in $CLIENTS; do
		j=$(( c < 2 ? 1 : 2 ))
		for t in $TARGETS; do
			before=$(cpu "${PID[$t]}")
			out=$("$PGBIN/pgbench" -n -S -c "$c" -j "$j" -T "$SECS" -h 127.0.0.1 -p "${PORT[$t]}" -U postgres postgres 2>&1)
			after=$(cpu "${PID[$t]}")
			txns=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
			tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$out" | head -1)
			us=$(awk -v a="$after" -v b="$before" -v n="$txns" -v t="$TCK" 'BEGIN{printf "%.1f", (a-b)/t*1e6/n}')
			echo -e "$r\t$t\t$c\t$tps\t$txns\t$us" | tee -a "$WORK/results.tsv"
		done
	done
done
echo
echo "medians (tps, cpu us/txn, cpu ratio to pgbouncer):"
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
