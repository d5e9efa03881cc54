package admin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// command describes a process-controlling command's argument.
type command struct {
	tag   string
	arg   argKind
	modes []string // argMode: the accepted arguments, upper-case
}

type argKind uint8

const (
	argOptional argKind = iota // [db]
	argNone                    // no argument: one is a syntax error
	argRequired                // <db>
	argID                      // <client_id>
	argMode                    // one of modes, or none
)

// commands are the process-controlling commands (PgBouncer doc/usage.md, "Process controlling
// commands"). The console checks their syntax and that the client is in admin_users; run does them.
var commands = map[string]command{
	"pause":       {tag: "PAUSE", arg: argOptional},
	"resume":      {tag: "RESUME", arg: argOptional},
	"suspend":     {tag: "SUSPEND", arg: argNone},
	"wait_close":  {tag: "WAIT_CLOSE", arg: argOptional},
	"disable":     {tag: "DISABLE", arg: argRequired},
	"enable":      {tag: "ENABLE", arg: argRequired},
	"reconnect":   {tag: "RECONNECT", arg: argOptional},
	"kill":        {tag: "KILL", arg: argOptional},
	"kill_client": {tag: "KILL_CLIENT", arg: argID},
	"shutdown":    {tag: "SHUTDOWN", arg: argMode, modes: []string{"WAIT_FOR_CLIENTS", "WAIT_FOR_SERVERS"}},
	"reload":      {tag: "RELOAD", arg: argNone},
}

// control checks a process-controlling command and runs it, in PgBouncer's order: a malformed
// argument of RELOAD, SUSPEND and SHUTDOWN is a syntax error for anyone; then admin_users is checked;
// then a missing database or a malformed client ID.
func (s *Session) control(ctx context.Context, q string, spec command, arg string) ([]byte, error) {
	switch spec.arg {
	case argNone:
		if arg != "" {
			return nil, errInvalidCommand(q)
		}
	case argMode:
		if arg != "" {
			mode := strings.ToUpper(arg)
			found := false
			for _, m := range spec.modes {
				found = found || m == mode
			}
			if !found {
				return nil, errInvalidCommand(q)
			}
			arg = mode
		}
	}
	if !s.Admin {
		return nil, errAdminNeeded()
	}
	switch spec.arg {
	case argRequired:
		if arg == "" {
			return nil, pgwire.NewError(pgerrcode.SyntaxError, "a database is required")
		}
	case argID:
		if _, err := strconv.ParseUint(arg, 10, 64); err != nil {
			return nil, pgwire.NewError(pgerrcode.SyntaxError, "invalid client pointer supplied")
		}
	}
	s.Logger.Info("admin console command", "client", s.ClientID, "user", s.User, "command", spec.tag, "arg", arg)
	notes, err := s.run(ctx, spec.tag, arg)
	if err != nil {
		return nil, err
	}
	return complete(notices(notes), spec.tag), nil
}

// run does a checked process-controlling command (PgBouncer doc/usage.md, "Process controlling
// commands"); cmd is its tag and arg is:
//
//   - the database name as typed (unquoted), or "" for all databases: PAUSE, RESUME, WAIT_CLOSE,
//     RECONNECT, KILL; always set for DISABLE and ENABLE
//   - the client ID, decimal digits: KILL_CLIENT
//   - "", "WAIT_FOR_CLIENTS" or "WAIT_FOR_SERVERS": SHUTDOWN
//   - "": SUSPEND, RELOAD
//
// It returns when the command is done (PAUSE after the servers are released, as PgBouncer answers
// then); the console then sends the notes as NOTICEs (what a RELOAD could not apply) and
// CommandComplete with the command's tag. ctx bounds the commands that wait (PAUSE, WAIT_CLOSE).
func (s *Session) run(ctx context.Context, cmd, arg string) (notes []string, err error) {
	srv := s.Server
	switch cmd {
	case "PAUSE":
		if err := srv.Pause(ctx, arg); err != nil {
			return nil, pgwire.NewError(pgerrcode.QueryCanceled, "PAUSE did not complete: %v (the pause stays in force; RESUME ends it)", err)
		}
	case "RESUME":
		return nil, srv.Resume(arg)
	case "DISABLE":
		srv.Disable(arg)
	case "ENABLE":
		srv.Enable(arg)
	case "RECONNECT":
		srv.Reconnect(arg)
	case "KILL":
		srv.Kill(arg)
	case "KILL_CLIENT":
		id, perr := strconv.ParseUint(arg, 10, 64)
		if perr != nil || !srv.KillClient(id) {
			return nil, pgwire.NewError(pgerrcode.UndefinedObject, "no such client: %s", arg)
		}
	case "WAIT_CLOSE":
		return nil, waitClose(ctx, srv, arg)
	case "RELOAD":
		return reloadFile(srv)
	case "SHUTDOWN":
		mode := ShutdownNow
		switch arg {
		case "WAIT_FOR_SERVERS":
			mode = ShutdownWaitForServers
		case "WAIT_FOR_CLIENTS":
			mode = ShutdownWaitForClients
		}
		srv.Shutdown(mode)
	default: // SUSPEND: no online restart to suspend for yet
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "%s is not supported by pgpooler", cmd)
	}
	return nil, nil
}

// reloadFile re-reads the configuration file the pooler was started from (RELOAD, as SIGHUP does).
// A broken file is refused with its errors and the running configuration stays.
func reloadFile(srv Server) ([]string, error) {
	path := srv.Config().Path
	if path == "" {
		return nil, pgwire.NewError(pgerrcode.ObjectNotInPrerequisiteState, "RELOAD: pgpooler was not started from a configuration file")
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, pgwire.NewError(pgerrcode.ConfigFileError, "RELOAD refused, the running configuration stays: %v", err)
	}
	notes, err := srv.ReloadNotes(cfg)
	if err != nil {
		return nil, pgwire.NewError(pgerrcode.ConfigFileError, "RELOAD refused, the running configuration stays: %v", err)
	}
	return append(slices.Clone(cfg.Warnings), notes...), nil // a pgbouncer.ini's ignored keys first
}

// waitClosePoll is how often WAIT_CLOSE looks at the servers again.
const waitClosePoll = 50 * time.Millisecond

// waitClose waits until no server of database db ("" = all) still runs with settings from before a
// RECONNECT or RELOAD (SHOW SERVERS close_needed), polling every waitClosePoll within ctx (PgBouncer
// WAIT_CLOSE).
func waitClose(ctx context.Context, srv Server, db string) error {
	t := time.NewTicker(waitClosePoll)
	defer t.Stop()
	for {
		pending := false
		for _, sv := range srv.Snapshot().Servers {
			if sv.CloseNeeded && (db == "" || db == sv.Database) {
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

// notices encodes each note as a NoticeResponse.
func notices(notes []string) []byte {
	var buf []byte
	for _, n := range notes {
		buf, _ = (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: n}).Encode(buf)
	}
	return buf
}

// fakeParams are the settings PgBouncer's console pretends to have, for drivers that SHOW or SET them
// (src/admin.c, fake_param_list). SET of one is accepted and ignored.
var fakeParams = []struct{ name, value string }{
	{"client_encoding", "UTF8"},
	{"default_transaction_isolation", "read committed"},
	{"standard_conforming_strings", "on"},
	{"datestyle", "ISO"},
	{"timezone", "GMT"},
}

func fakeParam(name string) (string, string, bool) {
	for _, p := range fakeParams {
		if strings.EqualFold(p.name, name) {
			return p.name, p.value, true
		}
	}
	return "", "", false
}

// set answers SET: ignored with a NOTICE for a fake parameter (anyone may); else, for admin_users only,
// the configuration in force with key set to value, reloaded (PgBouncer SET key = arg): the notes of
// the reload are sent as NOTICEs.
func (s *Session) set(key, value string) ([]byte, error) {
	if _, _, ok := fakeParam(key); ok {
		buf, _ := (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "SET ignored"}).Encode(nil)
		return complete(buf, "SET"), nil
	}
	if !s.Admin {
		return nil, errAdminNeeded()
	}
	s.Logger.Info("admin console command", "client", s.ClientID, "user", s.User, "command", "SET", "key", key)
	next, err := s.Server.Config().With(key, value)
	if err != nil {
		return nil, pgwire.NewError(pgerrcode.InvalidParameterValue, "%v", err)
	}
	notes, err := s.Server.ReloadNotes(next)
	if err != nil {
		return nil, err
	}
	return complete(notices(notes), fmt.Sprintf("SET %s=%s", key, value)), nil
}
