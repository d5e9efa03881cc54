package pooler

import (
	"context"

	"github.com/pgpooler/pgpooler/pooler/admin"
)

// shutdownCommand stops the server from the console (PgBouncer SHUTDOWN): at once; WAIT_FOR_SERVERS
// lets running transactions finish within shutdown_timeout (as SIGINT does); WAIT_FOR_CLIENTS stops
// listening and waits for every client to leave on its own (as SIGTERM does). It returns at once: the
// console gets its answer, then the process ends as for a signal.
func (s *Server) shutdownCommand(mode admin.ShutdownMode) {
	go func() {
		switch mode {
		case admin.ShutdownWaitForClients:
			s.ShutdownWaitClients()
		case admin.ShutdownWaitForServers:
			ctx, cancel := s.shutdownContext()
			defer cancel()
			_ = s.Shutdown(ctx)
		default:
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_ = s.Shutdown(ctx)
		}
	}()
}

// shutdownContext bounds a graceful shutdown by shutdown_timeout (0: none).
func (s *Server) shutdownContext() (context.Context, context.CancelFunc) {
	if d := s.config().Pooler.ShutdownTimeout.D(); d > 0 {
		return context.WithTimeout(context.Background(), d)
	}
	return context.WithCancel(context.Background())
}

// ShutdownWaitClients stops accepting connections and waits, without a time limit, until every client has
// disconnected on its own, then shuts down (PgBouncer SHUTDOWN WAIT_FOR_CLIENTS, and SIGTERM since
// PgBouncer 1.23). A Shutdown meanwhile (a second signal) ends the wait.
func (s *Server) ShutdownWaitClients() {
	s.mu.Lock()
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.logger.Info("shutting down once every client has left (WAIT_FOR_CLIENTS)")
	gone := make(chan struct{})
	go func() { s.clientWG.Wait(); close(gone) }()
	select {
	case <-gone:
	case <-s.done:
		return
	}
	ctx, cancel := s.shutdownContext()
	defer cancel()
	_ = s.Shutdown(ctx)
}
