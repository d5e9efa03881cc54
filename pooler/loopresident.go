package pooler

import (
	"crypto/tls"
	"errors"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/loop"
)

// A server lent to a client on a loop is enrolled there and stays there ("loop-resident"): its only
// descriptor is the loop's (loop.Enroll closes the Go one), so Go's poller never hears of it, a hang-up
// while it sits idle is seen by its loop at once (it leaves its pool then), and the next client of that
// loop takes it from the pool with no syscall and no liveness check (loopClient.takeResident). It is
// read and written by that loop alone, internal queries included (parameter sync, server_check_query,
// ROLLBACK, server_reset_query, session-state read-back: loopexchange.go), with one exception: a
// goroutine client or a client of another loop detach it first (loop.Conn.Detach: back to a Go net.Conn,
// goroutine-owned as before), and the next lending on a loop enrolls it again, there.

// residentServer is a server's socket enrolled on its loop, and its Handler there.
type residentServer struct {
	l    *loop.Loop
	sc   *serverConn
	conn *loop.Conn
	ln   *loopLink     // the lending it serves now (&link); nil while idle or owned by a goroutine
	link loopLink      // the lendings' state, reused by each (attach): no allocation per lending
	tl   *loopTLS      // its TLS layer when the server uses TLS (looptls.go), else nil
	x    *loopExchange // its internal query, in progress when x.active (loopexchange.go); nil until the first
}

// enrollServer makes sc resident on l; on l, by sc's owner. Its conn is registered by a function
// queued on l: use it in a later one. On an error sc's socket is closed (the caller closes sc).
func enrollServer(l *loop.Loop, sc *serverConn) (*residentServer, error) {
	if sc.rd.Buffered() > 0 {
		return nil, errors.New("unread data from the server")
	}
	rs := &residentServer{l: l, sc: sc}
	conn, err := l.Enroll(sc.raw, rs) // closes sc.raw: the loop works on a duplicate
	if err != nil {
		return nil, err
	}
	rs.conn = conn
	if sc.tt != nil { // on l: no callback of conn runs before this one returns
		sc.tt.enrolled(conn)
		rs.tl = &loopTLS{tc: sc.conn.(*tls.Conn), tr: sc.tt}
	}
	sc.res = rs
	return rs, nil
}

// detachHere gives sc back to goroutine code (a Go net.Conn again); on its loop, by its owner.
func (rs *residentServer) detachHere() error {
	if rs.tl != nil && len(rs.tl.pin) > 0 {
		return errors.New("loop: detach with decrypted bytes pending")
	}
	nc, err := rs.conn.Detach()
	if err != nil {
		return err
	}
	sc := rs.sc
	sc.res = nil
	sc.rd.Release()
	sc.raw = nc
	if sc.tt != nil {
		sc.tt.detached(nc) // sc.conn, its tls.Conn, reads and writes nc again
	} else {
		sc.conn = nc
	}
	sc.alive = pgwire.NewLiveness(nc)
	sc.rd = newServerReader(sc.conn)
	sc.wr = pgwire.NewWriter(sc.conn)
	return nil
}

// write writes b to the server, on its loop: through its TLS layer when it has one.
func (rs *residentServer) write(b []byte) error {
	if rs.tl != nil {
		return rs.tl.write(b)
	}
	return rs.conn.Write(b)
}

// detachResident is detachHere for sc's owner on any goroutine but the loop's: it waits for the loop.
func detachResident(sc *serverConn) error {
	rs := sc.res
	ch := make(chan error, 1)
	if err := rs.l.Run(func() { ch <- rs.detachHere() }); err != nil {
		return err
	}
	return <-ch
}

// close closes the socket on its loop (serverConn.close); from any goroutine.
func (rs *residentServer) close() {
	_ = rs.l.Run(func() { _ = rs.conn.Close() })
}

// OnData: bytes from the server while it is lent on this loop. Bytes with no lending mean a server out
// of step (or an idle one's goodbye before it hangs up): it is closed.
func (rs *residentServer) OnData(c *loop.Conn, data []byte) int {
	if rs.tl != nil {
		return rs.tl.onData(c, data, rs) // decrypted, to onPlain
	}
	return rs.onPlain(c, data)
}

// onPlain is OnData on the server's plaintext.
func (rs *residentServer) onPlain(c *loop.Conn, data []byte) int {
	if x := rs.x; x != nil && x.active {
		return x.onData(data)
	}
	if rs.ln == nil {
		_ = c.Close()
		return len(data)
	}
	return rs.ln.fromServer(data)
}

// OnDrained: the server took what was queued for it; a client paused for it goes on.
func (rs *residentServer) OnDrained(*loop.Conn) {
	if ln := rs.ln; ln != nil && ln.lp.fullServer {
		ln.lp.fullServer = false
		ln.lp.maybeResume()
	}
}

// OnClose: the socket hung up or failed (or the loops stopped). A lending it served fails; an idle
// server leaves its pool and is closed (PgBouncer closes a server that hangs up while idle at once).
func (rs *residentServer) OnClose(_ *loop.Conn, err error) {
	if err == nil && rs.tl != nil {
		err = rs.tl.err // closed by its TLS layer
	}
	if x := rs.x; x != nil && x.active {
		x.closed(err)
		return
	}
	if x := rs.x; x != nil && x.inDone && errors.Is(err, loop.ErrPanic) {
		x.afterPanic(err)
		return
	}
	if ln := rs.ln; ln != nil {
		ln.serverFailed(err)
		return
	}
	sc := rs.sc
	if sc.pool == nil {
		return
	}
	for _, dead := range sc.pool.q.Sweep(func(s *serverConn, _ int) bool { return s == sc }) {
		sc.pool.srv.closeServer(dead, "server closed the connection while idle: "+errString(err))
	}
}
