package pooler

import (
	"testing"
	"time"
)

// TestAveragesOf: rates are per second over the period, times are means per transaction, query and
// server assignment, as PgBouncer's SHOW STATS avg_* columns.
func TestAveragesOf(t *testing.T) {
	prev := Counters{Xacts: 100, Queries: 200, Received: 1000, XactTime: 5000, QueryTime: 4000, ServerAssignments: 10, WaitTime: 100}
	cur := Counters{Xacts: 160, Queries: 320, Received: 4000, XactTime: 11000, QueryTime: 10000, ServerAssignments: 30, WaitTime: 500}
	got := averagesOf(prev, cur, 30*time.Second)
	want := Averages{Xacts: 2, Queries: 4, Received: 100, XactTime: 100, QueryTime: 50, ServerAssignments: 0, WaitTime: 20}
	if got != want {
		t.Fatalf("averagesOf = %+v, want %+v", got, want)
	}
	if z := averagesOf(cur, cur, 30*time.Second); z != (Averages{}) {
		t.Fatalf("an idle period gives %+v, want zeros", z)
	}
	if z := averagesOf(prev, cur, 0); z != (Averages{}) {
		t.Fatalf("a zero period gives %+v, want zeros", z)
	}
}
