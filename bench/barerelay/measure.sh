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
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
MODES=${MODES:-"goroutine gnet gnet-enroll nbio nbio-et"}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../measure-lib.sh"
measure_setup barerelay

go build -o "$WORK/barerelay" "$HERE"
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

measure_rounds target $TARGETS
measure_medians
