package pgwire

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// recordWriter keeps every write made to it separately.
type recordWriter struct{ writes [][]byte }

func (r *recordWriter) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordWriter) all() []byte { return bytes.Join(r.writes, nil) }

func TestWriterBatches(t *testing.T) {
	var dst recordWriter
	w := NewWriter(&dst)
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatal("a new Writer holds a buffer")
	}
	if err := w.Flush(); err != nil || len(dst.writes) != 0 {
		t.Fatalf("Flush of nothing: %v, %d writes", err, len(dst.writes))
	}
	var want []byte
	for _, m := range []pgproto3.FrontendMessage{
		&pgproto3.Parse{Query: "SELECT $1"},
		&pgproto3.Bind{},
		&pgproto3.Execute{},
		&pgproto3.Sync{},
	} {
		b := encode(t, m)
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		b[0] = 0 // the Writer must have copied p
	}
	if len(dst.writes) != 0 {
		t.Fatalf("%d writes before Flush, want none", len(dst.writes))
	}
	if w.Buffered() != len(want) {
		t.Fatalf("Buffered() = %d, want %d", w.Buffered(), len(want))
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(dst.writes) != 1 || !bytes.Equal(dst.writes[0], want) {
		t.Fatalf("Flush made %d writes of %q, want one of %q", len(dst.writes), dst.all(), want)
	}
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatal("Writer holds bytes or a buffer after Flush")
	}
}

func TestWriterOverflowKeepsOrder(t *testing.T) {
	var dst recordWriter
	w := NewWriter(&dst)
	var want []byte
	sizes := []int{BufferSize / 2, BufferSize / 2, 1, BufferSize - 1, BufferSize, 3, 3 * BufferSize, 10}
	for i, n := range sizes {
		b := frame(byte('a'+i), patterned(n))
		if err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		want = append(want, b...)
		if w.Buffered() > BufferSize {
			t.Fatalf("after a %d-byte write Buffered() = %d, over BufferSize", len(b), w.Buffered())
		}
		if w.buf != nil && cap(w.buf) != BufferSize {
			t.Fatalf("Writer buffer grew to %d bytes", cap(w.buf))
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst.all(), want) {
		t.Fatalf("wrote %d bytes that differ from the %d queued", len(dst.all()), len(want))
	}
	for i, wr := range dst.writes {
		if len(wr) == 0 {
			t.Fatalf("write %d is empty", i)
		}
	}
}

func TestWriterLargeWriteGoesDirect(t *testing.T) {
	var dst recordWriter
	w := NewWriter(&dst)
	small := []byte("small")
	big := patterned(2 * BufferSize)
	if err := w.Write(small); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(big); err != nil {
		t.Fatal(err)
	}
	if len(dst.writes) != 2 || !bytes.Equal(dst.writes[0], small) || !bytes.Equal(dst.writes[1], big) {
		t.Fatalf("got %d writes, want the queued bytes and then the large write as it is", len(dst.writes))
	}
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatal("Writer holds bytes or a buffer after a direct write")
	}
}

func TestWriterErrors(t *testing.T) {
	boom := errors.New("connection reset by peer")
	wantWriteErr := func(t *testing.T, what string, err error) {
		t.Helper()
		var we *WriteError
		if !errors.As(err, &we) {
			t.Fatalf("%s: got %v (%T), want *WriteError", what, err, err)
		}
		if !errors.Is(err, boom) || we.Unwrap() != boom {
			t.Fatalf("%s: %v does not wrap %v", what, err, boom)
		}
		if we.Error() != "write: "+boom.Error() {
			t.Fatalf("%s: Error() = %q", what, we.Error())
		}
	}
	w := NewWriter(failWriter{boom})
	if err := w.Write([]byte("queued")); err != nil {
		t.Fatalf("a queued write failed: %v", err)
	}
	wantWriteErr(t, "Flush", w.Flush())
	if w.Buffered() != 0 || w.buf != nil {
		t.Fatal("Writer holds bytes or a buffer after a failed Flush")
	}
	wantWriteErr(t, "direct Write", w.Write(make([]byte, BufferSize+1)))
	if err := w.Write(make([]byte, BufferSize-1)); err != nil {
		t.Fatal(err)
	}
	wantWriteErr(t, "overflowing Write", w.Write(make([]byte, 2)))
}

func TestErrorResponse(t *testing.T) {
	cases := []struct {
		err      *Error
		severity string
		code     string
	}{
		{ProtocolViolation("invalid message length %d", 2), SeverityFatal, "08P01"},
		{NewError("42601", "syntax error at %q", "SELEC"), SeverityError, "42601"},
		{NewFatal("53300", "no more connections allowed (max_client_conn %d)", 10), SeverityFatal, "53300"},
		{&Error{Severity: SeverityFatal, Code: "28000", Message: "no user", Detail: "some detail", Hint: "a hint"}, SeverityFatal, "28000"},
	}
	for _, c := range cases {
		if c.err.Severity != c.severity || c.err.Code != c.code {
			t.Fatalf("%v: severity %s code %s, want %s %s", c.err, c.err.Severity, c.err.Code, c.severity, c.code)
		}
		if s := c.err.Error(); !strings.HasPrefix(s, c.severity+": ") || !strings.Contains(s, c.err.Message) || !strings.HasSuffix(s, "(SQLSTATE "+c.code+")") {
			t.Fatalf("Error() = %q", s)
		}
		prefix := []byte("kept")
		b := c.err.AppendTo(bytes.Clone(prefix))
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("AppendTo lost dst: %q", b)
		}
		rd := NewReader(bytes.NewReader(b[len(prefix):]))
		msg, err := rd.ReadMsg()
		if err != nil || msg[0] != 'E' || len(msg) != len(b)-len(prefix) {
			t.Fatalf("AppendTo did not produce one ErrorResponse message: %q, %v", msg, err)
		}
		var er pgproto3.ErrorResponse
		if err := er.Decode(msg[HeaderSize:]); err != nil {
			t.Fatal(err)
		}
		if er.Severity != c.severity || er.SeverityUnlocalized != c.severity || er.Code != c.code ||
			er.Message != c.err.Message || er.Detail != c.err.Detail || er.Hint != c.err.Hint {
			t.Fatalf("decoded %+v from %+v", er, c.err)
		}
	}
}

// TestWriterWriteMessage: a message written in parts is the message pgproto3 encodes, whether it fits the
// buffer behind other bytes, overflows it, or is larger than a buffer; a small one allocates nothing.
func TestWriterWriteMessage(t *testing.T) {
	bind := func(params ...[]byte) *pgproto3.Bind {
		return &pgproto3.Bind{DestinationPortal: "p", PreparedStatement: "pgpooler_7", Parameters: params}
	}
	for _, tc := range []struct {
		name   string
		before int // bytes already queued
		param  []byte
		writes int // writes to the destination after Flush
	}{
		{"small", 0, []byte("42"), 1},
		{"overflowing the buffer", BufferSize - 20, []byte("42"), 2},
		{"larger than a buffer", 10, bytes.Repeat([]byte("x"), 2*BufferSize), 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var dst recordWriter
			w := NewWriter(&dst)
			pad := bytes.Repeat([]byte{'d'}, tc.before)
			if err := w.Write(pad); err != nil {
				t.Fatal(err)
			}
			want := encode(t, bind(tc.param))
			// The parts: the portal and its NUL, the statement name and its NUL, the rest of the body.
			if err := w.WriteMessage('B', []byte("p\x00"), []byte("pgpooler_7\x00"), want[HeaderSize+len("p\x00pgpooler_7\x00"):]); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := dst.all(); !bytes.Equal(got, append(pad, want...)) {
				t.Fatalf("wrote %d bytes that differ from the %d expected", len(got), len(pad)+len(want))
			}
			if len(dst.writes) != tc.writes {
				t.Errorf("%d writes, want %d", len(dst.writes), tc.writes)
			}
		})
	}
	w := NewWriter(io.Discard)
	head, name, rest := []byte("\x00"), []byte("s1\x00"), []byte("\x00\x00\x00\x00\x00\x00")
	if n := testing.AllocsPerRun(100, func() {
		_ = w.WriteMessage('B', head, name, rest)
		_ = w.Flush()
	}); n != 0 {
		t.Errorf("WriteMessage of a small message: %v allocations, want 0", n)
	}
}
