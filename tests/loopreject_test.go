package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsRejectSessionFeatures: reject_session_features (pgpooler's own key) on the event loops
// (event_loops), the client enrolled there (LoopConns), in transaction mode with max_prepared_statements
// 0 and > 0 and in statement mode: LISTEN, a session-level advisory lock and a temporary table are
// refused with 0A000 naming the pool mode, over the simple and the extended protocol, and the server is
// left clean (no advisory lock, no channel, no temporary table); the transaction-scoped forms run. A
// Query longer than session.MaxScannedQuery is not scanned, on the loops as on the goroutine relay: it
// runs.
func TestEventLoopsRejectSessionFeatures(t *testing.T) {
	for _, tc := range []struct {
		mode        string
		maxPrepared int
	}{{config.PoolModeTransaction, 0}, {config.PoolModeTransaction, 200}, {config.PoolModeStatement, 200}} {
		t.Run(fmt.Sprintf("%s/max_prepared_statements=%d", tc.mode, tc.maxPrepared), func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = tc.mode
				c.Pooler.DefaultPoolSize = 1
				c.Pooler.MaxPreparedStatements = tc.maxPrepared
				c.Pooler.RejectSessionFeatures = true
				c.Pooler.ServerTLSSSLMode = "disable"
				c.Pooler.EventLoops = true
			})
			ctx := context.Background()
			base := tp.srv.LoopConns()
			conn := tp.connect(t)
			eventually(t, 5*time.Second, "the client with reject_session_features enrolled on the loops (LoopConns above its count before)", func() bool {
				return tp.srv.LoopConns() > base
			})
			modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec}
			if tc.maxPrepared > 0 {
				modes = append(modes, pgx.QueryExecModeCacheStatement)
			}
			refused := []struct{ sql, mentions string }{
				{"LISTEN loop_jobs", "LISTEN"},
				{"SELECT pg_advisory_lock(424244)", "advisory lock"},
				{"CREATE TEMP TABLE loop_reject_tmp (id int)", "temporary table"},
			}
			for _, mode := range modes {
				for _, st := range refused {
					_, err := conn.Exec(ctx, st.sql, mode)
					wantPgError(t, err, st.sql+" "+mode.String(), pgerrcode.FeatureNotSupported, st.mentions, tc.mode+" pooling mode")
				}
				var locks, channels, temps int
				if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), (SELECT count(*) FROM pg_listening_channels()), (SELECT count(*) FROM pg_class WHERE relname = 'loop_reject_tmp')", mode).Scan(&locks, &channels, &temps); err != nil {
					t.Fatal(err)
				}
				if locks != 0 || channels != 0 || temps != 0 {
					t.Fatalf("%s: after the refused statements the server holds %d advisory locks, listens on %d channels, has %d temporary tables; want none", mode, locks, channels, temps)
				}
				if _, err := conn.Exec(ctx, "SELECT pg_advisory_xact_lock(424244)", mode); err != nil {
					t.Fatalf("%s: transaction-scoped advisory lock: %v", mode, err)
				}
			}
			if n := advisoryLocks(t); n != 0 {
				t.Errorf("%d advisory locks held after the refused pg_advisory_lock: it ran", n)
			}

			// Past the scanned length the text is not read: the statement runs, as on the goroutine relay.
			long := "LISTEN loop_long /* " + strings.Repeat("x", 70<<10) + " */"
			if _, err := conn.Exec(ctx, long, pgx.QueryExecModeSimpleProtocol); err != nil {
				t.Fatalf("a LISTEN longer than the scanned length: %v; want it run (not scanned)", err)
			}
			mustExec(t, conn, "UNLISTEN *", pgx.QueryExecModeSimpleProtocol)
		})
	}
}
