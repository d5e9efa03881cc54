#!/usr/bin/env bash
# Runs every fuzz target in the repository for a short while: each `func FuzzXxx(` in a _test.go file,
# as `go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime $FUZZTIME ./its/package`. Works with none or many.
# FUZZTIME (default 5s, which keeps the whole step near two minutes with 16 targets) sets the time per
# target. Exits non-zero if any target fails, after running all.
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-5s}"
go="${GO:-go}"

# "path/to/x_test.go:func FuzzName(" lines, sorted, without vendor/ and hidden directories.
targets=$({ grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . || true; } |
	{ grep -Ev '^\./(.*/)?(\.[^/]+|vendor|testdata)/' || true; } | sort -u)

if [ -z "$targets" ]; then
	echo "fuzz: no fuzz targets"
	exit 0
fi

failed=()
count=0
while IFS= read -r line; do
	file="${line%%:*}"
	name="${line#*:func }"
	name="${name%(}"
	pkg="$(dirname "$file")"
	count=$((count + 1))
	echo "fuzz: $name in $pkg for $fuzztime"
	# A run can end with "context deadline exceeded" and no failing input when a loaded machine is slow
	# to stop the fuzzing workers at -fuzztime (the Go toolchain's own timing, not a bug found): such a
	# run is repeated once. A real failure writes its input under testdata/fuzz and always counts.
	for attempt in 1 2; do
		out=$("$go" test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg" 2>&1) && { echo "$out"; break; }
		echo "$out"
		if [ "$attempt" = 1 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			echo "fuzz: $name stopped late (context deadline exceeded, no failing input); running it again"
			continue
		fi
		failed+=("$name ($pkg)")
		break
	done
done <<<"$targets"

if [ "${#failed[@]}" -gt 0 ]; then
	echo "fuzz: ${#failed[@]} of $count targets FAILED:"
	printf '  %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: all $count targets passed"
