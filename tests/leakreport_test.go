package tests

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The leak report (pgpooler's own; pooler/leakreport.go, pooler/holders.go): what transaction pooling
// breaks, counted, logged and shown.

func init() {
	consoleColumns["SESSION_FEATURES"] = "database:s user:s pool_mode:s feature:s seen:N refused:N passed:N clients:N"
	consoleColumns["HOLDERS"] = "database:s user:s id:i ptr:s link:s addr:s port:i application_name:s state:s " +
		"held_since:T hold:i hold_us:i session_features:s"
}

// leakSecret is in every query text of these tests: it must never reach the log.
const leakSecret = "leak_secret_7f3a"

// leakStatements use each session-only feature; the first is sent twice.
var leakStatements = []struct{ sql, feature string }{
	{"LISTEN " + leakSecret, "listen"},
	{"LISTEN " + leakSecret + "_2", "listen"},
	{"SELECT pg_advisory_lock(7317001) /* " + leakSecret + " */", "advisory_lock"},
	{"CREATE TEMP TABLE " + leakSecret + "_tmp (id int)", "temp_table"},
	{"DECLARE " + leakSecret + "_c CURSOR WITH HOLD FOR SELECT 1", "hold_cursor"},
}

// featureLogLines returns the lines of log that report a first use of feature by application app.
func featureLogLines(log, app, feature string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "session feature used") && strings.Contains(line, "application_name="+app) &&
			strings.Contains(line, "feature="+feature+" ") {
			n++
		}
	}
	return n
}

// TestLeakReportSessionFeatures: in transaction mode every use of a session-only feature is counted per
// pool and feature in SHOW SESSION_FEATURES and pgpooler_session_features_total, as passed to the server
// or, with reject_session_features, as refused; over the simple protocol (client a) and the extended one
// (client b), with and without prepared-statement tracking; clients counts distinct clients. The log has
// one line per client and feature, with the client's application_name, user, database and address, and
// no query text. Statement mode counts as transaction mode does; in session mode nothing is counted.
func TestLeakReportSessionFeatures(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		mode        string
		reject      bool
		maxPrepared int
	}{
		{config.PoolModeTransaction, false, 200}, {config.PoolModeTransaction, true, 200},
		{config.PoolModeTransaction, false, 0}, {config.PoolModeTransaction, true, 0},
		{config.PoolModeStatement, false, 200}, {config.PoolModeSession, false, 200},
	} {
		t.Run(fmt.Sprintf("%s/reject=%v/max_prepared_statements=%d", tc.mode, tc.reject, tc.maxPrepared), func(t *testing.T) {
			tp, base := startMetricsPooler(t, pg, func(c *config.Config) {
				withConsoleUsers(c)
				c.Pooler.PoolMode = tc.mode
				c.Pooler.DefaultPoolSize = 2
				c.Pooler.RejectSessionFeatures = tc.reject
				c.Pooler.MaxPreparedStatements = tc.maxPrepared
			})
			conns := map[string]*pgx.Conn{}
			for _, app := range []string{"leaky-a", "leaky-b"} {
				conn, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&application_name="+app)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close(context.Background()) })
				conns[app] = conn
			}
			run := func(app, sql string, mode pgx.QueryExecMode) {
				t.Helper()
				_, err := conns[app].Exec(ctx, sql, mode)
				if tc.reject && tc.mode != config.PoolModeSession {
					wantPgError(t, err, sql, pgerrcode.FeatureNotSupported)
				} else if err != nil {
					t.Fatalf("%s: %v", sql, err)
				}
			}
			for _, st := range leakStatements {
				run("leaky-a", st.sql, pgx.QueryExecModeSimpleProtocol)
			}
			run("leaky-b", "LISTEN "+leakSecret, pgx.QueryExecModeExec) // a Parse
			// Not session features: the transaction-scoped forms, and the words in a literal.
			mustExec(t, conns["leaky-b"], "SELECT pg_advisory_xact_lock(7317002), 'LISTEN x'")

			c := openConsole(t, tp, consoleAdmin)
			rows := c.rows(t, "SHOW SESSION_FEATURES")
			mfs := scrape(t, base)
			if tc.mode == config.PoolModeSession {
				if len(rows) != 0 {
					t.Errorf("session mode: SHOW SESSION_FEATURES has rows %v", rows)
				}
				if mfs["pgpooler_session_features_total"] != nil {
					t.Errorf("session mode: pgpooler_session_features_total is exported: %v", mfs["pgpooler_session_features_total"])
				}
				if strings.Contains(tp.logs.String(), "session feature used") {
					t.Errorf("session mode: a session feature was logged")
				}
				return
			}
			want := map[string][2]int{"listen": {3, 2}, "advisory_lock": {1, 1}, "temp_table": {1, 1}, "hold_cursor": {1, 1}}
			if len(rows) != len(want) {
				t.Errorf("SHOW SESSION_FEATURES: %d rows, want %d: %v", len(rows), len(want), rows)
			}
			action := "passed"
			if tc.reject {
				action = "refused"
			}
			for feature, w := range want {
				r := one(t, rows, "database", appDB, "user", appUser, "feature", feature)
				seen, refused, passed := fmt.Sprint(w[0]), "0", fmt.Sprint(w[0])
				if tc.reject {
					refused, passed = passed, "0"
				}
				if r["seen"] != seen || r["refused"] != refused || r["passed"] != passed || r["clients"] != fmt.Sprint(w[1]) || r["pool_mode"] != tc.mode {
					t.Errorf("SHOW SESSION_FEATURES %s: %v, want seen %s refused %s passed %s clients %d", feature, r, seen, refused, passed, w[1])
				}
				labels := map[string]string{"database": appDB, "user": appUser, "feature": feature, "action": action}
				if got := sample(mfs, "pgpooler_session_features_total", labels); got != float64(w[0]) {
					t.Errorf("pgpooler_session_features_total%v = %v, want %d", labels, got, w[0])
				}
			}

			log := tp.logs.String()
			if strings.Contains(log, leakSecret) {
				t.Errorf("the log shows query text (%s)", leakSecret)
			}
			for _, st := range leakStatements {
				if n := featureLogLines(log, "leaky-a", st.feature); n != 1 {
					t.Errorf("%d log lines for leaky-a's first %s, want 1", n, st.feature)
				}
			}
			if n := featureLogLines(log, "leaky-b", "listen"); n != 1 {
				t.Errorf("%d log lines for leaky-b's first listen, want 1", n)
			}
			for _, line := range strings.Split(log, "\n") {
				if strings.Contains(line, "session feature used") &&
					!(strings.Contains(line, "user="+appUser) && strings.Contains(line, "database="+appDB) &&
						strings.Contains(line, "addr=127.0.0.1:") && strings.Contains(line, "action="+action)) {
					t.Errorf("log line without user, database, address or action %s: %s", action, line)
				}
			}
		})
	}
}

// TestLeakReportHolders: with pool_size 1, a client idle in transaction holds the only server: SHOW
// HOLDERS lists it (over pgconn and psql). While nobody waits, nothing is logged; once another client
// waits, the log names the holder (application_name, address, state idle in transaction, no query text),
// and pgpooler_pools_longest_hold_seconds is above 0.
func TestLeakReportHolders(t *testing.T) {
	ctx := context.Background()
	tp, base := startMetricsPooler(t, pg, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
	})
	holder, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&application_name=holder-app")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT '"+leakSecret+"'"); err != nil {
		t.Fatal(err)
	}

	c := openConsole(t, tp, consoleAdmin)
	var h map[string]string
	eventually(t, 10*time.Second, "SHOW HOLDERS lists the client idle in transaction", func() bool {
		rows := find(c.rows(t, "SHOW HOLDERS"), "application_name", "holder-app")
		if len(rows) == 1 {
			h = rows[0]
		}
		return h != nil && h["state"] == "idle in transaction"
	})
	if h["database"] != appDB || h["user"] != appUser || h["addr"] != "127.0.0.1" || h["held_since"] == "NULL" || !strings.HasPrefix(h["link"], "s") {
		t.Errorf("SHOW HOLDERS row %v", h)
	}
	psqlCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(psqlCtx, "psql", "-X", "-h", "127.0.0.1", "-p", strconv.Itoa(tp.port), "-U", consoleAdmin, "pgbouncer", "-c", "SHOW HOLDERS").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "holder-app") || !strings.Contains(string(out), "idle in transaction") {
		t.Errorf("psql SHOW HOLDERS: %v\n%s", err, out)
	}
	// A negative: no holders line while nobody waits. The janitor looks every 200 ms; a window of
	// several of its rounds, with the holder in place, must stay quiet.
	time.Sleep(time.Second)
	if strings.Contains(tp.logs.String(), "servers are held by") {
		t.Fatalf("holders logged while no client waits:\n%s", tp.logs.String())
	}

	waiter, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&application_name=waiter-app")
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close(ctx)
	done := make(chan error, 1)
	go func() { _, err := waiter.Exec(ctx, "SELECT 1"); done <- err }()

	var line string
	eventually(t, 10*time.Second, "the holders line in the log", func() bool {
		for _, l := range strings.Split(tp.logs.String(), "\n") {
			if strings.Contains(l, "servers are held by") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"database=" + appDB, "user=" + appUser, "cl_waiting=1", "holders=1", "idle_in_transaction=1", "holder-app", "addr=127.0.0.1:", "idle in transaction"} {
		if !strings.Contains(line, want) {
			t.Errorf("holders line without %q: %s", want, line)
		}
	}
	if strings.Contains(tp.logs.String(), leakSecret) {
		t.Errorf("the log shows query text (%s)", leakSecret)
	}
	mfs := scrape(t, base)
	if got := sample(mfs, "pgpooler_pools_longest_hold_seconds", map[string]string{"database": appDB, "user": appUser}); got <= 0 {
		t.Errorf("pgpooler_pools_longest_hold_seconds = %v, want > 0", got)
	}
	if rows := find(c.rows(t, "SHOW HOLDERS"), "application_name", "waiter-app"); len(rows) != 0 {
		t.Errorf("the waiting client is listed as a holder: %v", rows)
	}

	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the waiting client's query: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting client did not get the server after the holder's commit")
	}
}

// TestLeakReportUncarriedPrepare: a PREPARE sent in one query string with other statements is SQL the
// pooler cannot carry to the client's next server (running it again would run the others); in
// transaction mode it is counted as uncarried_prepare, passed (reject_session_features does not refuse
// it), and logged once for the client. A PREPARE on its own is carried and not counted.
func TestLeakReportUncarriedPrepare(t *testing.T) {
	ctx := context.Background()
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.RejectSessionFeatures = true
	})
	conn, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&application_name=preparer")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, sql := range []string{
		"PREPARE leak_single AS SELECT 1",
		"PREPARE leak_multi AS SELECT 2; SELECT 3",
		"SELECT 4", // the client's next link: the previous transaction's statements are read back by then
	} {
		if _, err := conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	c := openConsole(t, tp, consoleAdmin)
	var rows []map[string]string
	eventually(t, 10*time.Second, "uncarried_prepare in SHOW SESSION_FEATURES", func() bool {
		rows = c.rows(t, "SHOW SESSION_FEATURES")
		return len(find(rows, "feature", "uncarried_prepare")) > 0
	})
	if len(rows) != 1 {
		t.Errorf("SHOW SESSION_FEATURES rows %v, want only uncarried_prepare", rows)
	}
	r := one(t, rows, "feature", "uncarried_prepare")
	if r["seen"] != "1" || r["passed"] != "1" || r["refused"] != "0" || r["clients"] != "1" {
		t.Errorf("uncarried_prepare row %v, want seen 1, passed 1, clients 1", r)
	}
	if n := featureLogLines(tp.logs.String(), "preparer", "uncarried_prepare"); n != 1 {
		t.Errorf("%d log lines for the uncarried PREPARE, want 1", n)
	}
}
