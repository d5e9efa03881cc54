package tests

// Helpers for the fault suite's summary lines, "reliability: <scenario>: ...", which
// scripts/reliability.sh greps from the verbose test output to build docs/reliability.md.

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// sqlstates counts what clients saw by SQLSTATE (or another short class, such as "ok").
type sqlstates map[string]int

// String returns the counts sorted by code, as "08P01=4 0A000=2", or "none".
func (s sqlstates) String() string {
	var parts []string
	for c, n := range s {
		parts = append(parts, c+"="+strconv.Itoa(n))
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// slowest keeps the longest of the durations it is given.
type slowest time.Duration

// add records d.
func (s *slowest) add(d time.Duration) {
	if d > time.Duration(*s) {
		*s = slowest(d)
	}
}

// String returns the longest duration rounded as roundTime does.
func (s slowest) String() string { return roundTime(time.Duration(s)).String() }

// roundTime rounds d for the summary lines: to the millisecond, or to 10 µs below 10 ms.
func roundTime(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(10 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
