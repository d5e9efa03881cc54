package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
)

// frame returns a message of type typ with body: type byte, int32 length counting itself, body.
func frame(typ byte, body []byte) []byte {
	m := make([]byte, HeaderSize, HeaderSize+len(body))
	m[0] = typ
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

// header returns only the 5-byte header of a message claiming length n.
func header(typ byte, n uint32) []byte {
	h := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(h[1:], n)
	return h
}

// encode encodes a pgproto3 message or fails the test.
func encode(t testing.TB, m pgproto3.Message) []byte {
	t.Helper()
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatalf("encode %T: %v", m, err)
	}
	return b
}

// patterned returns n bytes that differ from position to position, so that a misplaced byte shows.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// sampleStream returns a few real frontend messages, one of them larger than BufferSize, and each
// message's bytes.
func sampleStream(t testing.TB) ([]byte, [][]byte) {
	msgs := [][]byte{
		encode(t, &pgproto3.Query{String: "SELECT 1"}),
		encode(t, &pgproto3.Sync{}), // empty body
		encode(t, &pgproto3.Parse{Name: "s1", Query: "SELECT $1::int", ParameterOIDs: []uint32{23}}),
		frame('d', patterned(3*BufferSize+123)),
		encode(t, &pgproto3.Flush{}),
		encode(t, &pgproto3.Terminate{}),
	}
	return bytes.Join(msgs, nil), msgs
}

// errorCode returns the SQLSTATE of err if it is a *Error, or fails the test.
func errorCode(t testing.TB, err error) string {
	t.Helper()
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("got error %v (%T), want *pgwire.Error", err, err)
	}
	return pe.Code
}

// wantProtocolViolation fails the test unless err is a FATAL *Error with SQLSTATE 08P01.
func wantProtocolViolation(t testing.TB, err error) {
	t.Helper()
	if code := errorCode(t, err); code != "08P01" {
		t.Fatalf("error %v: code %s, want 08P01", err, code)
	}
	if pe := err.(*Error); pe.Severity != SeverityFatal {
		t.Fatalf("error %v: severity %s, want FATAL", err, pe.Severity)
	}
}

// wantEmpty fails the test unless rd has consumed everything and holds no buffer.
func wantEmpty(t testing.TB, rd *Reader) {
	t.Helper()
	if n := rd.Buffered(); n != 0 {
		t.Fatalf("Buffered() = %d after consuming everything, want 0", n)
	}
	if rd.HasMessage() {
		t.Fatal("HasMessage() = true after consuming everything")
	}
	rd.Release()
	if rd.buf != nil {
		t.Fatalf("Reader still holds a %d-byte buffer after Release", cap(rd.buf))
	}
}

// wantNextErr fails the test unless the next Next reports want.
func wantNextErr(t testing.TB, rd *Reader, want error) {
	t.Helper()
	if typ, n, err := rd.Next(); err != want {
		t.Fatalf("Next() = %q, %d, %v; want error %v", typ, n, err, want)
	}
}

func TestReaderReadMsgSplitReads(t *testing.T) {
	stream, msgs := sampleStream(t)
	sources := map[string]func() io.Reader{
		"whole":     func() io.Reader { return bytes.NewReader(stream) },
		"one byte":  func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) },
		"half":      func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) },
		"data+EOF":  func() io.Reader { return iotest.DataErrReader(bytes.NewReader(stream)) },
		"7 at once": func() io.Reader { return &chunkReader{r: bytes.NewReader(stream), max: 7} },
	}
	for name, src := range sources {
		t.Run(name, func(t *testing.T) {
			rd := NewReader(src())
			for i, want := range msgs {
				typ, n, err := rd.Next()
				if err != nil {
					t.Fatalf("message %d: Next: %v", i, err)
				}
				if typ != want[0] || n != len(want)-1 {
					t.Fatalf("message %d: Next = %q, %d; want %q, %d", i, typ, n, want[0], len(want)-1)
				}
				got, err := rd.ReadMsg()
				if err != nil {
					t.Fatalf("message %d: ReadMsg: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("message %d: ReadMsg returned %d bytes that differ from the %d sent", i, len(got), len(want))
				}
			}
			wantNextErr(t, rd, io.EOF)
			wantEmpty(t, rd)
		})
	}
}

// chunkReader returns at most max bytes a Read.
type chunkReader struct {
	r   io.Reader
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(p) > c.max {
		p = p[:c.max]
	}
	return c.r.Read(p)
}

// countingReader counts the Read calls made on it.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

func TestReaderNextPeeksWithoutConsuming(t *testing.T) {
	q := encode(t, &pgproto3.Query{String: "SELECT 1"})
	rd := NewReader(bytes.NewReader(append(bytes.Clone(q), q...)))
	if rd.HasMessage() {
		t.Fatal("HasMessage() = true before anything was read")
	}
	for range 3 {
		typ, n, err := rd.Next()
		if err != nil || typ != 'Q' || n != len(q)-1 {
			t.Fatalf("Next() = %q, %d, %v; want 'Q', %d", typ, n, err, len(q)-1)
		}
	}
	if !rd.HasMessage() {
		t.Fatal("HasMessage() = false with a header buffered")
	}
	if _, err := rd.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	// bytes.Reader hands over both messages in one read: the second header is buffered already.
	if !rd.HasMessage() {
		t.Fatal("HasMessage() = false with the second message buffered")
	}
	if rd.Buffered() != len(q) {
		t.Fatalf("Buffered() = %d, want %d", rd.Buffered(), len(q))
	}
	if err := rd.Discard(); err != nil {
		t.Fatal(err)
	}
	wantNextErr(t, rd, io.EOF)
	wantEmpty(t, rd)
}

func TestReaderReadMsgLargerThanBuffer(t *testing.T) {
	for _, size := range []int{BufferSize - HeaderSize, BufferSize - 4, BufferSize, 5*BufferSize + 3} {
		big := frame('D', patterned(size))
		small := encode(t, &pgproto3.Sync{})
		rd := NewReader(iotest.HalfReader(bytes.NewReader(append(bytes.Clone(big), small...))))
		got, err := rd.ReadMsg()
		if err != nil {
			t.Fatalf("body %d: ReadMsg: %v", size, err)
		}
		if !bytes.Equal(got, big) {
			t.Fatalf("body %d: ReadMsg returned %d bytes that differ from the %d sent", size, len(got), len(big))
		}
		if got, err = rd.ReadMsg(); err != nil || !bytes.Equal(got, small) {
			t.Fatalf("body %d: message after the large one: %q, %v", size, got, err)
		}
		wantNextErr(t, rd, io.EOF)
		wantEmpty(t, rd)
	}
}

func TestReaderForwardByteExact(t *testing.T) {
	stream, msgs := sampleStream(t)
	for _, src := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"1000 at once", func() io.Reader { return &chunkReader{r: bytes.NewReader(stream), max: 1000} }},
	} {
		t.Run(src.name, func(t *testing.T) {
			var out bytes.Buffer
			w := NewWriter(&out)
			rd := NewReader(src.r())
			for i := range msgs {
				if err := rd.Forward(w); err != nil {
					t.Fatalf("message %d: Forward: %v", i, err)
				}
			}
			wantRelayed(t, rd, w, &out, stream)
		})
	}
}

// maxWriter records the largest single write made to it.
type maxWriter struct {
	bytes.Buffer
	largest int
}

func (m *maxWriter) Write(p []byte) (int, error) {
	m.largest = max(m.largest, len(p))
	return m.Buffer.Write(p)
}

func TestReaderForwardStreamsLargeMessage(t *testing.T) {
	// A message queued before the large one must reach dst before it: Forward flushes first.
	before := encode(t, &pgproto3.Query{String: "SELECT 'before'"})
	big := frame('d', patterned(1<<20))
	after := encode(t, &pgproto3.CopyDone{})
	var out maxWriter
	w := NewWriter(&out)
	if err := w.Write(before); err != nil {
		t.Fatal(err)
	}
	rd := NewReader(bytes.NewReader(append(bytes.Clone(big), after...)))
	if err := rd.Forward(w); err != nil {
		t.Fatalf("Forward large: %v", err)
	}
	if rd.buf != nil && cap(rd.buf) > BufferSize {
		t.Fatalf("Reader grew a %d-byte buffer to forward a large message", cap(rd.buf))
	}
	if err := rd.Forward(w); err != nil {
		t.Fatalf("Forward after large: %v", err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := bytes.Join([][]byte{before, big, after}, nil)
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("forwarded %d bytes that differ from the %d expected", out.Len(), len(want))
	}
	if out.largest >= len(big) {
		t.Fatalf("the %d-byte message went out in one write: not streamed", len(big))
	}
	wantNextErr(t, rd, io.EOF)
	wantEmpty(t, rd)
}

func TestReaderDiscard(t *testing.T) {
	stream, msgs := sampleStream(t)
	rd := NewReader(iotest.HalfReader(bytes.NewReader(stream)))
	for i, want := range msgs {
		if i%2 == 0 {
			if err := rd.Discard(); err != nil {
				t.Fatalf("message %d: Discard: %v", i, err)
			}
			continue
		}
		got, err := rd.ReadMsg()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d after a Discard: %d bytes, %v; want the %d sent", i, len(got), err, len(want))
		}
	}
	wantNextErr(t, rd, io.EOF)
	wantEmpty(t, rd)
}

// TestReaderDiscardLargeReadsInChunks checks that skipping a large message reads it in buffer-sized
// chunks, not a header's worth (5 bytes) at a time.
func TestReaderDiscardLargeReadsInChunks(t *testing.T) {
	const size = 1 << 20
	src := &countingReader{r: bytes.NewReader(frame('d', make([]byte, size)))}
	rd := NewReader(src)
	if err := rd.Discard(); err != nil {
		t.Fatal(err)
	}
	wantNextErr(t, rd, io.EOF)
	if limit := 4*size/BufferSize + 16; src.reads > limit {
		t.Fatalf("Discard of a %d-byte message made %d reads, want at most %d (about one per %d-byte buffer)",
			size, src.reads, limit, BufferSize)
	}
}

func TestReaderInvalidLength(t *testing.T) {
	for _, n := range []uint32{0, 1, 3, 0x80000000, 0xffffffff} {
		rd := NewReader(bytes.NewReader(append(header('Q', n), "SELECT 1"...)))
		_, _, err := rd.Next()
		wantProtocolViolation(t, err)
		// Every consuming call reports the same error rather than reading past the bad header.
		_, err = rd.ReadMsg()
		wantProtocolViolation(t, err)
		wantProtocolViolation(t, rd.Forward(NewWriter(io.Discard)))
		wantProtocolViolation(t, rd.Discard())
	}
}

func TestReaderMaxMessageSize(t *testing.T) {
	const limit = 1024
	ok := frame('Q', patterned(limit-4))
	rd := NewReader(bytes.NewReader(append(bytes.Clone(ok), header('Q', limit+1)...)))
	rd.MaxMessageSize = limit
	if got, err := rd.ReadMsg(); err != nil || !bytes.Equal(got, ok) {
		t.Fatalf("message of exactly MaxMessageSize: %d bytes, %v", len(got), err)
	}
	_, _, err := rd.Next()
	wantProtocolViolation(t, err)

	// Zero means the protocol's own limit: the largest int32 length passes Next.
	rd = NewReader(bytes.NewReader(header('d', DefaultMaxMessageSize)))
	if _, n, err := rd.Next(); err != nil || n != DefaultMaxMessageSize {
		t.Fatalf("Next with the default limit = %d, %v; want %d, nil", n, err, DefaultMaxMessageSize)
	}
}

func TestReaderEOF(t *testing.T) {
	q := encode(t, &pgproto3.Query{String: "SELECT 1"})
	big := frame('d', patterned(2*BufferSize))
	consumers := map[string]func(*Reader) error{
		"ReadMsg": func(rd *Reader) error { _, err := rd.ReadMsg(); return err },
		"Forward": func(rd *Reader) error { return rd.Forward(NewWriter(io.Discard)) },
		"Discard": func(rd *Reader) error { return rd.Discard() },
	}
	cases := []struct {
		name  string
		input []byte
		want  error
	}{
		{"nothing", nil, io.EOF},
		{"between messages", q, io.EOF},
		{"inside a header", append(bytes.Clone(q), q[:3]...), io.ErrUnexpectedEOF},
		{"after a header", append(bytes.Clone(q), q[:HeaderSize]...), io.ErrUnexpectedEOF},
		{"inside a body", append(bytes.Clone(q), q[:len(q)-1]...), io.ErrUnexpectedEOF},
		{"inside a large body", append(bytes.Clone(q), big[:len(big)-1]...), io.ErrUnexpectedEOF},
		{"inside a large body, early", append(bytes.Clone(q), big[:BufferSize/2]...), io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		for name, consume := range consumers {
			for _, oneByte := range []bool{false, true} {
				var src io.Reader = bytes.NewReader(c.input)
				if oneByte {
					src = iotest.OneByteReader(src)
				}
				rd := NewReader(src)
				var err error
				for range 10 {
					if err = consume(rd); err != nil {
						break
					}
				}
				if err != c.want {
					t.Errorf("%s, %s, one byte %v: got %v, want %v", c.name, name, oneByte, err, c.want)
				}
			}
		}
	}
}

func TestReaderSourceErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	q := encode(t, &pgproto3.Query{String: "SELECT 1"})
	big := frame('d', patterned(2*BufferSize))

	rd := NewReader(iotest.ErrReader(boom))
	if _, _, err := rd.Next(); err != boom {
		t.Fatalf("Next on a failing source: %v, want %v", err, boom)
	}
	rd = NewReader(io.MultiReader(bytes.NewReader(q[:4]), iotest.ErrReader(boom)))
	if _, _, err := rd.Next(); err != boom {
		t.Fatalf("Next with a failing source inside a header: %v, want %v", err, boom)
	}
	rd = NewReader(io.MultiReader(bytes.NewReader(big[:100]), iotest.ErrReader(boom)))
	err := rd.Forward(NewWriter(io.Discard))
	var we *WriteError
	if err != boom || errors.As(err, &we) {
		t.Fatalf("Forward streaming from a failing source: %v, want %v unwrapped", err, boom)
	}
}

// failWriter fails every write.
type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestReaderForwardWriteError(t *testing.T) {
	boom := errors.New("peer gone")
	wantWriteErr := func(t *testing.T, err error) {
		t.Helper()
		var we *WriteError
		if !errors.As(err, &we) || !errors.Is(err, boom) {
			t.Fatalf("got %v (%T), want *WriteError wrapping %v", err, err, boom)
		}
	}
	t.Run("small", func(t *testing.T) {
		rd := NewReader(bytes.NewReader(encode(t, &pgproto3.Query{String: "SELECT 1"})))
		w := NewWriter(failWriter{boom})
		if err := rd.Forward(w); err != nil { // queued, not written yet
			t.Fatalf("Forward of a small message: %v", err)
		}
		wantWriteErr(t, w.Flush())
	})
	t.Run("large", func(t *testing.T) {
		rd := NewReader(bytes.NewReader(frame('d', patterned(4*BufferSize))))
		wantWriteErr(t, rd.Forward(NewWriter(failWriter{boom})))
	})
	t.Run("large after the first chunk", func(t *testing.T) {
		var n int
		dst := writerFunc(func(p []byte) (int, error) {
			if n++; n > 1 {
				return 0, boom
			}
			return len(p), nil
		})
		rd := NewReader(bytes.NewReader(frame('d', patterned(8*BufferSize))))
		wantWriteErr(t, rd.Forward(NewWriter(dst)))
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestReaderOverPipe(t *testing.T) {
	stream, msgs := sampleStream(t)
	client, server := net.Pipe()
	defer server.Close()
	go func() {
		defer client.Close()
		// Odd-sized writes so that headers and bodies straddle reads.
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 4093)
			if _, err := client.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	rd := NewReader(server)
	var out bytes.Buffer
	w := NewWriter(&out)
	for i := range msgs {
		if i%2 == 0 {
			if err := rd.Forward(w); err != nil {
				t.Fatalf("message %d: Forward: %v", i, err)
			}
			continue
		}
		m, err := rd.ReadMsg()
		if err != nil {
			t.Fatalf("message %d: ReadMsg: %v", i, err)
		}
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	wantRelayed(t, rd, w, &out, stream)
}

// wantRelayed checks the end of a relay from rd to w over out: rd at EOF and empty, w flushed and empty,
// and out holding exactly stream.
func wantRelayed(t *testing.T, rd *Reader, w *Writer, out *bytes.Buffer, stream []byte) {
	t.Helper()
	wantNextErr(t, rd, io.EOF)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), stream) {
		t.Fatalf("relayed %d bytes that differ from the %d sent", out.Len(), len(stream))
	}
	wantEmpty(t, rd)
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatal("Writer holds bytes or a buffer after Flush")
	}
}

func TestReaderIdleHoldsNoBuffer(t *testing.T) {
	q := encode(t, &pgproto3.Query{String: "SELECT 1"})
	rd := NewReader(bytes.NewReader(bytes.Repeat(q, 3)))
	if err := rd.Forward(NewWriter(io.Discard)); err != nil {
		t.Fatal(err)
	}
	if rd.buf == nil {
		t.Fatal("buffer given back while a message is still buffered")
	}
	if err := rd.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := rd.ReadMsg(); err != nil {
		t.Fatal(err)
	}
	// ReadMsg keeps the buffer (its result points into it) until the next call or Release.
	if rd.Buffered() != 0 {
		t.Fatalf("Buffered() = %d, want 0", rd.Buffered())
	}
	wantEmpty(t, rd)
	rd.Release() // twice is harmless
	wantNextErr(t, rd, io.EOF)
	if rd.buf != nil {
		t.Fatal("Reader holds a buffer after EOF")
	}
}

// TestPeek: Peek shows the start of a message's body and leaves the message to Forward whole.
func TestPeek(t *testing.T) {
	body := append([]byte("\x00stmt\x00"), bytes.Repeat([]byte{'x'}, 3*BufferSize)...)
	msg := append([]byte{'B', 0, 0, 0, 0}, body...)
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	rd := NewReader(bytes.NewReader(msg))
	head, err := rd.Peek(16)
	if err != nil || string(head) != "\x00stmt\x00xxxxxxxxxx" {
		t.Fatalf("Peek = %q, %v", head, err)
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := rd.Forward(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), msg) {
		t.Fatalf("forwarded %d bytes, want the whole %d-byte message", out.Len(), len(msg))
	}
}
