package loop

// Scratch buffers: byte slices a loop lends to code running on it and takes back, from a free list of
// its own (no lock: the loop's alone; no sync.Pool, which a garbage collection empties, and which under
// the race detector drops a quarter of what it is given). The conns' held bytes (a message not yet
// whole when its read ended, or one that waits while its conn is paused) start in one, and so do the
// pooler's gathered writes.

// ScratchSize is the capacity in bytes of a scratch buffer: a small client message held whole (pgbench's
// -S query is 60 bytes) fits, so holding it allocates nothing.
const ScratchSize = 512

// maxSpareScratch bounds the scratch buffers a loop keeps for reuse: 32 KiB per loop.
const maxSpareScratch = 64

// Scratch lends an empty buffer of capacity ScratchSize; give it back with PutScratch. On the loop.
func (l *Loop) Scratch() []byte {
	if n := len(l.spareScratch); n > 0 {
		b := l.spareScratch[n-1]
		l.spareScratch[n-1] = nil
		l.spareScratch = l.spareScratch[:n-1]
		return b[:0]
	}
	return make([]byte, 0, ScratchSize)
}

// PutScratch takes back a buffer Scratch lent (or any buffer of capacity ScratchSize) once nothing uses
// it; others (grown by an append) are left to the garbage collector. On the loop.
func (l *Loop) PutScratch(b []byte) {
	if cap(b) == ScratchSize && len(l.spareScratch) < maxSpareScratch {
		l.spareScratch = append(l.spareScratch, b[:0])
	}
}
