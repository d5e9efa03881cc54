package tests

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsPreparedTransactionMode: with max_prepared_statements > 0 (PgBouncer doc/config.md) a
// transaction-mode client is served on the event loops (event_loops), its protocol-level prepared
// statements tracked there: pgbench -M prepared with more clients than servers answers every
// transaction, and a pgx client (named statements of its statement cache, an unnamed one, a duplicate
// name's 42P05) is enrolled on the loops (LoopConns counts it) and gets its answers.
func TestEventLoopsPreparedTransactionMode(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 5
		c.Pooler.MaxPreparedStatements = 100
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.EventLoops = true
	})
	processed, failed := runPgbench(t, tp, "-M", "prepared", "-S", "-c", "20", "-j", "2", "-t", "100")
	if processed != 2000 || failed != 0 {
		t.Fatalf("pgbench -M prepared -S -c 20 -t 100 on the loops: %d processed, %d failed; want 2000 and 0", processed, failed)
	}
	processed, failed = runPgbench(t, tp, "-M", "prepared", "-c", "5", "-j", "1", "-t", "50")
	if processed != 250 || failed != 0 {
		t.Fatalf("pgbench -M prepared (TPC-B) -c 5 -t 50 on the loops: %d processed, %d failed; want 250 and 0", processed, failed)
	}

	// The servers pgbench left stay enrolled (resident); a client served on the loops adds one conn.
	base := tp.srv.LoopConns()
	ctx := context.Background()
	app := tp.connect(t)
	defer app.Close(ctx)
	eventually(t, 5*time.Second, "the client with max_prepared_statements > 0 enrolled on the loops (LoopConns above its count before)", func() bool {
		return tp.srv.LoopConns() > base
	})
	for i := range 20 {
		var got int
		if err := app.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("named statement, query %d: %d, %v", i, got, err)
		}
		if err := app.QueryRow(ctx, "SELECT $1::int + 2", pgx.QueryExecModeExec, i).Scan(&got); err != nil || got != i+2 {
			t.Fatalf("unnamed statement, query %d: %d, %v", i, got, err)
		}
	}
	if _, err := app.Prepare(ctx, "mine", "SELECT $1::int * 3"); err != nil {
		t.Fatal(err)
	}
	var got int
	if err := app.QueryRow(ctx, "mine", 7).Scan(&got); err != nil || got != 21 {
		t.Fatalf("client-named statement: %d, %v; want 21", got, err)
	}
	if _, err := app.PgConn().Prepare(ctx, "mine", "SELECT 2", nil); sqlState(err) != "42P05" {
		t.Fatalf("Parse of a name the client already uses: %v; want 42P05", err)
	}
	if err := app.QueryRow(ctx, "mine", 5).Scan(&got); err != nil || got != 15 {
		t.Fatalf("client-named statement after the duplicate's error: %d, %v; want 15", got, err)
	}

	// Long messages: a Bind of a named statement over session.MaxScannedQuery is streamed with its names
	// rewritten, a named Parse of 300 KiB waits whole in the loop's buffer, and one over what the loop
	// rewrites (loopMaxRewritten, 896 KiB) ends the client with 54000 once that much is read, instead of
	// reaching the server under the client's name.
	big := strings.Repeat("x", 300<<10)
	if err := app.QueryRow(ctx, "SELECT length($1::text) + 0", big).Scan(&got); err != nil || got != len(big) {
		t.Fatalf("long Bind of a named statement: %d, %v", got, err)
	}
	if err := app.QueryRow(ctx, "SELECT length('"+big+"') + $1", 0).Scan(&got); err != nil || got != len(big) {
		t.Fatalf("long Parse of a named statement: %d, %v", got, err)
	}
	huge := strings.Repeat("y", 900<<10)
	_, err := app.PgConn().Prepare(ctx, "huge", "SELECT length('"+huge+"')", nil)
	if sqlState(err) != "54000" {
		t.Fatalf("named Parse of %d bytes on the loops: %v; want 54000", len(huge), err)
	}
	if err := app.Ping(ctx); err == nil {
		t.Fatal("the client goes on after its over-long named Parse; want it closed")
	}
}
