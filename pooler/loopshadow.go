package pooler

import (
	"errors"
	"net"
	"os"
	"syscall"

	"github.com/pgpooler/pgpooler/pooler/loop"
)

// A server's socket is enrolled on a loop the first time it is lent to a client of that loop, and stays
// enrolled (paused while not lent there) for the server's life: its "shadow" on that loop. The
// serverConn keeps its own descriptor, so between lendings it is a plain net.Conn in its pool, read and
// written by the goroutine code as before (checks, ROLLBACK, parameter sync, goroutine-relay clients).
// Why not enroll for one lending and give the socket back: nbio never removes a descriptor from its
// epoll set (it relies on close), and epoll keeps a registration while any duplicate of the descriptor is
// open, so a socket that leaves a loop alive would go on raising events there under a descriptor number
// that another connection may reuse. A shadow's descriptor is closed only when the socket is dead: a
// hang-up seen by the loop, or serverConn.close, which shuts the socket down first (loopShadowed) so that
// every shadow sees the hang-up. At most one shadow per loop: Group.Len descriptors per server.

// serverShadow is a server's socket enrolled on one loop, and its Handler there.
type serverShadow struct {
	lr   *loopRelay
	idx  int
	sc   *serverConn
	conn *loop.Conn
	ln   *loopLink // the lending it serves now; nil while sc is not lent on this loop (conn paused)
}

// shadowOn returns sc's shadow on loop l, enrolling one if there is none; on l.
func (lr *loopRelay) shadowOn(l *loop.Loop, sc *serverConn) (sh *serverShadow, fresh bool, err error) {
	if sh := lr.shadows[l.Index()][sc]; sh != nil && !sh.conn.Closed() {
		return sh, false, nil
	}
	nc, err := dupConn(sc.raw)
	if err != nil {
		return nil, false, err
	}
	sh = &serverShadow{lr: lr, idx: l.Index(), sc: sc}
	conn, err := l.Enroll(nc, sh) // registered by a function queued on l: use conn in a later one
	if err != nil {
		return nil, false, err
	}
	sh.conn = conn
	conn.Pause()
	sc.loopShadowed.Store(true)
	lr.shadows[sh.idx][sc] = sh
	return sh, true, nil
}

// dupConn returns a net.Conn on a duplicate of c's descriptor; c stays open.
func dupConn(c net.Conn) (net.Conn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(f uintptr) { fd, derr = syscall.Dup(int(f)) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	f := os.NewFile(uintptr(fd), "pgpooler-server")
	defer f.Close()
	return net.FileConn(f)
}

// shutdownSocket shuts c's socket down both ways, for every descriptor of it (the loops' shadows too).
func shutdownSocket(c net.Conn) {
	if sc, ok := c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = syscall.Shutdown(int(fd), syscall.SHUT_RDWR) })
		}
	}
}

// OnData: bytes from the server while it is lent on this loop. A paused shadow is not read, so bytes
// with no lending here mean something read the socket it should not have: the socket is shut down,
// which makes its pool's check close the server.
func (sh *serverShadow) OnData(_ *loop.Conn, data []byte) int {
	if sh.ln == nil {
		shutdownSocket(sh.sc.raw)
		return len(data)
	}
	return sh.ln.fromServer(data)
}

// OnDrained: the server took what was queued for it; a client paused for it goes on.
func (sh *serverShadow) OnDrained(*loop.Conn) {
	if ln := sh.ln; ln != nil && ln.lp.fullServer {
		ln.lp.fullServer = false
		ln.lp.maybeResume()
	}
}

// OnClose: the socket hung up or failed (or the loops stopped); a lending it served fails.
func (sh *serverShadow) OnClose(_ *loop.Conn, err error) {
	if sh.lr.shadows[sh.idx][sh.sc] == sh {
		delete(sh.lr.shadows[sh.idx], sh.sc)
	}
	if ln := sh.ln; ln != nil {
		ln.serverFailed(err)
	}
}
