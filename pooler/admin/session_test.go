package admin

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

func TestAdminDispatch(t *testing.T) {
	srv := newFake(nil)
	stats := testSession(srv, false)
	admin := testSession(srv, true)
	for _, c := range []struct {
		s    *Session
		q    string
		code string
	}{
		{stats, "FROBNICATE", "42601"},
		{stats, "SHOW NOTHING", "42601"},
		{stats, "SHOW POOLS; SHOW STATS", "42601"},
		{stats, "PAUSE", "42501"},
		{stats, "pause app", "42501"},
		{stats, "KILL_CLIENT 1", "42501"},
		{stats, "SET default_pool_size = 5", "42501"},
		{stats, "SHOW FDS", "42501"},
		{stats, "RELOAD now", "42601"}, // syntax first, as PgBouncer
		{stats, "SHUTDOWN NOW", "42601"},
		{stats, "SHUTDOWN", "42501"},
		{admin, "SUSPEND app", "42601"},
		{admin, "DISABLE", "42601"},
		{admin, "KILL_CLIENT abc", "42601"},
		{admin, "SHOW FDS", "0A000"},
		{admin, "SHOW SOCKETS", "0A000"},
	} {
		if got := errorCode(reply(t, c.s, c.q)); got != c.code {
			t.Errorf("%q (admin %v): SQLSTATE %q, want %s", c.q, c.s.Admin, got, c.code)
		}
	}
	if calls := srv.takeCalls(); len(calls) != 0 {
		t.Errorf("refused commands reached the server: %q", calls)
	}
	// An admin's control command reaches the Server: no permission or syntax error.
	for _, q := range []string{"RESUME nosuchdb", "ENABLE nosuchdb", "KILL_CLIENT 999"} {
		if got := errorCode(reply(t, admin, q)); got == "42501" || got == "42601" {
			t.Errorf("%q as admin: SQLSTATE %s", q, got)
		}
	}
	if calls, want := srv.takeCalls(), []string{"RESUME nosuchdb", "ENABLE nosuchdb", "KILL_CLIENT 999"}; !reflect.DeepEqual(calls, want) {
		t.Errorf("calls %q, want %q", calls, want)
	}
	for _, q := range []string{"SHOW POOLS", "show stats;", "SELECT lists", "SHOW HELP", "SHOW timezone", "SET DateStyle = 'ISO'", "SELECT 1", "SELECT version()"} {
		msgs := reply(t, stats, q)
		if code := errorCode(msgs); code != "" {
			t.Errorf("%q: SQLSTATE %s", q, code)
			continue
		}
		tag := commandTag(msgs)
		if want := map[string]string{"SET DateStyle = 'ISO'": "SET", "SELECT 1": "SELECT 1", "SELECT version()": "SELECT 1"}[q]; want != "" && tag != want || want == "" && tag != "SHOW" {
			t.Errorf("%q: command tag %q", q, tag)
		}
	}
	if msgs := reply(t, stats, " "); len(msgs) != 1 {
		t.Errorf("empty query: %v", msgs)
	} else if _, ok := msgs[0].(*pgproto3.EmptyQueryResponse); !ok {
		t.Errorf("empty query: %T", msgs[0])
	}
	if calls := srv.takeCalls(); len(calls) != 0 {
		t.Errorf("SHOW and the probes called %q", calls)
	}
}

// TestAdminControl: each process-controlling command calls the Server's method for it with the
// argument as typed (unquoted), and its answer is the method's: CommandComplete with the command's tag,
// or the method's error with its SQLSTATE.
func TestAdminControl(t *testing.T) {
	srv := newFake(nil)
	srv.clients[7] = true
	s := testSession(srv, true)
	for _, c := range []struct {
		q, call, tag string
	}{
		{"PAUSE", "PAUSE ", "PAUSE"},
		{"pause app;", "PAUSE app", "PAUSE"},
		{`PAUSE "my-db"`, "PAUSE my-db", "PAUSE"},
		{"RESUME", "RESUME ", "RESUME"},
		{"resume app", "RESUME app", "RESUME"},
		{"DISABLE app", "DISABLE app", "DISABLE"},
		{"ENABLE app", "ENABLE app", "ENABLE"},
		{"RECONNECT", "RECONNECT ", "RECONNECT"},
		{"RECONNECT app", "RECONNECT app", "RECONNECT"},
		{"KILL", "KILL ", "KILL"},
		{"KILL app", "KILL app", "KILL"},
		{"KILL_CLIENT 7", "KILL_CLIENT 7", "KILL_CLIENT"},
		{"SHUTDOWN", "SHUTDOWN 0", "SHUTDOWN"},
		{"shutdown wait_for_servers", "SHUTDOWN 1", "SHUTDOWN"},
		{"SHUTDOWN WAIT_FOR_CLIENTS", "SHUTDOWN 2", "SHUTDOWN"},
		{"WAIT_CLOSE", "", "WAIT_CLOSE"},
	} {
		msgs := reply(t, s, c.q)
		if code := errorCode(msgs); code != "" || commandTag(msgs) != c.tag {
			t.Errorf("%q: SQLSTATE %q, tag %q; want tag %s", c.q, code, commandTag(msgs), c.tag)
		}
		var want []string
		if c.call != "" {
			want = []string{c.call}
		}
		if calls := srv.takeCalls(); !reflect.DeepEqual(calls, want) {
			t.Errorf("%q: calls %q, want %q", c.q, calls, want)
		}
	}

	// Errors: the method's own SQLSTATE, or the console's for what the method reports otherwise.
	srv.pauseErr = context.DeadlineExceeded
	srv.resumeErr = pgwire.NewError(pgerrcode.ObjectNotInPrerequisiteState, "database %q is not paused", "app")
	for _, c := range []struct{ q, code string }{
		{"PAUSE app", "57014"},      // PAUSE did not complete
		{"RESUME app", "55000"},     // as the Server said
		{"KILL_CLIENT 8", "42704"},  // no such client
		{"SUSPEND", "0A000"},        // not supported
		{"RELOAD", "55000"},         // not started from a file
		{"SET nosuch = 1", "22023"}, // config.With refused it
		{"SET listen_port = 1", "22023"},
	} {
		if got := errorCode(reply(t, s, c.q)); got != c.code {
			t.Errorf("%q: SQLSTATE %q, want %s", c.q, got, c.code)
		}
	}
	srv.takeCalls()

	// A FATAL error ends the session: Exec returns it instead of an answer.
	srv.resumeErr = pgwire.NewFatal(pgerrcode.AdminShutdown, "going away")
	if out, fatal := s.Exec(context.Background(), "RESUME"); fatal == nil || fatal.Code != pgerrcode.AdminShutdown || out != nil {
		t.Errorf("RESUME with a FATAL error: out %q, fatal %v", out, fatal)
	}
	// Another error is XX000.
	srv.resumeErr = errors.New("disk on fire")
	if got := errorCode(reply(t, s, "RESUME")); got != "XX000" {
		t.Errorf("RESUME with a plain error: SQLSTATE %q, want XX000", got)
	}
}

// TestAdminSet: SET key = value reloads the configuration in force with that one value changed, and
// tells the reload's notes as NOTICEs; a fake parameter is ignored, for anyone.
func TestAdminSet(t *testing.T) {
	srv := newFake(nil)
	srv.notes = []string{"note one", "note two"}
	s := testSession(srv, true)
	msgs := reply(t, s, "SET default_pool_size = 30")
	if code := errorCode(msgs); code != "" || commandTag(msgs) != "SET default_pool_size=30" {
		t.Fatalf("SET: %v", msgs)
	}
	if srv.reloaded == nil || srv.reloaded.Pooler.DefaultPoolSize != 30 || srv.cfg.Pooler.DefaultPoolSize != 20 {
		t.Errorf("SET reloaded %+v (the running configuration must not change in place)", srv.reloaded)
	}
	var notes []string
	for _, m := range msgs {
		if n, ok := m.(*pgproto3.NoticeResponse); ok {
			notes = append(notes, n.Message)
		}
	}
	if !reflect.DeepEqual(notes, srv.notes) {
		t.Errorf("SET notices %q, want %q", notes, srv.notes)
	}
	srv.takeCalls()
	msgs = reply(t, testSession(srv, false), "SET TimeZone TO 'UTC'")
	if n, ok := msgs[0].(*pgproto3.NoticeResponse); !ok || n.Message != "SET ignored" || commandTag(msgs) != "SET" {
		t.Errorf("SET of a fake parameter: %v", msgs)
	}
	if calls := srv.takeCalls(); len(calls) != 0 {
		t.Errorf("SET of a fake parameter called %q", calls)
	}
}

// TestAdminReload: RELOAD reads the file the configuration came from and reloads it; a broken file is
// refused (F0000) and not reloaded.
func TestAdminReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pgpooler.toml")
	if err := os.WriteFile(path, []byte("[pooler]\ndefault_pool_size = 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Path = path
	srv := newFake(cfg)
	s := testSession(srv, true)
	if msgs := reply(t, s, "RELOAD"); errorCode(msgs) != "" || commandTag(msgs) != "RELOAD" {
		t.Fatalf("RELOAD: %v", msgs)
	}
	if srv.reloaded == nil || srv.reloaded.Pooler.DefaultPoolSize != 7 {
		t.Errorf("RELOAD reloaded %+v, want the file's default_pool_size 7", srv.reloaded)
	}
	srv.takeCalls()
	if err := os.WriteFile(path, []byte("[pooler]\nno_such_key = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := errorCode(reply(t, s, "RELOAD")); got != "F0000" {
		t.Errorf("RELOAD of a broken file: SQLSTATE %q, want F0000", got)
	}
	if calls := srv.takeCalls(); len(calls) != 0 {
		t.Errorf("a broken file was reloaded: %q", calls)
	}
	srv.reloadErr = errors.New("pool sizes do not add up")
	if err := os.WriteFile(path, []byte("[pooler]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := errorCode(reply(t, s, "RELOAD")); got != "F0000" {
		t.Errorf("RELOAD refused by the Server: SQLSTATE %q, want F0000", got)
	}
}

// TestAdminWaitClose: WAIT_CLOSE answers once no server of the database still has close_needed, and
// gives up with 57014 when its context ends.
func TestAdminWaitClose(t *testing.T) {
	srv := newFake(nil)
	// Servers of app need closing in the first three pictures, then are gone; other's never do.
	srv.onSnapshot = func(n int, s *status.Snapshot) {
		if n <= 3 {
			s.Servers = []status.ServerInfo{{ID: 1, Database: "app", CloseNeeded: true}, {ID: 2, Database: "other"}}
		}
	}
	s := testSession(srv, true)
	if msgs := reply(t, s, "WAIT_CLOSE other"); errorCode(msgs) != "" || srv.snapshots != 1 {
		t.Errorf("WAIT_CLOSE other: %v after %d snapshots, want an answer after 1", msgs, srv.snapshots)
	}
	if msgs := reply(t, s, "WAIT_CLOSE app"); errorCode(msgs) != "" || srv.snapshots != 4 {
		t.Errorf("WAIT_CLOSE app: %v after %d snapshots, want an answer after 4", msgs, srv.snapshots)
	}

	srv.onSnapshot = func(_ int, s *status.Snapshot) {
		s.Servers = []status.ServerInfo{{ID: 1, Database: "app", CloseNeeded: true}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*waitClosePoll)
	defer cancel()
	out, fatal := s.Exec(ctx, "WAIT_CLOSE")
	if fatal != nil {
		t.Fatal(fatal)
	}
	if got := errorCode(decode(t, "WAIT_CLOSE", out)); got != "57014" {
		t.Errorf("WAIT_CLOSE past its context: SQLSTATE %q, want 57014", got)
	}
}

// TestAdminPauseContext: PAUSE waits within the context Exec is given (the pooler's lifetime) and,
// when that ends, answers 57014 saying the pause stays in force.
func TestAdminPauseContext(t *testing.T) {
	srv := newFake(nil)
	srv.blockPause = true
	srv.paused = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []byte)
	go func() {
		out, _ := testSession(srv, true).Exec(ctx, "PAUSE app")
		done <- out
	}()
	<-srv.paused // Pause is waiting on ctx
	cancel()
	msgs := decode(t, "PAUSE app", <-done)
	e, ok := msgs[0].(*pgproto3.ErrorResponse)
	if !ok || e.Code != "57014" || !strings.Contains(e.Message, "the pause stays in force") {
		t.Errorf("PAUSE after its context ended: %v", msgs)
	}
}
