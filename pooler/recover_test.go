package pooler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// TestPanicEndsOneConnection: a panic while serving one client, in its own goroutine or in the relay of
// its link, closes that client's connection and its server (not returned to the pool), counts the client
// out (max_client_conn 2 admits a new one), logs the stack at Error level, and leaves the process and the
// other client of the same pool (pool_size 1) working.
func TestPanicEndsOneConnection(t *testing.T) {
	backend := pgtest.StartT(t, pgtest.Options{})
	panicOnMarker(t)

	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	cfg.Pooler.PoolMode = modeTransaction
	cfg.Pooler.DefaultPoolSize = 1
	cfg.Pooler.MaxClientConn = 2
	cfg.Pooler.MaxPreparedStatements = 0 // Query texts go through forwardScanned
	cfg.Pooler.EventLoops = false        // the goroutine relay's panic points (a loop handler's panic: pooler/loop's tests)
	cfg.Databases = map[string]config.Database{"*": {Host: backend.Host, Port: backend.Port, Password: backend.Password}}
	srv, ln, logs := serveForTest(t, cfg)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&default_query_exec_mode=simple_protocol", ln.Addr())
	connect := func() *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	direct, err := pgx.Connect(ctx, backend.SuperConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(context.Background())
	backendPID := func(c *pgx.Conn) uint32 {
		t.Helper()
		var pid uint32
		if err := c.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatalf("pg_backend_pid: %v", err)
		}
		return pid
	}
	works := func(who string, c *pgx.Conn) {
		t.Helper()
		var n int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: SELECT 1 = %d, %v", who, n, err)
		}
	}
	// serverGone waits until the backend pid has left both the pooler's servers and PostgreSQL.
	serverGone := func(pid uint32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			pooled := false
			for _, si := range srv.Snapshot().Servers {
				pooled = pooled || si.PID == pid
			}
			var alive int
			if err := direct.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int64(pid)).Scan(&alive); err != nil {
				t.Fatal(err)
			}
			if !pooled && alive == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("server of backend pid %d still there after the panic (pooled %v, in pg_stat_activity %d)", pid, pooled, alive)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	other := connect()
	works("other client", other)
	for _, where := range []string{"client", "relay"} {
		victim := connect() // max_client_conn 2: refused unless the last victim was counted out
		pid := backendPID(victim)
		_, err := victim.Exec(ctx, "SET application_name = 'panic-"+where+"'")
		if err == nil {
			t.Fatalf("%s panic: the SET succeeded", where)
		}
		if err := victim.Ping(ctx); err == nil {
			t.Fatalf("%s panic: the panicking client's connection still answers", where)
		}
		serverGone(pid)
		works("other client after the "+where+" panic", other)
	}
	connect() // the relay's victim was counted out too
	log := strings.Join(logs.lines(), "\n")
	for _, want := range []string{"level=ERROR msg=\"panic serving a connection", "test panic in client", "test panic in relay", "forwardScanned", "relayServer", "goroutine "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestPanicInInternalQueryOnLoop: a panic in the continuation of an internal query on the loop (here the
// parameter sync of a client whose application_name differs from its server's: loopsettle.go
// prepareOnLoop) closes that server and frees its slot (pool_size 1: the other client still gets a
// server), fails the client that waited for it with FATAL XX000 rather than leaving it waiting for ever,
// and is logged with its stack. Before afterPanic, the client hung (its query ran into the context's
// deadline) and the server's slot was lost, so the other client hung too.
func TestPanicInInternalQueryOnLoop(t *testing.T) {
	connect, works, logs := poolOfOneOnLoop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other := connect("other")
	works("other client", other)
	victim := connect("panic-exchange") // the sync's SQL names application_name 'panic-exchange'
	var n int
	err := victim.QueryRow(ctx, "SELECT 1").Scan(&n)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "XX000" {
		t.Fatalf("the client whose server's internal query panicked: SELECT 1 = %d, %v; want FATAL XX000", n, err)
	}
	works("other client after the panic", other) // pool_size 1: the panicking server's slot was freed
	log := strings.Join(logs.lines(), "\n")
	for _, want := range []string{"panic in a connection handler", "test panic in exchange", "(*loopExchange).end"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// TestPanicInSettleOnLoop: a panic in the client's own handler while the loop holds a server taken for
// it and not yet linked (here planning the parameter sync of a client whose application_name differs
// from its server's: loopsettle.go prepareOnLoop, before any internal query is sent) closes that client
// and that server, and frees the server's slot (pool_size 1: the other client still gets a server).
// Before dropTaken, the server was held by nobody: the other client waited in line until its query's
// deadline.
func TestPanicInSettleOnLoop(t *testing.T) {
	connect, works, logs := poolOfOneOnLoop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	other := connect("other")
	works("other client", other)
	victim := connect("panic-settle") // the sync's SQL names application_name 'panic-settle'
	if err := victim.Ping(ctx); err == nil {
		t.Fatalf("the client whose handler panicked: its query succeeded")
	}
	works("other client after the panic", other) // pool_size 1: the taken server's slot was freed
	log := strings.Join(logs.lines(), "\n")
	for _, want := range []string{"panic in a connection handler", "test panic in settle", "(*loopClient).prepareOnLoop", "panic while preparing the server for its client"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// poolOfOneOnLoop serves, until the test ends, transaction mode with pool_size 1 on one event loop (a
// client and its server on one loop: the parameter sync is planned and run there) in front of a
// PostgreSQL of its own, with panicOnMarker set. connect opens a simple-protocol pgx client with the
// given application_name; works checks that a client still answers SELECT 1 within 10 seconds.
func poolOfOneOnLoop(t *testing.T) (connect func(app string) *pgx.Conn, works func(who string, c *pgx.Conn), logs *lockedBuffer) {
	backend := pgtest.StartT(t, pgtest.Options{})
	panicOnMarker(t)

	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	cfg.Pooler.PoolMode = modeTransaction
	cfg.Pooler.DefaultPoolSize = 1
	cfg.Pooler.MaxPreparedStatements = 0
	cfg.Pooler.EventLoops = true
	cfg.Pooler.EventLoopCount = 1
	cfg.Databases = map[string]config.Database{"*": {Host: backend.Host, Port: backend.Port, Password: backend.Password}}
	_, ln, logs := serveForTest(t, cfg)

	connect = func(app string) *pgx.Conn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		url := fmt.Sprintf("postgres://postgres@%s/postgres?sslmode=disable&default_query_exec_mode=simple_protocol&application_name=%s", ln.Addr(), app)
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatalf("connect %s: %v", app, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	works = func(who string, c *pgx.Conn) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int
		if err := c.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("%s: SELECT 1 = %d, %v", who, n, err)
		}
	}
	return connect, works, logs
}

// TestPanicInJanitor: a panic in a round of pool maintenance (the janitor, under the Server's mu) is
// logged with its stack and ends that round only: the janitor's next rounds run, so s.mu was released,
// and the process goes on. Before janitorTick recovered, the panic ended the test binary.
func TestPanicInJanitor(t *testing.T) {
	var rounds atomic.Int32
	panicHook = func(where string, _ []byte) {
		if where == "janitor" && rounds.Add(1) == 1 {
			panic("test panic in janitor")
		}
	}
	t.Cleanup(func() { panicHook = nil }) // runs last: after the pooler's Shutdown

	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	cfg.Databases = map[string]config.Database{"*": {Host: "127.0.0.1", Port: 1}}
	srv, _, logs := serveForTest(t, cfg)
	deadline := time.Now().Add(20 * janitorInterval)
	for rounds.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the janitor ran %d rounds in %v, want 3: it stopped after the panic", rounds.Load(), 20*janitorInterval)
		}
		time.Sleep(janitorInterval / 4)
	}
	_ = srv.Snapshot() // takes s.mu: the panicking round released it
	log := strings.Join(logs.lines(), "\n")
	for _, want := range []string{"level=ERROR msg=\"panic serving a connection", "test panic in janitor", "goroutine=janitor", "maintain"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// panicOnMarker makes each panic point panic ("test panic in WHERE") when its input holds the text
// "panic-WHERE", until the test ends (the hook is cleared after the pooler's Shutdown: set it first).
func panicOnMarker(t *testing.T) {
	panicHook = func(where string, detail []byte) {
		if bytes.Contains(detail, []byte("panic-"+where)) {
			panic("test panic in " + where)
		}
	}
	t.Cleanup(func() { panicHook = nil })
}

// serveForTest validates cfg and serves it on a listener of its own on 127.0.0.1 until the test ends
// (Shutdown then), logging to the returned buffer, which is shown when the test failed.
func serveForTest(t *testing.T, cfg *config.Config) (*Server, net.Listener, *lockedBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	srv, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeAll([]net.Listener{ln}) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
		if t.Failed() {
			t.Logf("pooler log:\n%s", strings.Join(logs.lines(), "\n"))
		}
	})
	return srv, ln, logs
}
