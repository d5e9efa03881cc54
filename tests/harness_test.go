package tests

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// The shared PostgreSQL: role appUser (SCRAM password appPassword) owning database appDB.
const (
	appUser     = "app"
	appPassword = "app-secret-pw"
	appDB       = "app"
)

var pg *pgtest.Server

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	s, err := pgtest.Start(pgtest.Options{
		Settings: map[string]string{"max_connections": "300"},
		HBA:      "host all " + md5User + " 127.0.0.1/32 md5\n", // the md5 role of the auth tests
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "tests: cannot start PostgreSQL:", err)
		return 1
	}
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateRole(ctx, appUser, appPassword); err != nil {
		fmt.Fprintln(os.Stderr, "tests: create role:", err)
		return 1
	}
	if err := s.CreateDatabase(ctx, appDB, appUser); err != nil {
		fmt.Fprintln(os.Stderr, "tests: create database:", err)
		return 1
	}
	pg = s
	return m.Run()
}

// testPooler is a pgpooler serving on 127.0.0.1 with a random port, its log kept for failure reports.
type testPooler struct {
	srv  *pooler.Server
	cfg  *config.Config
	port int
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// baseConfig routes database appDB (and any other name, via "*") to the shared PostgreSQL, logging in
// as the client's user with appPassword.
func baseConfig(backend *pgtest.Server) *config.Config {
	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	cfg.Databases = map[string]config.Database{
		"*": {Host: backend.Host, Port: backend.Port, Password: appPassword},
	}
	eventLoopsFromEnv(cfg)
	return cfg
}

// eventLoopsFromEnv chooses the relay of the tests from the environment: event_loops is on by default;
// PGPOOLER_EVENT_LOOPS=0 turns it off, to run the tests on the goroutine relay; "1" or "all" keeps it on
// (server_tls_sslmode is left alone: the loops serve TLS servers); PGPOOLER_EVENT_LOOP_COUNT sets
// event_loop_count (e.g. 2, for a server handed between loops). A test's own edit comes after.
func eventLoopsFromEnv(cfg *config.Config) {
	switch os.Getenv("PGPOOLER_EVENT_LOOPS") {
	case "0":
		cfg.Pooler.EventLoops = false
	case "1", "all":
		cfg.Pooler.EventLoops = true
	}
	if n, err := strconv.Atoi(os.Getenv("PGPOOLER_EVENT_LOOP_COUNT")); err == nil {
		cfg.Pooler.EventLoopCount = n
	}
}

// startPooler starts a pooler in front of the shared PostgreSQL; edit changes the configuration first.
func startPooler(t testing.TB, edit func(*config.Config)) *testPooler {
	t.Helper()
	return startPoolerFor(t, pg, edit)
}

func startPoolerFor(t testing.TB, backend *pgtest.Server, edit func(*config.Config)) *testPooler {
	t.Helper()
	return startPoolerWith(t, backend, edit, nil)
}

// startPoolerWith is startPoolerFor that calls before on the new Server before it serves (to set an
// Observer, for instance).
func startPoolerWith(t testing.TB, backend *pgtest.Server, edit func(*config.Config), before func(*pooler.Server)) *testPooler {
	t.Helper()
	cfg := baseConfig(backend)
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	logs := &syncBuffer{}
	srv, err := pooler.New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatalf("pooler.New: %v", err)
	}
	if before != nil {
		before(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAll([]net.Listener{ln}) }()
	tp := &testPooler{srv: srv, cfg: cfg, port: ln.Addr().(*net.TCPAddr).Port, logs: logs}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("pooler shutdown: %v", err)
		}
		<-done
		if t.Failed() {
			t.Logf("pooler log:\n%s", tp.logs.String())
		}
	})
	return tp
}

// url returns a libpq URL to the pooler for appUser.
func (tp *testPooler) url(db string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", appUser, appPassword, tp.port, db)
}

// pgxURL is url plus the pgx option that makes pgx use unnamed prepared statements, so that these tests
// do not depend on max_prepared_statements (tests/prepared_test.go covers pgx's statement cache).
func (tp *testPooler) pgxURL(db string) string {
	return tp.url(db) + "&default_query_exec_mode=exec"
}

func (tp *testPooler) addr() string { return fmt.Sprintf("127.0.0.1:%d", tp.port) }

// connect opens a pgx connection through the pooler to appDB.
func (tp *testPooler) connect(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, tp.pgxURL(appDB))
	if err != nil {
		t.Fatalf("connect through pooler: %v\npooler log:\n%s", err, tp.logs.String())
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// superConn opens a direct superuser connection to PostgreSQL (for pg_stat_activity and setup).
func superConn(t testing.TB, backend *pgtest.Server) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, backend.SuperConnString("postgres"))
	if err != nil {
		t.Fatalf("direct superuser connection: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// backendCount returns how many server connections PostgreSQL has for appUser on database db, counting
// those in the given state only when state is not empty.
func backendCount(t testing.TB, super *pgx.Conn, db, state string) int {
	t.Helper()
	var n int
	q := "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = $2 AND ($3 = '' OR state = $3)"
	if err := super.QueryRow(context.Background(), q, appUser, db, state).Scan(&n); err != nil {
		t.Fatalf("pg_stat_activity: %v", err)
	}
	return n
}

// eventually polls cond every 20 ms until it holds or the time runs out.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ptr[T any](v T) *T { return &v }
