package pooler

import (
	"time"
)

// janitorInterval is how often idle servers are checked against server_idle_timeout and server_lifetime
// and pools are topped up to min_pool_size.
const janitorInterval = 200 * time.Millisecond

// runJanitor does the periodic pool maintenance until Shutdown.
func (s *Server) runJanitor() {
	t := time.NewTicker(janitorInterval)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.janitorTick(time.Now())
		}
	}
}

// janitorTick runs one round of maintenance. A panic in it is logged with its stack and ends that round
// only (recoverJanitor): the janitor goes on at its next tick, so that a fault in pool maintenance does
// not end the process.
func (s *Server) janitorTick(now time.Time) {
	defer s.recoverJanitor("janitor")
	s.maintain(now)
	s.logHolders(now)                            // holders.go
	s.memReturn.tick(now, s.nextClientID.Load()) // memreturn.go
}

// maintain closes idle servers past server_idle_timeout (keeping min_pool_size) or past server_lifetime,
// and opens servers for pools below min_pool_size. Busy servers are never closed here: a server past its
// lifetime is closed when it comes back (release).
func (s *Server) maintain(now time.Time) {
	cfg := s.config().Pooler
	idleTimeout, lifetime := cfg.ServerIdleTimeout.D(), cfg.ServerLifetime.D()
	var expired []*serverConn
	var reasons []string
	var fill []*pool
	if !s.sweepLocked(func() {
		for _, p := range s.pools {
			minPool := p.settings().MinPoolSize
			swept := p.q.Sweep(func(sc *serverConn, total int) bool { // oldest first
				switch {
				case lifetime > 0 && now.Sub(sc.created) > lifetime: // lifetime 0: closed on release already
					reasons = append(reasons, "server_lifetime")
					return true
				case idleTimeout > 0 && now.Sub(sc.idleFrom) > idleTimeout && total > minPool:
					reasons = append(reasons, "server_idle_timeout")
					return true
				}
				return false
			})
			expired = append(expired, swept...)
			p.mu.Lock()
			refused := s.loginRefusedLocked(p, now)
			p.mu.Unlock()
			if lifetime > 0 && !refused && p.q.Fill(minPool) {
				fill = append(fill, p)
			}
		}
	}) {
		return
	}
	for i, sc := range expired {
		s.closeServer(sc, reasons[i])
	}
	for _, p := range fill {
		go func() {
			defer s.recoverJanitor("janitor fill")
			sc, err := s.openServer(s.baseCtx, p)
			if err == nil {
				s.release(sc)
			}
		}()
	}
}

// sweepLocked runs f under s.mu unless the Server is closing, and reports whether it ran. The unlock is
// deferred, unlike on the hot path: a panic in f (recoverJanitor) must not leave s.mu locked.
func (s *Server) sweepLocked(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	panicPoint("janitor", nil)
	f()
	return true
}
