package tests

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsTransactionMode runs clients on the event loops (event_loops, experimental): pgbench -S
// and pgx queries in transaction mode with max_prepared_statements = 0, every transaction answered, the
// clients enrolled on the loops while logged in (LoopConns), and SHOW POOLS counting the client and its
// server between and inside transactions as the goroutine relay does.
func TestEventLoopsTransactionMode(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 5
		c.Pooler.MaxPreparedStatements = 0
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.EventLoops = true
		c.Pooler.EventLoopCount = 2 // clients on both loops: servers handed between them
	})
	processed, failed := runPgbench(t, tp, "-S", "-c", "10", "-j", "2", "-t", "200")
	if processed != 2000 || failed != 0 {
		t.Fatalf("pgbench -S -c 10 -t 200 on the loops: %d processed, %d failed; want 2000 and 0", processed, failed)
	}

	ctx := context.Background()
	app := tp.connect(t)
	if n := tp.srv.LoopConns(); n < 1 {
		t.Fatalf("LoopConns = %d with a logged-in client; want it on the loops", n)
	}
	for i := range 20 {
		var got int
		if err := app.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("query %d: %d, %v", i, got, err)
		}
	}
	if _, err := app.Exec(ctx, "SET application_name = 'loops'"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := app.QueryRow(ctx, "SHOW application_name").Scan(&name); err != nil || name != "loops" {
		t.Fatalf("application_name after SET on the loops: %q, %v; want loops", name, err)
	}

	con := openConsole(t, tp, consoleAdmin)
	pool := func() map[string]string { return one(t, con.rows(t, "SHOW POOLS"), "database", appDB, "user", appUser) }
	eventually(t, 5*time.Second, "SHOW POOLS between transactions: 1 client, no active server", func() bool {
		p := pool()
		return p["cl_active"] == "1" && p["sv_active"] == "0" && p["cl_waiting"] == "0"
	})
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if p := pool(); p["cl_active"] != "1" || p["sv_active"] != "1" {
		t.Errorf("SHOW POOLS inside a transaction: %v; want cl_active 1, sv_active 1", p)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the server back in its pool after COMMIT", func() bool { return pool()["sv_active"] == "0" })
	stats := one(t, con.rows(t, "SHOW STATS_TOTALS"), "database", appDB)
	if n, _ := strconv.Atoi(stats["xact_count"]); n < 2000+20 {
		t.Errorf("SHOW STATS_TOTALS xact_count = %s, want at least %d", stats["xact_count"], 2000+20)
	}
}

// TestEventLoopsServerBackBeforeReady: on the loops, a client that has read the ReadyForQuery ending its
// transaction finds the server back in its pool (SHOW POOLS sv_idle 1 at once, pool_size 1), as with
// PgBouncer's one thread, so that a login right after it can try its start-up parameters there
// (TestStartupParameters). Before, the loop released the server after writing the ReadyForQuery, and a
// client quick enough saw it still active.
func TestEventLoopsServerBackBeforeReady(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.MaxPreparedStatements = 0
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.EventLoops = true
	})
	ctx := context.Background()
	app := tp.connect(t)
	for i := range 300 {
		if _, err := app.Exec(ctx, "SELECT 1"); err != nil {
			t.Fatal(err)
		}
		if i == 0 && tp.srv.LoopConns() < 2 {
			t.Fatalf("LoopConns = %d after a transaction; want the client and its server on the loops", tp.srv.LoopConns())
		}
		for _, p := range tp.srv.Snapshot().Pools {
			if p.Database == appDB && p.SvIdle != 1 {
				t.Fatalf("transaction %d: the client has its ReadyForQuery, and the pool has %d idle servers (%d active); want 1", i, p.SvIdle, p.SvActive)
			}
		}
	}
}
