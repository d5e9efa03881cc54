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
// it cannot inspect are assumed alive.
func Alive(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := true
	var b [1]byte
	cerr := raw.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0: // unsolicited bytes from an idle server: it is going away
			alive = false
		case n == 0 && err == nil: // orderly close
			alive = false
		case err != nil && !errors.Is(err, syscall.EAGAIN):
			alive = false
		}
		return true
	})
	return alive && cerr == nil
}
