package admin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

// fakeServer is an admin.Server of our own for the console's tests: it serves a made-up Snapshot and
// records the calls it gets, one line each ("PAUSE app"), answering as its fields say.
type fakeServer struct {
	mu         sync.Mutex
	snap       *status.Snapshot
	pause      status.PauseState
	cfg        *config.Config
	calls      []string
	pauseErr   error // Pause's answer
	blockPause bool  // Pause closes paused, then waits for ctx to end
	paused     chan struct{}
	resumeErr  error
	clients    map[uint64]bool // KillClient's clients
	notes      []string        // ReloadNotes' answer
	reloadErr  error
	reloaded   *config.Config // the last configuration ReloadNotes got
	snapshots  int            // how many Snapshots were taken
	// onSnapshot, when set, runs before each Snapshot is returned.
	onSnapshot func(n int, s *status.Snapshot)
}

func newFake(cfg *config.Config) *fakeServer {
	if cfg == nil {
		cfg = config.Default()
	}
	return &fakeServer{cfg: cfg, snap: &status.Snapshot{Config: cfg}, clients: map[uint64]bool{}}
}

func (f *fakeServer) record(format string, args ...any) {
	f.mu.Lock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	f.mu.Unlock()
}

func (f *fakeServer) takeCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

func (f *fakeServer) Snapshot() *status.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snapshots++
	s := *f.snap
	if f.onSnapshot != nil {
		f.onSnapshot(f.snapshots, &s)
	}
	return &s
}

func (f *fakeServer) PauseState() status.PauseState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return status.PauseState{All: f.pause.All, Paused: maps.Clone(f.pause.Paused), Disabled: maps.Clone(f.pause.Disabled)}
}

func (f *fakeServer) Config() *config.Config { return f.cfg }

func (f *fakeServer) Pause(ctx context.Context, db string) error {
	f.record("PAUSE %s", db)
	if f.blockPause {
		close(f.paused)
		<-ctx.Done()
		return ctx.Err()
	}
	return f.pauseErr
}

func (f *fakeServer) Resume(db string) error { f.record("RESUME %s", db); return f.resumeErr }
func (f *fakeServer) Disable(db string)      { f.record("DISABLE %s", db) }
func (f *fakeServer) Enable(db string)       { f.record("ENABLE %s", db) }
func (f *fakeServer) Reconnect(db string)    { f.record("RECONNECT %s", db) }
func (f *fakeServer) Kill(db string)         { f.record("KILL %s", db) }

func (f *fakeServer) KillClient(id uint64) bool {
	f.record("KILL_CLIENT %d", id)
	return f.clients[id]
}

func (f *fakeServer) ReloadNotes(cfg *config.Config) ([]string, error) {
	f.record("RELOAD")
	f.mu.Lock()
	f.reloaded = cfg
	f.mu.Unlock()
	return f.notes, f.reloadErr
}

func (f *fakeServer) Shutdown(mode ShutdownMode) { f.record("SHUTDOWN %d", mode) }

var _ Server = (*fakeServer)(nil)

// testSession is a console session on srv; admin says whether its user is in admin_users.
func testSession(srv Server, admin bool) *Session {
	return &Session{Server: srv, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ClientID: 1, User: "admin", Admin: admin}
}

// reply runs q and decodes the answer.
func reply(t *testing.T, s *Session, q string) []pgproto3.BackendMessage {
	t.Helper()
	out, fatal := s.Exec(context.Background(), q)
	if fatal != nil {
		t.Fatalf("%s: fatal %v", q, fatal)
	}
	return decode(t, q, out)
}

// decode decodes an answer up to its ReadyForQuery, which must be 'I'.
func decode(t *testing.T, q string, out []byte) []pgproto3.BackendMessage {
	t.Helper()
	fe := pgproto3.NewFrontend(bytes.NewReader(out), io.Discard)
	var msgs []pgproto3.BackendMessage
	for {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("%s: decoding the answer: %v", q, err)
		}
		switch m := m.(type) {
		case *pgproto3.ReadyForQuery:
			if m.TxStatus != 'I' {
				t.Errorf("%s: ReadyForQuery %q", q, m.TxStatus)
			}
			return msgs
		case *pgproto3.RowDescription:
			c := *m
			c.Fields = append([]pgproto3.FieldDescription(nil), m.Fields...)
			msgs = append(msgs, &c)
		case *pgproto3.DataRow:
			msgs = append(msgs, &pgproto3.DataRow{Values: append([][]byte(nil), m.Values...)})
		case *pgproto3.ErrorResponse:
			c := *m
			msgs = append(msgs, &c)
		case *pgproto3.NoticeResponse:
			c := *m
			msgs = append(msgs, &c)
		case *pgproto3.CommandComplete:
			msgs = append(msgs, &pgproto3.CommandComplete{CommandTag: append([]byte(nil), m.CommandTag...)})
		default:
			msgs = append(msgs, m)
		}
	}
}

func errorCode(msgs []pgproto3.BackendMessage) string {
	for _, m := range msgs {
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			return e.Code
		}
	}
	return ""
}

func commandTag(msgs []pgproto3.BackendMessage) string {
	if len(msgs) == 0 {
		return ""
	}
	if cc, ok := msgs[len(msgs)-1].(*pgproto3.CommandComplete); ok {
		return string(cc.CommandTag)
	}
	return ""
}
