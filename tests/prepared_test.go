package tests

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler"
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
	// Every server holds the two shared statements, whichever of the 50 clients prepared them. On the
	// event loops a server whose last ReadyForQuery the client has already read may still be on its way
	// back to the pool (listed nowhere for that moment): the count is awaited.
	var servers []pooler.ServerInfo
	eventually(t, 5*time.Second, "the pool's 5 servers listed", func() bool {
		servers = servers[:0]
		for _, sv := range tp.srv.Snapshot().Servers {
			if sv.Database == db {
				servers = append(servers, sv)
			}
		}
		return len(servers) == 5
	})
	for _, sv := range servers {
		if sv.PreparedStatements != 2 {
			t.Errorf("server %d keeps %d prepared statements, want the 2 shared ones", sv.ID, sv.PreparedStatements)
		}
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
	if err := conn.QueryRow(ctx, "SELECT length('"+big+"') + $1", 0).Scan(&n); err != nil || n != len(big) {
		t.Fatalf("large Parse of a named statement: %v, %d", err, n)
	}
	huge := strings.Repeat("y", 1100*1024) // over maxCarriedParse: streamed
	if err := conn.QueryRow(ctx, "SELECT length('"+huge+"') + $1", pgx.QueryExecModeExec, 0).Scan(&n); err != nil || n != len(huge) {
		t.Fatalf("large unnamed Parse: %v, %d", err, n)
	}
}

// TestServerStatementsDroppedBehindPooler: another client on the same server drops the pooler's shared
// statements (SQL DEALLOCATE of a pgpooler_N name, DISCARD ALL over the extended protocol, a named
// DISCARD ALL run twice); the client that uses them goes on without seeing an error, each time. A drop
// inside a function, which the pooler cannot see, costs one error that names the client's statement.
func TestServerStatementsDroppedBehindPooler(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1 // both clients share the one server
		withConsoleUsers(c)
	})
	a := connectDB(t, tp, appDB) // pgx's default mode: a cache of named statements
	b := connectDB(t, tp, appDB)
	ctx := context.Background()
	use := func(when string) {
		t.Helper()
		var n int
		if err := a.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n); err != nil || n != 42 {
			t.Fatalf("cached statement %s: %d, %v", when, n, err)
		}
	}
	use("first")

	var names []string
	rows, err := b.Query(ctx, "SELECT name FROM pg_prepared_statements WHERE name LIKE 'pgpooler\\_%'", pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if rows.Err() != nil || len(names) == 0 {
		t.Fatalf("the pooler's statements on the shared server: %v, %v", names, rows.Err())
	}
	for _, name := range names {
		mustExec(t, b, `DEALLOCATE "`+name+`"`, pgx.QueryExecModeSimpleProtocol)
	}
	use("after SQL DEALLOCATE of the pooler's names")

	// pgx itself sends statements without arguments as simple queries; ExecParams is an unnamed Parse,
	// Bind and Execute.
	pc := b.PgConn()
	if _, err := pc.ExecParams(ctx, "DISCARD ALL", nil, nil, nil, nil).Close(); err != nil {
		t.Fatal(err)
	}
	use("after DISCARD ALL over the extended protocol")

	for i := range 2 { // the second Parse finds the shared statement, which the first run dropped
		if _, err := pc.Prepare(ctx, "discard", "DISCARD ALL", nil); err != nil {
			t.Fatal(err)
		}
		if _, err := pc.ExecPrepared(ctx, "discard", nil, nil, nil).Close(); err != nil {
			t.Fatalf("named DISCARD ALL #%d: %v", i+1, err)
		}
		use(fmt.Sprintf("after named DISCARD ALL #%d", i+1))
	}
	// As on a direct connection, DISCARD ALL dropped the client's own statement too.
	_, err = pc.ExecPrepared(ctx, "discard", nil, nil, nil).Close()
	wantPgError(t, err, "Bind of a statement DISCARD ALL dropped", "26000", `"discard"`)

	// A drop the pooler cannot see (inside a function) costs the client one error, PostgreSQL's own with
	// the client's name for its statement, and the next use works.
	mustExec(t, b, "DO $$ BEGIN EXECUTE 'DEALLOCATE ALL'; END $$", pgx.QueryExecModeSimpleProtocol)
	var n int
	err = a.QueryRow(ctx, "SELECT $1::int + 1", 41).Scan(&n)
	if pe := wantPgError(t, err, "a statement dropped inside a function", "26000", "does not exist"); strings.Contains(pe.Message, "pgpooler_") {
		t.Errorf("the error names the pooler's statement: %s", pe.Message)
	}
	use("after the error for the unseen drop")

	// The shared statements are counted: "SELECT $1::int + 1" and "DISCARD ALL" at least.
	row := one(t, openConsole(t, tp, consoleAdmin).rows(t, "SHOW MEM"), "name", "prepared_statement_cache")
	if used, _ := strconv.Atoi(row["used"]); used < 2 || row["memtotal"] == "0" {
		t.Errorf("SHOW MEM prepared_statement_cache: %v, want at least 2 statements and their bytes", row)
	}
}

// TestPreparedStatementsBoundedPerServer: with max_prepared_statements = 3, a server keeps at most 3 of
// the pooler's statements between transactions, closing the least recently used ones, and a client whose
// statement was closed gets it prepared again without noticing.
func TestPreparedStatementsBoundedPerServer(t *testing.T) {
	const limit, statements = 3, 7
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.MaxPreparedStatements = limit
	})
	conn := connectDB(t, tp, appDB) // pgx's statement cache: a named statement per query text
	ctx := context.Background()
	useAll := func(round int) {
		t.Helper()
		for k := range statements {
			var n int
			if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT $1::int + %d", k), round).Scan(&n); err != nil || n != round+k {
				t.Fatalf("round %d, statement %d: %d, %v", round, k, n, err)
			}
		}
	}
	for round := range 2 {
		useAll(round)
		var onServer int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgpooler\_%'`, pgx.QueryExecModeSimpleProtocol).Scan(&onServer); err != nil {
			t.Fatal(err)
		}
		if onServer != limit {
			t.Fatalf("round %d: the server holds %d of the pooler's statements after %d were used, want max_prepared_statements = %d", round, onServer, statements, limit)
		}
	}
	if got := tp.srv.Snapshot().Servers[0].PreparedStatements; got > limit {
		t.Errorf("SHOW SERVERS prepared_statements = %d, over the limit %d", got, limit)
	}
}
