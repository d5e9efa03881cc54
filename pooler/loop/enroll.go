package loop

import (
	"net"

	"github.com/lesismal/nbio"
)

// Enroll hands c, an established TCP (or Unix) connection, to the loop, served by
// h from then on; safe from any goroutine. c itself is closed (the loop works on
// a duplicate of its descriptor): do not use it afterwards. Bytes c had already
// buffered in Go are not carried over, so enroll before anything is read past the
// login. The returned Conn's methods must be called on the loop (in a callback or
// through Loop.Run). Errors: ErrStopped, or the descriptor's duplication failing.
func (l *Loop) Enroll(c net.Conn, h Handler) (*Conn, error) {
	if l.g.stopped.Load() {
		c.Close()
		return nil, ErrStopped
	}
	nc, err := nbio.NBConn(c) // dups the descriptor and closes c
	if err != nil {
		c.Close()
		return nil, err
	}
	return l.enrollNB(nc, h)
}

// enrollNB is Enroll of nc, a conn nbio has made.
func (l *Loop) enrollNB(nc *nbio.Conn, h Handler) (*Conn, error) {
	cc := &Conn{l: l, nc: nc, h: h}
	nc.SetSession(cc)
	l.nconns.Add(1)
	// Registered on the loop, so that l.conns is the loop's alone, and so that
	// no callback of cc can run before Enroll's caller has the Conn.
	if err := l.Run(func() { cc.register() }); err != nil {
		l.nconns.Add(-1)
		nc.Close()
		return nil, err
	}
	return cc, nil
}

// register adds the conn to its loop's engine, on the loop: what Write got before is written, and the
// bytes that arrived before are read once the queued functions running now have run (the loop's soon
// list, as for Resume: no wake-up of the loop by itself, which cost a write and a read of the wake
// socket per enrolled conn), so that every conn enrolled in the same loop callback (a client and its
// server, say) is registered before any of them is read and its handler writes to another.
func (c *Conn) register() {
	l := c.l
	if c.closed { // closed (Conn.Close) before its registration: nbio never had it
		return
	}
	l.conns[c] = struct{}{}
	if _, err := l.eng.AddConn(c.nc); err != nil {
		c.finish(err)
		return
	}
	c.registered = true
	if p := c.pending; len(p) > 0 {
		c.pending = nil
		c.outbound -= len(p)
		if c.Write(p) != nil {
			return
		}
	}
	c.unread = true
	if !c.resuming { // bytes that arrived before the registration (Conn.resumed reads them)
		c.resuming = true
		l.soon = append(l.soon, c)
	}
}
