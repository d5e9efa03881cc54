package status

import (
	"testing"
	"time"
)

// TestHolders: only clients holding a server are holders, grouped by pool, idle in transaction (aborted
// or not) before active ones, and within each the longest hold first.
func TestHolders(t *testing.T) {
	t0 := time.Unix(1000, 0)
	snap := &Snapshot{Taken: t0, Clients: []ClientInfo{
		{ID: 1, Database: "b", User: "u", Holding: "active", HeldSince: t0.Add(-9 * time.Second)},
		{ID: 2, Database: "a", User: "u", Holding: "active", HeldSince: t0.Add(-1 * time.Second)},
		{ID: 3, Database: "a", User: "u", Holding: "idle in transaction", HeldSince: t0.Add(-2 * time.Second)},
		{ID: 4, Database: "a", User: "u"}, // no server
		{ID: 5, Database: "a", User: "u", Holding: "active", HeldSince: t0.Add(-5 * time.Second)},
		{ID: 6, Database: "a", User: "u", Holding: "idle in transaction (aborted)", HeldSince: t0.Add(-3 * time.Second)},
	}}
	var got []uint64
	for _, h := range snap.Holders() {
		got = append(got, h.ID)
	}
	want := []uint64{6, 3, 5, 2, 1}
	if len(got) != len(want) {
		t.Fatalf("holders %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("holders %v, want %v", got, want)
		}
	}
	if h := snap.Holders()[0]; h.Hold != 3*time.Second {
		t.Errorf("hold of client 6 %v, want 3s", h.Hold)
	}
}
