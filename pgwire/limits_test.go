package pgwire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// allocatedDuring returns how many bytes the process allocated while f ran.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReaderLyingHeaderAllocatesLittle: a header declaring 2^30 bytes followed by 2 KiB makes ReadMsg
// wait for the rest without allocating the declared length: what the Reader holds grows with what
// arrives (issue 10, finding 5).
func TestReaderLyingHeaderAllocatesLittle(t *testing.T) {
	for _, typ := range []byte{'P', 'B', 'Q', 'd'} {
		client, server := net.Pipe()
		rd := NewReader(server) // no TypeLimit: the declared length passes Next
		done := make(chan error, 1)
		var got uint64
		got = allocatedDuring(func() {
			go func() { _, err := rd.ReadMsg(); done <- err }()
			// net.Pipe's Write returns once the reader has read all of it.
			if _, err := client.Write(append(header(typ, 1<<30), bytes.Repeat([]byte{'x'}, 2048)...)); err != nil {
				t.Fatal(err)
			}
		})
		select {
		case err := <-done:
			t.Fatalf("%q: ReadMsg returned %v before the message arrived", typ, err)
		default:
		}
		client.Close()
		if err := <-done; !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%q: ReadMsg of a truncated message = %v, want io.ErrUnexpectedEOF", typ, err)
		}
		server.Close()
		if got > 1<<20 {
			t.Fatalf("%q: a header declaring 2^30 bytes and 2 KiB of body allocated %d bytes, want under 1 MiB", typ, got)
		}
	}
}

// TestReaderGrowsWithWhatArrives: a large message read whole is read into a buffer that grows with the
// bytes that have arrived (at most about twice them), and comes out intact; the buffer is not kept once
// the message has been consumed.
func TestReaderGrowsWithWhatArrives(t *testing.T) {
	const size = 5<<20 + 123
	msg := frame('d', patterned(size))
	src := &watchReader{r: &chunkReader{r: bytes.NewReader(append(bytes.Clone(msg), frame('S', nil)...)), max: 7000}}
	rd := NewReader(src)
	src.check = func() {
		if c := cap(rd.buf); c > 2*BufferSize && c > 2*src.n {
			t.Fatalf("after %d bytes arrived the Reader holds a %d-byte buffer", src.n, c)
		}
	}
	got, err := rd.ReadMsg()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("ReadMsg = %d bytes, %v; want the %d-byte message", len(got), err, len(msg))
	}
	if typ, _, err := rd.Next(); err != nil || typ != 'S' {
		t.Fatalf("Next after the large message = %q, %v", typ, err)
	}
	if c := cap(rd.buf); c > BufferSize {
		t.Fatalf("the Reader keeps a %d-byte buffer after the large message", c)
	}
}

// watchReader counts the bytes read through it and calls check before each Read.
type watchReader struct {
	r     io.Reader
	n     int
	check func()
}

func (w *watchReader) Read(p []byte) (int, error) {
	if w.check != nil {
		w.check()
	}
	n, err := w.r.Read(p)
	w.n += n
	return n, err
}

// TestReaderFrontendLimits: with FrontendLimit, Sync, Describe, Close, Flush, Execute and Terminate are
// refused at once (08P01 from Next, nothing of the body read) beyond 10,000 bytes, as PostgreSQL refuses
// them, and pass at exactly 10,000; Parse, Bind and Query pass up to 1 GB - 2 bytes. MaxMessageSize
// still caps every type.
func TestReaderFrontendLimits(t *testing.T) {
	next := func(typ byte, n uint32, maxSize int) (int, error) {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		rd := NewReader(server)
		rd.TypeLimit, rd.MaxMessageSize = FrontendLimit, maxSize
		go func() { _, _ = client.Write(header(typ, n)) }() // the header only: the body never comes
		_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := rd.Next()
		return got, err
	}
	for _, typ := range []byte{'S', 'D', 'C', 'H', 'E', 'X', 'c', 'f'} {
		if n, err := next(typ, SmallMessageLimit, 0); err != nil || n != SmallMessageLimit {
			t.Fatalf("%q of exactly %d bytes: Next = %d, %v", typ, SmallMessageLimit, n, err)
		}
		_, err := next(typ, SmallMessageLimit+1, 0)
		wantProtocolViolation(t, err)
		if !strings.Contains(err.Error(), "10000") || !strings.Contains(err.Error(), string(typ)) {
			t.Fatalf("%q over the limit: %v, want the type and the limit named", typ, err)
		}
		_, err = next(typ, 1<<30, 0)
		wantProtocolViolation(t, err)
	}
	for _, typ := range []byte{'P', 'B', 'Q', 'F', 'd'} {
		if n, err := next(typ, LargeMessageLimit, 0); err != nil || n != LargeMessageLimit {
			t.Fatalf("%q of exactly %d bytes: Next = %d, %v", typ, LargeMessageLimit, n, err)
		}
		_, err := next(typ, LargeMessageLimit+1, 0)
		wantProtocolViolation(t, err)
		// max_packet_size below the type's limit wins, and is named.
		_, err = next(typ, 1<<20+1, 1<<20)
		wantProtocolViolation(t, err)
		if !strings.Contains(err.Error(), "max_packet_size") {
			t.Fatalf("%q over MaxMessageSize: %v, want max_packet_size named", typ, err)
		}
	}
}

// TestReaderBackendLimits: with BackendLimit, the server message types libpq lets be long (and
// ParameterDescription and ParameterStatus) pass up to MaxMessageSize; the others are refused beyond
// 30,000 bytes.
func TestReaderBackendLimits(t *testing.T) {
	for _, tc := range []struct {
		typ byte
		n   uint32
		ok  bool
	}{
		{'D', 1 << 30, true}, {'T', 1 << 30, true}, {'E', 1 << 30, true}, {'t', 262146, true}, {'d', 1 << 30, true},
		{'Z', BackendShortMessageLimit, true}, {'Z', BackendShortMessageLimit + 1, false},
		{'S', 1 << 20, true}, {'C', 1 << 20, false}, {'R', 1 << 30, false}, {'K', 30001, false},
	} {
		rd := NewReader(bytes.NewReader(header(tc.typ, tc.n)))
		rd.TypeLimit = BackendLimit
		_, n, err := rd.Next()
		if tc.ok && (err != nil || n != int(tc.n)) {
			t.Fatalf("%q of %d bytes: Next = %d, %v", tc.typ, tc.n, n, err)
		}
		if !tc.ok {
			wantProtocolViolation(t, err)
		}
	}
}
