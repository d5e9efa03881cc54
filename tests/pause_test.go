package tests

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// appStats returns the pool counters and queued clients of appUser's pool on appDB.
func appStats(tp *testPooler) (xacts int64, waiting int) {
	for _, p := range tp.srv.Snapshot().Pools {
		if p.Database == appDB && p.User == appUser {
			return p.Counters.Xacts, p.ClWaiting
		}
	}
	return 0, 0
}

// TestPauseResumeUnderPgbench is the maintenance window of PgBouncer's PAUSE: while pgbench runs through
// transaction pooling, PAUSE returns once every server connection is released and closed, a DDL change
// runs straight on PostgreSQL with no pooler connection left, clients queue instead of failing, and
// after RESUME pgbench finishes with zero failed transactions.
func TestPauseResumeUnderPgbench(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 5
		c.Pooler.QueryWaitTimeout = config.Duration(time.Second) // shorter than the pause: must not fire
	})
	type result struct {
		processed, failed int
		err               error
	}
	done := make(chan result, 1)
	go func() {
		p, f, err := pgbench(tp, "-c", "10", "-j", "2", "-T", "8")
		done <- result{p, f, err}
	}()
	defer func() { <-done }() // pgbench ends before the pooler does
	eventually(t, 10*time.Second, "pgbench running through the pooler", func() bool {
		x, _ := appStats(tp)
		return x > 50
	})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tp.srv.Pause(ctx, appDB); err != nil {
		t.Fatalf("PAUSE: %v", err)
	}
	super := superConn(t, pg)
	if n := backendCount(t, super, appDB, ""); n != 0 {
		t.Fatalf("%d server connections to %s after PAUSE returned, want 0", n, appDB)
	}
	ddl, err := pgx.Connect(ctx, pg.SuperConnString(appDB))
	if err != nil {
		t.Fatal(err)
	}
	defer ddl.Close(context.Background())
	mustExec(t, ddl, "ALTER TABLE pgbench_history ADD COLUMN IF NOT EXISTS note text")
	paused, _ := appStats(tp)
	eventually(t, 10*time.Second, "pgbench clients queued behind the PAUSE", func() bool {
		_, waiting := appStats(tp)
		return waiting > 0
	})
	time.Sleep(1500 * time.Millisecond) // longer than query_wait_timeout: queued clients must not time out
	if x, _ := appStats(tp); x != paused {
		t.Fatalf("%d transactions ran while paused", x-paused)
	}
	if err := tp.srv.Resume(appDB); err != nil {
		t.Fatalf("RESUME: %v", err)
	}
	r := <-done
	done <- r
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.failed != 0 {
		t.Fatalf("pgbench: %d failed transactions across PAUSE/RESUME", r.failed)
	}
	if x, _ := appStats(tp); x <= paused {
		t.Fatalf("no transaction after RESUME (%d before, %d after)", paused, x)
	}
	t.Logf("pgbench: %d transactions, 0 failed; %d before PAUSE", r.processed, paused)
	if err := tp.srv.Resume(appDB); err == nil {
		t.Fatal("RESUME of a database that is not paused succeeded")
	}
}
