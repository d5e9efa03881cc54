package pooler

import (
	"strings"
	"time"
)

// Probing a server whose logins fail.
//
// After a failed server login a pool caches the error, and clients that need a new server get it at
// once, naming server_login_retry (PgBouncer doc/config.md, server_login_retry): a server that is down
// or refuses the pooler's login is not hit by one login per client. The cache alone made recovery wait
// until it expired, up to 15 s (the default) after PostgreSQL was back (issue 10, finding 7). So while
// the error is cached, a probe logs in again in the background:
//
//   - one probe per pool, and it makes one attempt at a time; while it runs, clients that need a new
//     server get the cached error at once, and nothing else logs in for the pool (the janitor's
//     min_pool_size fill waits too);
//   - its first attempt comes probeFirstDelay after the failure, and each failure doubles the delay, up
//     to probeMaxDelayDown when the server is unreachable or not accepting logins yet (probeTransient),
//     up to server_login_retry for any other error, such as a wrong password, so that PostgreSQL's log
//     gets few lines about it; never beyond server_login_retry;
//   - the moment an attempt succeeds the cached error is cleared and the new server goes to the pool's
//     first waiter or into its idle list (release), and the next clients are served;
//   - it ends when a login succeeds (its own, or a client's once the error had expired), when no client
//     has needed a new server for server_login_retry (the next one that does starts it again), when the
//     pool's database leaves the configuration (Reload), and at Shutdown, which waits for it;
//   - it logs its failures at most once per probeLogInterval, and its success once.
//
// Clients do not wait for a probe: like PgBouncer's, they get the cached error at once, so that an
// application learns of the outage as soon as it happens, and clients do not pile up behind a server
// that may be down for minutes (query_wait_timeout is 120 s by default). With the probe at most
// probeMaxDelayDown apart, the first client that asks after PostgreSQL is back finds a server.
const (
	probeFirstDelay   = 100 * time.Millisecond // from the failure to the probe's first attempt
	probeMaxDelayDown = 500 * time.Millisecond // the longest delay while the server is unreachable
	probeLogInterval  = 10 * time.Second       // at most one "still failing" line per pool this often
)

// startProbe starts p's probe unless one runs, the pool is gone, pgpooler is shutting down, or
// server_login_retry is 0 (no error is cached then). Shutdown waits for it through s.probes. It takes
// Server.mu and p.mu.
func (s *Server) startProbe(p *pool) {
	s.mu.Lock() // closing is set under it before Shutdown waits for s.probes
	defer s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.probing || p.removed || s.closing || s.config().Pooler.ServerLoginRetry.D() <= 0 {
		return
	}
	p.probing = true
	if p.probeKick == nil {
		p.probeKick = make(chan struct{}, 1)
	}
	select { // a kick meant for an earlier probe
	case <-p.probeKick:
	default:
	}
	s.probes.Add(1) // never after Shutdown's Wait: closing is set under mu before it
	go func() {
		defer s.probes.Done()
		defer s.recoverProbe(p)
		s.probe(p)
	}()
}

// kickProbeLocked wakes p's probe, if one runs, to look at the pool again (after a Reload); the caller
// holds p.mu.
func kickProbeLocked(p *pool) {
	if !p.probing {
		return
	}
	select {
	case p.probeKick <- struct{}{}:
	default:
	}
}

// probe is p's probe goroutine: see the comment at the top of this file.
func (s *Server) probe(p *pool) {
	var (
		delay    = probeFirstDelay
		attempts int
		failed   int          // attempts that failed since the last log line
		lastLog  = time.Now() // the failure that started the probe was logged
		downFrom = time.Now()
	)
	for {
		retry := s.config().Pooler.ServerLoginRetry.D()
		timer := time.NewTimer(min(delay, max(retry, 0)))
		select {
		case <-s.done:
		case <-p.probeKick: // Reload: look at the pool now
		case <-timer.C:
		}
		timer.Stop()
		s.mu.Lock()
		p.mu.Lock()
		now := time.Now()
		switch {
		case s.closing || p.removed || p.loginErr == nil || retry <= 0:
			// shutting down, the database is gone, a login succeeded, or no error is cached any more
			p.probing = false
			p.mu.Unlock()
			s.mu.Unlock()
			return
		case now.Sub(p.wanted) > retry:
			p.probing = false // nobody asks: the next client that needs a server starts a new probe
			p.mu.Unlock()
			s.mu.Unlock()
			s.logger.Debug("server login probe stopped: no client asked for a server", "database", p.key.database, "user", p.key.user, "attempts", attempts)
			return
		case !p.q.Open():
			p.mu.Unlock() // every slot is taken (pool_size, max_db_connections, max_user_connections)
			s.mu.Unlock()
			continue
		}
		p.mu.Unlock()
		s.mu.Unlock()
		attempts++
		sc, err := s.login(s.baseCtx, p, true)
		if err == nil {
			s.logger.Info("server login succeeded again", "database", p.key.database, "user", p.key.user,
				"failing_for", time.Since(downFrom).Round(time.Millisecond).String(), "attempts", attempts)
			s.release(sc)
			return
		}
		pe := asClientError(err)
		if probeTransient(pe.Code) {
			delay = min(delay*2, probeMaxDelayDown)
		} else {
			delay = min(delay*2, retry)
		}
		failed++
		if time.Since(lastLog) >= probeLogInterval {
			s.logger.Warn("server login still failing", "database", p.key.database, "user", p.key.user,
				"failing_for", time.Since(downFrom).Round(time.Second).String(), "attempts", failed, "error", pe.Message)
			failed, lastLog = 0, time.Now()
		}
	}
}

// probeTransient reports whether a login error with this SQLSTATE says that the server is unreachable
// or not accepting logins yet, rather than that it refuses this login: class 08 connection_exception
// (which pgpooler uses for refused, reset and timed-out connections), 57P01 admin_shutdown, 57P02
// crash_shutdown, 57P03 cannot_connect_now ("the database system is starting up", "... is shutting
// down"), 53300 too_many_connections (PostgreSQL's max_connections). PostgreSQL's errcodes.txt.
func probeTransient(code string) bool {
	switch code {
	case "57P01", "57P02", "57P03", "53300":
		return true
	}
	return strings.HasPrefix(code, "08")
}
