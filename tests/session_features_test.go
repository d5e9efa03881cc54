package tests

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// sessionFeatureStatements are statements whose effect outlives the transaction, each with a word of
// the error reject_session_features gives for it.
var sessionFeatureStatements = []struct{ sql, mentions string }{
	{"LISTEN pooler_jobs", "LISTEN"},
	{"SELECT pg_advisory_lock(424242)", "advisory lock"},
	{"SELECT pg_try_advisory_lock_shared(424242)", "advisory lock"},
	{"CREATE TEMP TABLE pooler_session_tmp (id int)", "temporary table"},
	{"DECLARE pooler_c CURSOR WITH HOLD FOR SELECT 1", "WITH HOLD"},
	{"LOAD 'auto_explain'", "LOAD"},
}

// advisoryLocks counts the advisory locks held in the backend, read directly.
func advisoryLocks(t testing.TB) int {
	t.Helper()
	super := superConn(t, pg)
	var n int
	if err := super.QueryRow(context.Background(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRejectSessionFeatures: with reject_session_features in transaction mode, each statement whose
// effect outlives the transaction gets ERROR 0A000 with a hint, over the simple and the extended
// protocol, with and without prepared-statement tracking, and is not run on the server; inside a
// transaction the error aborts it as PostgreSQL's own errors do. The transaction-scoped forms still work.
func TestRejectSessionFeatures(t *testing.T) {
	ctx := context.Background()
	for _, maxPrepared := range []int{200, 0} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement} {
			if maxPrepared == 0 && mode == pgx.QueryExecModeCacheStatement {
				continue // named statements need tracking in transaction mode
			}
			t.Run(fmt.Sprintf("max_prepared_statements=%d/%s", maxPrepared, mode), func(t *testing.T) {
				tp := startPooler(t, func(c *config.Config) {
					c.Pooler.PoolMode = config.PoolModeTransaction
					c.Pooler.DefaultPoolSize = 1
					c.Pooler.MaxPreparedStatements = maxPrepared
					c.Pooler.RejectSessionFeatures = true
				})
				conn := tp.connect(t)
				for _, st := range sessionFeatureStatements {
					_, err := conn.Exec(ctx, st.sql, mode)
					pe := wantPgError(t, err, st.sql, pgerrcode.FeatureNotSupported, st.mentions, "transaction pooling mode")
					if pe.Hint == "" {
						t.Errorf("%s: no hint", st.sql)
					}
				}
				if n := advisoryLocks(t); n != 0 {
					t.Errorf("%d advisory locks held after the refused pg_advisory_lock: it ran", n)
				}
				var channels int
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_listening_channels()", mode).Scan(&channels); err != nil {
					t.Fatal(err)
				}
				if channels != 0 {
					t.Errorf("the server listens on %d channels after the refused LISTEN", channels)
				}

				// Inside a transaction the error aborts it, and the client's next statement says so.
				tx, err := conn.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, "SELECT 1", mode); err != nil {
					t.Fatal(err)
				}
				_, err = tx.Exec(ctx, "LISTEN pooler_jobs", mode)
				wantPgError(t, err, "LISTEN in a transaction", pgerrcode.FeatureNotSupported)
				_, err = tx.Exec(ctx, "SELECT 2", mode)
				wantPgError(t, err, "a statement after the refused one", pgerrcode.InFailedSQLTransaction)
				if err := tx.Rollback(ctx); err != nil {
					t.Fatal(err)
				}

				// What ends with the transaction is allowed.
				tx, err = conn.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, sql := range []string{
					"SELECT pg_advisory_xact_lock(424242)",
					"CREATE TEMP TABLE pooler_xact_tmp (id int) ON COMMIT DROP",
					"DECLARE pooler_c CURSOR FOR SELECT 1",
					"SELECT 'LISTEN x', 'pg_advisory_lock(1)'",
				} {
					if _, err := tx.Exec(ctx, sql, mode); err != nil {
						t.Fatalf("%s: %v", sql, err)
					}
				}
				if err := tx.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// TestSessionFeaturesAllowed: without reject_session_features (the default) transaction mode runs
// such statements, as PgBouncer does; in session mode reject_session_features changes nothing.
func TestSessionFeaturesAllowed(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		reject bool
	}{{config.PoolModeTransaction, false}, {config.PoolModeSession, true}} {
		t.Run(tc.mode, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = tc.mode
				c.Pooler.DefaultPoolSize = 1
				c.Pooler.RejectSessionFeatures = tc.reject
			})
			conn := tp.connect(t)
			mustExec(t, conn, "SELECT pg_advisory_lock(424243)")
			if n := advisoryLocks(t); n != 1 {
				t.Errorf("%d advisory locks held, want the 1 just taken", n)
			}
			mustExec(t, conn, "SELECT pg_advisory_unlock(424243)")
			mustExec(t, conn, "LISTEN pooler_jobs")
			mustExec(t, conn, "UNLISTEN *")
		})
	}
}
