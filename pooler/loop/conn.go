package loop

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"

	"github.com/lesismal/nbio"
)

// Conn is a connection enrolled on a Loop. Its methods must be called on that
// loop (from a Handler callback, a timer, or Loop.Run).
type Conn struct {
	l  *Loop
	nc *nbio.Conn
	h  Handler

	in       []byte // unconsumed inbound bytes; nil when none (idle conns hold no buffer)
	outbound int    // bytes given to Write that the kernel has not taken yet

	registered bool   // added to the loop's engine (Enroll's queued registration ran)
	pending    []byte // what Write got before the registration; written by register

	paused     bool // Pause: the socket is not read
	held       bool // Hold: the handler keeps inbound bytes of its own, offered again on Resume
	resuming   bool // in the loop's soon list (Resume)
	reading    bool // inside readAll
	delivering bool // inside OnData (deliver)
	wantDrain  bool // outbound went over the limit: OnDrained is owed
	drainRun   bool // a drain check is queued
	closed     bool
	finished   bool // OnClose has been called
	unread     bool // the socket may hold bytes not read yet: resumed reads it (not set: it was read empty since)

	// gone is set once the loop closes the conn itself (closeWith, Detach) or finishes it: nbio's close
	// callback, on another goroutine, then has nothing to queue to the loop (Loop.onClosed).
	gone atomic.Bool
}

// Loop is the loop the conn is enrolled on: enroll its peer there too.
func (c *Conn) Loop() *Loop { return c.l }

// RemoteAddr is the peer's address (nbio's conn keeps it: not a copy here, 16 bytes an idle conn saves).
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Outbound is the number of bytes written but not yet taken by the kernel.
func (c *Conn) Outbound() int { return c.outbound }

// OverLimit reports whether Outbound exceeds Config.OutboundLimit: the handler
// should Pause whatever feeds this conn until OnDrained.
func (c *Conn) OverLimit() bool { return c.outbound > c.l.g.cfg.OutboundLimit }

// Closed reports whether the conn has been closed.
func (c *Conn) Closed() bool { return c.closed }

// Write queues p for the peer: written at once if the kernel takes it, the rest
// copied and sent when the socket is writable. It does not block. After a Write
// that leaves OverLimit true, OnDrained follows once everything is sent. Errors:
// ErrClosed, or the write error (the conn is then closed).
func (c *Conn) Write(p []byte) error {
	if c.closed {
		return ErrClosed
	}
	if len(p) == 0 {
		return nil
	}
	c.outbound += len(p)
	if !c.registered {
		// Enrolled, but its registration has not run yet (it is queued on the loop, as Enroll from the
		// loop itself leaves it): nbio cannot write a conn it has not added. register writes these.
		c.pending = append(c.pending, p...)
		if c.outbound > c.l.g.cfg.OutboundLimit {
			c.wantDrain = true
		}
		return nil
	}
	if _, err := c.nc.Write(p); err != nil {
		c.closeWith(err)
		return err
	}
	if c.outbound > c.l.g.cfg.OutboundLimit {
		c.wantDrain = true
	}
	return nil
}

// written accounts for n bytes the kernel took (nbio's OnWrittenSize, on the loop,
// under nbio's conn lock: so it only queues the drain check).
func (c *Conn) written(n int) {
	c.outbound -= n
	if c.outbound == 0 && c.wantDrain && !c.drainRun {
		c.drainRun = true
		_ = c.l.Run(c.drained)
	}
}

func (c *Conn) drained() {
	c.drainRun = false
	if c.closed || !c.wantDrain || c.outbound != 0 {
		return
	}
	c.wantDrain = false
	c.call(func() { c.h.OnDrained(c) })
}

// Pause stops reading the conn: bytes the peer sends stay in the kernel's
// receive buffer, and TCP flow control then stops the sender. A hang-up is
// still noticed.
func (c *Conn) Pause() { c.paused = true }

// Resume undoes Pause: unconsumed bytes are offered to OnData again and reading
// goes on, once the callback that called Resume has returned (Loop.runSoon), so
// Resume may be called from any of the loop's callbacks.
func (c *Conn) Resume() {
	if !c.paused {
		return
	}
	c.paused = false
	if c.reading {
		return // readAll, further up the stack, goes on
	}
	if !c.resuming {
		c.resuming = true
		c.l.soon = append(c.l.soon, c)
	}
}

// resumed offers a resumed conn's unconsumed bytes to OnData again and reads on (Loop.runSoon).
func (c *Conn) resumed() {
	c.resuming = false
	if c.paused || c.closed {
		return
	}
	if len(c.in) > 0 || c.held {
		c.deliver(nil)
	}
	if c.unread { // else the socket was read empty and no event came since: no read to get EAGAIN
		c.readable()
	}
}

// Hold tells the conn whether its handler keeps inbound bytes of its own that it has not consumed yet
// (plaintext a TLS layer decrypted, say): while held, Resume calls OnData again, with no new bytes if
// the conn itself keeps none, so that a handler paused with such bytes goes on once resumed.
func (c *Conn) Hold(held bool) { c.held = held }

// Paused reports whether the conn is paused.
func (c *Conn) Paused() bool { return c.paused }

// Close closes the conn; what Write queued and the kernel has not taken is
// dropped. OnClose is called (with a nil error) before Close returns.
func (c *Conn) Close() error {
	c.closeWith(nil)
	return nil
}

func (c *Conn) closeWith(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.gone.Store(true)
	_ = c.nc.CloseWithError(err)
	c.finish(err)
}

// finish calls OnClose once and forgets the conn.
func (c *Conn) finish(err error) {
	if c.finished {
		return
	}
	c.closed, c.finished = true, true
	c.gone.Store(true)
	c.dropIn()
	if _, ok := c.l.conns[c]; ok {
		delete(c.l.conns, c)
		c.l.nconns.Add(-1)
	} else if !c.registered { // closed before its registration ran: counted by Enroll, never in conns
		c.l.nconns.Add(-1)
	}
	c.call(func() { c.h.OnClose(c, err) })
}

// readable reads until the socket is empty (edge-triggered) or the conn pauses.
func (c *Conn) readable() {
	if c.paused || c.closed || c.reading || !c.registered {
		c.unread = true // read once resumed; not registered yet: register reads it
		return
	}
	c.reading = true
	defer func() { c.reading = false }()
	buf := c.l.eng.PollerBuffer(c.nc)
	for !c.paused && !c.closed {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.deliver(buf[:n])
		}
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			c.unread = false
			return
		case err != nil:
			c.closeWith(err)
			return
		case n == 0:
			c.closeWith(io.EOF)
			return
		case n < len(buf):
			// A short read emptied the receive queue; new bytes bring a new edge.
			c.unread = false
			return
		}
	}
	c.unread = true // paused after a read that filled buf: more may be waiting, with no edge to come
}

// deliver offers the unconsumed bytes plus data to OnData and keeps the rest.
func (c *Conn) deliver(data []byte) {
	if len(c.in) > 0 {
		c.in = append(c.in, data...)
		data = c.in
	}
	consumed := -1
	c.delivering = true // data may be c.in: a close inside OnData must not lend it to another user (dropIn)
	c.call(func() { consumed = c.h.OnData(c, data) })
	c.delivering = false
	if c.closed {
		return
	}
	if consumed < 0 || consumed > len(data) {
		c.closeWith(errors.New("loop: OnData returned a count out of range"))
		return
	}
	rest := data[consumed:]
	switch {
	case len(rest) == 0:
		c.dropIn()
	case len(rest) >= c.l.g.cfg.InboundLimit:
		c.closeWith(ErrInboundLimit)
	case len(c.in) > 0:
		c.in = c.in[:copy(c.in, rest)]
	case len(rest) <= ScratchSize:
		c.in = append(c.l.Scratch(), rest...) // a held message allocates nothing (scratch.go)
	default:
		c.in = append([]byte(nil), rest...)
	}
}

// dropIn forgets the unconsumed inbound bytes; a scratch buffer holding them goes back to the loop.
func (c *Conn) dropIn() {
	if c.in != nil && !c.delivering {
		c.l.PutScratch(c.in)
	}
	c.in = nil
}
