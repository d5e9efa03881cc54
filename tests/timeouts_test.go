package tests

// End-to-end tests of pgpooler's timeouts: each starts a pooler with one timeout set to tens or hundreds
// of milliseconds and shows it firing, asserting the SQLSTATE the client gets, that the connection is
// closed, or what pg_stat_activity shows. Sleeps are used only to let a timeout pass; events are awaited
// (a read that returns, a channel) and external state is polled with eventually.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// tmoSlack is how late a timeout may fire and still pass: the janitor ticks every 200 ms and -race slows
// everything down.
const tmoSlack = 1500 * time.Millisecond

// timeoutsDB is the database of the tests in this file that count server connections.
const timeoutsDB = "pooler_timeouts"

// isolatedDB makes sure database name exists, owned by appUser, waits until nothing is connected to it
// (servers of an earlier test may still be exiting) and returns name. Tests that count server
// connections in pg_stat_activity use a database of their own so that nothing else is counted.
func isolatedDB(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	super, err := pgx.Connect(ctx, pg.SuperConnString("postgres"))
	if err != nil {
		t.Fatalf("direct superuser connection: %v", err)
	}
	defer super.Close(context.Background())
	isolatedMu.Lock()
	if !isolatedDone[name] {
		var exists bool
		if err := super.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
			isolatedMu.Unlock()
			t.Fatalf("pg_database: %v", err)
		}
		if !exists {
			if err := pg.CreateDatabase(ctx, name, appUser); err != nil {
				isolatedMu.Unlock()
				t.Fatalf("create database %s: %v", name, err)
			}
		}
		isolatedDone[name] = true
	}
	isolatedMu.Unlock()
	// Servers of an earlier run (-count) may still be exiting.
	eventually(t, 5*time.Second, "no connections left to database "+name, func() bool {
		var n int
		if err := super.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name).Scan(&n); err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		return n == 0
	})
	return name
}

var (
	isolatedMu   sync.Mutex
	isolatedDone = map[string]bool{}
)

// connectDB opens a pgx connection through the pooler to database db as appUser.
func connectDB(t testing.TB, tp *testPooler, db string) *pgx.Conn {
	t.Helper()
	conn, err := tryConnect(tp.url(db))
	if err != nil {
		t.Fatalf("connect through pooler to %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// tryConnect connects with a bounded wait, closing the connection with the test is up to the caller.
func tryConnect(url string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.Connect(ctx, url)
}

// asPgError returns err's *pgconn.PgError or fails the test.
func asPgError(t testing.TB, err error, what string) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("%s: got %v (%T), want a PostgreSQL error", what, err, err)
	}
	return pe
}

// wantPgError fails the test unless err carries SQLSTATE code and a message containing every one of
// parts; it returns the error.
func wantPgError(t testing.TB, err error, what, code string, parts ...string) *pgconn.PgError {
	t.Helper()
	pe := asPgError(t, err, what)
	if pe.Code != code {
		t.Fatalf("%s: SQLSTATE %s (%s), want %s", what, pe.Code, pe.Message, code)
	}
	for _, p := range parts {
		if !strings.Contains(pe.Message, p) {
			t.Fatalf("%s: message %q does not mention %q", what, pe.Message, p)
		}
	}
	return pe
}

// wantElapsed fails the test unless elapsed lies in [low, high].
func wantElapsed(t testing.TB, what string, elapsed, low, high time.Duration) {
	t.Helper()
	if elapsed < low || elapsed > high {
		t.Fatalf("%s after %s, want between %s and %s", what, elapsed, low, high)
	}
	t.Logf("%s after %s", what, elapsed.Round(time.Millisecond))
}

// serverPID asks the server behind conn for its pid (simple protocol, so that no prepared statement
// ties the answer to one server).
func serverPID(t testing.TB, conn *pgx.Conn) uint32 {
	t.Helper()
	var pid uint32
	if err := conn.QueryRow(context.Background(), "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
		t.Fatalf("SELECT pg_backend_pid(): %v", err)
	}
	return pid
}

// awaitFatalClose waits, reading the socket under conn (idle between queries, so pgx is not reading it), for
// the pooler to send an ErrorResponse and close the connection. It returns the error and how long it
// took from since.
func awaitFatalClose(t testing.TB, conn *pgx.Conn, since time.Time, within time.Duration) (*pgproto3.ErrorResponse, time.Duration) {
	t.Helper()
	nc := conn.PgConn().Conn()
	_ = nc.SetReadDeadline(time.Now().Add(within))
	fe := pgproto3.NewFrontend(nc, io.Discard)
	msg, err := fe.Receive()
	elapsed := time.Since(since)
	if err != nil {
		t.Fatalf("waiting for the pooler to close the idle client: %v after %s", err, elapsed)
	}
	er, ok := msg.(*pgproto3.ErrorResponse)
	if !ok {
		t.Fatalf("pooler sent %T to an idle client, want ErrorResponse", msg)
	}
	er = &pgproto3.ErrorResponse{Severity: er.Severity, Code: er.Code, Message: er.Message}
	if msg, err := fe.Receive(); err == nil {
		t.Fatalf("after %s %s the pooler sent %T, want the connection closed", er.Code, er.Message, msg)
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("after %s %s the pooler did not close the connection", er.Code, er.Message)
	}
	return er, elapsed
}

// awaitPeerClose reads c until the peer closes it and returns how long that took from since; it fails the test
// if the peer keeps it open for longer than within.
func awaitPeerClose(t testing.TB, c net.Conn, since time.Time, within time.Duration) time.Duration {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	_, err := io.Copy(io.Discard, c)
	elapsed := time.Since(since)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection still open after %s", elapsed)
	}
	return elapsed
}

// TestQueryWaitTimeout: pool_size 1 in transaction mode; while client A holds the only server in an
// open transaction, client B's query fails after query_wait_timeout with FATAL 53300 naming
// query_wait_timeout, and B's connection is closed. Once A commits, a new client works.
func TestQueryWaitTimeout(t *testing.T) {
	const qwt = 300 * time.Millisecond
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.QueryWaitTimeout = config.Duration(qwt)
	})
	ctx := context.Background()
	a := tp.connect(t)
	txA, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := tp.connect(t)
	start := time.Now()
	_, err = b.Exec(ctx, "SELECT 1")
	wantPgError(t, err, "query while the pool is full", "53300", "query_wait_timeout")
	wantElapsed(t, "query_wait_timeout fired", time.Since(start), qwt*9/10, qwt+tmoSlack)
	if !b.IsClosed() {
		t.Fatal("client B is still open after its FATAL query_wait_timeout error")
	}
	if err := txA.Commit(ctx); err != nil {
		t.Fatalf("A's commit: %v", err)
	}
	c := tp.connect(t)
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("new client after A committed: %v", err)
	}
}

// TestReservePool: pool_size 1, reserve_pool_size 1, reserve_pool_timeout 200ms. While A holds the only
// server, B's transaction starts after about reserve_pool_timeout on a second server (pg_stat_activity
// shows 2); a third client C, with both held, gets no third server and fails with 53300 after
// query_wait_timeout. With reserve_pool_timeout 0 (documented as "disables") B gets no reserve server
// and fails with 53300 after query_wait_timeout.
func TestReservePool(t *testing.T) {
	const reserveWait, qwt = 200 * time.Millisecond, 800 * time.Millisecond
	ctx := context.Background()
	t.Run("reserve after reserve_pool_timeout", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.DefaultPoolSize = 1
			c.Pooler.ReservePoolSize = 1
			c.Pooler.ReservePoolTimeout = config.Duration(reserveWait)
			c.Pooler.QueryWaitTimeout = config.Duration(qwt)
		})
		super := superConn(t, pg)
		a := connectDB(t, tp, db)
		txA, err := a.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer txA.Rollback(ctx)
		b := connectDB(t, tp, db)
		start := time.Now()
		txB, err := b.Begin(ctx)
		if err != nil {
			t.Fatalf("B's BEGIN with the reserve pool: %v", err)
		}
		defer txB.Rollback(ctx)
		wantElapsed(t, "B got a reserve server", time.Since(start), reserveWait*9/10, reserveWait+tmoSlack)
		if n := backendCount(t, super, db, ""); n != 2 {
			t.Fatalf("pg_stat_activity shows %d servers with A and B in transactions, want 2", n)
		}

		cl := connectDB(t, tp, db)
		start = time.Now()
		_, err = cl.Exec(ctx, "SELECT 1")
		wantPgError(t, err, "C's query with pool and reserve in use", "53300", "query_wait_timeout")
		wantElapsed(t, "C's query_wait_timeout fired", time.Since(start), qwt*9/10, qwt+tmoSlack)
		if n := backendCount(t, super, db, ""); n != 2 {
			t.Fatalf("pg_stat_activity shows %d servers, want 2 (pool_size + reserve_pool_size)", n)
		}
		if err := txA.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := txB.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reserve_pool_timeout 0 disables", func(t *testing.T) {
		const qwt = 400 * time.Millisecond
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.DefaultPoolSize = 1
			c.Pooler.ReservePoolSize = 1
			c.Pooler.ReservePoolTimeout = 0
			c.Pooler.QueryWaitTimeout = config.Duration(qwt)
		})
		super := superConn(t, pg)
		a := connectDB(t, tp, db)
		txA, err := a.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer txA.Rollback(ctx)
		b := connectDB(t, tp, db)
		start := time.Now()
		_, err = b.Exec(ctx, "SELECT 1")
		if err == nil {
			t.Errorf("B's query got a reserve server after %s with reserve_pool_timeout 0 (documented: 0 disables); pg_stat_activity shows %d servers",
				time.Since(start).Round(time.Millisecond), backendCount(t, super, db, ""))
			return
		}
		wantPgError(t, err, "B's query with reserve_pool_timeout 0", "53300", "query_wait_timeout")
		wantElapsed(t, "B's query_wait_timeout fired", time.Since(start), qwt*9/10, qwt+tmoSlack)
		if n := backendCount(t, super, db, ""); n != 1 {
			t.Fatalf("pg_stat_activity shows %d servers, want 1 (reserve disabled)", n)
		}
	})
}

// stallListener listens on 127.0.0.1:0 and accepts connections that it never answers; accepted
// connections are sent on the returned channel and closed at the end of the test.
func stallListener(t testing.TB) (int, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 16)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case accepted <- c:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().(*net.TCPAddr).Port, accepted
}

// TestServerConnectTimeout: a database whose server accepts TCP connections and never answers the
// StartupMessage. The client's login fails with 08006 naming server_connect_timeout after about the
// timeout instead of hanging, and the pooler closes its half-open server connection.
func TestServerConnectTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	port, accepted := stallListener(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.ServerConnectTimeout = config.Duration(timeout)
		c.Databases["stall"] = config.Database{Host: "127.0.0.1", Port: port, Password: appPassword}
	})
	start := time.Now()
	conn, err := tryConnect(tp.url("stall"))
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("login to a database whose server never answers succeeded")
	}
	elapsed := time.Since(start)
	pe := asPgError(t, err, "login to a stalled server")
	if pe.Code != "08006" {
		t.Fatalf("login to a stalled server: %s %q, want 08006", pe.Code, pe.Message)
	}
	wantElapsed(t, "server_connect_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)
	var sc net.Conn
	select {
	case sc = <-accepted:
	default:
		t.Fatal("the stalled server never saw a connection")
	}
	awaitPeerClose(t, sc, start, 2*time.Second)
	if !strings.Contains(pe.Message, "server_connect_timeout") && !strings.Contains(pe.Message, "timed out") {
		t.Errorf("login to a stalled server: message %q does not say that server_connect_timeout fired", pe.Message)
	}
}

// unusedPort returns a TCP port on 127.0.0.1 that nothing listens on (bound, then closed).
func unusedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestServerLoginRetry: after a failed server login, clients of that pool get the cached error at once
// (naming server_login_retry) while it is fresh and while a probe logs in again in the background; once
// no client has asked for server_login_retry the probe stops, the error goes stale, and the next client
// makes an attempt of its own. TestServerLoginProbe counts the probe's attempts.
func TestServerLoginRetry(t *testing.T) {
	const retry = 500 * time.Millisecond

	// A closed port: "could not connect" (08006), then the cached error, then a fresh attempt.
	port := unusedPort(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.ServerLoginRetry = config.Duration(retry)
		c.Databases["down"] = config.Database{Host: "127.0.0.1", Port: port, Password: appPassword}
	})
	failedAt := time.Now()
	_, err := tryConnect(tp.url("down"))
	pe := wantPgError(t, err, "first login to a closed port", "08006", "could not connect")
	if strings.Contains(pe.Message, "server_login_retry") {
		t.Fatalf("first login: %q already names server_login_retry", pe.Message)
	}
	_, err = tryConnect(tp.url("down"))
	if time.Since(failedAt) >= retry {
		t.Skipf("second login came %s after the first, past server_login_retry %s: machine too slow", time.Since(failedAt), retry)
	}
	wantPgError(t, err, "second login within server_login_retry", "08006", "server_login_retry", "could not connect")

	// Nobody asks: the probe stops (its log line), and server_login_retry after its last failure the
	// error is stale.
	eventually(t, 10*time.Second, "the probe stops when no client asks", func() bool {
		return strings.Contains(tp.logs.String(), "server login probe stopped")
	})
	time.Sleep(retry + 50*time.Millisecond) // let server_login_retry pass after the probe's last attempt
	_, err = tryConnect(tp.url("down"))
	pe = wantPgError(t, err, "login after server_login_retry", "08006", "could not connect")
	if strings.Contains(pe.Message, "server_login_retry") {
		t.Fatalf("login after server_login_retry got the cached error %q, want a new attempt", pe.Message)
	}
}

// TestServerIdleTimeout: in transaction mode an idle server is closed once it has been idle for
// server_idle_timeout (pg_stat_activity drops to 0) and the client goes on with a new one; with
// min_pool_size the pool keeps that many servers instead, the same ones (same pids).
func TestServerIdleTimeout(t *testing.T) {
	const idle = 300 * time.Millisecond
	t.Run("closes idle server", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.ServerIdleTimeout = config.Duration(idle)
		})
		super := superConn(t, pg)
		conn := connectDB(t, tp, db)
		pid := serverPID(t, conn)
		released := time.Now()
		if n := backendCount(t, super, db, ""); n != 1 {
			t.Fatalf("pg_stat_activity shows %d servers after one query, want 1", n)
		}
		eventually(t, idle+tmoSlack, "idle server closed (pg_stat_activity count 0)", func() bool {
			return backendCount(t, super, db, "") == 0
		})
		wantElapsed(t, "idle server gone from pg_stat_activity", time.Since(released), idle*9/10, idle+tmoSlack)
		if again := serverPID(t, conn); again == pid {
			t.Fatalf("query after server_idle_timeout ran on the old server (pid %d)", pid)
		}
	})
	t.Run("min_pool_size keeps servers", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.ServerIdleTimeout = config.Duration(idle)
			c.Pooler.MinPoolSize = 2
		})
		super := superConn(t, pg)
		conn := connectDB(t, tp, db)
		serverPID(t, conn)
		eventually(t, 3*time.Second, "min_pool_size 2 reached", func() bool {
			return backendCount(t, super, db, "") == 2
		})
		before := serverPIDs(t, super, db)
		time.Sleep(3 * idle) // well past server_idle_timeout
		after := serverPIDs(t, super, db)
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Fatalf("servers with min_pool_size 2 changed from %v to %v past server_idle_timeout, want kept", before, after)
		}
	})
}

// serverPIDs returns the sorted pids of appUser's server connections to db.
func serverPIDs(t testing.TB, super *pgx.Conn, db string) []int32 {
	t.Helper()
	rows, err := super.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND datname = $2 ORDER BY pid", appUser, db)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// TestMinPoolSize: with min_pool_size 3, once one client has connected (creating the pool) the pooler
// opens servers until pg_stat_activity shows 3, and no more.
func TestMinPoolSize(t *testing.T) {
	db := isolatedDB(t, timeoutsDB)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.MinPoolSize = 3
	})
	super := superConn(t, pg)
	connectDB(t, tp, db)
	start := time.Now()
	eventually(t, 3*time.Second, "pg_stat_activity shows min_pool_size 3 servers", func() bool {
		return backendCount(t, super, db, "") == 3
	})
	t.Logf("3 servers after %s", time.Since(start).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond) // a few janitor rounds
	if n := backendCount(t, super, db, ""); n != 3 {
		t.Fatalf("pg_stat_activity shows %d servers, want min_pool_size 3", n)
	}
}

// TestServerLifetime: an idle server older than server_lifetime is closed (pg_stat_activity drops to 0
// and the next query runs on a new backend pid), but a server in a transaction that outlives
// server_lifetime is not closed under it: the transaction keeps its backend and commits; the server is
// closed when it comes back. server_lifetime 0 means a server is used once, then closed.
func TestServerLifetime(t *testing.T) {
	const lifetime = 400 * time.Millisecond
	t.Run("idle server closed", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.ServerLifetime = config.Duration(lifetime)
		})
		super := superConn(t, pg)
		conn := connectDB(t, tp, db)
		pid := serverPID(t, conn)
		eventually(t, lifetime+tmoSlack, "server past server_lifetime closed", func() bool {
			return backendCount(t, super, db, "") == 0
		})
		if again := serverPID(t, conn); again == pid {
			t.Fatalf("query after server_lifetime ran on the old backend %d", pid)
		}
	})
	t.Run("0 means used once", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.ServerLifetime = 0
		})
		conn := connectDB(t, tp, db)
		seen := map[uint32]bool{}
		for range 3 {
			seen[serverPID(t, conn)] = true
		}
		if len(seen) != 3 {
			t.Errorf("3 transactions with server_lifetime 0 (documented: a connection is used once, then closed) ran on %d backends, want 3", len(seen))
		}
	})
	t.Run("busy server kept until commit", func(t *testing.T) {
		db := isolatedDB(t, timeoutsDB)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = config.PoolModeTransaction
			c.Pooler.ServerLifetime = config.Duration(lifetime)
		})
		super := superConn(t, pg)
		conn := connectDB(t, tp, db)
		ctx := context.Background()
		mustExec(t, conn, "DROP TABLE IF EXISTS lifetime_t")
		mustExec(t, conn, "CREATE TABLE lifetime_t (id int)")
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pid := serverPID(t, conn)
		if _, err := tx.Exec(ctx, "INSERT INTO lifetime_t VALUES (1)"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * lifetime) // the server outlives server_lifetime inside the transaction
		if again := serverPID(t, conn); again != pid {
			t.Fatalf("inside a transaction the backend changed from %d to %d", pid, again)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatalf("commit of a transaction that outlived server_lifetime: %v", err)
		}
		eventually(t, tmoSlack, "server past server_lifetime closed after its transaction", func() bool {
			return backendCount(t, super, db, "") == 0
		})
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM lifetime_t", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != 1 {
			t.Fatalf("committed rows: %d, %v; want 1", n, err)
		}
		if again := serverPID(t, conn); again == pid {
			t.Fatalf("after the transaction the server past server_lifetime (pid %d) was reused", pid)
		}
	})
}

// TestServerCheckQuery: with server_check_delay 0 every reuse of an idle server runs server_check_query.
// When the check fails ("select 1/0"), the server is closed and replaced: every query still succeeds,
// each on a new backend pid, and the failed servers do not pile up (pg_stat_activity shows 1). With a
// check that passes ("select 1") the same server is reused.
func TestServerCheckQuery(t *testing.T) {
	for _, tc := range []struct {
		name, query string
		replaced    bool
	}{
		{"failing check replaces server", "select 1/0", true},
		{"passing check keeps server", "select 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := isolatedDB(t, timeoutsDB)
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.ServerCheckDelay = 0
				c.Pooler.ServerCheckQuery = tc.query
			})
			super := superConn(t, pg)
			conn := connectDB(t, tp, db)
			seen := map[uint32]bool{}
			for range 4 {
				seen[serverPID(t, conn)] = true
			}
			switch {
			case tc.replaced && len(seen) != 4:
				t.Fatalf("4 queries with a failing server_check_query ran on %d backends, want 4", len(seen))
			case !tc.replaced && len(seen) != 1:
				t.Fatalf("4 queries with a passing server_check_query ran on %d backends, want 1", len(seen))
			}
			eventually(t, 2*time.Second, "one server left in pg_stat_activity", func() bool {
				return backendCount(t, super, db, "") == 1
			})
		})
	}
}

// TestClientLoginTimeout: a client that does not complete its login within client_login_timeout is
// disconnected: one that sends nothing, one that sends half a StartupMessage, one that stops after the
// SSLRequest answer. A client that did log in is not affected by the timeout.
func TestClientLoginTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.ClientLoginTimeout = config.Duration(timeout)
	})
	// half a StartupMessage: a length of 64 bytes, protocol 3.0 and the start of "user".
	half := binary.BigEndian.AppendUint32(nil, 64)
	half = binary.BigEndian.AppendUint32(half, 3<<16)
	half = append(half, "us"...)
	sslRequest := binary.BigEndian.AppendUint32(nil, 8)
	sslRequest = binary.BigEndian.AppendUint32(sslRequest, 80877103)
	for _, tc := range []struct {
		name    string
		send    []byte
		answerN bool // the pooler answers 'N' (no TLS) first
	}{
		{"silent", nil, false},
		{"half startup packet", half, false},
		{"after SSLRequest", sslRequest, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			c, err := net.Dial("tcp", tp.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(tc.send) > 0 {
				if _, err := c.Write(tc.send); err != nil {
					t.Fatal(err)
				}
			}
			if tc.answerN {
				var b [1]byte
				_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if _, err := io.ReadFull(c, b[:]); err != nil || b[0] != 'N' {
					t.Fatalf("SSLRequest answer %q, %v; want 'N'", b[0], err)
				}
			}
			wantElapsed(t, "client_login_timeout closed the connection", awaitPeerClose(t, c, start, timeout+tmoSlack+time.Second), timeout*9/10, timeout+tmoSlack)
		})
	}
	t.Run("logged-in client unaffected", func(t *testing.T) {
		conn := tp.connect(t)
		time.Sleep(2 * timeout)
		if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
			t.Fatalf("query %s after login: %v", 2*timeout, err)
		}
	})
}

// TestClientIdleTimeout: a client idle (not in a transaction) for client_idle_timeout gets FATAL 57P05
// and its connection is closed, whether it has run a query or not; its next query fails. A client that
// keeps sending queries more often than the timeout stays connected. On both relays (eachRelay).
func TestClientIdleTimeout(t *testing.T) { eachRelay(t, clientIdleTimeout) }

func clientIdleTimeout(t *testing.T, r relay) {
	const timeout = 300 * time.Millisecond
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.ClientIdleTimeout = config.Duration(timeout)
		r.edit(c)
	})
	ctx := context.Background()
	t.Run("idle right after login", func(t *testing.T) {
		conn := tp.connect(t)
		r.served(t, tp)
		er, elapsed := awaitFatalClose(t, conn, time.Now(), timeout+tmoSlack+time.Second)
		if er.Severity != "FATAL" || er.Code != "57P05" || !strings.Contains(er.Message, "client_idle_timeout") {
			t.Fatalf("idle client got %s %s %q, want FATAL 57P05 naming client_idle_timeout", er.Severity, er.Code, er.Message)
		}
		wantElapsed(t, "client_idle_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)
	})
	t.Run("idle after a query", func(t *testing.T) {
		conn := tp.connect(t)
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		r.served(t, tp)
		er, elapsed := awaitFatalClose(t, conn, time.Now(), timeout+tmoSlack+time.Second)
		if er.Severity != "FATAL" || er.Code != "57P05" || !strings.Contains(er.Message, "client_idle_timeout") {
			t.Fatalf("idle client got %s %s %q, want FATAL 57P05 naming client_idle_timeout", er.Severity, er.Code, er.Message)
		}
		wantElapsed(t, "client_idle_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)
		if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
			t.Fatal("query on a connection closed by client_idle_timeout succeeded")
		}
	})
	t.Run("active client kept", func(t *testing.T) {
		conn := tp.connect(t)
		for range 8 { // 8 × 100ms: well past the timeout in total, never idle as long
			if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
				t.Fatalf("active client: %v", err)
			}
			time.Sleep(timeout / 3)
		}
		r.served(t, tp)
	})
}

// TestIdleTransactionTimeout: a client idle inside a transaction for idle_transaction_timeout gets
// FATAL 25P03 and is closed; its transaction is rolled back (the row it inserted is not there) and the
// server is not left 'idle in transaction' but returned to the pool. A client idle outside a
// transaction is not affected. On both relays (eachRelay).
func TestIdleTransactionTimeout(t *testing.T) { eachRelay(t, idleTransactionTimeout) }

func idleTransactionTimeout(t *testing.T, r relay) {
	const timeout = 300 * time.Millisecond
	db := isolatedDB(t, timeoutsDB)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.IdleTransactionTimeout = config.Duration(timeout)
		r.edit(c)
	})
	super := superConn(t, pg)
	ctx := context.Background()
	conn := connectDB(t, tp, db)
	mustExec(t, conn, "DROP TABLE IF EXISTS idle_tx_t")
	mustExec(t, conn, "CREATE TABLE idle_tx_t (id int)")
	time.Sleep(2 * timeout) // idle outside a transaction: not closed
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatalf("BEGIN after %s idle outside a transaction: %v", 2*timeout, err)
	}
	if _, err := conn.Exec(ctx, "INSERT INTO idle_tx_t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	r.served(t, tp)
	er, elapsed := awaitFatalClose(t, conn, time.Now(), timeout+tmoSlack+time.Second)
	if er.Severity != "FATAL" || er.Code != "25P03" || !strings.Contains(er.Message, "idle_transaction_timeout") {
		t.Fatalf("client idle in transaction got %s %s %q, want FATAL 25P03 naming idle_transaction_timeout", er.Severity, er.Code, er.Message)
	}
	wantElapsed(t, "idle_transaction_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)

	eventually(t, 2*time.Second, "no server left 'idle in transaction'", func() bool {
		return backendCount(t, super, db, "idle in transaction") == 0
	})
	if n := backendCount(t, super, db, "idle"); n != 1 {
		t.Fatalf("%d idle servers after the rollback, want the one server back in the pool", n)
	}
	other := connectDB(t, tp, db)
	var n int
	if err := other.QueryRow(ctx, "SELECT count(*) FROM idle_tx_t", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d rows from the timed-out transaction are visible, want 0 (rolled back)", n)
	}
}

// TestQueryTimeout: SELECT pg_sleep(5) with query_timeout 300ms fails with 57014 naming query_timeout
// after about 300ms, the client is closed, and the backend stops running the query (the pooler cancels
// it). Queries shorter than the timeout, even many of them in a row, are not affected. On both relays
// (eachRelay).
func TestQueryTimeout(t *testing.T) { eachRelay(t, queryTimeout) }

func queryTimeout(t *testing.T, r relay) {
	const timeout = 300 * time.Millisecond
	db := isolatedDB(t, timeoutsDB)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.QueryTimeout = config.Duration(timeout)
		r.edit(c)
	})
	super := superConn(t, pg)
	ctx := context.Background()
	conn := connectDB(t, tp, db)
	for range 3 { // 3 × 150ms: longer than the timeout together, each shorter
		if _, err := conn.Exec(ctx, "SELECT pg_sleep(0.15)"); err != nil {
			t.Fatalf("query shorter than query_timeout: %v", err)
		}
	}
	r.served(t, tp)
	start := time.Now()
	_, err := conn.Exec(ctx, "SELECT pg_sleep(5)")
	wantPgError(t, err, "SELECT pg_sleep(5)", "57014", "query_timeout")
	wantElapsed(t, "query_timeout fired", time.Since(start), timeout*9/10, timeout+tmoSlack)
	if !conn.IsClosed() {
		t.Fatal("connection still open after FATAL query_timeout")
	}
	eventually(t, 2*time.Second, "pg_sleep(5) no longer running on the server", func() bool {
		var n int
		q := "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep(5)%'"
		if err := super.QueryRow(ctx, q, db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	t.Logf("query stopped %s after it started", time.Since(start).Round(time.Millisecond))
}

// silentCancelBackend is a minimal PostgreSQL server for what a real one cannot be made to do: it logs anyone
// in (trust), answers every query with an empty result, except a query containing "pg_sleep", which it
// answers only once a CancelRequest for that backend has arrived and the cancel connection has been
// closed by the other side; it never closes a cancel connection itself (a server that does not
// acknowledge cancels).
type silentCancelBackend struct {
	ln       net.Listener
	sleeping chan uint32            // pid of a backend that got a pg_sleep query
	cancels  chan silentCancel      // one per cancel connection, once its peer has closed it
	closed   chan silentServerClose // one per backend connection closed by its peer
	mu       sync.Mutex
	nextPID  uint32
	answer   map[uint32]chan struct{} // closed to make backend pid answer its sleeping query (57014)
	conns    []net.Conn
}

type silentCancel struct {
	pid            uint32
	opened, closed time.Time
}

type silentServerClose struct {
	pid uint32
	at  time.Time
}

func startSilentCancelBackend(t testing.TB) *silentCancelBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fb := &silentCancelBackend{ln: ln, sleeping: make(chan uint32, 16), cancels: make(chan silentCancel, 16),
		closed: make(chan silentServerClose, 16), nextPID: 4000, answer: map[uint32]chan struct{}{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fb.mu.Lock()
			fb.conns = append(fb.conns, c)
			fb.mu.Unlock()
			go fb.serve(c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		fb.mu.Lock()
		defer fb.mu.Unlock()
		for _, c := range fb.conns {
			c.Close()
		}
	})
	return fb
}

// recvWithin receives from ch, failing the test if nothing comes within 5 seconds.
func recvWithin[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", what)
		panic("unreachable")
	}
}

func (fb *silentCancelBackend) port() int { return fb.ln.Addr().(*net.TCPAddr).Port }

func (fb *silentCancelBackend) serve(c net.Conn) {
	be := pgproto3.NewBackend(c, c)
	var msg pgproto3.FrontendMessage
	for {
		var err error
		if msg, err = be.ReceiveStartupMessage(); err != nil {
			return
		}
		if _, ok := msg.(*pgproto3.SSLRequest); ok {
			if _, err := c.Write([]byte{'N'}); err != nil {
				return
			}
			continue
		}
		break
	}
	switch m := msg.(type) {
	case *pgproto3.CancelRequest:
		opened := time.Now()
		_, _ = io.Copy(io.Discard, c) // never acknowledge: wait for the peer to give up
		fb.cancels <- silentCancel{pid: m.ProcessID, opened: opened, closed: time.Now()}
		fb.mu.Lock()
		ch := fb.answer[m.ProcessID]
		fb.mu.Unlock()
		if ch != nil {
			close(ch)
		}
		return
	case *pgproto3.StartupMessage:
	default:
		return
	}
	fb.mu.Lock()
	fb.nextPID++
	pid := fb.nextPID
	answer := make(chan struct{})
	fb.answer[pid] = answer
	fb.mu.Unlock()
	be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{{"server_version", "15.0"}, {"client_encoding", "UTF8"}, {"server_encoding", "UTF8"},
		{"DateStyle", "ISO, MDY"}, {"standard_conforming_strings", "on"}, {"integer_datetimes", "on"}, {"TimeZone", "UTC"}} {
		be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: []byte{1, 2, 3, 4}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	for {
		msg, err := be.Receive()
		if err != nil {
			fb.closed <- silentServerClose{pid: pid, at: time.Now()}
			return
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			if strings.Contains(m.String, "pg_sleep") {
				fb.sleeping <- pid
				<-answer
				be.Send(&pgproto3.ErrorResponse{Severity: "ERROR", Code: "57014", Message: "canceling statement due to user request"})
			} else {
				be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT 0")})
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				fb.closed <- silentServerClose{pid: pid, at: time.Now()}
				return
			}
		case *pgproto3.Terminate:
			return
		}
	}
}

// TestCancelWaitTimeout uses a fake server that never acknowledges a CancelRequest (it neither closes
// the cancel connection nor stops the query until the pooler gives up on the cancel). cancel_wait_timeout
// bounds how long the pooler waits for that acknowledgement:
//   - a client's own CancelRequest is forwarded to the server the client holds (its backend pid); the
//     pooler closes its cancel connection to the server, and then the client's cancel connection, after
//     about cancel_wait_timeout; the query then ends with 57014 and the client goes on.
//   - after query_timeout the pooler cancels the query; the server connection is closed only once the
//     cancel has been given up on, about cancel_wait_timeout later, not never.
func TestCancelWaitTimeout(t *testing.T) {
	const cwt = 400 * time.Millisecond
	ctx := context.Background()
	t.Run("client cancel", func(t *testing.T) {
		fb := startSilentCancelBackend(t)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.CancelWaitTimeout = config.Duration(cwt)
			c.Databases["fake"] = config.Database{Host: "127.0.0.1", Port: fb.port()}
		})
		conn := connectDB(t, tp, "fake")
		done := make(chan error, 1)
		go func() { _, err := conn.Exec(ctx, "SELECT pg_sleep(60)"); done <- err }()
		pid := recvWithin(t, fb.sleeping, "the query reaching the server")
		start := time.Now()
		if err := conn.PgConn().CancelRequest(ctx); err != nil {
			t.Fatalf("CancelRequest: %v", err)
		}
		wantElapsed(t, "the client's cancel connection was closed", time.Since(start), cwt*9/10, cwt+tmoSlack)
		fc := recvWithin(t, fb.cancels, "the cancel connection to the server ending")
		if fc.pid != pid {
			t.Fatalf("cancel reached backend %d, want %d (the one running the client's query)", fc.pid, pid)
		}
		wantElapsed(t, "the pooler gave up its unanswered cancel to the server", fc.closed.Sub(fc.opened), cwt*9/10, cwt+tmoSlack)
		wantPgError(t, recvWithin(t, done, "the canceled query ending"), "canceled query", "57014")
		if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatalf("query after the canceled one: %v", err)
		}
	})
	t.Run("query_timeout cancel", func(t *testing.T) {
		const qt = 200 * time.Millisecond
		fb := startSilentCancelBackend(t)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.CancelWaitTimeout = config.Duration(cwt)
			c.Pooler.QueryTimeout = config.Duration(qt)
			c.Databases["fake"] = config.Database{Host: "127.0.0.1", Port: fb.port()}
		})
		conn := connectDB(t, tp, "fake")
		start := time.Now()
		_, err := conn.Exec(ctx, "SELECT pg_sleep(60)")
		wantPgError(t, err, "query past query_timeout", "57014", "query_timeout")
		pid := recvWithin(t, fb.sleeping, "the query reaching the server")
		var fc silentCancel
		select {
		case fc = <-fb.cancels:
		case <-time.After(cwt + tmoSlack + time.Second):
			t.Fatal("the pooler never gave up its unanswered cancel")
		}
		if fc.pid != pid {
			t.Fatalf("cancel reached backend %d, want %d", fc.pid, pid)
		}
		wantElapsed(t, "the pooler gave up its unanswered cancel to the server", fc.closed.Sub(fc.opened), cwt*9/10, cwt+tmoSlack)
		var sc silentServerClose
		select {
		case sc = <-fb.closed:
		case <-time.After(tmoSlack):
			t.Fatal("the server connection was not closed after the cancel was given up")
		}
		if sc.pid != pid || sc.at.Before(fc.closed.Add(-50*time.Millisecond)) {
			t.Fatalf("server %d closed at %s, cancel given up at %s: want server %d closed after the cancel", sc.pid, sc.at.Sub(start), fc.closed.Sub(start), pid)
		}
		t.Logf("server closed %s after the query started", sc.at.Sub(start).Round(time.Millisecond))
	})
}
