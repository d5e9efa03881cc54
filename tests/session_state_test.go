package tests

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// setting reads a parameter and the backend's pid through conn, in one simple-protocol query.
func setting(t testing.TB, conn *pgx.Conn, name string) (value string, pid uint32) {
	t.Helper()
	q := "SELECT pg_catalog.current_setting('" + name + "'), pg_backend_pid()"
	if err := conn.QueryRow(context.Background(), q, pgx.QueryExecModeSimpleProtocol).Scan(&value, &pid); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return value, pid
}

// TestSessionStateFollowsClient: in transaction mode, SET search_path (and statement_timeout) in one
// transaction still holds in the next one, on another server, while the server that ran the SET serves
// another client with that client's own values; RESET, SET LOCAL and rolled-back SETs behave as on a
// direct connection. Both the simple and the extended protocol's SET are carried.
func TestSessionStateFollowsClient(t *testing.T) {
	db := isolatedDB(t, "pooler_session_state")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 2
	})
	a := connectDB(t, tp, db)
	b := connectDB(t, tp, db)
	ctx := context.Background()
	defaultPath, _ := setting(t, b, "search_path")

	mustExec(t, a, "SET search_path TO pooler_a, public", pgx.QueryExecModeSimpleProtocol)
	if _, err := a.Exec(ctx, "SET statement_timeout = '7s'", pgx.QueryExecModeExec); err != nil { // extended protocol
		t.Fatal(err)
	}
	_, setPID := setting(t, a, "search_path")

	// b takes the server that ran a's SETs (the most recently used idle one) and keeps it.
	tx, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var bPID uint32
	var bPath string
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid(), current_setting('search_path')", pgx.QueryExecModeSimpleProtocol).Scan(&bPID, &bPath); err != nil {
		t.Fatal(err)
	}
	if bPID != setPID {
		t.Fatalf("b got server %d, not %d that ran a's SET: the test cannot show a server change", bPID, setPID)
	}
	if bPath != defaultPath {
		t.Fatalf("b sees search_path %q on the server a changed, want its own %q", bPath, defaultPath)
	}

	path, aPID := setting(t, a, "search_path")
	if aPID == setPID {
		t.Fatalf("a still on server %d", aPID)
	}
	if path != "pooler_a, public" {
		t.Fatalf("a's search_path on its next server is %q, want %q", path, "pooler_a, public")
	}
	if v, _ := setting(t, a, "statement_timeout"); v != "7s" {
		t.Fatalf("a's statement_timeout on its next server is %q, want 7s (set with the extended protocol)", v)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	mustExec(t, a, "RESET search_path", pgx.QueryExecModeSimpleProtocol)
	mustExec(t, a, "BEGIN; SET statement_timeout = '9s'; ROLLBACK", pgx.QueryExecModeSimpleProtocol)
	mustExec(t, a, "BEGIN; SET LOCAL search_path = pooler_local; COMMIT", pgx.QueryExecModeSimpleProtocol)
	for range 3 { // whichever server a gets
		if v, _ := setting(t, a, "search_path"); v != defaultPath {
			t.Fatalf("after RESET, a's search_path is %q, want %q", v, defaultPath)
		}
		if v, _ := setting(t, a, "statement_timeout"); v != "7s" {
			t.Fatalf("after a rolled-back SET, a's statement_timeout is %q, want 7s", v)
		}
		if v, _ := setting(t, b, "statement_timeout"); v == "7s" {
			t.Fatal("b sees a's statement_timeout")
		}
	}
	mustExec(t, a, "RESET ALL", pgx.QueryExecModeSimpleProtocol)
	if v, _ := setting(t, a, "statement_timeout"); v == "7s" {
		t.Fatal("RESET ALL did not reach a's next server")
	}
}

// TestSQLPrepareFollowsClient: in transaction mode, SQL-level PREPARE in one transaction and EXECUTE in
// the next, on another server, works; two clients may use the same name for different statements; after
// DEALLOCATE the name is gone for the client, as on a direct connection.
func TestSQLPrepareFollowsClient(t *testing.T) {
	db := isolatedDB(t, "pooler_sql_prepare")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 2
	})
	a := connectDB(t, tp, db)
	b := connectDB(t, tp, db)
	ctx := context.Background()
	simple := pgx.QueryExecModeSimpleProtocol
	mustExec(t, a, "PREPARE plan(int) AS SELECT $1 * 10", simple)
	_, setPID := setting(t, a, "search_path")

	tx, err := b.Begin(ctx) // b holds the server a prepared on
	if err != nil {
		t.Fatal(err)
	}
	var bPID uint32
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()", simple).Scan(&bPID); err != nil {
		t.Fatal(err)
	}
	if bPID != setPID {
		t.Fatalf("b got server %d, not %d", bPID, setPID)
	}
	var got int
	if err := a.QueryRow(ctx, "EXECUTE plan(4)", simple).Scan(&got); err != nil || got != 40 {
		t.Fatalf("EXECUTE on another server: %v, %d; want 40", err, got)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// b may reuse the name with its own statement, on whichever server.
	mustExec(t, b, "PREPARE plan(int) AS SELECT $1 + 1", simple)
	for range 3 {
		if err := b.QueryRow(ctx, "EXECUTE plan(4)", simple).Scan(&got); err != nil || got != 5 {
			t.Fatalf("b's EXECUTE: %v, %d; want 5", err, got)
		}
		if err := a.QueryRow(ctx, "EXECUTE plan(4)", simple).Scan(&got); err != nil || got != 40 {
			t.Fatalf("a's EXECUTE: %v, %d; want 40", err, got)
		}
	}
	mustExec(t, a, "DEALLOCATE plan", simple)
	for range 3 {
		_, err := a.Exec(ctx, "EXECUTE plan(4)", simple)
		wantPgError(t, err, "EXECUTE after DEALLOCATE", "26000")
	}
}
