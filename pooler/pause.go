package pooler

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
)

// pauseState is which databases are paused or disabled (PgBouncer doc/usage.md, PAUSE, RESUME, DISABLE,
// ENABLE, KILL). It is guarded by Server.mu, but for any; each pool's pools.Pool is told whether it is
// paused (applyPauseLocked), and its lock decides whether a server is lent.
type pauseState struct {
	all      bool            // PAUSE without a database
	paused   map[string]bool // PAUSE db, KILL db
	disabled map[string]bool // DISABLE db
	resumed  chan struct{}   // closed and replaced by every RESUME: paused clients wait on it
	any      atomic.Bool     // all or some database paused: acquire looks at the rest only then

	drainMu sync.Mutex
	drained chan struct{} // closed and replaced when a server of a paused pool goes back or closes
}

func (ps *pauseState) pausedLocked(db string) bool { return ps.all || ps.paused[db] }

// applyPauseLocked tells every pool whether it is paused now (serving the waiters of those resumed);
// the caller holds Server.mu.
func (s *Server) applyPauseLocked() {
	s.pause.any.Store(s.pause.all || len(s.pause.paused) > 0)
	for _, p := range s.pools {
		p.q.SetPaused(s.pause.pausedLocked(p.key.database))
	}
}

// drainedChan returns the channel that notifyDrained closes next.
func (ps *pauseState) drainedChan() chan struct{} {
	ps.drainMu.Lock()
	defer ps.drainMu.Unlock()
	if ps.drained == nil {
		ps.drained = make(chan struct{})
	}
	return ps.drained
}

// notifyDrained wakes PAUSE commands waiting for their servers to come back (a pools.Pool's onPaused).
func (ps *pauseState) notifyDrained() {
	ps.drainMu.Lock()
	if ps.drained != nil {
		close(ps.drained)
		ps.drained = nil
	}
	ps.drainMu.Unlock()
}

// matches reports whether a command's database argument ("" = every database) covers db.
func matches(arg, db string) bool { return arg == "" || arg == db }

// waitResumed blocks a client that needs a server while its database is paused, until RESUME, the end of
// ctx, or shutdown, and reports whether it waited; ww is told before it blocks. Paused clients wait
// without query_wait_timeout: a maintenance window loses no query.
func (s *Server) waitResumed(ctx context.Context, db string, ww *waitWatch) (waited bool, err error) {
	for {
		s.mu.Lock()
		if !s.pause.pausedLocked(db) {
			s.mu.Unlock()
			return waited, nil
		}
		ch := s.pause.resumed
		s.mu.Unlock()
		waited = true
		ww.blocking()
		select {
		case <-ch:
		case <-ctx.Done():
			return true, ctxEnded(ctx, pgwire.NewFatal(pgerrcode.AdminShutdown, "gave up waiting for database %q to be resumed", db))
		case <-s.done:
			return true, pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down")
		}
	}
}

// Pause stops lending servers of database db ("" = all): clients wait for RESUME, transactions already
// running finish. It returns when every server of those databases is back in its pool, and closes them,
// so that the database can be maintained with no pooler connection open (PgBouncer PAUSE). ctx bounds the
// wait; the pause itself stays in force when ctx ends.
func (s *Server) Pause(ctx context.Context, db string) error {
	s.mu.Lock()
	if db == "" {
		s.pause.all = true
	} else {
		s.pause.paused[db] = true
	}
	s.applyPauseLocked()
	for {
		drained := s.pause.drainedChan() // before looking: a server back meanwhile closes it
		if s.releasedLocked(db) {
			break
		}
		s.mu.Unlock()
		select {
		case <-drained:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	idle := s.takeIdleLocked(db)
	s.mu.Unlock()
	for _, sc := range idle {
		s.closeServer(sc, "PAUSE")
	}
	s.logger.Info("paused", "database", dbLabel(db))
	return nil
}

// releasedLocked reports whether no server of database db ("" = all) is lent or being opened.
func (s *Server) releasedLocked(db string) bool {
	for _, p := range s.pools {
		if matches(db, p.key.database) && !p.q.Released() {
			return false
		}
	}
	return true
}

// takeIdleLocked removes and returns the idle servers of database db ("" = all).
func (s *Server) takeIdleLocked(db string) []*serverConn {
	var out []*serverConn
	for _, p := range s.pools {
		if matches(db, p.key.database) {
			out = append(out, p.q.TakeIdle()...)
		}
	}
	return out
}

// Resume ends a PAUSE or KILL of database db ("" = every paused database); waiting clients go on.
// Resuming a database that is not paused is an error, as in PgBouncer.
func (s *Server) Resume(db string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case db == "" && !s.pause.all && len(s.pause.paused) == 0:
		return pgwire.NewError(pgerrcode.ObjectNotInPrerequisiteState, "pooler is not paused")
	case db == "":
		s.pause.all = false
		clear(s.pause.paused)
	case !s.pause.paused[db]:
		return pgwire.NewError(pgerrcode.ObjectNotInPrerequisiteState, "database %q is not paused", db)
	default:
		delete(s.pause.paused, db)
	}
	s.applyPauseLocked() // clients that were already in line before the PAUSE are served
	close(s.pause.resumed)
	s.pause.resumed = make(chan struct{})
	s.logger.Info("resumed", "database", dbLabel(db))
	return nil
}

// Disable refuses new client logins to database db (PgBouncer DISABLE); Enable allows them again.
func (s *Server) Disable(db string) {
	s.mu.Lock()
	s.pause.disabled[db] = true
	s.mu.Unlock()
}

// Enable undoes Disable.
func (s *Server) Enable(db string) {
	s.mu.Lock()
	delete(s.pause.disabled, db)
	s.mu.Unlock()
}

// loginAllowed returns the error for a client login to a DISABLEd database, nil otherwise.
func (s *Server) loginAllowed(db string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pause.disabled[db] {
		return pgwire.NewFatal(pgerrcode.CannotConnectNow, "database %q does not allow connections: it is disabled (DISABLE)", db)
	}
	return nil
}

// Reconnect makes every server of database db ("" = all) close when it is next released, and closes
// the idle ones now, so that new servers are opened (PgBouncer RECONNECT).
func (s *Server) Reconnect(db string) {
	s.mu.Lock()
	for _, p := range s.pools {
		if matches(db, p.key.database) {
			p.setConfLocked(nil, true)
		}
	}
	idle := s.takeIdleLocked(db)
	s.mu.Unlock()
	for _, sc := range idle {
		s.closeServer(sc, "RECONNECT")
	}
}

// Kill closes every client and server connection of database db ("" = all) at once and pauses it: new
// clients wait until RESUME (PgBouncer KILL).
func (s *Server) Kill(db string) {
	s.mu.Lock()
	if db == "" {
		s.pause.all = true
	} else {
		s.pause.paused[db] = true
	}
	s.applyPauseLocked()
	var clients []*clientConn
	for c := range s.clients {
		clients = append(clients, c)
	}
	idle := s.takeIdleLocked(db)
	s.mu.Unlock()
	var wg sync.WaitGroup // each kill is bounded (goodbye); together they take as long as one
	for _, c := range clients {
		c.mu.Lock()
		victim := c.loggedIn && c.pool != nil && matches(db, c.database) // login sets them before loggedIn
		c.mu.Unlock()
		if victim {
			wg.Go(func() { c.kill("KILL") })
		}
	}
	wg.Wait()
	for _, sc := range idle {
		s.closeServer(sc, "KILL")
	}
}

// KillClient closes the client connection with the given ID (SHOW CLIENTS id; PgBouncer KILL_CLIENT).
// It reports whether such a client existed.
func (s *Server) KillClient(id uint64) bool {
	s.mu.Lock()
	var victim *clientConn
	for c := range s.clients {
		if c.id == id {
			victim = c
			break
		}
	}
	s.mu.Unlock()
	if victim == nil {
		return false
	}
	victim.kill("KILL_CLIENT")
	return true
}

// kill closes the client at once, whatever it is doing, with FATAL 57P01 if that can be said without
// waiting on the client (goodbye); a client waiting for a server leaves the line (its context ends); its
// server, if any, is cancelled and closed or rolled back by its relay, as when a client dies.
func (c *clientConn) kill(command string) {
	c.mu.Lock()
	c.closing = true
	if c.sc != nil { // wakes the relay: the client goroutine may be waiting for it (awaitRelayLocked)
		_ = c.sc.conn.SetReadDeadline(time.Unix(1, 0))
	}
	conn := c.conn // under c.mu: serveOnLoop replaces it
	c.mu.Unlock()
	c.goodbye(conn, pgwire.NewFatal(pgerrcode.AdminShutdown, "terminating connection due to administrator command (%s)", command))
	_ = conn.Close()
	c.cancel(errQuiet) // after the goodbye: the client goroutine, woken, closes the socket
}

// goodbyeTimeout bounds the write of a last message to a client that is being killed.
const goodbyeTimeout = 100 * time.Millisecond

// goodbye writes e to the client (its socket conn) and flushes, unless that could wait on the client: it gives up when
// another write to the client is under way (the relay may be blocked on a client that stopped reading,
// holding wmu), and after goodbyeTimeout. Only for a client about to be closed: a write cut short by the
// deadline leaves the stream broken.
func (c *clientConn) goodbye(conn net.Conn, e *pgwire.Error) {
	if !c.wmu.TryLock() {
		return
	}
	defer c.wmu.Unlock()
	_ = conn.SetWriteDeadline(time.Now().Add(goodbyeTimeout))
	_ = c.wr.Write(e.AppendTo(nil))
	_ = c.wr.Flush()
}

func dbLabel(db string) string {
	if db == "" {
		return "(all)"
	}
	return fmt.Sprintf("%q", db)
}
