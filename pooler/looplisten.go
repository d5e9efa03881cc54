package pooler

import (
	"net"
	"time"

	"github.com/pgpooler/pgpooler/pooler/loop"
)

// loopListener is a TCP listener of Serve polled by an event loop (event_loops on; loop.Listener): loop 0
// accepts its connections (accept4, non-blocking, close-on-exec), sets their TCP options and logs them in
// on a loop (looplogin.go): no accepted socket goes through Go's poller and no goroutine waits in Accept.
// For Serve it is a net.Listener whose Accept waits until Shutdown closes it, so Serve keeps its contract:
// it returns net.ErrClosed after Shutdown. What Serve's Accept loop does is done here the same way: the
// back-off after a failed accept (EMFILE and the like: 5 ms doubling to 1 s, logged at most once per
// 10 s, counted; never an exit), TCP_NODELAY and tcp_keepalive, tcp_keepidle, tcp_keepintvl, tcp_keepcnt,
// tcp_user_timeout as in force at the accept.
type loopListener struct {
	s       *Server
	inner   net.Listener // what Serve was given, for Addr and the log
	lis     *loop.Listener
	l       *loop.Loop
	local   net.Addr      // the accepted sockets' local address: the listener's, unless it is a wildcard
	backoff time.Duration // the loop's
	failed  error         // the accept error that stopped the listener, for Serve
}

// listenOnLoop returns ln polled by loop 0 when event_loops is on and ln is a TCP listener (as Listen opens
// them, or a *net.TCPListener of the caller's), else ln itself.
func (s *Server) listenOnLoop(ln net.Listener) net.Listener {
	if s.loops == nil {
		return ln
	}
	inner := ln
	if f, ok := ln.(freshListener); ok {
		inner = f.Listener
	}
	tl, ok := inner.(*net.TCPListener)
	if !ok {
		return ln
	}
	ll := &loopListener{s: s, inner: ln, l: s.loops.g.Loop(0)}
	if a, ok := tl.Addr().(*net.TCPAddr); ok && !a.IP.IsUnspecified() {
		ll.local = a
	}
	lis, err := ll.l.Listen(tl, ll) // closes tl
	if err != nil {
		s.logger.Debug("listening on the event loop", "addr", ln.Addr().String(), "error", err)
		return ln
	}
	ll.lis = lis
	return ll
}

// Accept waits until the listener is closed (the loop accepts), and returns net.ErrClosed, or the accept
// error that closed it.
func (ll *loopListener) Accept() (net.Conn, error) {
	<-ll.lis.Done()
	if ll.failed != nil {
		return nil, ll.failed
	}
	return nil, net.ErrClosed
}

// Close stops the loop accepting.
func (ll *loopListener) Close() error { return ll.lis.Close() }

// Addr is the listening address.
func (ll *loopListener) Addr() net.Addr { return ll.inner.Addr() }

// Accepted sets the socket's TCP options and starts its login on a loop; on loop 0.
func (ll *loopListener) Accepted(fd int, remote net.Addr) {
	ll.backoff = 0
	s := ll.s
	o := tcpOptionsOf(&s.config().Pooler)
	if err := o.applyAccepted(fd); err != nil {
		s.logger.Debug("client socket options", "error", err)
	}
	local := ll.local
	if local == nil {
		if local = loop.LocalAddr(fd); local == nil {
			local = ll.inner.Addr()
		}
	}
	s.loginOnLoopFD(fd, local, remote, ll.l)
}

// AcceptFailed backs off as Serve does (accept.go); 0 stops the listener for an error retrying cannot mend.
func (ll *loopListener) AcceptFailed(err error) time.Duration {
	if !retryableAccept(err) {
		ll.failed = err // Serve returns it
		return 0
	}
	ll.backoff = min(max(2*ll.backoff, acceptBackoffMin), acceptBackoffMax)
	ll.s.accepts.failed(ll.s.logger, ll.inner, err, ll.backoff)
	return ll.backoff
}
