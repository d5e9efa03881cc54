package loop

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/lesismal/nbio"
)

// ErrListenUnsupported is Listen's and EnrollFD's error where a loop cannot poll a listener or adopt a raw
// socket (not Linux, or an nbio whose Conn no longer has the field setStream writes).
var ErrListenUnsupported = errors.New("loop: listening on a loop is not supported here")

// ListenHandler receives a Listener's events, on its loop.
type ListenHandler interface {
	// Accepted is called with each accepted socket (non-blocking, close-on-exec) and its peer's
	// address; the socket is the handler's: enroll it (Loop.EnrollFD) or close it.
	Accepted(fd int, remote net.Addr)
	// AcceptFailed is called when accept4(2) fails other than with EAGAIN or EINTR: the listener stops
	// accepting for the duration returned (a back-off), or for good (0: the Listener closes).
	AcceptFailed(err error) time.Duration
}

// Listener is a listening TCP socket polled by a loop: its readable events are accepts (accept4(2),
// SOCK_NONBLOCK and SOCK_CLOEXEC) made on the loop, so no accepted socket passes through Go's poller and no
// goroutine waits in Accept.
type Listener struct {
	l    *Loop
	nc   *nbio.Conn // the listening socket in nbio's poll set; its read events are accepts
	fd   int
	h    ListenHandler
	addr net.Addr

	// The loop's.
	paused bool   // backing off after a failed accept (AcceptFailed)
	retry  *Timer // ends the back-off

	closeOnce sync.Once
	done      chan struct{} // closed by Close
}

// Listen takes ln's socket (ln itself is closed: its descriptor leaves Go's poller) and polls it on the
// loop, calling h for every connection. Safe from any goroutine. Errors: ErrStopped, ErrListenUnsupported
// (ln is then left open and untouched), or the duplication of its descriptor failing.
func (l *Loop) Listen(ln *net.TCPListener, h ListenHandler) (*Listener, error) {
	if l.g.stopped.Load() {
		return nil, ErrStopped
	}
	if !rawConnSupported {
		return nil, ErrListenUnsupported
	}
	rc, err := ln.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	nc, err := adoptFD(fd, ln.Addr(), nil) // fd is nc's now (or closed)
	if err != nil {
		return nil, err
	}
	_ = ln.Close()
	lis := &Listener{l: l, nc: nc, fd: nc.Hash(), h: h, addr: nc.LocalAddr(), done: make(chan struct{})}
	nc.SetSession(lis)
	if err := l.Run(func() {
		if _, err := l.eng.AddConn(nc); err != nil {
			lis.Close()
			return
		}
		lis.accept() // connections that came before the registration bring no edge
	}); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return lis, nil
}

// Addr is the listening address.
func (lis *Listener) Addr() net.Addr { return lis.addr }

// Done is closed once the Listener is closed.
func (lis *Listener) Done() <-chan struct{} { return lis.done }

// Close stops accepting and closes the listening socket; safe from any goroutine, more than once.
func (lis *Listener) Close() error {
	lis.closeOnce.Do(func() {
		// On the loop, so that no accept runs on a descriptor number closed (and perhaps reused) under it.
		if lis.l.Run(lis.closeHere) != nil {
			_ = lis.nc.Close() // the loops are stopping: nothing accepts any more
		}
		close(lis.done)
	})
	return nil
}

func (lis *Listener) closeHere() {
	lis.paused = true
	if lis.retry != nil {
		lis.retry.Stop()
	}
	_ = lis.nc.Close()
}

// accept accepts until the queue is empty (edge-triggered), the listener backs off or it closes.
func (lis *Listener) accept() {
	for !lis.paused {
		fd, sa, err := syscall.Accept4(lis.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		switch {
		case err == nil:
			lis.h.Accepted(fd, sockaddrAddr(sa))
			continue
		case errors.Is(err, syscall.EAGAIN):
			return
		case errors.Is(err, syscall.EINTR):
			continue
		}
		d := lis.h.AcceptFailed(err)
		if d <= 0 {
			lis.Close()
			return
		}
		lis.paused = true
		if lis.retry == nil {
			lis.retry = lis.l.AfterFunc(d, lis.resume)
		} else {
			lis.retry.Reset(d)
		}
		return
	}
}

// resume ends a back-off: the connections queued meanwhile brought no edge, so accept now.
func (lis *Listener) resume() {
	select {
	case <-lis.done:
		return
	default:
	}
	lis.paused = false
	lis.accept()
}

// sockaddrAddr is a TCP peer's address as net.Addr.
func sockaddrAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		ip := append(net.IP(nil), a.Addr[:]...)
		zone := ""
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip, Port: a.Port, Zone: zone}
	}
	return &net.TCPAddr{}
}

// EnrollFD is Enroll for a TCP socket accepted by a Listener: fd becomes the conn's (or, where nbio's conn
// cannot be made around it, a duplicate of it and fd is closed). local and remote are its addresses. Called on
// the loop itself, the conn is registered at once (no queued registration, no wake-up); from elsewhere,
// as Enroll. Errors: ErrStopped, ErrListenUnsupported, the duplication failing (fd is closed whatever
// happens).
func (l *Loop) EnrollFD(fd int, local, remote net.Addr, h Handler, here bool) (*Conn, error) {
	if l.g.stopped.Load() {
		syscall.Close(fd)
		return nil, ErrStopped
	}
	nc, err := adoptFD(fd, local, remote)
	if err != nil {
		return nil, err
	}
	if here {
		cc := &Conn{l: l, nc: nc, h: h}
		nc.SetSession(cc)
		l.nconns.Add(1)
		cc.register()
		return cc, nil
	}
	return l.enrollNB(nc, h)
}

// fdConn presents a raw socket to nbio.NBConn, which duplicates the descriptor and then closes this one.
type fdConn struct {
	fd            int
	local, remote net.Addr
}

func (c *fdConn) SyscallConn() (syscall.RawConn, error) { return c, nil }
func (c *fdConn) Control(f func(fd uintptr)) error      { f(uintptr(c.fd)); return nil }
func (c *fdConn) Read(func(fd uintptr) bool) error      { return ErrListenUnsupported }
func (c *fdConn) Write(func(fd uintptr) bool) error     { return ErrListenUnsupported }
func (c *fdConn) LocalAddr() net.Addr                   { return c.local }
func (c *fdConn) RemoteAddr() net.Addr                  { return c.remote }
func (c *fdConn) Close() error                          { return syscall.Close(c.fd) }

// adoptFD makes fd an nbio conn: fd itself where newStreamConn can make one (no system call), else a
// duplicate nbio.NBConn makes (and fd is closed).
func adoptFD(fd int, local, remote net.Addr) (*nbio.Conn, error) {
	if nc := newStreamConn(fd, local, remote); nc != nil {
		return nc, nil
	}
	fc := &fdConn{fd: fd, local: local, remote: remote}
	nc, err := nbio.NBConn(netConnOf(fc))
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	if !setStream(nc) {
		_ = nc.Close()
		return nil, ErrListenUnsupported
	}
	return nc, nil
}

// netConnOf gives fc the rest of net.Conn's methods (never called by nbio.NBConn).
func netConnOf(fc *fdConn) net.Conn { return rawNetConn{fc} }

type rawNetConn struct{ *fdConn }

func (rawNetConn) Read([]byte) (int, error)         { return 0, ErrListenUnsupported }
func (rawNetConn) Write([]byte) (int, error)        { return 0, ErrListenUnsupported }
func (rawNetConn) SetDeadline(time.Time) error      { return nil }
func (rawNetConn) SetReadDeadline(time.Time) error  { return nil }
func (rawNetConn) SetWriteDeadline(time.Time) error { return nil }

// LocalAddr is the local address of fd, a TCP socket accepted by a Listener on a wildcard address
// (getsockname(2)); nil if it cannot be had.
func LocalAddr(fd int) net.Addr {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil
	}
	return sockaddrAddr(sa)
}
