package tests

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

var poolModes = []string{"session", "transaction", "statement"}

func withMode(mode string) func(*config.Config) {
	return func(c *config.Config) { c.Pooler.PoolMode = mode }
}

// TestPgxWork runs real work with pgx through the pooler in every pool mode: simple and extended
// protocol, a transaction (not in statement mode), COPY in and out, and a server-side error that leaves
// the connection usable.
func TestPgxWork(t *testing.T) {
	for _, mode := range poolModes {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, withMode(mode))
			conn := tp.connect(t)
			ctx := context.Background()
			table := "pgx_work_" + mode
			mustExec(t, conn, "DROP TABLE IF EXISTS "+table)
			mustExec(t, conn, "CREATE TABLE "+table+" (id int PRIMARY KEY, v text)")
			for i := range 20 {
				if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1, $2)", i, fmt.Sprint("v", i)); err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
			}
			var n int
			if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE v LIKE $1", "v%").Scan(&n); err != nil || n != 20 {
				t.Fatalf("count = %d, %v; want 20", n, err)
			}
			if _, err := conn.Exec(ctx, "SELECT 1/0"); err == nil || !strings.Contains(err.Error(), "22012") {
				t.Fatalf("division by zero: got %v, want SQLSTATE 22012", err)
			}
			rows := [][]any{{100, "copied"}, {101, "copied"}}
			if c, err := conn.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "v"}, pgx.CopyFromRows(rows)); err != nil || c != 2 {
				t.Fatalf("COPY FROM: %d, %v", c, err)
			}
			var out strings.Builder
			if _, err := conn.PgConn().CopyTo(ctx, &out, "COPY "+table+" TO STDOUT"); err != nil || strings.Count(out.String(), "\n") != 22 {
				t.Fatalf("COPY TO: %d lines, %v", strings.Count(out.String(), "\n"), err)
			}
			if mode != "statement" {
				tx, err := conn.Begin(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(ctx, "DELETE FROM "+table+" WHERE id >= 100"); err != nil {
					t.Fatal(err)
				}
				if err := tx.Rollback(ctx); err != nil {
					t.Fatal(err)
				}
				if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 22 {
					t.Fatalf("after rollback count = %d, %v; want 22", n, err)
				}
			}
			mustExec(t, conn, "DROP TABLE "+table)
		})
	}
}

// TestPsqlWork drives psql through the pooler in session and transaction mode, including a transaction
// block and a meta-command that runs catalog queries.
func TestPsqlWork(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, withMode(mode))
			table := "psql_work_" + mode
			script := fmt.Sprintf(`DROP TABLE IF EXISTS %[1]s;
CREATE TABLE %[1]s (id int, v text);
BEGIN;
INSERT INTO %[1]s SELECT g, 'row' || g FROM generate_series(1, 100) g;
COMMIT;
SELECT 'total=' || count(*) FROM %[1]s;
\d %[1]s
DROP TABLE %[1]s;
`, table)
			out := runPsql(t, tp, script)
			for _, want := range []string{"total=100", "COMMIT", "Table \"public." + table + "\""} {
				if !strings.Contains(out, want) {
					t.Fatalf("psql output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// runPsql runs psql against the pooler with script on standard input and fails the test on any error.
func runPsql(t *testing.T, tp *testPooler, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-v", "ON_ERROR_STOP=1", tp.url(appDB))
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql: %v\n%s", err, out)
	}
	return string(out)
}

func mustExec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
