package loop

import (
	"errors"
	"net"
	"os"
	"syscall"
)

// ErrDetachUnsupported is Detach's error where the loop cannot take a descriptor out of its poll set
// (not Linux, or an nbio whose poller no longer has the field pollFD reads).
var ErrDetachUnsupported = errors.New("loop: detach is not supported here")

// Detach takes the conn off its loop and returns its socket as a net.Conn served by Go's runtime poller,
// for blocking code (an internal query on a server). Call it on the loop, with nothing unconsumed and
// nothing outbound (else an error, and the conn stays). The handler gets no further callback, OnClose
// included. Why not just close nbio's descriptor after a dup: nbio never deletes a descriptor from its
// epoll set (it relies on close), and epoll keeps the registration while any duplicate of the socket is
// open, so the loop would go on seeing events of this socket under a descriptor number that another
// conn may reuse; Detach deletes the registration itself first (epoll_ctl(2) EPOLL_CTL_DEL).
func (c *Conn) Detach() (net.Conn, error) {
	if len(c.in) > 0 || c.reading {
		return nil, errors.New("loop: detach with bytes pending")
	}
	nc, err := c.DetachConsumed()
	if err == nil {
		c.l.g.detaches.Add(1)
	}
	return nc, err
}

// DetachConsumed is Detach from within OnData too, for a handler that has consumed every byte offered
// (OnData then returns len(data), and the conn is read no further): the socket's descriptor is valid
// throughout the callback, where a Detach queued for later could find it closed by a hang-up, and its
// number given to another socket. Nothing may be outbound. Not counted in Group.Detaches (a client's
// login handed to a goroutine: its caller counts those).
func (c *Conn) DetachConsumed() (net.Conn, error) {
	if c.closed {
		return nil, ErrClosed
	}
	if c.outbound > 0 {
		return nil, errors.New("loop: detach with bytes pending")
	}
	if !c.registered {
		return nil, errors.New("loop: detach before the conn's registration ran")
	}
	if c.l.epfd < 0 {
		return nil, ErrDetachUnsupported
	}
	fd := c.nc.Hash() // nbio: the descriptor
	nfd, err := syscall.Dup(fd)
	if err != nil {
		return nil, err
	}
	if err := epollDelete(c.l.epfd, fd); err != nil {
		syscall.Close(nfd)
		return nil, err
	}
	c.closed, c.finished = true, true
	c.gone.Store(true)
	c.dropIn()
	if _, ok := c.l.conns[c]; ok {
		delete(c.l.conns, c)
		c.l.nconns.Add(-1)
	}
	_ = c.nc.Close() // nbio forgets and closes fd; its close callback finds the conn finished
	f := os.NewFile(uintptr(nfd), "detached")
	defer f.Close()
	return net.FileConn(f)
}

// Detaches is the number of conns Detach has taken off the group's loops since Start: each one a socket
// handed to blocking code and, for a server, enrolled again at its next lending on a loop.
func (g *Group) Detaches() uint64 { return g.detaches.Load() }
