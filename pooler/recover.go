package pooler

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// Recovering from a panic while serving a connection.
//
// A panic in the code that serves one connection ends that connection only, as net/http's Server does for
// a request: each goroutine that serves a connection (a client's serve, the relay of its link, the
// goroutine that aborts a server, the read-ahead while a client waits, a pool's login probe) defers one of
// the functions below at its root. The recovery logs the panic with its stack (Error level, rate-limited:
// whoever can make pgpooler panic can do it once per connection), closes the client's socket, makes sure
// the server of the link is closed rather than returned to its pool (its state is unknown), and counts the
// client out. A CancelRequest and an admin console session are served by the client's own goroutine, so
// its recovery covers them.
//
// A panic inside a critical section leaves that mutex locked (pgpooler unlocks without defer on the hot
// path). The sections of a client's mu, a pool's mu and the Server's mu never block, so the recovery
// waits at most panicLockWait for each; one still locked then is held by the frame that panicked, and
// the state it guards is left alone: the sockets are closed all the same.

// panicLockWait bounds how long a recovery waits for a mutex that the panicking frame may hold.
const panicLockWait = time.Second

// logPanic logs v, recovered in goroutine where, with the stack of the goroutine that panicked (the
// deferred recovery runs on top of the panicking frames) and args naming the connection.
func (s *Server) logPanic(where string, v any, args ...any) {
	args = append(args, "goroutine", where, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	s.panicLog.log(s.logger, slog.LevelError, "panic serving a connection; it is closed", args...)
}

// lockAfterPanic locks mu, waiting at most panicLockWait, and reports whether it did.
func lockAfterPanic(mu *sync.Mutex) bool {
	deadline := time.Now().Add(panicLockWait)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

// recoverServe is deferred at the root of a client's goroutine (serve). After a panic it closes the
// client (abandon) and takes it off max_client_conn's count if login had counted it (*counted).
func (c *clientConn) recoverServe(counted *bool) {
	v := recover()
	if v == nil {
		return
	}
	c.s.logPanic("client", v, "client", c.id, "addr", c.remote, "database", c.database, "user", c.user)
	c.abandon()
	if *counted {
		c.s.clientCount.Add(-1)
	}
}

// abandon closes a client whose goroutine panicked: its socket, its context, and its link: the relay is
// woken with a past read deadline and finds the link busy, so it closes the server (with a cancel)
// instead of returning it (relayFailed). It waits for the relay to return, then forgets the client.
func (c *clientConn) abandon() {
	_ = c.conn.Close()
	c.cancel(errQuiet)
	if lockAfterPanic(&c.mu) {
		c.closing = true
		if c.sc != nil {
			c.openBatch = true // what was sent to the server is unknown: it must not go back
			_ = c.sc.conn.SetReadDeadline(time.Unix(1, 0))
		}
		done := c.relayDone
		c.mu.Unlock()
		if done != nil {
			<-done
		}
	} else {
		c.s.logger.Error("client state still locked after a panic: its server, if any, is left as it is", "client", c.id)
	}
	c.s.cancelKeys.unregister(c)
	if lockAfterPanic(&c.s.mu) {
		delete(c.s.clients, c)
		c.s.mu.Unlock()
	}
	c.s.leaks.forgetAfterPanic(c) // leakreport.go
}

// recoverRelay is deferred at the root of a link's relay (relayServer). After a panic it closes the
// client's socket (its goroutine then ends the session) and the server: with a cancel while the link
// still held it, or just its socket when the panic came while the relay was disposing of it (the link had
// let go of it): a server left in its pool with a closed socket is found dead before it is lent again.
func (c *clientConn) recoverRelay(sc *serverConn) {
	v := recover()
	if v == nil {
		return
	}
	c.s.logPanic("relay", v, "client", c.id, "server", sc.id, "database", c.database, "user", c.user)
	_ = c.conn.Close()
	held := false
	if lockAfterPanic(&c.mu) {
		c.closing = true
		if held = c.sc == sc; held {
			c.sc = nil
		}
		c.mu.Unlock()
	}
	if held {
		c.s.abortServer(sc, "panic while relaying")
	} else {
		_ = sc.raw.Close()
	}
}

// recoverAbort is deferred at the root of abortServer's goroutine; *closing says whether closeServer had
// begun. After a panic it closes the server once.
func (s *Server) recoverAbort(sc *serverConn, closing *bool) {
	v := recover()
	if v == nil {
		return
	}
	s.logPanic("abort", v, "server", sc.id)
	if *closing {
		_ = sc.raw.Close()
	} else {
		s.closeServer(sc, "panic while aborting")
	}
}

// recoverWatch is deferred at the root of the read-ahead goroutine of a waiting client (watchWait).
// After a panic the client is marked gone (its wait ends) and its socket closed.
func (c *clientConn) recoverWatch() {
	v := recover()
	if v == nil {
		return
	}
	c.s.logPanic("waitwatch", v, "client", c.id)
	_ = c.conn.Close()
	c.leave()
}

// recoverProbe is deferred at the root of pool p's login probe. After a panic the probe is marked ended,
// so that the next client that needs a server starts another one.
func (s *Server) recoverProbe(p *pool) {
	v := recover()
	if v == nil {
		return
	}
	s.logPanic("probe", v, "database", p.key.database, "user", p.key.user)
	if lockAfterPanic(&p.mu) {
		p.probing = false
		p.mu.Unlock()
	}
}

// recoverJanitor is deferred by each round of the janitor (janitorTick) and by its min_pool_size logins
// (where names which). After a panic it logs it with its stack; the round, or that login, is given up.
// A login that panicked may leave its slot counted in its pool (pools.Pool), one server fewer than
// min_pool_size until a server of the pool closes; the process and every connection go on.
func (s *Server) recoverJanitor(where string) {
	if v := recover(); v != nil {
		s.logPanic(where, v)
	}
}

// panicHook, when not nil, is called by panicPoint. Only tests set it (recover_test.go), before the
// Server serves, to make serving one connection panic on an input they choose; it is nil otherwise.
var panicHook func(where string, detail []byte)

// panicPoint calls panicHook, if set, with where (the goroutine: "client", "relay", "janitor"; or
// "exchange", the continuation of an internal query on a loop; "settle", a lending's parameter sync
// planned on a loop) and detail (the input at hand: for "exchange" the query, for "settle" the sync's SQL). It sits on rare paths only (a SET statement, a ParameterStatus, the end of an
// internal query, called there only while a hook is set).
func panicPoint(where string, detail []byte) {
	if h := panicHook; h != nil {
		h(where, detail)
	}
}
