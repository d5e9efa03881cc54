package pooler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// poolSettings is what a pool runs with: its resolved config.PoolConfig, Password filled in from the
// database section or auth_file.
type poolSettings = config.PoolConfig

// poolKey identifies a pool: the database and user names the client asked for.
type poolKey struct{ database, user string }

// pool is the set of server connections for one (database, user). All fields are guarded by Server.mu.
type pool struct {
	srv *Server
	key poolKey
	pc  poolSettings
	gen uint64 // bumped when a reload changes where or how servers log in

	idle    []*serverConn // LIFO: the most recently used is at the end
	total   int           // servers open or being opened, idle or linked
	waiters []*waiter     // FIFO

	learned serverCreds // server credentials learned from client logins (see Server.learnCreds)
	opening int         // servers being logged in to (counted in total)

	// Atomic, not guarded by Server.mu:
	cancelsActive atomic.Int32 // clients' cancel requests being forwarded to servers of this pool (cl_active_cancel_req)
	beingCanceled atomic.Int32 // released servers waiting for cancel requests to end (sv_being_canceled; counted in total)
	stats         poolCounters
	obs           PoolObserver // never nil

	loginErr   *pgwire.Error // last failed server login; cleared by the next one that succeeds
	loginErrAt time.Time
	probing    bool          // a probe logs in again in the background while loginErr is cached (probe.go)
	probeKick  chan struct{} // buffered 1: wakes the probe to look at the pool again (Reload)
	wanted     time.Time     // when a client last needed a new server and got loginErr: probes run while clients ask
	removed    bool          // its database is no longer in the configuration (Reload)

	// welcome is the ParameterStatus set of the last server login (server_version, ...), lower-case keys
	// to [name, value]; clients start from it.
	welcome map[string][2]string
}

// waiter is a client waiting for a server in a pool's FIFO queue.
type waiter struct {
	ch    chan grant // buffered 1; receives exactly one grant
	since time.Time
}

// grant is what a waiter gets: an idle server, or a slot in which to open a new one.
type grant struct {
	sc      *serverConn
	connect bool
}

// acquire lends a server of pool p: the most recently used idle one that passes its checks, else a new
// one if the pool, max_db_connections and max_user_connections allow, else it waits in line (first in,
// first out) up to query_wait_timeout, using reserve_pool_size after reserve_pool_timeout. Errors are
// *pgwire.Error: 53300 when the wait times out, the server's own error when login fails, 57P01 when ctx
// ends while waiting; or errQuiet when ctx is the context of a client that has gone or been killed.
func (s *Server) acquire(ctx context.Context, p *pool) (*serverConn, error) {
	return s.acquireWatched(ctx, p, nil)
}

// acquireWatched is acquire for a client: qw, when not nil, watches the client while it waits (in line
// or for RESUME), from the first wait until acquireWatched returns (waitwatch.go).
func (s *Server) acquireWatched(ctx context.Context, p *pool, qw queueWatcher) (*serverConn, error) {
	cfg := s.config()
	deadline := time.Time{}
	if d := cfg.Pooler.QueryWaitTimeout.D(); d > 0 {
		deadline = time.Now().Add(d)
	}
	ww := waitWatch{qw: qw}
	defer ww.end()
	for {
		if waited, err := s.waitResumed(ctx, p.key.database, &ww); err != nil {
			return nil, err
		} else if waited && cfg.Pooler.QueryWaitTimeout.D() > 0 {
			deadline = time.Now().Add(cfg.Pooler.QueryWaitTimeout.D()) // time spent paused does not count
		}
		s.mu.Lock()
		if s.pause.pausedLocked(p.key.database) { // paused since waitResumed returned
			s.mu.Unlock()
			continue
		}
		var g grant
		switch {
		case len(p.waiters) == 0 && len(p.idle) > 0:
			g.sc = p.popIdleLocked()
		case len(p.waiters) == 0 && s.canOpenLocked(p, false):
			s.addServerLocked(p)
			g.connect = true
		default:
			w := &waiter{ch: make(chan grant, 1), since: time.Now()}
			p.waiters = append(p.waiters, w)
			victim := s.evictLocked(p)
			s.mu.Unlock()
			if victim != nil { // its slot goes to this pool's first waiter
				s.closeServer(victim, "evicted for a pool of the same database or user (max_db_connections, max_user_connections)")
			}
			ww.blocking()
			var err error
			if g, err = s.wait(ctx, p, w, deadline); err == errPaused {
				if d := cfg.Pooler.QueryWaitTimeout.D(); d > 0 {
					deadline = time.Now().Add(d) // time spent paused does not count
				}
				continue
			} else if err != nil {
				return nil, err
			}
			s.mu.Lock()
		}
		s.mu.Unlock()
		if g.connect {
			sc, err := s.openServer(ctx, p)
			if err != nil && ctx.Err() != nil {
				err = ctxEnded(ctx, err)
			}
			return sc, err
		}
		if s.checkIdle(g.sc) {
			return g.sc, nil
		}
		s.closeServer(g.sc, "failed its check before reuse")
	}
}

// wait blocks until w is granted, the deadline passes (query_wait_timeout) or ctx ends. After
// reserve_pool_timeout it may open a server in the reserve (reserve_pool_size).
func (s *Server) wait(ctx context.Context, p *pool, w *waiter, deadline time.Time) (grant, error) {
	cfg := s.config()
	var timeout, reserve <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	s.mu.Lock()
	reservePool := p.pc.ReservePoolSize // pc changes on reload, under mu
	s.mu.Unlock()
	if reservePool > 0 && cfg.Pooler.ReservePoolTimeout.D() > 0 { // 0 disables the reserve
		t := time.NewTimer(cfg.Pooler.ReservePoolTimeout.D())
		defer t.Stop()
		reserve = t.C
	}
	for {
		select {
		case g := <-w.ch:
			return g, nil
		case <-reserve:
			reserve = nil
			s.mu.Lock()
			if s.removeWaiterLocked(p, w) {
				if s.canOpenLocked(p, true) {
					s.addServerLocked(p)
					s.mu.Unlock()
					s.logger.Info("using reserve pool", "database", p.key.database, "user", p.key.user)
					return grant{connect: true}, nil
				}
				p.waiters = append([]*waiter{w}, p.waiters...) // back to the head of the line
			}
			s.mu.Unlock()
		case <-timeout:
			if g, ok := s.abandon(p, w); ok {
				return g, nil
			}
			s.mu.Lock()
			limit, paused := s.limitLocked(p), s.pause.pausedLocked(p.key.database)
			s.mu.Unlock()
			if paused {
				return grant{}, errPaused
			}
			return grant{}, pgwire.NewFatal(pgerrcode.TooManyConnections,
				"query_wait_timeout: no server connection for database %q user %q became free within %s (%s)",
				p.key.database, p.key.user, cfg.Pooler.QueryWaitTimeout.D(), limit)
		case <-ctx.Done():
			if g, ok := s.abandon(p, w); ok {
				return g, nil
			}
			return grant{}, ctxEnded(ctx, pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down"))
		}
	}
}

// errPaused tells acquire that its wait timed out while the database was paused: it waits for RESUME
// and then queues again, since time spent paused does not count against query_wait_timeout.
var errPaused = errors.New("database paused")

// abandon takes w out of line; if a grant raced in first, it returns that grant instead.
func (s *Server) abandon(p *pool, w *waiter) (grant, bool) {
	s.mu.Lock()
	removed := s.removeWaiterLocked(p, w)
	s.mu.Unlock()
	if removed {
		return grant{}, false
	}
	return <-w.ch, true
}

func (s *Server) removeWaiterLocked(p *pool, w *waiter) bool {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = slices.Delete(p.waiters, i, i+1) // zeroes the vacated slot
			return true
		}
	}
	return false
}

// popWaiterLocked takes the first waiter out of line. The slot it leaves in the queue's array is cleared:
// a queue emptied from the front keeps its array, and stale pointers there would keep every waiter of a
// past burst (10,000 clients queued once: some 4 MB) alive until the array is replaced.
func (p *pool) popWaiterLocked() *waiter {
	w := p.waiters[0]
	p.waiters[0] = nil
	p.waiters = p.waiters[1:]
	return w
}

// openServer logs in a new server in a slot already counted in p.total. While a failed login is cached
// (server_login_retry, or while a probe runs) it frees the slot and returns that error at once, naming
// server_login_retry, as PgBouncer does, and makes sure a probe is logging in again in the background.
func (s *Server) openServer(ctx context.Context, p *pool) (*serverConn, error) {
	s.mu.Lock()
	if now := time.Now(); s.loginRefusedLocked(p, now) {
		lerr := p.loginErr
		p.wanted = now
		s.startProbeLocked(p)
		s.dropServerLocked(p)
		s.mu.Unlock()
		return nil, pgwire.NewFatal(lerr.Code, "server login has been failing, try again later (server_login_retry): %s", lerr.Message)
	}
	s.mu.Unlock()
	return s.login(ctx, p, false)
}

// loginRefusedLocked reports whether p answers clients that need a new server with its cached login
// error: one is cached, and a probe is running or the error is younger than server_login_retry.
func (s *Server) loginRefusedLocked(p *pool, now time.Time) bool {
	return p.loginErr != nil && (p.probing || now.Sub(p.loginErrAt) < s.config().Pooler.ServerLoginRetry.D())
}

// login logs in a new server in a slot already counted in p.total. A failure is cached on the pool
// (loginErr) and frees the slot; a success clears the cached error. probe tells that the probe logs in:
// its failures are logged by the probe, rate-limited; a client's failure is logged here and starts a
// probe.
func (s *Server) login(ctx context.Context, p *pool, probe bool) (*serverConn, error) {
	cfg := s.config()
	s.mu.Lock()
	pc, gen, creds := p.pc, p.gen, s.serverCredsLocked(p)
	p.opening++
	s.mu.Unlock()
	start := time.Now()
	sc, err := dialServer(ctx, pc, creds, s.tls.Load(), cfg.Pooler.ServerConnectTimeout.D(), tcpOptionsOf(&cfg.Pooler))
	p.obs.Connect(time.Since(start))
	s.mu.Lock()
	defer s.mu.Unlock()
	p.opening--
	if err != nil {
		pe := asClientError(err)
		now := time.Now()
		gaveUp := ctx.Err() != nil // a login its client gave up on (it left, was killed) says nothing of the server
		if !gaveUp {
			p.loginErr, p.loginErrAt = pe, now
		}
		s.dropServerLocked(p)
		if !probe && !gaveUp {
			p.wanted = now
			s.logger.Warn("server login failed", "database", p.key.database, "user", p.key.user, "addr", pc.Host, "error", pe.Message)
			s.startProbeLocked(p)
		}
		return nil, pe
	}
	p.loginErr = nil
	if probe {
		p.probing = false
	}
	s.nextServerID++
	sc.id, sc.pool, sc.gen = s.nextServerID, p, gen
	p.welcome = welcomeOf(sc)
	if cfg.Pooler.LogConnections {
		s.logger.Info("server connection opened", "server", sc.id, "database", p.key.database, "user", p.key.user, "addr", sc.addr, "backend_pid", sc.pid)
	}
	return sc, nil
}

// checkIdle decides whether an idle server may be lent again: still connected, within server_lifetime, and,
// when idle longer than server_check_delay, answering server_check_query.
func (s *Server) checkIdle(sc *serverConn) bool {
	cfg := s.config()
	if !sc.alive.Alive() {
		return false
	}
	if expired(sc, cfg.Pooler.ServerLifetime.D()) {
		return false
	}
	if q := cfg.Pooler.ServerCheckQuery; q != "" && time.Since(sc.idleFrom) > cfg.Pooler.ServerCheckDelay.D() {
		_ = sc.conn.SetDeadline(time.Now().Add(cfg.Pooler.ServerConnectTimeout.D()))
		err := sc.exec(q)
		_ = sc.conn.SetDeadline(time.Time{})
		if err != nil || sc.txStatus != 'I' {
			return false
		}
	}
	return true
}

// expired reports whether sc has outlived server_lifetime; a lifetime of 0 means each server is used
// once (PgBouncer doc/config.md, server_lifetime).
func expired(sc *serverConn, lifetime time.Duration) bool {
	return lifetime == 0 || time.Since(sc.created) > lifetime
}

// release gives a server back to its pool once it is provably idle (ReadyForQuery 'I', nothing
// outstanding). It hands it to the first waiter, or keeps it idle; a server past server_lifetime, from an
// older generation, or not idle is closed instead. While cancel requests for it are in flight, release
// returns at once and the last of them to end finishes the release (sv_being_canceled); a server with a
// cancel that was sent but never acknowledged is closed, since that cancel may still arrive.
func (s *Server) release(sc *serverConn) {
	if unsure, settled := sc.cancels.settle(&sc.pool.beingCanceled); settled {
		s.releaseSettled(sc, unsure)
	}
}

// releaseSettled is release once no cancel request for sc is in flight.
func (s *Server) releaseSettled(sc *serverConn, cancelUnsure bool) {
	if cancelUnsure {
		s.closeServer(sc, "a cancel request sent to it was not acknowledged (cancel_wait_timeout)")
		return
	}
	_ = sc.conn.SetReadDeadline(time.Time{})
	cfg := s.config()
	s.mu.Lock()
	p := sc.pool
	reason := ""
	switch {
	case sc.txStatus != 'I':
		reason = "not idle after use"
	case sc.rd.Buffered() > 0:
		reason = "unread data after use"
	case sc.gen != p.gen:
		reason = "configuration changed"
	case expired(sc, cfg.Pooler.ServerLifetime.D()):
		reason = "server_lifetime"
	case s.closing:
		reason = "shutting down"
	case p.total > p.pc.PoolSize+p.pc.ReservePoolSize && len(p.waiters) == 0:
		reason = "pool_size reduced"
	}
	if reason != "" {
		s.mu.Unlock()
		s.closeServer(sc, reason)
		return
	}
	sc.idleFrom = time.Now()
	if len(p.waiters) > 0 && !s.pause.pausedLocked(p.key.database) {
		p.popWaiterLocked().ch <- grant{sc: sc}
	} else if s.sharingPoolWaitsLocked(p) {
		s.mu.Unlock()
		s.closeServer(sc, "released for a pool of the same database or user (max_db_connections, max_user_connections)")
		return
	} else {
		p.idle = append(p.idle, sc)
		s.poolCond.Broadcast()
	}
	s.mu.Unlock()
}

// limitLocked names the limit that keeps p from opening a server, for error messages.
func (s *Server) limitLocked(p *pool) string {
	switch {
	case p.total >= p.pc.PoolSize:
		return fmt.Sprintf("pool_size %d", p.pc.PoolSize)
	case p.pc.MaxDBConnections > 0 && s.dbConns[p.key.database] >= p.pc.MaxDBConnections:
		return fmt.Sprintf("max_db_connections %d", p.pc.MaxDBConnections)
	case p.pc.MaxUserConnections > 0 && s.userConns[p.key.user] >= p.pc.MaxUserConnections:
		return fmt.Sprintf("max_user_connections %d", p.pc.MaxUserConnections)
	}
	return fmt.Sprintf("pool_size %d", p.pc.PoolSize)
}

// sharedLimitLocked reports whether p is below its pool_size but held back by max_db_connections or
// max_user_connections, which it shares with other pools.
func (s *Server) sharedLimitLocked(p *pool) bool {
	return p.total < p.pc.PoolSize && !s.canOpenLocked(p, false)
}

// evictLocked takes, for a pool held back by a shared limit, the longest-idle server of another pool of
// the same database or user out of its idle list, for the caller to close (PgBouncer evicts the same way
// when max_db_connections or max_user_connections is reached). Nil when there is none.
func (s *Server) evictLocked(p *pool) *serverConn {
	if !s.sharedLimitLocked(p) {
		return nil
	}
	var victim *pool
	for _, q := range s.pools {
		if q == p || len(q.idle) == 0 || (q.key.database != p.key.database && q.key.user != p.key.user) {
			continue
		}
		if victim == nil || q.idle[0].idleFrom.Before(victim.idle[0].idleFrom) {
			victim = q
		}
	}
	if victim == nil {
		return nil
	}
	sc := victim.idle[0]
	victim.idle = append(victim.idle[:0], victim.idle[1:]...)
	return sc
}

// sharingPoolWaitsLocked reports whether another pool of p's database or user has clients waiting
// because of a shared limit: a server p no longer needs then closes to make room for them.
func (s *Server) sharingPoolWaitsLocked(p *pool) bool {
	for _, q := range s.pools {
		if q != p && len(q.waiters) > 0 && (q.key.database == p.key.database || q.key.user == p.key.user) && s.sharedLimitLocked(q) {
			return true
		}
	}
	return false
}

// closeServer closes a server that is not in the idle list and frees its slot.
func (s *Server) closeServer(sc *serverConn, reason string) {
	sc.close()
	s.mu.Lock()
	s.dropServerLocked(sc.pool)
	s.mu.Unlock()
	if s.config().Pooler.LogDisconnections {
		s.logger.Info("server connection closed", "server", sc.id, "database", sc.pool.key.database, "user", sc.pool.key.user, "reason", reason)
	}
}

func (p *pool) popIdleLocked() *serverConn {
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	sc := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	return sc
}

// canOpenLocked reports whether p may open one more server: below pool_size (plus reserve_pool_size when
// reserve is true), max_db_connections and max_user_connections.
func (s *Server) canOpenLocked(p *pool, reserve bool) bool {
	limit := p.pc.PoolSize
	if reserve {
		limit += p.pc.ReservePoolSize
	}
	if p.total >= limit {
		return false
	}
	if m := p.pc.MaxDBConnections; m > 0 && s.dbConns[p.key.database] >= m {
		return false
	}
	if m := p.pc.MaxUserConnections; m > 0 && s.userConns[p.key.user] >= m {
		return false
	}
	return true
}

func (s *Server) addServerLocked(p *pool) {
	p.total++
	s.dbConns[p.key.database]++
	s.userConns[p.key.user]++
}

// dropServerLocked frees a server slot and lets waiters of every pool that the slot may unblock go on.
func (s *Server) dropServerLocked(p *pool) {
	p.total--
	s.poolCond.Broadcast()
	s.dbConns[p.key.database]--
	s.userConns[p.key.user]--
	s.grantLocked(p)
	for _, q := range s.pools {
		if q != p && len(q.waiters) > 0 && (q.key.database == p.key.database || q.key.user == p.key.user) {
			s.grantLocked(q)
		}
	}
}

// grantLocked serves p's waiters in order while idle servers or free slots remain.
func (s *Server) grantLocked(p *pool) {
	if s.pause.pausedLocked(p.key.database) {
		return // PAUSE: waiters stay in line until RESUME
	}
	for len(p.waiters) > 0 {
		var g grant
		if sc := p.popIdleLocked(); sc != nil {
			g.sc = sc
		} else if s.canOpenLocked(p, false) {
			s.addServerLocked(p)
			g.connect = true
		} else {
			return
		}
		p.popWaiterLocked().ch <- g
	}
}

// welcomeOf returns the parameters a server reported at login, lower-case name to [canonical name, value].
func welcomeOf(sc *serverConn) map[string][2]string {
	w := make(map[string][2]string, len(sc.params))
	for k, v := range sc.params {
		if sc.reported[k] {
			w[k] = [2]string{canonicalName(k), v}
		}
	}
	return w
}
