package pooler

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/loop"
	"github.com/pgpooler/pgpooler/pooler/pools"
)

// poolSettings is what a pool runs with: its resolved config.PoolConfig, Password filled in from the
// database section or auth_file.
type poolSettings = config.PoolConfig

// poolKey identifies a pool: the database and user names the client asked for.
type poolKey struct{ database, user string }

// pool is the set of server connections for one (database, user). Its idle servers, waiters and slots
// are a pools.Pool with a lock of its own; what it logs in with is an immutable poolConf replaced on
// reload; its login state has a lock of its own (mu).
//
// Lock order: Server.mu, then pool.mu, then the pools.Pool's lock, then the pools.Limits' (pools doc.go).
// Lending and releasing a server take only the pools.Pool's lock.
type pool struct {
	srv *Server
	key poolKey
	q   *pools.Pool[*serverConn] // idle servers (LIFO), waiters (FIFO), pool_size and the shared limits

	// conf is what its servers log in with and its generation, replaced as a whole (under Server.mu)
	// by Reload and RECONNECT; read without a lock.
	conf    atomic.Pointer[poolConf]
	welcome atomic.Pointer[map[string][2]string] // see greeting
	opening atomic.Int32                         // servers being logged in to (counted in the pool's slots)

	// sharedParams is the last login's session parameters, shared read-only by the clients that logged
	// in with the same (clientparams.go).
	sharedParams atomic.Pointer[map[string]string]

	cancelsActive atomic.Int32 // clients' cancel requests being forwarded to servers of this pool (cl_active_cancel_req)
	beingCanceled atomic.Int32 // released servers waiting for cancel requests to end (sv_being_canceled; counted in total)
	stats         poolCounters
	features      poolFeatures // session-only features its clients used (leakreport.go)
	holdersLogged int64        // when the janitor last logged its holders, Unix nanoseconds (holders.go)
	obs           PoolObserver // never nil

	mu         sync.Mutex    // guards the login state below
	learned    serverCreds   // server credentials learned from client logins (see Server.learnCreds)
	loginErr   *pgwire.Error // last failed server login; cleared by the next one that succeeds
	loginErrAt time.Time
	probing    bool          // a probe logs in again in the background while loginErr is cached (probe.go)
	probeKick  chan struct{} // buffered 1: wakes the probe to look at the pool again (Reload)
	wanted     time.Time     // when a client last needed a new server and got loginErr: probes run while clients ask
	removed    bool          // its database is no longer in the configuration (Reload)
}

// poolConf is a pool's settings and generation, never changed once stored.
type poolConf struct {
	pc  poolSettings
	gen uint64 // bumped when a reload changes where or how servers log in, and by RECONNECT
}

// settings returns the pool's settings in force.
func (p *pool) settings() *poolSettings { return &p.conf.Load().pc }

// generation returns the pool's generation: servers opened under an older one close when released.
func (p *pool) generation() uint64 { return p.conf.Load().gen }

// setConfLocked stores pc (nil: unchanged) and, if bump, a new generation; callers hold Server.mu.
func (p *pool) setConfLocked(pc *poolSettings, bump bool) {
	next := *p.conf.Load()
	if pc != nil {
		next.pc = *pc
	}
	if bump {
		next.gen++
	}
	p.conf.Store(&next)
}

// greeting is the ParameterStatus set of the pool's last server login (server_version, ...), lower-case
// keys to [name, value]; clients start from it. Nil before the first login and after a reload that
// changed the servers.
func (p *pool) greeting() map[string][2]string {
	if w := p.welcome.Load(); w != nil {
		return *w
	}
	return nil
}

// limitsOf returns the part of pc a pools.Pool enforces.
func limitsOf(pc *poolSettings) pools.Settings {
	return pools.Settings{Size: pc.PoolSize, Reserve: pc.ReservePoolSize, MaxDB: pc.MaxDBConnections, MaxUser: pc.MaxUserConnections}
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
	return s.acquireOn(ctx, p, qw, nil)
}

// acquireOn is acquireWatched for a client of event loop home (nil: a goroutine client): a server
// resident on home is lent as it is; any other resident server is detached from its loop first
// (checkIdle).
func (s *Server) acquireOn(ctx context.Context, p *pool, qw queueWatcher, home *loop.Loop) (*serverConn, error) {
	cfg := s.config()
	deadline := time.Time{}
	if d := cfg.Pooler.QueryWaitTimeout.D(); d > 0 {
		deadline = time.Now().Add(d)
	}
	ww := waitWatch{qw: qw}
	defer ww.end()
	paused := false // p answered Paused: wait for RESUME under Server.mu, whatever pause.any says
	for {
		if paused || s.pause.any.Load() {
			if waited, err := s.waitResumed(ctx, p.key.database, &ww); err != nil {
				return nil, err
			} else if waited && cfg.Pooler.QueryWaitTimeout.D() > 0 {
				deadline = time.Now().Add(cfg.Pooler.QueryWaitTimeout.D()) // time spent paused does not count
			}
		}
		var g pools.Grant[*serverConn]
		switch r := p.q.Acquire(true); r.Kind {
		case pools.Paused: // paused since waitResumed returned
			paused = true
			continue
		case pools.Idle:
			g.Server = r.Server
		case pools.Connect:
			g.Connect = true
		case pools.Queued:
			if victim, ok := p.q.Evict(); ok { // its slot goes to this pool's first waiter
				s.closeServer(victim, "evicted for a pool of the same database or user (max_db_connections, max_user_connections)")
			}
			ww.blocking()
			var err error
			g, err = s.wait(ctx, p, r.Waiter, deadline)
			p.q.Done(r.Waiter)
			if err == errPaused {
				if d := cfg.Pooler.QueryWaitTimeout.D(); d > 0 {
					deadline = time.Now().Add(d) // time spent paused does not count
				}
				paused = true
				continue
			} else if err != nil {
				return nil, err
			}
		}
		paused = false
		if g.Connect {
			sc, err := s.openServer(ctx, p)
			if err != nil && ctx.Err() != nil {
				err = ctxEnded(ctx, err)
			}
			return sc, err
		}
		if s.checkIdle(g.Server, home) {
			return g.Server, nil
		}
		s.closeServer(g.Server, "failed its check before reuse")
	}
}

// wait blocks until w is granted, the deadline passes (query_wait_timeout) or ctx ends. After
// reserve_pool_timeout it may open a server in the reserve (reserve_pool_size).
func (s *Server) wait(ctx context.Context, p *pool, w *pools.Waiter[*serverConn], deadline time.Time) (pools.Grant[*serverConn], error) {
	cfg := s.config()
	var timeout, reserve <-chan time.Time // the waiter's own timers, reused (pools.Pool.Done stops them)
	if !deadline.IsZero() {
		timeout = w.Timeout(max(time.Until(deadline), time.Nanosecond))
	}
	if p.settings().ReservePoolSize > 0 { // a reserve_pool_timeout of 0 disables the reserve
		reserve = w.ReserveTimeout(cfg.Pooler.ReservePoolTimeout.D())
	}
	for {
		select {
		case g := <-w.Granted():
			return g, nil
		case <-reserve:
			reserve = nil
			if p.q.Reserve(w) {
				s.logger.Info("using reserve pool", "database", p.key.database, "user", p.key.user)
				return pools.Grant[*serverConn]{Connect: true}, nil
			}
		case <-timeout:
			if g, ok := p.q.Abandon(w); ok {
				return g, nil
			}
			if p.q.IsPaused() {
				return pools.Grant[*serverConn]{}, errPaused
			}
			return pools.Grant[*serverConn]{}, p.waitTimedOut(cfg)
		case <-ctx.Done():
			if g, ok := p.q.Abandon(w); ok {
				return g, nil
			}
			return pools.Grant[*serverConn]{}, ctxEnded(ctx, pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down"))
		}
	}
}

// waitTimedOut is the error of a wait that query_wait_timeout ended: 53300.
func (p *pool) waitTimedOut(cfg *config.Config) *pgwire.Error {
	return pgwire.NewFatal(pgerrcode.TooManyConnections,
		"query_wait_timeout: no server connection for database %q user %q became free within %s (%s)",
		p.key.database, p.key.user, cfg.Pooler.QueryWaitTimeout.D(), p.limitName())
}

// errPaused tells acquire that its wait timed out while the database was paused: it waits for RESUME
// and then queues again, since time spent paused does not count against query_wait_timeout.
var errPaused = errors.New("database paused")

// openServer logs in a new server in a slot already counted in p's pools.Pool. While a failed login is
// cached (server_login_retry, or while a probe runs) it frees the slot and returns that error at once,
// naming server_login_retry, as PgBouncer does, and makes sure a probe is logging in again in the
// background.
func (s *Server) openServer(ctx context.Context, p *pool) (*serverConn, error) {
	p.mu.Lock()
	if now := time.Now(); s.loginRefusedLocked(p, now) {
		lerr := p.loginErr
		p.wanted = now
		p.mu.Unlock()
		s.startProbe(p)
		s.dropServer(p)
		return nil, pgwire.NewFatal(lerr.Code, "server login has been failing, try again later (server_login_retry): %s", lerr.Message)
	}
	p.mu.Unlock()
	return s.login(ctx, p, false)
}

// loginRefusedLocked reports whether p answers clients that need a new server with its cached login
// error: one is cached, and a probe is running or the error is younger than server_login_retry. The
// caller holds p.mu.
func (s *Server) loginRefusedLocked(p *pool, now time.Time) bool {
	return p.loginErr != nil && (p.probing || now.Sub(p.loginErrAt) < s.config().Pooler.ServerLoginRetry.D())
}

// login logs in a new server in a slot already counted in p's pools.Pool. A failure is cached on the
// pool (loginErr) and frees the slot; a success clears the cached error. probe tells that the probe logs
// in: its failures are logged by the probe, rate-limited; a client's failure is logged here and starts a
// probe.
func (s *Server) login(ctx context.Context, p *pool, probe bool) (*serverConn, error) {
	cfg := s.config()
	conf := p.conf.Load()
	pc := &conf.pc
	p.mu.Lock()
	creds := s.serverCredsLocked(p)
	p.mu.Unlock()
	p.opening.Add(1)
	start := time.Now()
	sc, err := dialServer(ctx, *pc, creds, s.tls.Load(), cfg.Pooler.ServerConnectTimeout.D(), tcpOptionsOf(&cfg.Pooler))
	p.obs.Connect(time.Since(start))
	p.opening.Add(-1)
	if err != nil {
		pe := asClientError(err)
		now := time.Now()
		gaveUp := ctx.Err() != nil // a login its client gave up on (it left, was killed) says nothing of the server
		p.mu.Lock()
		if !gaveUp {
			p.loginErr, p.loginErrAt = pe, now
		}
		if !probe && !gaveUp {
			p.wanted = now
		}
		p.mu.Unlock()
		s.dropServer(p)
		if !probe && !gaveUp {
			s.logger.Warn("server login failed", "database", p.key.database, "user", p.key.user, "addr", pc.Host, "error", pe.Message)
			s.startProbe(p)
		}
		return nil, pe
	}
	p.mu.Lock()
	p.loginErr = nil
	if probe {
		p.probing = false
	}
	p.mu.Unlock()
	sc.id, sc.pool, sc.gen = s.nextServerID.Add(1), p, conf.gen
	w := welcomeOf(sc)
	p.welcome.Store(&w)
	if cfg.Pooler.LogConnections {
		s.logger.Info("server connection opened", "server", sc.id, "database", p.key.database, "user", p.key.user, "addr", sc.addr, "backend_pid", sc.pid)
	}
	return sc, nil
}

// checkIdle decides whether an idle server may be lent again: still connected, within server_lifetime, and,
// when idle longer than server_check_delay, answering server_check_query. A server resident on event loop
// home is not probed (its loop sees a hang-up at once) and not checked here: the client's loop runs its
// server_check_query (loopClient.settleResident); any other resident server is detached from its loop
// first.
func (s *Server) checkIdle(sc *serverConn, home *loop.Loop) bool {
	cfg := s.config()
	if rs := sc.res; rs != nil && rs.l != home {
		if err := detachResident(sc); err != nil {
			return false
		}
	}
	if sc.res == nil && !sc.alive.Alive() {
		return false
	}
	if expired(sc, cfg.Pooler.ServerLifetime.D()) {
		return false
	}
	if q := cfg.Pooler.ServerCheckQuery; sc.res == nil && checkDue(sc, cfg) {
		_ = sc.conn.SetDeadline(time.Now().Add(cfg.Pooler.ServerConnectTimeout.D()))
		err := sc.exec(q)
		_ = sc.conn.SetDeadline(time.Time{})
		if err != nil || sc.txStatus != 'I' {
			return false
		}
	}
	return true
}

// checkDue reports whether server_check_query is to run before sc is lent again: it has been idle longer
// than server_check_delay.
func checkDue(sc *serverConn, cfg *config.Config) bool {
	return cfg.Pooler.ServerCheckQuery != "" && time.Since(sc.idleFrom) > cfg.Pooler.ServerCheckDelay.D()
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
func (s *Server) release(sc *serverConn) { s.releaseOn(sc, nil) }

// releaseOn is release on event loop here (nil: none): a server resident on here goes preferably to a
// waiting client of here, served at once on the loop (pools.Pool.PutOn).
func (s *Server) releaseOn(sc *serverConn, here *loop.Loop) {
	if unsure, settled := sc.cancels.settle(&sc.pool.beingCanceled); settled {
		s.releaseSettledOn(sc, unsure, here)
	}
}

// releaseSettled is release once no cancel request for sc is in flight.
func (s *Server) releaseSettled(sc *serverConn, cancelUnsure bool) {
	s.releaseSettledOn(sc, cancelUnsure, nil)
}

// releaseSettledOn is releaseSettled on event loop here (nil: none; see releaseOn).
func (s *Server) releaseSettledOn(sc *serverConn, cancelUnsure bool, here *loop.Loop) {
	if cancelUnsure {
		s.closeServer(sc, "a cancel request sent to it was not acknowledged (cancel_wait_timeout)")
		return
	}
	if sc.res == nil { // a loop-resident server's Go descriptor is closed: its loop sets no deadlines
		_ = sc.conn.SetReadDeadline(time.Time{})
	}
	cfg := s.config()
	p := sc.pool
	reason := ""
	switch {
	case sc.txStatus != 'I':
		reason = "not idle after use"
	case sc.rd.Buffered() > 0:
		reason = "unread data after use"
	case sc.gen != p.generation():
		reason = "configuration changed"
	case expired(sc, cfg.Pooler.ServerLifetime.D()):
		reason = "server_lifetime"
	case s.stopping.Load():
		reason = "shutting down"
	}
	if reason == "" {
		sc.idleFrom = time.Now()
		var tag any // a loop's waiters are preferred for a server resident there
		if here != nil && sc.res != nil && sc.res.l == here {
			tag = here
		}
		switch p.q.PutOn(sc, sc.idleFrom, tag) {
		case pools.Kept, pools.Handed:
			return
		case pools.CloseExcess:
			reason = "pool_size reduced"
		case pools.CloseShared:
			reason = "released for a pool of the same database or user (max_db_connections, max_user_connections)"
		case pools.CloseClosed:
			reason = "shutting down"
		}
	}
	s.closeServer(sc, reason)
}

// limitName names the limit that keeps p from opening a server, for error messages.
func (p *pool) limitName() string {
	pc := p.settings()
	switch p.q.LimitedBy() {
	case pools.ByDB:
		return fmt.Sprintf("max_db_connections %d", pc.MaxDBConnections)
	case pools.ByUser:
		return fmt.Sprintf("max_user_connections %d", pc.MaxUserConnections)
	}
	return fmt.Sprintf("pool_size %d", pc.PoolSize)
}

// closeServer closes a server that is not in the idle list and frees its slot; a second call for the same
// server does nothing.
func (s *Server) closeServer(sc *serverConn, reason string) {
	if sc.dropped.Swap(true) {
		return // closed before: its slot is freed once
	}
	sc.close()
	s.dropServer(sc.pool)
	if s.config().Pooler.LogDisconnections {
		s.logger.Info("server connection closed", "server", sc.id, "database", sc.pool.key.database, "user", sc.pool.key.user, "reason", reason)
	}
}

// dropServer frees a server slot of p (pools.Pool.Drop: the waiters it may let in go on).
func (s *Server) dropServer(p *pool) { p.q.Drop() }

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
