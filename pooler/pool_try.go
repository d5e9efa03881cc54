package pooler

import "context"

// tryAcquire lends a server of pool p only if one is to be had without waiting: an idle one that passes
// its checks, or a free slot (pool_size, max_db_connections, max_user_connections) to log in to a new
// one in. It returns nil, nil when none is, when clients are already waiting for p or while p's database
// is paused; errors are those of logging in to a new server (acquire's).
func (s *Server) tryAcquire(ctx context.Context, p *pool) (*serverConn, error) {
	for {
		s.mu.Lock()
		if len(p.waiters) > 0 || s.pause.pausedLocked(p.key.database) {
			s.mu.Unlock()
			return nil, nil
		}
		var sc *serverConn
		switch {
		case len(p.idle) > 0:
			sc = p.popIdleLocked()
		case s.canOpenLocked(p, false):
			s.addServerLocked(p)
			s.mu.Unlock()
			return s.openServer(ctx, p)
		default:
			s.mu.Unlock()
			return nil, nil
		}
		s.mu.Unlock()
		if s.checkIdle(sc) {
			return sc, nil
		}
		s.closeServer(sc, "failed its check before reuse")
	}
}
