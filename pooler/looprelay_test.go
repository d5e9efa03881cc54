package pooler

import (
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestLoopCount: event_loop_count's default leaves half of Go's Ps idle, with at least one loop.
func TestLoopCount(t *testing.T) {
	for procs, want := range map[int]int{1: 1, 2: 1, 3: 1, 4: 2, 8: 4, 64: 32} {
		if got := loopCount(procs); got != want {
			t.Errorf("loopCount(%d) = %d, want %d", procs, got, want)
		}
	}
}

// TestKeepFixedEventLoopCount: a reload keeps the running event_loop_count and says so.
func TestKeepFixedEventLoopCount(t *testing.T) {
	running := config.Default()
	next := config.Default()
	next.Pooler.EventLoopCount = 3
	got, notes := keepFixed(running, next)
	if got.Pooler.EventLoopCount != 0 || len(notes) != 1 || !strings.Contains(notes[0], "event_loop_count 3 cannot change") {
		t.Errorf("kept event_loop_count %d, notes %q", got.Pooler.EventLoopCount, notes)
	}
}
