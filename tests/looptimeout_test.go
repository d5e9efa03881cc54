package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// relay names the relay a test runs its clients on: the goroutine relay (event_loops off) or the event
// loops (event_loops on, with what loopCovered needs: server_tls_sslmode = disable and, in transaction
// mode, max_prepared_statements = 0).
type relay struct{ loops bool }

func (r relay) name() string {
	if r.loops {
		return "event loops"
	}
	return "goroutines"
}

// edit sets the relay in a test's configuration; call it last in the test's edit.
func (r relay) edit(c *config.Config) {
	c.Pooler.EventLoops = r.loops
	if r.loops {
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.MaxPreparedStatements = 0
	}
}

// served fails the test on the event loops unless tp serves connections there (Server.LoopConns: the
// clients enrolled on the loops and their servers); call it while a client is logged in.
func (r relay) served(t testing.TB, tp *testPooler) {
	t.Helper()
	if !r.loops {
		return
	}
	eventually(t, 2*time.Second, "the client served on the event loops (LoopConns > 0)", func() bool { return tp.srv.LoopConns() > 0 })
}

// eachRelay runs f as a subtest on the goroutine relay and on the event loops.
func eachRelay(t *testing.T, f func(t *testing.T, r relay)) {
	for _, r := range []relay{{}, {loops: true}} {
		t.Run(r.name(), func(t *testing.T) { f(t, r) })
	}
}

// TestEventLoopsClientIdleTimeoutSession: in session mode on the event loops, a client idle past
// client_idle_timeout while it holds its server gets FATAL 57P05 and is closed, and its server goes
// back to the pool (server_reset_query, then SHOW POOLS sv_idle 1): the next client gets the same
// backend.
func TestEventLoopsClientIdleTimeoutSession(t *testing.T) {
	const timeout = 300 * time.Millisecond
	r := relay{loops: true}
	db := isolatedDB(t, timeoutsDB)
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeSession
		c.Pooler.ClientIdleTimeout = config.Duration(timeout)
		r.edit(c)
	})
	conn := connectDB(t, tp, db)
	pid := serverPID(t, conn)
	r.served(t, tp)
	er, elapsed := awaitFatalClose(t, conn, time.Now(), timeout+tmoSlack+time.Second)
	if er.Severity != "FATAL" || er.Code != "57P05" || !strings.Contains(er.Message, "client_idle_timeout") {
		t.Fatalf("idle session-mode client got %s %s %q, want FATAL 57P05 naming client_idle_timeout", er.Severity, er.Code, er.Message)
	}
	wantElapsed(t, "client_idle_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)

	con := openConsole(t, tp, consoleAdmin)
	eventually(t, 5*time.Second, "SHOW POOLS: the idle client's server back in the pool (sv_idle 1, cl_active 0)", func() bool {
		p := one(t, con.rows(t, "SHOW POOLS"), "database", db, "user", appUser)
		return p["sv_idle"] == "1" && p["sv_active"] == "0" && p["cl_active"] == "0"
	})
	next := connectDB(t, tp, db)
	if got := serverPID(t, next); got != pid {
		t.Fatalf("the next client got backend %d, want %d (the timed-out client's server, back in the pool)", got, pid)
	}
	if _, err := next.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
}

// TestEventLoopsIdleTimeoutReload: a RELOAD that turns client_idle_timeout off spares a client already
// idle on the event loops with its timer pending (it is not closed after twice the old timeout), and
// one that turns it on again applies from the client's next message: idle past it after a query, the
// client gets FATAL 57P05 and is closed.
func TestEventLoopsIdleTimeoutReload(t *testing.T) {
	const timeout = 300 * time.Millisecond
	r := relay{loops: true}
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.ClientIdleTimeout = config.Duration(timeout)
		r.edit(c)
	})
	reload := func(d time.Duration) {
		t.Helper()
		cfg := *tp.cfg
		cfg.Pooler.ClientIdleTimeout = config.Duration(d)
		if err := tp.srv.Reload(&cfg); err != nil {
			t.Fatalf("RELOAD with client_idle_timeout %s: %v", d, err)
		}
	}
	ctx := context.Background()
	conn := tp.connect(t)
	r.served(t, tp) // its timer armed at login
	reload(0)
	time.Sleep(2 * timeout)
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatalf("query %s after client_idle_timeout was turned off by a RELOAD: %v", 2*timeout, err)
	}
	reload(timeout)
	if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	er, elapsed := awaitFatalClose(t, conn, time.Now(), timeout+tmoSlack+time.Second)
	if er.Severity != "FATAL" || er.Code != "57P05" || !strings.Contains(er.Message, "client_idle_timeout") {
		t.Fatalf("idle client after client_idle_timeout was set again got %s %s %q, want FATAL 57P05", er.Severity, er.Code, er.Message)
	}
	wantElapsed(t, "client_idle_timeout fired", elapsed, timeout*9/10, timeout+tmoSlack)
}
