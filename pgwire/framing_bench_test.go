package pgwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The framing benchmarks read what a socket delivers for one pgbench -S transaction (simple protocol)
// per iteration, over one Reader and one Writer that live across iterations, as a connection's do.
// They report allocs/op (run with -benchmem): the hot path allocates nothing per message.

// burstReader returns at most the rest of one burst per Read, as a socket returns what the peer sent in
// one write, and then the next burst: the Reader empties after each burst and gives its pooled buffer
// back, as it does in service.
type burstReader struct {
	burst []byte
	off   int
}

func (b *burstReader) Read(p []byte) (int, error) {
	n := copy(p, b.burst[b.off:])
	if b.off += n; b.off == len(b.burst) {
		b.off = 0
	}
	return n, nil
}

// selectAnswer is PostgreSQL's answer to pgbench -S's query: RowDescription, DataRow, CommandComplete,
// ReadyForQuery, and the number of messages in it.
func selectAnswer(tb testing.TB) ([]byte, int) {
	msgs := []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
			Name: []byte("abalance"), TableOID: 16397, TableAttributeNumber: 3, DataTypeOID: 23,
			DataTypeSize: 4, TypeModifier: -1, Format: 0,
		}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("-2875")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	}
	var out []byte
	for _, m := range msgs {
		var err error
		if out, err = m.Encode(out); err != nil {
			tb.Fatal(err)
		}
	}
	return out, len(msgs)
}

// selectQuery is pgbench -S's Query message (simple protocol).
func selectQuery(tb testing.TB) []byte {
	b, err := (&pgproto3.Query{String: "SELECT abalance FROM pgbench_accounts WHERE aid = 4711;"}).Encode(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BenchmarkReaderForward: Next and Forward of each message of one answer to a Writer, flushed when the
// Reader has no whole message left (the relay's loop).
func BenchmarkReaderForward(b *testing.B) {
	burst, n := selectAnswer(b)
	rd := NewReader(&burstReader{burst: burst})
	wr := NewWriter(io.Discard)
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	for b.Loop() {
		for range n {
			if _, _, err := rd.Next(); err != nil {
				b.Fatal(err)
			}
			if err := rd.Forward(wr); err != nil {
				b.Fatal(err)
			}
			if !rd.HasMessage() {
				if err := wr.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkReaderReadMsg: Next and ReadMsg of each message of one answer (what the relay does with a
// ReadyForQuery or a ParameterStatus).
func BenchmarkReaderReadMsg(b *testing.B) {
	burst, n := selectAnswer(b)
	rd := NewReader(&burstReader{burst: burst})
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	for b.Loop() {
		for range n {
			if _, _, err := rd.Next(); err != nil {
				b.Fatal(err)
			}
			if _, err := rd.ReadMsg(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReaderForwardQuery: a client's Query, Next and Forward to the server's Writer, then Flush
// (the client goroutine's loop).
func BenchmarkReaderForwardQuery(b *testing.B) {
	burst := selectQuery(b)
	rd := NewReader(&burstReader{burst: burst})
	rd.TypeLimit = FrontendLimit
	wr := NewWriter(io.Discard)
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := rd.Next(); err != nil {
			b.Fatal(err)
		}
		if err := rd.Forward(wr); err != nil {
			b.Fatal(err)
		}
		if err := wr.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriter: Write of the four messages of one answer, then Flush.
func BenchmarkWriter(b *testing.B) {
	burst, _ := selectAnswer(b)
	var msgs [][]byte
	for rest := burst; len(rest) > 0; {
		n := 1 + int(binary.BigEndian.Uint32(rest[1:]))
		msgs, rest = append(msgs, rest[:n]), rest[n:]
	}
	if !bytes.Equal(bytes.Join(msgs, nil), burst) || len(msgs) != 4 {
		b.Fatalf("split %d messages", len(msgs))
	}
	wr := NewWriter(io.Discard)
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			if err := wr.Write(m); err != nil {
				b.Fatal(err)
			}
		}
		if err := wr.Flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReaderForwardRows: as BenchmarkReaderForward for an answer of 100 rows (about 2.4 KB: more
// than the Reader's small array, so each burst borrows a pooled buffer and gives it back).
func BenchmarkReaderForwardRows(b *testing.B) {
	head, _ := selectAnswer(b)
	var burst []byte
	rowDesc := 1 + int(binary.BigEndian.Uint32(head[1:]))
	burst = append(burst, head[:rowDesc]...)
	for i := range 100 {
		var err error
		if burst, err = (&pgproto3.DataRow{Values: [][]byte{[]byte("4711"), []byte("pgbench row " + string(rune('a'+i%26)))}}).Encode(burst); err != nil {
			b.Fatal(err)
		}
	}
	burst = append(burst, head[rowDesc+1+int(binary.BigEndian.Uint32(head[rowDesc+1:])):]...) // CommandComplete, ReadyForQuery
	if len(burst) <= smallSize || len(burst) > BufferSize {
		b.Fatalf("burst of %d bytes", len(burst))
	}
	rd := NewReader(&burstReader{burst: burst})
	wr := NewWriter(io.Discard)
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	for b.Loop() {
		for {
			typ, _, err := rd.Next()
			if err != nil {
				b.Fatal(err)
			}
			if err := rd.Forward(wr); err != nil {
				b.Fatal(err)
			}
			if !rd.HasMessage() {
				if err := wr.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			if typ == 'Z' {
				break
			}
		}
	}
}
