#!/usr/bin/env bash
# Runs the fault suite (the tests of docs/reliability.md) verbosely and prints each scenario's summary
# line, "reliability: ...": what clients saw (counts by SQLSTATE), hung operations, recovery times,
# resources before and after. PGPOOLER_LONG=1 runs the long variants. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."
tests='TestFaultToxics|TestFaultStalledServerQueryTimeout|TestLoad$|TestRestartRecovery|TestTerminateBackend|TestTCPDeadServer|TestUnansweredCancel|TestCancelStorm|TestForgedCancelFlood|TestQueueLeave|TestKill(Client|Database)NotReading|TestOrdering|TestLyingLengthMemory|TestBinaryOutOfFDs|TestHostile|TestSoak$'
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
"${GO:-go}" test -race -count=1 -v -timeout 30m -run "$tests" "$@" ./tests/ >"$log" 2>&1 || status=$?
grep -E '^\s+[a-z_]+_test\.go:[0-9]+: reliability: ' "$log" | sed -E 's/^\s+[a-z_]+_test\.go:[0-9]+: //'
grep -E '^(--- FAIL|FAIL|ok) ' "$log" || true
exit "$status"
