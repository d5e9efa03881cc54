package pooler

import (
	"sync/atomic"
	"testing"
)

// TestServerCancels: a release while cancels are in flight is left to the last of them, counted as
// waiting until then; one unacknowledged cancel makes the release close the server.
func TestServerCancels(t *testing.T) {
	var x serverCancels
	var waiting atomic.Int32
	if unsure, settled := x.settle(&waiting); !settled || unsure {
		t.Fatalf("no cancel in flight: settle = %v, %v; want settled and sure", unsure, settled)
	}
	x.begin()
	x.begin()
	if _, settled := x.settle(&waiting); settled || waiting.Load() != 1 {
		t.Fatalf("two cancels in flight: settled %v, waiting %d; want deferred, 1 waiting", settled, waiting.Load())
	}
	if release, _ := x.end(false); release {
		t.Fatal("first of two cancels ended: release; want none until the last")
	}
	release, unsure := x.end(true)
	if !release || !unsure || waiting.Load() != 0 {
		t.Fatalf("last cancel ended: release %v, unsure %v, waiting %d; want release, unsure (one was not acknowledged), 0", release, unsure, waiting.Load())
	}
	x.begin()
	if release, _ := x.end(true); release {
		t.Fatal("a cancel ended with no release waiting: release; want none")
	}
}
