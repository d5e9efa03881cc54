#!/usr/bin/env bash
# measure.sh: CPU microseconds per transaction of pgpooler with event_loops off and on, driven by
# pgbench -S through bin/pgpooler (transaction mode, pool 20, max_prepared_statements 0,
# server_tls_sslmode disable, trust), interleaved rounds, medians. PgBouncer (PGBOUNCER, default
# /usr/sbin/pgbouncer; transaction mode, pool 20, trust) runs in the same rounds when installed; with
# BASE=<git rev>, pgpooler built at that revision runs too, event_loops on ("base-on"), for a before/after.
# SERVER_TLS=require: PostgreSQL with ssl on, both poolers' server_tls_sslmode require; CLIENT_TLS=require: pgbench
# over TLS to both poolers (bench/measure-lib.sh). AUTH=scram and LOG_CONNECTIONS=1 as in bench/measure-lib.sh
# (e.g. AUTH=scram LOG_CONNECTIONS=1 PGBENCH_ARGS=-C). APPNAMES="a b": two groups of clients with different
# application_name at once (a parameter sync at most lendings).
# Usage: [BASE=rev] [PGBOUNCER=path] [SERVER_TLS=mode] [AUTH=scram] bench/looprelay/measure.sh [rounds] [seconds] ["clients..."]
set -euo pipefail
ROUNDS=${1:-3}
SECS=${2:-5}
CLIENTS=${3:-"1 10 50"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/measure-lib.sh"
measure_setup looprelay
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

for m in $MODES; do
	PORT[$m]=$(freeport)
	if [ "$m" = pgbouncer ]; then
		cat >"$WORK/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PGPORT$(user_pgbouncer)
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PORT[$m]}
unix_socket_dir =
auth_type = $(auth_pgbouncer)
auth_file = $WORK/userlist.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
log_connections = $(log_pgbouncer)
log_disconnections = $(log_pgbouncer)
logfile = $WORK/pgbouncer.log
$(pgbouncer_tls)
INI
		chown postgres "$WORK/pgbouncer.ini"
		su postgres -s /bin/sh -c "ulimit -n 4096 2>/dev/null; exec $PGBOUNCER $WORK/pgbouncer.ini" >/dev/null 2>&1 &
		PID[$m]=$!; pids+=("$!")
		continue
	fi
	loops=false; [ "$m" != off ] && loops=true
	bin="$WORK/pgpooler"; [ "$m" = base-on ] && bin="$WORK/pgpooler-base"
	pgpooler_toml "${PORT[$m]}" "$loops" >"$WORK/$m.toml"
	"$bin" -config "$WORK/$m.toml" >"$WORK/$m.log" 2>&1 &
	PID[$m]=$!; pids+=("$!")
done
sleep 1
if [ -n "${PID[pgbouncer]:-}" ]; then # su's child is PgBouncer itself (exec)
	sleep 1
	PID[pgbouncer]=$(pgrep -P "${PID[pgbouncer]}" || echo "${PID[pgbouncer]}")
	pids+=("${PID[pgbouncer]}")
fi
measure_rounds event_loops $MODES
measure_medians
