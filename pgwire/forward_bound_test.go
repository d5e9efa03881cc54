package pgwire

import (
	"encoding/binary"
	"io"
	"runtime"
	"testing"
)

// repeatReader yields n bytes of 'x', in reads of whatever size is asked, without holding them.
type repeatReader struct{ n int }

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	r.n -= k
	return k, nil
}

// sizeSink counts what is written to it and the largest single write.
type sizeSink struct{ total, largest int }

func (s *sizeSink) Write(p []byte) (int, error) {
	s.total += len(p)
	s.largest = max(s.largest, len(p))
	return len(p), nil
}

// TestForwardBoundedMemory: forwarding one 64 MiB DataRow and then a small message, as the relay does
// (Reader.Forward into a Writer), allocates at most a few BufferSize buffers, never memory that grows
// with the message: the per-link bound of docs/reliability.md ("Back-pressure"). Every write to the
// destination is at most BufferSize bytes, so a blocked destination stops the reads from the source.
func TestForwardBoundedMemory(t *testing.T) {
	const body = 64 << 20
	var hdr [HeaderSize]byte
	hdr[0] = 'D'
	binary.BigEndian.PutUint32(hdr[1:], uint32(4+body))
	src := io.MultiReader(bytesReader(hdr[:]), &repeatReader{n: body}, bytesReader(frame('C', []byte("SELECT 1\x00"))))
	var sink sizeSink
	rd, w := NewReader(src), NewWriter(&sink)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 2; i++ {
		if _, _, err := rd.Next(); err != nil {
			t.Fatal(err)
		}
		if err := rd.Forward(w); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	if want := HeaderSize + body + HeaderSize + 9; sink.total != want {
		t.Fatalf("forwarded %d bytes, want %d", sink.total, want)
	}
	if alloc > 256<<10 {
		t.Fatalf("forwarding a %d MiB message allocated %d KiB, want under 256 KiB", body>>20, alloc>>10)
	}
	if sink.largest > BufferSize {
		t.Fatalf("a write to the destination was %d bytes, want at most BufferSize (%d)", sink.largest, BufferSize)
	}
	wantEmpty(t, rd)
	t.Logf("forwarded a %d MiB DataRow: %d KiB allocated, largest write %d bytes", body>>20, alloc>>10, sink.largest)
}

// bytesReader reads b once.
func bytesReader(b []byte) io.Reader { return &sliceReader{b: b} }

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}
