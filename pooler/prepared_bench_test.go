package pooler

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/prepare"
)

// loopReader yields the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.data[l.off:])
		n += c
		l.off = (l.off + c) % len(l.data)
	}
	return n, nil
}

// BenchmarkStatementTracking measures what tracking named prepared statements costs per message, against
// forwarding the same messages unchanged: one Bind of a named statement, an Execute and a Sync per
// iteration, the Bind rewritten to the shared server name (the server already has the statement: a
// first batch before the timing prepared it there).
func BenchmarkStatementTracking(b *testing.B) {
	var reg prepare.Registry
	st := reg.Get([]byte("SELECT $1::int\x00\x00\x01\x00\x00\x00\x17"))
	bind := frame('B', []byte("\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x00"))
	exec := frame('E', []byte("\x00\x00\x00\x00\x00"))
	sync := frame('S', nil)
	batch := bytes.Join([][]byte{bind, exec, sync}, nil)

	run := func(b *testing.B, tracked bool) {
		c := &clientConn{s: &Server{}}
		c.prepared.AddLocal("s1", st)
		sc := &serverConn{wr: pgwire.NewWriter(io.Discard)}
		c.rd = pgwire.NewReader(&loopReader{data: batch})
		batchOnce := func() error {
			for range 3 {
				typ, _, err := c.rd.Next()
				if err != nil {
					b.Fatal(err)
				}
				if tracked {
					err = c.forwardPrepared(sc, typ)
				} else {
					err = c.rd.Forward(sc.wr)
				}
				if err != nil {
					return err
				}
			}
			c.prepared.ResetAnswers() // the relay would pop the Sync's entry
			return sc.wr.Flush()
		}
		if err := batchOnce(); err != nil { // the server gets the statement: Close and Parse, once
			b.Fatal(err)
		}
		b.SetBytes(int64(len(batch)))
		b.ReportAllocs()
		for b.Loop() {
			if err := batchOnce(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("forward", func(b *testing.B) { run(b, false) })
	b.Run("tracked", func(b *testing.B) { run(b, true) })
}

// frame builds a message: type byte, length, body.
func frame(typ byte, body []byte) []byte {
	msg := make([]byte, pgwire.HeaderSize+len(body))
	msg[0] = typ
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	copy(msg[pgwire.HeaderSize:], body)
	return msg
}
