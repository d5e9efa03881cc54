package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// bigErrorSQL makes PostgreSQL answer with an ErrorResponse of about 64 MiB: 22P02, whose message quotes
// the input it could not cast.
const bigErrorSQL = "SELECT repeat('x', 64<<20)::int"

// maxWholeErrorApprox is about the largest server error, in bytes, that pgpooler reads whole
// (pooler.maxWholeError, 16 KiB).
const maxWholeErrorApprox = 16 << 10

// bigErrorUser is the role TestBigServerErrorBounded logs in as (password appPassword): its sessions
// do not write their errors to the shared PostgreSQL's log, which would otherwise get 64 MiB a query.
const bigErrorUser = "big_error"

// setupBigErrorUser creates bigErrorUser, unless it exists.
func setupBigErrorUser(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	super := superConn(t, pg)
	for _, sql := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", bigErrorUser, appPassword),
		fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", appDB, bigErrorUser),
		fmt.Sprintf("ALTER ROLE %s SET log_min_messages = 'fatal'", bigErrorUser),
		fmt.Sprintf("ALTER ROLE %s SET log_min_error_statement = 'panic'", bigErrorUser),
	} {
		if _, err := super.Exec(ctx, sql); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("%s: %v", sql, err)
		}
	}
}

// resetPeakRSS resets the peak RSS (VmHWM) of process pid to its current RSS (Linux's clear_refs, "5")
// and returns that RSS in bytes.
func resetPeakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the pooler's peak RSS: %v", err)
	}
	return rssOf(t, pid)
}

// TestBigServerErrorBounded (docs/reliability.md, "Back-pressure"): an ErrorResponse from the server is
// relayed within the per-link bound even when the relay decodes the server's errors (transaction mode
// with max_prepared_statements, or reject_session_features once a statement was refused). The pooler
// binary runs in a process of its own; the client runs bigErrorSQL in the simple and in the extended
// protocol, and gets each 64 MiB error whole (22P02, the message quoting all of the input), then
// ReadyForQuery: the next queries on the connection work. The pooler's peak RSS stays under
// backpressureBound above what it was before. Then, with max_prepared_statements, a named Parse failing
// with an error over 16 KiB gets it whole and its name can be prepared again; with
// reject_session_features, a refused statement is still refused.
func TestBigServerErrorBounded(t *testing.T) {
	setupBigErrorUser(t)
	for _, tc := range []struct {
		name, settings string
		refuseFirst    bool // send a statement reject_session_features refuses, so that the relay reads errors
	}{
		{"max_prepared_statements", "pool_mode = \"transaction\"\nmax_prepared_statements = 200", false},
		{"reject_session_features", "pool_mode = \"transaction\"\nmax_prepared_statements = 0\nreject_session_features = true", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bp := startBinaryPooler(t, tc.settings, pg.Host, pg.Port)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable", bigErrorUser, appPassword, bp.port, appDB)
			conn, err := pgconn.Connect(ctx, url)
			if err != nil {
				t.Fatalf("connect through the pooler: %v", err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
				t.Fatalf("first query: %v", err)
			}
			if tc.refuseFirst {
				_, err := conn.Exec(ctx, "LISTEN pooler_jobs").ReadAll()
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != pgerrcode.FeatureNotSupported {
					t.Fatalf("LISTEN with reject_session_features: %v; want 0A000", err)
				}
			}

			input := `"` + strings.Repeat("x", 64<<20) + `"`
			base := resetPeakRSS(t, bp.pid)
			began := time.Now()
			check := func(how string, err error) {
				t.Helper()
				var pe *pgconn.PgError
				if !errors.As(err, &pe) {
					t.Fatalf("%s %s: %v; want an ErrorResponse", how, bigErrorSQL, err)
				}
				if pe.Code != pgerrcode.InvalidTextRepresentation || !strings.Contains(pe.Message, input) {
					t.Fatalf("%s %s: SQLSTATE %s, a message of %d bytes; want 22P02 quoting all %d bytes of the input",
						how, bigErrorSQL, pe.Code, len(pe.Message), len(input)-2)
				}
			}
			_, err = conn.Exec(ctx, bigErrorSQL).ReadAll()
			check("simple protocol:", err)
			_, err = conn.ExecParams(ctx, bigErrorSQL, nil, nil, nil, nil).Close()
			check("extended protocol:", err)
			peak := procField(t, bp.pid, "status", "VmHWM")
			took := time.Since(began)

			res, err := conn.Exec(ctx, "SELECT 41 + 1").ReadAll()
			if err != nil || len(res) != 1 || len(res[0].Rows) != 1 || string(res[0].Rows[0][0]) != "42" {
				t.Fatalf("the next query on the connection: %v %v; want 42", res, err)
			}
			if _, err := conn.Prepare(ctx, "after_big_error", "SELECT $1::int + 1", nil); err != nil {
				t.Fatalf("prepare after the errors: %v", err)
			}
			rr := conn.ExecPrepared(ctx, "after_big_error", [][]byte{[]byte("1")}, nil, nil).Read()
			if rr.Err != nil || len(rr.Rows) != 1 || string(rr.Rows[0][0]) != "2" {
				t.Fatalf("the prepared statement after the errors: %v %v; want 2", rr.Rows, rr.Err)
			}
			if tc.refuseFirst {
				_, err := conn.Exec(ctx, "LISTEN pooler_jobs").ReadAll()
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != pgerrcode.FeatureNotSupported {
					t.Fatalf("LISTEN after the errors: %v; want 0A000", err)
				}
			} else {
				// A named Parse that fails with an error over 16 KiB reaches the client whole, and the name
				// can be prepared again (the tracker's side: pooler/prepare TestServerErrorPrefix).
				long := strings.Repeat("x", 2*maxWholeErrorApprox)
				_, err := conn.Prepare(ctx, "big_failure", "SELECT '"+long+"'::int", nil)
				var pe *pgconn.PgError
				if !errors.As(err, &pe) || pe.Code != pgerrcode.InvalidTextRepresentation || !strings.Contains(pe.Message, long) {
					t.Fatalf("Parse of a %d-byte literal cast to int: %v; want 22P02 quoting it", len(long), err)
				}
				if _, err := conn.Prepare(ctx, "big_failure", "SELECT 7", nil); err != nil {
					t.Fatalf("Parse again under the name of the failed one: %v", err)
				}
				rr := conn.ExecPrepared(ctx, "big_failure", nil, nil, nil).Read()
				if rr.Err != nil || len(rr.Rows) != 1 || string(rr.Rows[0][0]) != "7" {
					t.Fatalf("the statement prepared again: %v %v; want 7", rr.Rows, rr.Err)
				}
			}
			if g := peak - base; g >= backpressureBound {
				t.Fatalf("relaying two %d MiB ErrorResponses, the pooler's peak RSS grew by %.1f MiB above %.1f MiB; want under %d MiB",
					64, mib(g), mib(base), backpressureBound>>20)
			}
			t.Logf("reliability: two %d MiB ErrorResponses (simple and extended protocol) relayed whole in %s; the pooler's peak RSS grew by %.1f MiB above %.1f MiB (limit %d MiB)",
				64, roundTime(took), mib(peak-base), mib(base), backpressureBound>>20)
		})
	}
}
