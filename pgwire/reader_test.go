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

// TestReaderForwardByteExact: Forward, and ForwardWithPrefix with an empty prefix in place of nothing,
// send every message of the sample stream byte for byte, however it arrives.
func TestReaderForwardByteExact(t *testing.T) {
	stream, msgs := sampleStream(t)
	forwards := map[string]func(*Reader, *Writer) error{
		"Forward":           (*Reader).Forward,
		"ForwardWithPrefix": func(rd *Reader, w *Writer) error { return rd.ForwardWithPrefix(nil, 0, w) },
	}
	for fname, forward := range forwards {
		for _, src := range []struct {
			name string
			r    func() io.Reader
		}{
			{"whole", func() io.Reader { return bytes.NewReader(stream) }},
			{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
			{"1000 at once", func() io.Reader { return &chunkReader{r: bytes.NewReader(stream), max: 1000} }},
		} {
			t.Run(fname+"/"+src.name, func(t *testing.T) {
				var out bytes.Buffer
				w := NewWriter(&out)
				rd := NewReader(src.r())
				for i := range msgs {
					if err := forward(rd, w); err != nil {
						t.Fatalf("message %d: %s: %v", i, fname, err)
					}
				}
				wantRelayed(t, rd, w, &out, stream)
			})
		}
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

// pipeReader returns a Reader of stream sent over net.Pipe in odd-sized writes, so that headers and
// bodies straddle reads.
func pipeReader(t *testing.T, stream []byte) *Reader {
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	go func() {
		defer client.Close()
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 4093)
			if _, err := client.Write(rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
		}
	}()
	return NewReader(server)
}

func TestReaderOverPipe(t *testing.T) {
	stream, msgs := sampleStream(t)
	rd := pipeReader(t, stream)
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

// rewritten returns msg with the first skip bytes of its body replaced by prefix and its length word
// recomputed: what ForwardWithPrefix should send.
func rewritten(msg, prefix []byte, skip int) []byte {
	return frame(msg[0], append(bytes.Clone(prefix), msg[HeaderSize+skip:]...))
}

// forwardWithPrefix runs ForwardWithPrefix into a fresh Writer and returns what reached the destination.
func forwardWithPrefix(t *testing.T, rd *Reader, prefix []byte, skip int) []byte {
	t.Helper()
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := rd.ForwardWithPrefix(prefix, skip, w); err != nil {
		t.Fatalf("ForwardWithPrefix(%q, %d): %v", prefix, skip, err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestReaderForwardWithPrefixSmall: a Bind's portal and statement names are replaced by shorter and
// longer ones, and the Reader goes on with the next message.
func TestReaderForwardWithPrefixSmall(t *testing.T) {
	bind := encode(t, &pgproto3.Bind{
		DestinationPortal:    "p1",
		PreparedStatement:    "client_stmt",
		ParameterFormatCodes: []int16{0},
		Parameters:           [][]byte{[]byte("42")},
	})
	sync := encode(t, &pgproto3.Sync{})
	names := len("p1\x00client_stmt\x00")
	for _, prefix := range []string{"\x00s\x00", "\x00pgpooler_statement_0000000001\x00", ""} {
		rd := NewReader(bytes.NewReader(append(bytes.Clone(bind), sync...)))
		got := forwardWithPrefix(t, rd, []byte(prefix), names)
		want := rewritten(bind, []byte(prefix), names)
		if !bytes.Equal(got, want) {
			t.Fatalf("prefix %q: forwarded %q, want %q", prefix, got, want)
		}
		if prefix != "" {
			// The result is a Bind that pgproto3 decodes, with the new names and the old parameters.
			var b pgproto3.Bind
			if err := b.Decode(got[HeaderSize:]); err != nil {
				t.Fatalf("prefix %q: rewritten Bind does not decode: %v", prefix, err)
			}
			if len(b.Parameters) != 1 || string(b.Parameters[0]) != "42" {
				t.Fatalf("prefix %q: rewritten Bind has parameters %q", prefix, b.Parameters)
			}
		}
		if m, err := rd.ReadMsg(); err != nil || !bytes.Equal(m, sync) {
			t.Fatalf("prefix %q: message after the rewritten one: %q, %v; want %q", prefix, m, err, sync)
		}
		wantNextErr(t, rd, io.EOF)
		wantEmpty(t, rd)
	}
}

// TestReaderForwardWithPrefixLarge: a message of three buffers' worth, arriving a few bytes a read, is
// rewritten byte-exactly and streamed (no buffer grows with it, no single write carries it), and the
// message after it is read correctly.
func TestReaderForwardWithPrefixLarge(t *testing.T) {
	const skip = 9
	big := frame('B', patterned(3*BufferSize))
	after := encode(t, &pgproto3.Query{String: "SELECT 'after'"})
	stream := append(bytes.Clone(big), after...)
	for _, src := range []struct {
		name string
		r    func() io.Reader
	}{
		{"whole", func() io.Reader { return bytes.NewReader(stream) }},
		{"one byte", func() io.Reader { return iotest.OneByteReader(bytes.NewReader(stream)) }},
		{"7 at once", func() io.Reader { return &chunkReader{r: bytes.NewReader(stream), max: 7} }},
		{"half", func() io.Reader { return iotest.HalfReader(bytes.NewReader(stream)) }},
	} {
		for _, prefix := range []string{"", "\x00s\x00", string(patterned(3 * skip))} {
			rd := NewReader(src.r())
			var out maxWriter
			w := NewWriter(&out)
			if err := rd.ForwardWithPrefix([]byte(prefix), skip, w); err != nil {
				t.Fatalf("%s, prefix of %d bytes: ForwardWithPrefix: %v", src.name, len(prefix), err)
			}
			if rd.buf != nil && cap(rd.buf) > BufferSize {
				t.Fatalf("%s: Reader grew a %d-byte buffer to forward a large message", src.name, cap(rd.buf))
			}
			if err := rd.Forward(w); err != nil {
				t.Fatalf("%s: Forward after the large message: %v", src.name, err)
			}
			want := append(rewritten(big, []byte(prefix), skip), after...)
			wantRelayed(t, rd, w, &out.Buffer, want)
			if out.largest >= len(big) {
				t.Fatalf("%s: the %d-byte message went out in one write: not streamed", src.name, len(big))
			}
		}
	}
}

// TestReaderForwardWithPrefixFollowedByRead: after a rewritten message, small or large, whole or split,
// ReadMsg returns the next one unchanged, over a pipe whose writes straddle messages.
func TestReaderForwardWithPrefixFollowedByRead(t *testing.T) {
	stream, msgs := sampleStream(t)
	rd := pipeReader(t, stream)
	var out bytes.Buffer
	w := NewWriter(&out)
	var want []byte
	for i, m := range msgs {
		if i%2 == 0 { // the rewritten ones are the odd ones: an empty body, the large one, Terminate
			got, err := rd.ReadMsg()
			if err != nil || !bytes.Equal(got, m) {
				t.Fatalf("message %d after a rewritten one: %d bytes, %v; want the %d sent", i, len(got), err, len(m))
			}
			continue
		}
		skip := min(3, len(m)-HeaderSize)
		prefix := []byte("<rewritten>")
		if err := rd.ForwardWithPrefix(prefix, skip, w); err != nil {
			t.Fatalf("message %d: ForwardWithPrefix: %v", i, err)
		}
		want = append(want, rewritten(m, prefix, skip)...)
	}
	wantRelayed(t, rd, w, &out, want)
}

// TestReaderForwardWithPrefixBadSkip: a skip past the body, past what Peek can show, or negative is a
// protocol violation that consumes nothing: the message can still be forwarded whole.
func TestReaderForwardWithPrefixBadSkip(t *testing.T) {
	small := encode(t, &pgproto3.Query{String: "SELECT 1"})
	big := frame('B', patterned(2*BufferSize))
	for _, c := range []struct {
		name string
		msg  []byte
		skip int
	}{
		{"past the body", small, len(small) - HeaderSize + 1},
		{"past an empty body", encode(t, &pgproto3.Sync{}), 1},
		{"past Peek", big, BufferSize - HeaderSize + 1},
		{"negative", small, -1},
	} {
		rd := NewReader(bytes.NewReader(c.msg))
		var out bytes.Buffer
		w := NewWriter(&out)
		wantProtocolViolation(t, rd.ForwardWithPrefix([]byte("x"), c.skip, w))
		if out.Len() != 0 || w.Buffered() != 0 {
			t.Fatalf("%s: %d bytes written, %d queued before the error", c.name, out.Len(), w.Buffered())
		}
		if err := rd.Forward(w); err != nil {
			t.Fatalf("%s: Forward after the error: %v", c.name, err)
		}
		wantRelayed(t, rd, w, &out, c.msg)
	}
	// The largest skip allowed is exactly what Peek returns.
	rd := NewReader(bytes.NewReader(big))
	if got := forwardWithPrefix(t, rd, nil, BufferSize-HeaderSize); !bytes.Equal(got, rewritten(big, nil, BufferSize-HeaderSize)) {
		t.Fatalf("skip of BufferSize-HeaderSize: forwarded %d bytes that differ from the expected", len(got))
	}
	// A header error from Next comes through unchanged.
	rd = NewReader(bytes.NewReader(header('Q', 2)))
	wantProtocolViolation(t, rd.ForwardWithPrefix(nil, 0, NewWriter(io.Discard)))
	rd = NewReader(bytes.NewReader(nil))
	if err := rd.ForwardWithPrefix(nil, 0, NewWriter(io.Discard)); err != io.EOF {
		t.Fatalf("ForwardWithPrefix at EOF: %v, want io.EOF", err)
	}
}

// TestReaderForwardWithPrefixLengthOverflow: a prefix that would push the length past an int32 is
// refused before anything is read or written.
func TestReaderForwardWithPrefixLengthOverflow(t *testing.T) {
	rd := NewReader(bytes.NewReader(header('B', DefaultMaxMessageSize)))
	prefix := make([]byte, 2)
	var out bytes.Buffer
	w := NewWriter(&out)
	wantProtocolViolation(t, rd.ForwardWithPrefix(prefix, 1, w))
	if out.Len() != 0 || w.Buffered() != 0 {
		t.Fatalf("%d bytes written, %d queued before the error", out.Len(), w.Buffered())
	}
}

// TestReaderForwardWithPrefixAllocs: rewriting a small message allocates nothing once the pool is warm.
func TestReaderForwardWithPrefixAllocs(t *testing.T) {
	bind := encode(t, &pgproto3.Bind{PreparedStatement: "client_stmt", Parameters: [][]byte{[]byte("42")}})
	prefix := []byte("\x00s1\x00")
	src := bytes.NewReader(bind)
	rd := NewReader(src)
	w := NewWriter(io.Discard)
	run := func() {
		src.Reset(bind)
		if err := rd.ForwardWithPrefix(prefix, len("\x00client_stmt\x00"), w); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("ForwardWithPrefix of a %d-byte message allocates %v times per call, want 0", len(bind), n)
	}
}

// TestReaderReadAhead: bytes read ahead are consumed in order by the calls that follow; the message
// ReadMsg returned just before stays intact while ReadAhead reads past the small array (the client
// goroutine holds a Parse so while it waits for a server); at most BufferSize bytes are read ahead; the
// source's EOF comes back as it is.
func TestReaderReadAhead(t *testing.T) {
	first := frame('P', patterned(300))
	second := frame('Q', patterned(BufferSize+1000)) // more than can be read ahead
	third := frame('S', nil)
	client, server := net.Pipe()
	defer client.Close()
	rd := NewReader(server)
	go func() { _, _ = client.Write(append(append([]byte{}, first...), second[:10]...)) }()
	msg, err := rd.ReadMsg() // from the small array, which holds the start of the second message too
	if err != nil {
		t.Fatal(err)
	}
	kept := append([]byte{}, msg...)
	go func() {
		_, _ = client.Write(second[10:])
		_, _ = client.Write(third)
		client.Close()
	}()
	total := 0
	for {
		n, err := rd.ReadAhead()
		total += n
		if err != nil {
			t.Fatalf("ReadAhead: %v after %d bytes", err, total)
		}
		if n == 0 {
			break // no space left
		}
	}
	if !bytes.Equal(msg, kept) {
		t.Fatal("ReadAhead changed the message ReadMsg returned")
	}
	if total > BufferSize {
		t.Fatalf("read %d bytes ahead, more than BufferSize (%d)", total, BufferSize)
	}
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := rd.Forward(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), second) {
		t.Fatalf("forwarded %d bytes, want the %d of the second message unchanged", out.Len(), len(second))
	}
	// The third message: read ahead in full, then the end of the stream.
	for {
		n, err := rd.ReadAhead()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil || n == 0 {
			t.Fatalf("ReadAhead at the end: %d, %v; want io.EOF", n, err)
		}
	}
	if got, err := rd.ReadMsg(); err != nil || !bytes.Equal(got, third) {
		t.Fatalf("after ReadAhead: %q, %v; want the Sync", got, err)
	}
	if _, _, err := rd.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next at the end: %v, want io.EOF", err)
	}
}
