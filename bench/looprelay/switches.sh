#!/usr/bin/env bash
# switches.sh: where a transaction's CPU goes, pgpooler (event_loops on) beside PgBouncer: the process's user and
# system CPU time per transaction (utime, stime from /proc/PID/stat) and its context switches per transaction
# and system calls per transaction (perf stat), over pgbench -S runs in transaction mode, pool 20, trust. Each VARIANT is a pgpooler started with
# that environment (e.g. "GOMAXPROCS=3"; "-" for none; "BIN=path" runs that pgpooler binary instead of the
# checkout's, e.g. one built at another revision) and extra config lines from EXTRA_<n> (n counts from 1).
# PGBENCH_ARGS adds pgbench options (e.g. "-M extended"); AUTH=scram and LOG_CONNECTIONS=1 as in bench/measure-lib.sh.
# Usage: [VARIANTS="- GOMAXPROCS=3"] [PGBOUNCER=path] bench/looprelay/switches.sh [rounds] [seconds] ["clients..."]
set -euo pipefail
ROUNDS=${1:-1}
SECS=${2:-8}
CLIENTS=${3:-"1 10 50"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/bench/measure-lib.sh"
command -v perf >/dev/null || { echo "switches.sh needs perf (Debian: linux-perf)" >&2; exit 1; }
measure_setup switches
(cd "$ROOT" && go build -o "$WORK/pgpooler" ./cmd/pgpooler)
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}
TARGETS=()
i=0
for v in ${VARIANTS:--}; do
	i=$((i + 1)); t="pgpooler$i"; TARGETS+=("$t"); PORT[$t]=$(freeport)
	extra_var="EXTRA_$i"
	pgpooler_toml "${PORT[$t]}" true "${!extra_var:-}" >"$WORK/$t.toml"
	[ "$v" = - ] && v=
	bin="$WORK/pgpooler"
	case "$v" in BIN=*) bin=${v#BIN=}; v= ;; esac
	env $v "$bin" -config "$WORK/$t.toml" >"$WORK/$t.log" 2>&1 &
	PID[$t]=$!; pids+=("$!")
	echo "$t: $bin ${v:-(no environment)} ${!extra_var:-}"
done
if [ -x "$PGBOUNCER" ]; then
	t=pgbouncer; TARGETS+=("$t"); PORT[$t]=$(freeport)
	printf '[databases]\npostgres = host=127.0.0.1 port=%s%s\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %s\nunix_socket_dir =\nauth_type = %s\nauth_file = %s\npool_mode = transaction\ndefault_pool_size = 20\nmax_client_conn = 1000\nlog_connections = %s\nlog_disconnections = %s\nlogfile = %s\n%s\n' \
		"$PGPORT" "$(user_pgbouncer)" "${PORT[$t]}" "$(auth_pgbouncer)" "$WORK/userlist.txt" "$(log_pgbouncer)" "$(log_pgbouncer)" "$WORK/pgbouncer.log" "$(pgbouncer_tls)" >"$WORK/pgbouncer.ini"
	chown postgres "$WORK/pgbouncer.ini"
	su postgres -s /bin/sh -c "ulimit -n 4096 2>/dev/null; exec $PGBOUNCER $WORK/pgbouncer.ini" >/dev/null 2>&1 &
	sleep 1
	PID[$t]=$(pgrep -P "$!" || echo "$!"); pids+=("${PID[$t]}")
fi
sleep 1
printf '%-10s %7s %8s %7s %7s %7s %9s %9s\n' target clients txns user_us sys_us cpu_us switches syscalls
for r in $(seq "$ROUNDS"); do
	for c in $CLIENTS; do
		j=$((c < 2 ? 1 : 2))
		for t in "${TARGETS[@]}"; do
			read -r u0 s0 < <(awk '{print $14, $15}' "/proc/${PID[$t]}/stat")
			perf stat -e context-switches,raw_syscalls:sys_enter -p "${PID[$t]}" -o "$WORK/perf.out" -- sleep "$SECS" >/dev/null 2>&1 &
			ps=$!
			out=$("$PGBIN/pgbench" -n -S ${PGBENCH_ARGS:-} -c "$c" -j "$j" -T "$SECS" -h 127.0.0.1 -p "${PORT[$t]}" -U postgres postgres 2>&1)
			wait "$ps" || true
			read -r u1 s1 < <(awk '{print $14, $15}' "/proc/${PID[$t]}/stat")
			n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
			cs=$(awk '/context-switches/ {gsub(",", "", $1); print $1}' "$WORK/perf.out")
			sc=$(awk '/raw_syscalls:sys_enter/ {gsub(",", "", $1); print $1}' "$WORK/perf.out")
			awk -v t="$t" -v c="$c" -v n="$n" -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v k="$TCK" -v cs="$cs" -v sc="$sc" \
				'BEGIN {printf "%-10s %7d %8d %7.1f %7.1f %7.1f %9.2f %9.2f\n", t, c, n, u/k*1e6/n, s/k*1e6/n, (u+s)/k*1e6/n, cs/n, sc/n}'
		done
	done
done
