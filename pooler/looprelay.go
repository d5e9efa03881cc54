package pooler

import (
	"crypto/tls"
	"log/slog"
	"net"
	"runtime"
	"sync/atomic"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/loop"
	"github.com/pgpooler/pgpooler/pooler/pools"
)

// loopRelay holds the event loops of event_loops (pgpooler's own key, on by default): TCP clients log
// in there (looplogin.go), and the logged-in clients it covers (loopCovered) and the servers lent to
// them are served there, by pooler/loop, instead of by goroutines of their own (docs/architecture.md).
// Every other client keeps the goroutine relay (client.go run, relay.go relayServer).
type loopRelay struct {
	g      *loop.Group
	logins loopLoginStats // where logins ran (looplogin.go)
}

// startLoopRelay starts n event loops (event_loop_count), or when n is 0 loopCount's.
func startLoopRelay(logger *slog.Logger, n int) (*loopRelay, error) {
	if n <= 0 {
		n = loopCount(runtime.GOMAXPROCS(0))
	}
	g, err := loop.Start(loop.Config{Loops: n, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &loopRelay{g: g}, nil
}

// loopCount is event_loop_count's default for procs Ps (GOMAXPROCS): half of them, at least 1. A
// loop's goroutine spends its idle time in epoll_wait, holding its P; the runtime's sysmon leaves such
// a P alone only while another P is idle (runtime/proc.go retake), so loops must leave Ps idle. On 2
// CPUs shared with PostgreSQL and pgbench, 1 loop cost 25 to 32 µs per transaction at 50 clients and
// 2 loops 37 to 48 (docs/architecture.md).
func loopCount(procs int) int {
	return max(1, procs/2)
}

// stop closes whatever is still enrolled and stops the loops; nil-safe.
func (lr *loopRelay) stop() {
	if lr != nil {
		lr.g.Stop()
	}
}

// loopCovered reports whether the logged-in client c is served on the event loops: event_loops is on,
// c is a TCP or Unix-socket client in any pool mode (statement mode: loopstatement.go; with
// max_prepared_statements > 0 its protocol-level prepared statements are tracked on the loop,
// loopprepare.go; reject_session_features: loopreject.go), and nothing past the login has been read
// ahead. Its servers may use TLS (server_tls_sslmode), and c too (client_tls_sslmode): the loop decrypts
// both (looptls.go).
func (c *clientConn) loopCovered(cfg *config.Config) bool {
	switch {
	case c.s.loops == nil:
		return false
	case c.tls != nil && clientTLSTransport(c) == nil:
		return false
	case c.mode != modeSession && c.mode != modeTransaction && c.mode != modeStatement:
		return false
	}
	switch conn := c.conn.(type) {
	case *net.TCPConn, *net.UnixConn:
		return c.rd.Buffered() == 0
	case *loginSocket: // logged in on a loop (looplogin.go), or handed off from one
		return c.rd.Buffered() == 0 && len(conn.buf) == 0
	}
	return false
}

// serveOnLoop hands the logged-in client to an event loop; serve's goroutine then ends. The loop
// finishes the client once when it closes (loopClient.closed): finish, clientCount, clientWG.
func (c *clientConn) serveOnLoop(counted bool) {
	ls, _ := c.conn.(*loginSocket) // logged in on a loop: it stays there, on the same loop.Conn
	lp := &c.loop                  // part of c: no object of its own (client.go)
	lp.c, lp.counted = c, counted
	if ls != nil && !ls.handed {
		lp.l = ls.l
	} else {
		lp.l = c.s.loops.g.Next()
	}
	// What other goroutines write to the client from now on (kill's goodbye, learnTentative's
	// ParameterStatus, finish's error) is kept and written on the loop (flushLater).
	c.wmu.Lock()
	lp.wr = *pgwire.NewWriter(&lp.later)
	c.wr = &lp.wr
	c.wmu.Unlock()
	c.rd = nil // the loop frames the client's messages itself (OnData): an idle client holds no Reader
	// The loop works on a duplicate of the socket and closes this one: c keeps only its addresses. Under
	// c.mu, as SHOW CLIENTS and kill read c.conn from other goroutines.
	raw := c.conn
	if ls != nil && ls.handed { // handed to a goroutine during its login (looplogin.go): its socket
		raw = ls.nc
	}
	if tt := clientTLSTransport(c); tt != nil { // a TLS client: decrypted on the loop (looptls.go)
		lp.tl = &loopTLS{tc: c.stream.(*tls.Conn), tr: tt}
		tt.enrolling()
	}
	c.mu.Lock()
	c.conn = newEnrolledSocket(raw)
	c.stream = c.conn
	c.mu.Unlock()
	c.s.clientWG.Add(1)
	if ls != nil && !ls.handed {
		c.lp.Store(lp)
		ls.stay(lp)
		return
	}
	lc, err := lp.l.Enroll(raw, lp) // closes raw
	if err != nil {
		lp.finish(err)
		return
	}
	c.lp.Store(lp)
	_ = lp.l.Run(func() { lp.enrolled(lc) })
}

// enrolled is the client's start on its loop conn lc; on the loop.
func (lp *loopClient) enrolled(lc *loop.Conn) {
	c := lp.c
	lp.lc = lc
	if lp.tl != nil {
		lp.tl.tr.lc = lc // its writes go to the loop from now on (OnData may have named it already)
	}
	if lp.done {
		return
	}
	// KILL_CLIENT and KILL end c.context() with errQuiet (c.cancel then calls ctxCancelled); one that came
	// before c.lp was set is seen here. Shutdown's end of baseCtx is handled by shutdown.
	if c.ctxErr() != nil {
		lp.ctxEnded()
	}
	lp.touchIdle() // idle since its login: client_idle_timeout (looptimeout.go)
}

// ctxCancelled queues the end of c.context() to the loop of a client served there (loopClient.ctxEnded): in
// place of a context.AfterFunc, which would cost every idle client an entry among its context's
// children, the AfterFunc's own context and a Done channel.
func (c *clientConn) ctxCancelled() {
	// No c.mu: abandon cancels after a panic that may have held it. A finished client (its own finish
	// cancels it, on the loop) needs nothing queued: ctxEnded would do nothing, and the Run would wake
	// the loop by itself once per closed client.
	if lp := c.lp.Load(); lp != nil && !lp.finished.Load() {
		_ = lp.l.Run(lp.ctxEnded)
	}
}

// loopClient is a client served on a loop. Its fields are the loop's alone, except later and wr (under c.wmu).
// What every message and lending touches comes first (one cache line with its flags), the wait, the
// timers and what other goroutines write after: 208 bytes, not 224 with the flags between pointers.
type loopClient struct {
	c          *clientConn
	l          *loop.Loop
	lc         *loop.Conn
	ln         *loopLink   // the lending now, nil between
	rem        int         // bytes of the client's current message still to forward
	discard    int         // bytes of the client's current message still to drop
	pend       []byte      // client messages gathered for one write to the server within OnData (a loop scratch buffer; loopprepare.go)
	counted    bool        // counted in clientCount
	waiting    bool        // a goroutine gets, or settles, a server for the client, or it waits in line: its next link waits
	fullServer bool        // paused: the server's outbound is over the limit
	done       bool        // closed and finished
	finished   atomic.Bool // set by finish (done, for other goroutines: ctxCancelled)

	tl      *loopTLS                   // its TLS layer when the client uses TLS (looptls.go), else nil
	tmo     *loopTimeouts              // its timers (looptimeout.go); nil until a timeout that is set is used
	w       *pools.Waiter[*serverConn] // its place in line while it waits on the loop (loopwait.go)
	taken   *serverConn                // a server the loop got for the client and has not linked yet (loopleak.go)
	wt      *loop.Timer                // query_wait_timeout of that wait (disarmed between waits, stopped at finish)
	grantFn func()                     // granted, made once: what Wake queues to the loop
	err     error                      // why the pooler closed the client

	later laterBuf      // what other goroutines wrote for the client, through wr (looplater.go)
	wr    pgwire.Writer // c.wr while the client is on the loop: kept here, not allocated apart
}

// LoopConns is the number of connections enrolled on the event loops now (event_loops): clients served
// there and the server sockets enrolled for them; 0 when event_loops is off.
func (s *Server) LoopConns() int {
	if s.loops == nil {
		return 0
	}
	n := 0
	for i := range s.loops.g.Len() {
		n += s.loops.g.Loop(i).Conns()
	}
	return n
}

// LoopDetaches is the number of sockets taken off the event loops since the pooler started
// (loop.Group.Detaches): a server moved to another loop or to a goroutine client (internal queries run on
// the loop: loopexchange.go); 0 when event_loops is off.
func (s *Server) LoopDetaches() uint64 {
	if s.loops == nil {
		return 0
	}
	return s.loops.g.Detaches()
}
