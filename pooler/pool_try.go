package pooler

import (
	"context"

	"github.com/pgpooler/pgpooler/pooler/pools"
)

// tryAcquire lends a server of pool p only if one is to be had without waiting: an idle one that passes
// its checks, or a free slot (pool_size, max_db_connections, max_user_connections) to log in to a new
// one in. It returns nil, nil when none is, when clients are already waiting for p or while p's database
// is paused; errors are those of logging in to a new server (acquire's).
func (s *Server) tryAcquire(ctx context.Context, p *pool) (*serverConn, error) {
	for {
		r := p.q.Acquire(false)
		switch r.Kind {
		case pools.Connect:
			return s.openServer(ctx, p)
		case pools.Idle:
		default:
			return nil, nil
		}
		if s.checkIdle(r.Server, nil) {
			return r.Server, nil
		}
		s.closeServer(r.Server, "failed its check before reuse")
	}
}
