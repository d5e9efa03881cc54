package pooler

import (
	"io"
	"iter"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgpooler/pgpooler/pooler/loop"
)

// Logins on the event loops (event_loops; docs/architecture.md, "Logins on the loops"). A TCP client
// accepted while event_loops is on is enrolled on a loop at once, and its login (client.go serve, login,
// clientauth.go: the start-up packet, SSLRequest and GSSENCRequest answered 'N', trust, md5, SCRAM and
// cleartext from auth_file and hba, the welcome) runs there, as written for a goroutine, in a coroutine
// (iter.Pull) that the loop resumes in the client's OnData: a read that finds no byte gives the loop back
// until the next bytes come, client_login_timeout is a loop timer, and nothing parks in Go's poller. A
// coroutine switch is a jump between two stacks on the loop's thread (runtime.coroswitch), not a wake-up
// of another thread. Whatever would block the loop (a TLS handshake, the admin console, a CancelRequest
// forwarded to a server, auth_query, a start-up parameter that needs a server, a client not served on
// the loop after its login) first hands the socket to a goroutine (clientConn.offLoop), where the same
// code goes on from where it stopped; a client logged in on the loop stays there, served by its
// loopClient on the same loop.Conn.

// loopLoginStats counts where logins ran (Server.LoopLogins).
type loopLoginStats struct {
	onLoop    atomic.Uint64 // logins that ended on a loop, the client served there from then on
	handedOff atomic.Uint64 // logins handed to a goroutine before something that blocks
}

// LoopLogins reports how many logins begun on the event loops ended there (the client then served on its
// loop with no goroutine of its own at any time) and how many were handed to a goroutine part way
// (clientConn.offLoop: TLS, the admin console, cancel requests, auth_query, start-up parameters that need a
// server, clients the loop does not serve); both 0 when event_loops is off. A login that fails on the loop
// (a wrong password, a bad start-up packet) counts in neither.
func (s *Server) LoopLogins() (onLoop, handedOff uint64) {
	if s.loops == nil {
		return 0, 0
	}
	return s.loops.logins.onLoop.Load(), s.loops.logins.handedOff.Load()
}

// loginStep is what a login coroutine gives the loop back for.
type loginStep uint8

const (
	stepRead    loginStep = iota // it needs more bytes from the client
	stepHandoff                  // it is about to block: hand the socket to a goroutine (loginSocket.offLoop)
)

// loginSocket is the client's net.Conn (clientConn.conn) while it logs in on a loop, and its loop.Handler.
// Read, SetDeadline and the coroutine fields are the coroutine's and the loop's (the coroutine runs only
// inside next, on the loop); Write and Close may come from any goroutine (KILL's goodbye, Shutdown).
type loginSocket struct {
	c             *clientConn
	l             *loop.Loop
	lc            *loop.Conn
	local, remote net.Addr

	next  func() (loginStep, bool)
	stop  func()
	yield func(loginStep) bool

	data     []byte      // bytes of the OnData running now that the login has not read
	rerr     error       // what Read returns once nothing is left: io.EOF, net.ErrClosed
	deadline time.Time   // client_login_timeout's (SetDeadline)
	timer    *loop.Timer // fires at deadline
	timedOut bool        // deadline passed: Read returns os.ErrDeadlineExceeded
	begun    bool        // the coroutine has started
	done     bool        // serve has returned
	handed   bool        // handed to a goroutine: nc (nil if the socket closed first) from now on
	buf      []byte      // bytes the loop read and the login had not when it was handed off; read before nc
	lp       *loopClient // the client's, once logged in on this loop (stay)

	active atomic.Bool // the coroutine runs (the loop is inside next)

	mu       sync.Mutex
	out      []byte   // written and not yet given to lc (flush)
	closeReq bool     // Close was called
	nc       net.Conn // after the handoff: the socket, in Go's poller
}

// loginOnLoop enrolls conn, a TCP client just accepted, on a loop and runs its login there. It reports
// false when event_loops is off (serve's goroutine then logs it in).
func (s *Server) loginOnLoop(conn net.Conn) bool {
	if s.loops == nil {
		return false
	}
	ls := s.newLoginSocket(s.loops.g.Next(), conn.LocalAddr(), conn.RemoteAddr())
	lc, err := ls.l.Enroll(conn, ls) // closes conn
	if err != nil {
		ls.abandon()
		return true
	}
	_ = ls.l.Run(func() { ls.start(lc) }) // queued behind the registration: no second wake-up of the loop
	return true
}

// loginOnLoopFD is loginOnLoop for fd, a socket a loop listener accepted on loop at (looplisten.go).
func (s *Server) loginOnLoopFD(fd int, local, remote net.Addr, at *loop.Loop) {
	l := s.loops.g.Next()
	ls := s.newLoginSocket(l, local, remote)
	here := l == at
	lc, err := l.EnrollFD(fd, local, remote, ls, here) // closes fd
	switch {
	case err != nil:
		ls.abandon()
	case here: // registered already: its login starts now, its first read after this callback
		ls.start(lc)
	default:
		_ = l.Run(func() { ls.start(lc) })
	}
}

// newLoginSocket makes the client and the coroutine of a login on l.
func (s *Server) newLoginSocket(l *loop.Loop, local, remote net.Addr) *loginSocket {
	ls := &loginSocket{l: l, local: local, remote: remote}
	ls.c = s.newClientConn(ls)
	ls.next, ls.stop = iter.Pull(ls.body)
	s.clientWG.Add(1)
	return ls
}

// abandon forgets a login that never began (its socket could not be enrolled).
func (ls *loginSocket) abandon() {
	ls.stop() // never begun: body does not run
	ls.c.s.clientWG.Done()
}

// body is the coroutine: the login and whatever serve goes on with.
func (ls *loginSocket) body(yield func(loginStep) bool) {
	defer ls.c.s.clientWG.Done()
	ls.yield = yield
	ls.c.serve()
}

// start begins the login before the client's first byte, so that client_login_timeout runs from the
// accept (a client that sends nothing is closed then).
func (ls *loginSocket) start(lc *loop.Conn) {
	if ls.lc == nil {
		ls.lc = lc
	}
	if !ls.begun {
		ls.step()
	}
}

// step resumes the coroutine until it waits for bytes, hands off or ends; on the loop, never inside next.
func (ls *loginSocket) step() {
	if ls.done || ls.handed || ls.active.Load() {
		return
	}
	ls.begun = true
	ls.active.Store(true)
	st, ok := ls.next()
	ls.active.Store(false) // before flush: a Write or Close after this queues its own
	if !ok {
		ls.done = true
	}
	ls.flush()
	switch {
	case ok && st == stepHandoff:
		ls.buf = append(ls.buf, ls.data...) // OnData consumes them all
		ls.data = ls.data[len(ls.data):]
		ls.handoff()
	case ls.lp == nil && ls.closing(): // the login failed (finish), or Close came from another goroutine
		ls.closeNow()
	}
}

func (ls *loginSocket) closing() bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.closeReq
}

// flush gives what the login wrote to the loop conn, in one write per step.
func (ls *loginSocket) flush() {
	ls.mu.Lock()
	out := ls.out
	ls.out = nil
	ls.mu.Unlock()
	if len(out) == 0 || ls.lc == nil || ls.handed {
		return
	}
	_ = ls.lc.Write(out) // copies what the kernel does not take at once
	ls.mu.Lock()
	if ls.out == nil {
		ls.out = out[:0]
	}
	ls.mu.Unlock()
}

// closeNow closes the loop conn after what the login wrote; on the loop.
func (ls *loginSocket) closeNow() {
	if ls.handed || ls.lc == nil {
		return
	}
	ls.flush()
	_ = ls.lc.Close() // OnClose: a coroutine still waiting for bytes reads net.ErrClosed and ends
}

// handoff takes the socket off the loop and lets a goroutine go on with the login; on the loop, at once
// (within OnData too: a client that sent a CancelRequest and hung up is closed by nbio right after this
// read callback, and its descriptor's number may then go to another socket).
func (ls *loginSocket) handoff() {
	if ls.timer != nil {
		ls.timer.Stop()
	}
	nc, err := ls.lc.DetachConsumed()
	ls.handed = true // before the Close below: its OnClose must not resume the coroutine on the loop
	if err != nil {
		nc = nil
		_ = ls.lc.Close() // bytes still outbound, or closed: the login reads and writes net.ErrClosed
	}
	ls.mu.Lock()
	ls.nc = nc
	closed := ls.closeReq
	if nc == nil {
		ls.closeReq = true
	}
	ls.mu.Unlock()
	if nc != nil {
		if !ls.deadline.IsZero() {
			_ = nc.SetDeadline(ls.deadline)
		}
		if closed {
			_ = nc.Close()
		}
	} else {
		ls.rerr = net.ErrClosed
	}
	ls.c.s.loops.logins.handedOff.Add(1)
	go func() {
		for {
			if _, ok := ls.next(); !ok {
				return
			}
		}
	}()
}

// offLoop is called by the login before code that may block: on the loop it gives the loop back, which
// hands the socket to a goroutine; the call returns there.
func (ls *loginSocket) offLoop() {
	if !ls.handed {
		ls.yield(stepHandoff)
	}
}

// stay makes lp, the logged-in client, the loop conn's handler (serveOnLoop); in the coroutine, on the loop.
func (ls *loginSocket) stay(lp *loopClient) {
	ls.flush() // the welcome, before anything lp writes
	ls.lp = lp
	ls.lc.SetHandler(lp)
	ls.c.s.loops.logins.onLoop.Add(1)
	lp.enrolled(ls.lc)
}

// OnData resumes a login waiting for the client's bytes. Bytes past a login that ended on the loop go
// to the logged-in client's handler (a client that pipelined its first query).
func (ls *loginSocket) OnData(lc *loop.Conn, data []byte) int {
	if ls.lc == nil {
		ls.lc = lc
	}
	if ls.done || ls.handed {
		return len(data)
	}
	ls.data = data
	ls.step()
	n := len(data) - len(ls.data)
	ls.data = nil
	if ls.lp != nil && n < len(data) && !lc.Closed() {
		return n + ls.lp.OnData(lc, data[n:])
	}
	return n
}

// OnDrained needs nothing: a login's writes are small and it waits for the client's answer.
func (ls *loginSocket) OnDrained(*loop.Conn) {}

// OnClose ends a login waiting for bytes: its read returns the cause.
func (ls *loginSocket) OnClose(lc *loop.Conn, err error) {
	if ls.lc == nil {
		ls.lc = lc
	}
	if ls.timer != nil {
		ls.timer.Stop()
	}
	if err == nil {
		err = net.ErrClosed
	}
	ls.rerr = err
	ls.step()
}

// expired is client_login_timeout on the loop.
func (ls *loginSocket) expired() {
	ls.timedOut = true
	ls.step()
}

// Read gives the login the client's bytes: those of the OnData running now, else it waits (the loop goes
// on) for the next. After the handoff it reads the socket.
func (ls *loginSocket) Read(p []byte) (int, error) {
	if len(ls.buf) > 0 {
		n := copy(p, ls.buf)
		ls.buf = ls.buf[n:]
		return n, nil
	}
	if ls.handed {
		if ls.nc == nil {
			return 0, ls.rerr
		}
		return ls.nc.Read(p)
	}
	for len(ls.data) == 0 {
		switch {
		case ls.timedOut:
			return 0, os.ErrDeadlineExceeded
		case ls.rerr != nil:
			return 0, ls.rerr
		case !ls.yield(stepRead):
			return 0, io.ErrUnexpectedEOF
		}
	}
	n := copy(p, ls.data)
	ls.data = ls.data[n:]
	return n, nil
}

// Write queues p for the loop conn (written when the coroutine gives the loop back, or by a Run when it
// comes from another goroutine); after the handoff it writes the socket.
func (ls *loginSocket) Write(p []byte) (int, error) {
	ls.mu.Lock()
	if nc := ls.nc; nc != nil {
		ls.mu.Unlock()
		return nc.Write(p)
	}
	if ls.closeReq {
		ls.mu.Unlock()
		return 0, net.ErrClosed
	}
	ls.out = append(ls.out, p...)
	ls.mu.Unlock()
	if !ls.active.Load() { // not the coroutine, which is the only writer while it runs
		_ = ls.l.Run(ls.flushFromRun)
	}
	return len(p), nil
}

func (ls *loginSocket) flushFromRun() { ls.flush() }

// Close closes the socket after what was written (on the loop, once the coroutine gives it back).
func (ls *loginSocket) Close() error {
	ls.mu.Lock()
	if nc := ls.nc; nc != nil {
		ls.mu.Unlock()
		return nc.Close()
	}
	if ls.closeReq {
		ls.mu.Unlock()
		return nil
	}
	ls.closeReq = true
	ls.mu.Unlock()
	if !ls.active.Load() {
		_ = ls.l.Run(ls.closeNow)
	}
	return nil
}

func (ls *loginSocket) LocalAddr() net.Addr  { return ls.local }
func (ls *loginSocket) RemoteAddr() net.Addr { return ls.remote }

// SetDeadline sets client_login_timeout's deadline (a loop timer; the socket's after the handoff). The
// coroutine's alone.
func (ls *loginSocket) SetDeadline(t time.Time) error {
	if ls.handed {
		if ls.nc != nil {
			return ls.nc.SetDeadline(t)
		}
		return nil
	}
	ls.deadline, ls.timedOut = t, false
	switch {
	case t.IsZero():
		if ls.timer != nil {
			ls.timer.Stop()
		}
	case ls.timer == nil:
		ls.timer = ls.l.AfterFunc(time.Until(t), ls.expired)
	default:
		ls.timer.Reset(time.Until(t))
	}
	return nil
}

// SetReadDeadline is SetDeadline: only reads wait on the loop.
func (ls *loginSocket) SetReadDeadline(t time.Time) error { return ls.SetDeadline(t) }

// SetWriteDeadline bounds writes after the handoff; on the loop a write never waits. From any goroutine.
func (ls *loginSocket) SetWriteDeadline(t time.Time) error {
	ls.mu.Lock()
	nc := ls.nc
	ls.mu.Unlock()
	if nc != nil {
		return nc.SetWriteDeadline(t)
	}
	return nil
}

// offLoop hands a login running on a loop to a goroutine before something that may block (see above);
// elsewhere it does nothing.
func (c *clientConn) offLoop() {
	if ls, ok := c.conn.(*loginSocket); ok {
		ls.offLoop()
	}
}
