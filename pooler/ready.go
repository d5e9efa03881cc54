package pooler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// readyFresh is how recently an idle server must have gone back to its pool for Ready to take it as
// proof that PostgreSQL answers, without dialing.
const readyFresh = 5 * time.Second

// Ready reports whether the pooler can serve clients now, for readiness probes (the metrics endpoint's
// /readyz). It returns nil when the Server is serving at least one listener, is not shutting down, and a
// backend is reachable: some pool has an idle server that went back to it within the last 5 seconds
// (it just finished a transaction), or else a TCP connection (a Unix socket connection for a host
// starting with "/") to one of the [databases] addresses opens before ctx ends. That connection is
// closed at once, without a start-up packet, which PostgreSQL does not log. When ctx has no deadline,
// server_connect_timeout bounds the dial. The error says why the pooler is not ready.
func (s *Server) Ready(ctx context.Context) error {
	cfg := s.config()
	now := time.Now()
	s.mu.Lock()
	closing, listening := s.closing, len(s.listeners)
	fresh := false
	for _, p := range s.pools {
		p.q.Inspect(func(sc *serverConn) {
			if now.Sub(sc.idleFrom) < readyFresh {
				fresh = true
			}
		})
	}
	s.mu.Unlock()
	switch {
	case closing:
		return errors.New("shutting down")
	case listening == 0:
		return errors.New("not listening yet")
	case fresh:
		return nil
	}

	type target struct{ network, addr string }
	seen := map[target]bool{}
	for _, db := range cfg.Databases {
		network, addr := serverAddr(db.Host, db.Port)
		seen[target{network, addr}] = true
	}
	if len(seen) == 0 {
		return errors.New("no [databases] configured")
	}
	if _, ok := ctx.Deadline(); !ok {
		if d := cfg.Pooler.ServerConnectTimeout.D(); d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // the first success stops the other dials
	errc := make(chan error, len(seen))
	for t := range seen {
		go func() {
			var d net.Dialer
			conn, err := d.DialContext(ctx, t.network, t.addr)
			if err != nil {
				errc <- fmt.Errorf("%s: %w", t.addr, unwrapDial(err))
				return
			}
			conn.Close()
			errc <- nil
		}()
	}
	var errs []error
	for range seen {
		err := <-errc
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return fmt.Errorf("no database server reachable: %w", errors.Join(errs...))
}
