package pooler

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// control runs a process-controlling console command (PgBouncer doc/usage.md, "Process controlling
// commands"); see adminControl for cmd and arg. ctx bounds the commands that wait (PAUSE, WAIT_CLOSE).
// notes are told to the console as NOTICEs (what a RELOAD or SET could not apply).
func (s *Server) control(ctx context.Context, cmd, arg string) (notes []string, err error) {
	switch cmd {
	case "PAUSE":
		if err := s.Pause(ctx, arg); err != nil {
			return nil, pgwire.NewError(pgerrcode.QueryCanceled, "PAUSE did not complete: %v (the pause stays in force; RESUME ends it)", err)
		}
	case "RESUME":
		return nil, s.Resume(arg)
	case "DISABLE":
		s.Disable(arg)
	case "ENABLE":
		s.Enable(arg)
	case "RECONNECT":
		s.Reconnect(arg)
	case "KILL":
		s.Kill(arg)
	case "KILL_CLIENT":
		id, perr := strconv.ParseUint(arg, 10, 64)
		if perr != nil || !s.KillClient(id) {
			return nil, pgwire.NewError(pgerrcode.UndefinedObject, "no such client: %s", arg)
		}
	case "WAIT_CLOSE":
		return nil, s.waitClose(ctx, arg)
	case "RELOAD":
		return s.reloadFile()
	case "SET":
		key, value, _ := strings.Cut(arg, "=")
		next, err := s.config().With(key, value)
		if err != nil {
			return nil, pgwire.NewError(pgerrcode.InvalidParameterValue, "%v", err)
		}
		return s.ReloadNotes(next)
	case "SHUTDOWN":
		s.shutdownCommand(arg)
	default: // SUSPEND: no online restart to suspend for yet
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "%s is not supported by pgpooler", cmd)
	}
	return nil, nil
}

// reloadFile re-reads the configuration file the server was started from (RELOAD, as SIGHUP does).
// A broken file is refused with its errors and the running configuration stays.
func (s *Server) reloadFile() ([]string, error) {
	path := s.config().Path
	if path == "" {
		return nil, pgwire.NewError(pgerrcode.ObjectNotInPrerequisiteState, "RELOAD: pgpooler was not started from a configuration file")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, pgwire.NewError(pgerrcode.ConfigFileError, "RELOAD refused, the running configuration stays: %v", err)
	}
	notes, err := s.ReloadNotes(cfg)
	if err != nil {
		return nil, pgwire.NewError(pgerrcode.ConfigFileError, "RELOAD refused, the running configuration stays: %v", err)
	}
	return notes, nil
}

// waitClose waits until no server of database db ("" = all) still runs with settings from before a
// RECONNECT or RELOAD (SHOW SERVERS close_needed), polling every 50 ms within ctx (PgBouncer WAIT_CLOSE).
func (s *Server) waitClose(ctx context.Context, db string) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		pending := false
		for _, sv := range s.Snapshot().Servers {
			if sv.CloseNeeded && matches(db, sv.Database) {
				pending = true
				break
			}
		}
		if !pending {
			return nil
		}
		select {
		case <-ctx.Done():
			return pgwire.NewError(pgerrcode.QueryCanceled, "WAIT_CLOSE did not complete: %v", ctx.Err())
		case <-t.C:
		}
	}
}

// shutdownCommand stops the server from the console (PgBouncer SHUTDOWN): at once; WAIT_FOR_SERVERS
// lets running transactions finish within shutdown_timeout (as SIGINT does); WAIT_FOR_CLIENTS stops
// listening and waits for every client to leave on its own (as SIGTERM does). It returns at once: the
// console gets its answer, then the process ends as for a signal.
func (s *Server) shutdownCommand(mode string) {
	go func() {
		switch mode {
		case "WAIT_FOR_CLIENTS":
			s.ShutdownWaitClients()
		case "WAIT_FOR_SERVERS":
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
