package pooler

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// A client that waits for a server (in its pool's line, or for RESUME) reads nothing: its goroutine is
// blocked in acquire. So that a client that goes away meanwhile leaves the line at once, and nothing it
// sent runs after it has gone (issue 10), acquire starts a watch of the client's socket when, and only
// when, it has to wait; the fast path (an idle server, or a slot to open one) starts nothing.

// queueWatcher is what acquire tells when it has to wait: watchWait starts a watch, and the stop function
// it returns ends it and returns once the watch has ended.
type queueWatcher interface {
	watchWait() (stop func())
}

// waitWatch starts a queueWatcher's watch the first time acquire blocks, and ends it when acquire
// returns. The zero qw watches nothing.
type waitWatch struct {
	qw   queueWatcher
	stop func()
}

// blocking is called before each wait; it starts the watch once.
func (w *waitWatch) blocking() {
	if w.qw != nil && w.stop == nil {
		w.stop = w.qw.watchWait()
	}
}

// end stops the watch, if one was started.
func (w *waitWatch) end() {
	if w.stop != nil {
		w.stop()
		w.stop = nil
	}
}

// watchWait reads ahead from the client while its goroutine waits for a server. Bytes that arrive (the
// rest of the message being linked, pipelined messages) go into the client's pgwire.Reader, which the
// client goroutine, blocked in acquire, does not touch until stop has returned; they are forwarded in
// order after the wait. The end of the stream (FIN, or a TLS close_notify), a reset, or any other read
// error means the client is gone: it is marked closing and its context cancelled, so that acquire gives up
// its place in line at once, and its link forwards nothing. At most one read buffer (pgwire.BufferSize)
// is read ahead; a client that pipelines more is read again only after its wait. While the watch runs,
// the client's read deadline is cleared (client_idle_timeout does not apply to a client waiting for a
// server); stop interrupts the read with a deadline in the past (a timeout leaves a tls.Conn usable) and
// clears it again, and the next idle period re-arms it.
func (c *clientConn) watchWait() (stop func()) {
	_ = c.conn.SetReadDeadline(time.Time{})
	var stopping atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.recoverWatch()
		for {
			n, err := c.rd.ReadAhead()
			if err != nil {
				var ne net.Error
				if !stopping.Load() || !errors.As(err, &ne) || !ne.Timeout() {
					c.leave()
				}
				return
			}
			if n == 0 {
				return // the buffer is full
			}
		}
	}()
	return func() {
		stopping.Store(true)
		_ = c.conn.SetReadDeadline(time.Unix(1, 0))
		<-done
		_ = c.conn.SetReadDeadline(time.Time{})
	}
}

// leave marks the client gone and ends what it waits for (its context, with cause errQuiet).
func (c *clientConn) leave() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	c.cancel(errQuiet)
}

// ctxEnded is the error of a wait that ctx ended: errQuiet when ctx is the context of a client that has
// gone or been killed (it has been told, or cannot be), else def.
func ctxEnded(ctx context.Context, def error) error {
	if errors.Is(context.Cause(ctx), errQuiet) {
		return errQuiet
	}
	return def
}
