package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The internal queries of a lending run on the event loop (pooler/loopexchange.go): the parameter sync of
// a client whose parameters differ from its server's, server_check_query, the read-back of a
// transaction's SETs and PREPAREs, the carry of SQL-level prepared statements, and the ROLLBACK and
// server_reset_query of a server whose client left. None of them takes the server off its loop
// (LoopDetaches stays 0 with one loop), and each does what it did when it ran in a goroutine. On the
// goroutine relay (PGPOOLER_EVENT_LOOPS=0) the same behaviour is checked, without the count.

// connectWith opens a pgx connection through the pooler to db with start-up parameters params.
func connectWith(t testing.TB, tp *testPooler, db string, params map[string]string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(tp.pgxURL(db))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range params {
		cfg.RuntimeParams[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through pooler: %v\npooler log:\n%s", err, tp.logs.String())
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// wantNoDetach fails t when a server was taken off the event loops while the pooler serves clients there.
func wantNoDetach(t *testing.T, tp *testPooler, what string) {
	t.Helper()
	if !tp.cfg.Pooler.EventLoops {
		return
	}
	if n := tp.srv.LoopDetaches(); n != 0 {
		t.Fatalf("%s: %d servers detached from their loop for it; want 0 (the exchange runs on the loop)", what, n)
	}
}

// TestLoopExchangeParameterSync: two clients with different application_name and DateStyle share one
// server in transaction mode, so every lending syncs the server's parameters to its client (SET), on the
// loop; each client sees its own values every time.
func TestLoopExchangeParameterSync(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.EventLoopCount = 1 // a server never moves between loops
	})
	ctx := context.Background()
	a := connectWith(t, tp, appDB, map[string]string{"application_name": "client_a", "DateStyle": "German, DMY"})
	b := connectWith(t, tp, appDB, map[string]string{"application_name": "client_b", "DateStyle": "ISO, MDY"})
	pids := map[uint32]bool{}
	for i := range 30 {
		for _, tc := range []struct {
			conn       *pgx.Conn
			app, style string
		}{{a, "client_a", "German, DMY"}, {b, "client_b", "ISO, MDY"}} {
			var app, style string
			var pid uint32
			if err := tc.conn.QueryRow(ctx, "SELECT current_setting('application_name'), current_setting('DateStyle'), pg_backend_pid()").Scan(&app, &style, &pid); err != nil {
				t.Fatalf("round %d: %v", i, err)
			}
			if app != tc.app || style != tc.style {
				t.Fatalf("round %d: the server says application_name %q, DateStyle %q; want %q, %q", i, app, style, tc.app, tc.style)
			}
			pids[pid] = true
		}
	}
	if len(pids) != 1 {
		t.Fatalf("60 transactions ran on %d servers; want 1 (pool size 1), so that each lending syncs", len(pids))
	}
	wantNoDetach(t, tp, "60 lendings with a parameter sync")
}

// TestLoopExchangeCheckQuery: with server_check_delay 0 each lending runs server_check_query first, on
// the loop: a check query that counts in a session variable shows it ran before every transaction; a
// check that outlasts server_connect_timeout, and one whose server dies in it, each close the server and
// the client gets a new one, as in the goroutine code.
func TestLoopExchangeCheckQuery(t *testing.T) {
	const counting = "SELECT pg_catalog.set_config('pooler.checks', (coalesce(nullif(pg_catalog.current_setting('pooler.checks', true), ''), '0')::int + 1)::text, false)"
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.EventLoopCount = 1 // a server never moves between loops
		c.Pooler.ServerCheckDelay = 0
		c.Pooler.ServerCheckQuery = counting
	})
	ctx := context.Background()
	app := tp.connect(t)
	last := -1
	for i := range 20 {
		var n string
		if err := app.QueryRow(ctx, "SELECT coalesce(nullif(pg_catalog.current_setting('pooler.checks', true), ''), '0')").Scan(&n); err != nil {
			t.Fatalf("query %d: %v", i, err)
		}
		var got int
		for _, ch := range n {
			got = got*10 + int(ch-'0')
		}
		if i > 0 && got != last+1 {
			t.Fatalf("query %d: server_check_query ran %d times, then %d; want one more per lending", i, last, got)
		}
		last = got
	}
	wantNoDetach(t, tp, "20 lendings with server_check_query")

	for _, tc := range []struct{ name, query, log string }{
		{"timeout", "SELECT pg_sleep(5)", "failed its check before reuse"},
		{"dies", "SELECT pg_terminate_backend(pg_backend_pid())", "failed its check before reuse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.DefaultPoolSize = 1
				c.Pooler.EventLoopCount = 1 // a server never moves between loops
				c.Pooler.ServerCheckDelay = 0
				c.Pooler.ServerCheckQuery = tc.query
				c.Pooler.ServerConnectTimeout = config.Duration(time.Second)
			})
			app := tp.connect(t)
			seen := map[uint32]bool{}
			for i := range 3 {
				var pid uint32
				if err := app.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
					t.Fatalf("query %d with a failing server_check_query: %v\n%s", i, err, tp.logs.String())
				}
				seen[pid] = true
			}
			if len(seen) != 3 {
				t.Fatalf("3 queries with a failing server_check_query ran on %d servers; want 3", len(seen))
			}
			if !strings.Contains(tp.logs.String(), tc.log) {
				t.Fatalf("the pooler's log does not say %q", tc.log)
			}
			wantNoDetach(t, tp, "a failing server_check_query")
		})
	}
}

// TestLoopExchangeSessionState: in transaction mode a transaction's SET and PREPARE are read back from
// its server after it (pg_settings, pg_prepared_statements) and carried to the client's next server, on
// the loop; two clients on one server each keep their own.
func TestLoopExchangeSessionState(t *testing.T) {
	db := isolatedDB(t, "pooler_loop_exchange")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.EventLoopCount = 1 // a server never moves between loops
	})
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	a := connectDB(t, tp, db)
	b := connectDB(t, tp, db)
	mustExec(t, a, "SET search_path TO pooler_a, public", simple)
	mustExec(t, a, "PREPARE plan(int) AS SELECT $1 * 10", simple)
	mustExec(t, b, "PREPARE plan(int) AS SELECT $1 + 1", simple)
	for i := range 5 {
		if v, _ := setting(t, a, "search_path"); v != "pooler_a, public" {
			t.Fatalf("round %d: a's search_path is %q", i, v)
		}
		if v, _ := setting(t, b, "search_path"); v == "pooler_a, public" {
			t.Fatalf("round %d: b sees a's search_path", i)
		}
		var got int
		if err := a.QueryRow(ctx, "EXECUTE plan(4)", simple).Scan(&got); err != nil || got != 40 {
			t.Fatalf("round %d: a's EXECUTE: %v, %d; want 40", i, err, got)
		}
		if err := b.QueryRow(ctx, "EXECUTE plan(4)", simple).Scan(&got); err != nil || got != 5 {
			t.Fatalf("round %d: b's EXECUTE: %v, %d; want 5", i, err, got)
		}
	}
	wantNoDetach(t, tp, "SET and PREPARE read back and carried")
}

// TestLoopExchangeClientLeaves: in session mode a client that leaves gets its server reset
// (server_reset_query) and, when it left inside a transaction, rolled back first, on the loop; the next
// client finds the same server clean.
func TestLoopExchangeClientLeaves(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeSession
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.EventLoopCount = 1 // a server never moves between loops
		c.Pooler.ServerResetQuery = "DISCARD ALL"
	})
	ctx := context.Background()
	var pid0 uint32
	for i := range 6 {
		conn := connectWith(t, tp, appDB, nil)
		var pid uint32
		var temps int
		if err := conn.QueryRow(ctx, "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_class WHERE relname = 'pooler_reset_mark' AND relpersistence = 't')").Scan(&pid, &temps); err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		if i == 0 {
			pid0 = pid
		} else if pid != pid0 {
			t.Fatalf("client %d got server %d, not %d: the reset or rollback closed it\n%s", i, pid, pid0, tp.logs.String())
		}
		if temps != 0 {
			t.Fatalf("client %d finds the temporary table of the one before: server_reset_query did not run", i)
		}
		mustExec(t, conn, "CREATE TEMP TABLE pooler_reset_mark (x int)")
		if i%2 == 1 { // leaves inside a transaction: ROLLBACK first
			mustExec(t, conn, "BEGIN")
			mustExec(t, conn, "INSERT INTO pooler_reset_mark VALUES (1)")
		}
		if err := conn.Close(ctx); err != nil {
			t.Fatal(err)
		}
		eventually(t, 5*time.Second, "the server back in its pool", func() bool {
			for _, p := range tp.srv.Snapshot().Pools {
				if p.Database == appDB && p.SvIdle == 1 {
					return true
				}
			}
			return false
		})
	}
	wantNoDetach(t, tp, "server_reset_query and ROLLBACK after a client left")
}

// TestLoopExchangeStatementRollback: in statement mode a BEGIN gets 0A000 and its server is rolled back
// on the loop before it goes back to its pool; the next statement runs outside any transaction.
func TestLoopExchangeStatementRollback(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeStatement
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.EventLoopCount = 1
	})
	ctx := context.Background()
	app := tp.connect(t)
	for i := range 3 {
		_, err := app.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol)
		wantPgError(t, err, "BEGIN in statement mode", "0A000")
		var inTx bool
		if err := app.QueryRow(ctx, "SELECT now() <> statement_timestamp()", pgx.QueryExecModeSimpleProtocol).Scan(&inTx); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if inTx {
			t.Fatalf("round %d: the statement after a refused BEGIN ran inside a transaction: the server was not rolled back", i)
		}
	}
	wantNoDetach(t, tp, "ROLLBACK after a BEGIN in statement mode")
}
