package pgwire

import "testing"

// TestBufferPoolAllocs: borrowing and returning a buffer allocates nothing once the pool is warm.
func TestBufferPoolAllocs(t *testing.T) {
	putBuf(getBuf())
	if n := testing.AllocsPerRun(100, func() { putBuf(getBuf()[:10]) }); n != 0 {
		t.Fatalf("getBuf+putBuf allocates %v times per run, want 0", n)
	}
}
