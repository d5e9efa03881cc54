package tests

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestPgxStatementCacheTransactionMode: pgx's default mode (a cache of named prepared statements) with 50
// goroutines on a transaction pool of 5 servers: zero errors, and every client changes servers.
func TestPgxStatementCacheTransactionMode(t *testing.T) {
	db := isolatedDB(t, "pooler_prepared")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 5
	})
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for w := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := tryConnect(tp.url(db)) // default_query_exec_mode: cache_statement
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.Background())
			ctx := context.Background()
			for i := range 20 {
				var got, pid int
				if err := conn.QueryRow(ctx, "SELECT $1::int + $2::int, pg_backend_pid()", w, i).Scan(&got, &pid); err != nil {
					errs <- err
					return
				}
				if got != w+i {
					errs <- errors.New("wrong answer")
					return
				}
				tx, err := conn.Begin(ctx)
				if err != nil {
					errs <- err
					return
				}
				var s string
				if err := tx.QueryRow(ctx, "SELECT $1::text || 'x'", "a").Scan(&s); err != nil || s != "ax" {
					errs <- errors.Join(err, errors.New("transaction query"))
					return
				}
				if err := tx.Commit(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("pgx with its statement cache through transaction pooling: %v", err)
	}
	// Every server holds the two shared statements, whichever of the 50 clients prepared them.
	servers := 0
	for _, sv := range tp.srv.Snapshot().Servers {
		if sv.Database == db {
			servers++
			if sv.PreparedStatements != 2 {
				t.Errorf("server %d keeps %d prepared statements, want the 2 shared ones", sv.ID, sv.PreparedStatements)
			}
		}
	}
	if servers != 5 {
		t.Errorf("%d servers, want 5", servers)
	}
}

// TestPreparedStatementErrors: the errors PostgreSQL gives for named statements, through transaction
// pooling: a name reused with other text is 42P05 and the connection goes on; a Bind to an unknown name
// is 26000; after DEALLOCATE ALL the names are free again; Close lets a name be prepared anew.
func TestPreparedStatementErrors(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 2
	})
	conn := connectDB(t, tp, appDB)
	pc := conn.PgConn()
	ctx := context.Background()
	if _, err := pc.Prepare(ctx, "s1", "SELECT 1", nil); err != nil {
		t.Fatal(err)
	}
	_, err := pc.Prepare(ctx, "s1", "SELECT 2", nil)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "42P05" || pe.Message != `prepared statement "s1" already exists` {
		t.Fatalf("Parse of a name in use: %v, want 42P05 prepared statement \"s1\" already exists", err)
	}
	res := pc.ExecPrepared(ctx, "s1", nil, nil, nil).Read()
	if res.Err != nil || string(res.Rows[0][0]) != "1" {
		t.Fatalf("s1 after the refused Parse: %v %v", res.Err, res.Rows)
	}
	res = pc.ExecPrepared(ctx, "nope", nil, nil, nil).Read()
	if !errors.As(res.Err, &pe) || pe.Code != "26000" {
		t.Fatalf("Bind to an unknown name: %v, want 26000", res.Err)
	}
	if err := pc.Deallocate(ctx, "s1"); err != nil { // Close
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "s1", "SELECT 3", nil); err != nil {
		t.Fatalf("Parse after Close: %v", err)
	}
	if res = pc.ExecPrepared(ctx, "s1", nil, nil, nil).Read(); res.Err != nil || string(res.Rows[0][0]) != "3" {
		t.Fatalf("s1 redefined: %v %v", res.Err, res.Rows)
	}
	if _, err := conn.Exec(ctx, "DEALLOCATE ALL", pgx.QueryExecModeSimpleProtocol); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Prepare(ctx, "s1", "SELECT 4", nil); err != nil {
		t.Fatalf("Parse after DEALLOCATE ALL: %v", err)
	}
	if res = pc.ExecPrepared(ctx, "s1", nil, nil, nil).Read(); res.Err != nil || string(res.Rows[0][0]) != "4" {
		t.Fatalf("s1 after DEALLOCATE ALL: %v %v", res.Err, res.Rows)
	}
}

// TestPgbenchPreparedTransactionMode is issue 5's acceptance run: pgbench -M prepared with 50 clients on
// a transaction pool of 5, no failed transaction; -M simple runs in the same test for comparison (the
// TPS of both are logged, not asserted).
func TestPgbenchPreparedTransactionMode(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 5
	})
	for _, mode := range []string{"simple", "prepared"} {
		processed, failed := runPgbench(t, tp, "-M", mode, "-c", "50", "-j", "2", "-T", "10")
		if failed != 0 || processed == 0 {
			t.Fatalf("pgbench -M %s: %d processed, %d failed", mode, processed, failed)
		}
		t.Logf("pgbench -M %s -c 50 through a transaction pool of 5: %d transactions in 10 s", mode, processed)
	}
}

// TestLargeMessagesTransactionMode: a Query and an unnamed Bind larger than the pooler scans still go
// through whole in transaction mode with statement tracking on (they are streamed, not rewritten).
func TestLargeMessagesTransactionMode(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 2
	})
	conn := connectDB(t, tp, appDB)
	ctx := context.Background()
	big := strings.Repeat("x", 300*1024)
	var n int
	if err := conn.QueryRow(ctx, "SELECT length('"+big+"')", pgx.QueryExecModeSimpleProtocol).Scan(&n); err != nil || n != len(big) {
		t.Fatalf("large Query: %v, %d", err, n)
	}
	if err := conn.QueryRow(ctx, "SELECT length($1::text)", pgx.QueryExecModeExec, big).Scan(&n); err != nil || n != len(big) {
		t.Fatalf("large unnamed Bind: %v, %d", err, n)
	}
	if err := conn.QueryRow(ctx, "SELECT length($1::text) + 0", big).Scan(&n); err != nil || n != len(big) { // named (statement cache)
		t.Fatalf("large Bind of a named statement: %v, %d", err, n)
	}
}
