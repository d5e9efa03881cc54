//go:build linux

package pgwire

import (
	"crypto/tls"
	"errors"
	"net"
	"syscall"
)

// Alive reports whether an idle connection still looks usable: the peer has not closed it and has sent
// nothing unexpected (an idle PostgreSQL server sends only on termination, e.g. FATAL 57P01 before a
// shutdown). It peeks without blocking (recv with MSG_PEEK|MSG_DONTWAIT) and consumes nothing. Connections
// it cannot inspect are assumed alive. For repeated checks of one connection, NewLiveness allocates once.
func Alive(c net.Conn) bool { return NewLiveness(c).Alive() }

// Liveness is Alive for one connection, checked many times (a pooled server before each lending) without
// allocating. It is not safe for concurrent use.
type Liveness struct {
	raw   syscall.RawConn // nil: the connection cannot be inspected
	err   error           // from SyscallConn: the connection is unusable
	buf   [1]byte
	alive bool
	peek  func(fd uintptr) bool // l.peekFD, bound once
}

// NewLiveness prepares the checks of c (a *tls.Conn is checked on its socket).
func NewLiveness(c net.Conn) *Liveness {
	l := &Liveness{}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if sc, ok := c.(syscall.Conn); ok {
		l.raw, l.err = sc.SyscallConn()
	}
	l.peek = l.peekFD
	return l
}

// Alive reports whether the connection still looks usable, as the function Alive does.
func (l *Liveness) Alive() bool {
	if l.err != nil {
		return false
	}
	if l.raw == nil {
		return true
	}
	l.alive = true
	cerr := l.raw.Read(l.peek)
	return l.alive && cerr == nil
}

// peekFD is the non-blocking peek, run by RawConn.Read with the socket's descriptor.
func (l *Liveness) peekFD(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), l.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case n > 0: // unsolicited bytes from an idle server: it is going away
		l.alive = false
	case n == 0 && err == nil: // orderly close
		l.alive = false
	case err != nil && !errors.Is(err, syscall.EAGAIN):
		l.alive = false
	}
	return true
}
