package pooler

import (
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout sets TCP_USER_TIMEOUT (tcp(7)), in milliseconds, on the socket fd.
func setUserTimeout(fd uintptr, d time.Duration) error {
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d/time.Millisecond))
}

// applyAccepted sets o on fd, a socket a loop listener accepted (looplisten.go), which starts at the
// operating system's options as a freshListener's do: TCP_NODELAY (which Go sets on the sockets it
// accepts), then what applyFresh sets.
func (o tcpOptions) applyAccepted(fd int) error {
	set := func(level, opt, v int) error { return unix.SetsockoptInt(fd, level, opt, v) }
	secs := func(d time.Duration) int { return int((d + time.Second - 1) / time.Second) } // as Go rounds them
	if err := set(unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		return err
	}
	if o.keepalive {
		if err := set(unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1); err != nil {
			return err
		}
		for _, t := range []struct {
			opt int
			v   int
		}{{unix.TCP_KEEPIDLE, secs(o.idle)}, {unix.TCP_KEEPINTVL, secs(o.interval)}, {unix.TCP_KEEPCNT, o.count}} {
			if t.v > 0 {
				if err := set(unix.IPPROTO_TCP, t.opt, t.v); err != nil {
					return err
				}
			}
		}
	}
	if o.userTimeout <= 0 {
		return nil
	}
	return setUserTimeout(uintptr(fd), o.userTimeout)
}
