package pooler

import (
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The relay benchmarks run the code that carries a server's answer to its client, over in-memory
// connections: the server's bytes come from a reader that returns one answer per Read (as a socket
// returns what PostgreSQL wrote at once), the client's go to io.Discard. They report allocs/op (run with
// -benchmem): forwarding allocates nothing per message.

// answers returns one answer per Read, at most n answers, then io.EOF.
type answers struct {
	burst []byte
	off   int
	n     int
}

func (a *answers) Read(p []byte) (int, error) {
	if a.n == 0 {
		return 0, io.EOF
	}
	k := copy(p, a.burst[a.off:])
	if a.off += k; a.off == len(a.burst) {
		a.off = 0
		a.n--
	}
	return k, nil
}

// selectReply is PostgreSQL's answer to pgbench -S's query (simple protocol): RowDescription, DataRow,
// CommandComplete, ReadyForQuery 'I'.
func selectReply(tb testing.TB) []byte {
	var out []byte
	for _, m := range []pgproto3.BackendMessage{
		&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{{
			Name: []byte("abalance"), TableOID: 16397, TableAttributeNumber: 3, DataTypeOID: 23,
			DataTypeSize: 4, TypeModifier: -1,
		}}},
		&pgproto3.DataRow{Values: [][]byte{[]byte("-2875")}},
		&pgproto3.CommandComplete{CommandTag: []byte("SELECT 1")},
		&pgproto3.ReadyForQuery{TxStatus: 'I'},
	} {
		var err error
		if out, err = m.Encode(out); err != nil {
			tb.Fatal(err)
		}
	}
	return out
}

// relayBench returns a session-mode client linked to a server whose messages come from src, with the
// Server, pool and sockets (net.Pipe ends, never read) that closing them on the relay's last read needs.
func relayBench(b *testing.B, src io.Reader) (*clientConn, *serverConn) {
	cfg := config.Default()
	cfg.Pooler.PoolMode = modeSession
	cfg.Databases = map[string]config.Database{"*": {Host: "127.0.0.1", Port: 5432}}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	p, err := srv.getPool("bench", "bench")
	if err != nil {
		b.Fatal(err)
	}
	if !p.q.Open() { // the slot closeServer gives back
		b.Fatal("pool full")
	}
	cconn, cpeer := net.Pipe()
	sconn, speer := net.Pipe()
	b.Cleanup(func() { cconn.Close(); cpeer.Close(); sconn.Close(); speer.Close() })
	sc := &serverConn{
		id: 1, pool: p, conn: sconn, raw: sconn, rd: pgwire.NewReader(src), wr: pgwire.NewWriter(sconn),
		params: map[string]string{}, reported: map[string]bool{}, txStatus: 'I',
	}
	c := &clientConn{
		s: srv, id: 1, conn: cconn, stream: cconn, wr: pgwire.NewWriter(io.Discard), pool: p,
		mode: modeSession, params: map[string]string{}, txStatus: 'I', sc: sc,
	}
	return c, sc
}

// BenchmarkRelayForward: the relay step, one DataRow per iteration: Next, forward (counted, under the
// client's write lock) to the client's Writer, which is flushed when no whole message is buffered.
func BenchmarkRelayForward(b *testing.B) {
	row, err := (&pgproto3.DataRow{Values: [][]byte{[]byte("4711"), []byte("-2875")}}).Encode(nil)
	if err != nil {
		b.Fatal(err)
	}
	c, sc := relayBench(b, &answers{burst: row, n: -1})
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		_, n, err := sc.rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if !c.forward(sc, n) {
			b.Fatal("link ended")
		}
		if !sc.rd.HasMessage() {
			c.wmu.Lock()
			err = c.wr.Flush()
			c.wmu.Unlock()
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkRelayServer: relayServer itself carrying b.N answers to pgbench -S's query (four messages,
// the ReadyForQuery accounted for as in session mode) to the client, then ending on the server's EOF.
func BenchmarkRelayServer(b *testing.B) {
	burst := selectReply(b)
	src := &answers{burst: burst}
	c, sc := relayBench(b, src)
	src.n = b.N
	b.SetBytes(int64(len(burst)))
	b.ReportAllocs()
	b.ResetTimer()
	c.relayServer(sc, make(chan struct{}))
	b.StopTimer()
	if got := c.pool.stats.queries.Load(); got != int64(b.N) {
		b.Fatalf("%d ReadyForQuery relayed, want %d", got, b.N)
	}
}
