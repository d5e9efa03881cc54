package tests

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// loginRawWith logs in over a raw connection with the given start-up parameters (besides user and
// database) up to the first ReadyForQuery, and says goodbye.
func loginRawWith(t *testing.T, tp *testPooler, params map[string]string) {
	t.Helper()
	c := dialRaw(t, tp)
	p := map[string]string{"user": appUser, "database": appDB}
	for k, v := range params {
		p[k] = v
	}
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: p})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	readUntilReady(t, fe)
	fe.Send(&pgproto3.Terminate{})
	_ = fe.Flush()
	c.Close()
}

// TestStartupParameterMemoryBounded: logins with ever new start-up parameter values (8,000-byte
// application_name and search_path values, each different) leave the pooler's heap bounded after they
// have gone, and SHOW MEM shows what is remembered of them, within its bounds (issue 10, finding 8).
func TestStartupParameterMemoryBounded(t *testing.T) {
	const logins = 2000
	tp := startPooler(t, func(c *config.Config) {
		transactionPool(2)(c)
		withConsoleUsers(c)
		c.Pooler.LogConnections, c.Pooler.LogDisconnections = false, false // the test keeps the log in memory
	})
	pad := strings.Repeat("x", 8000)
	loginRawWith(t, tp, map[string]string{"application_name": "warm-up"})
	base := heapInuse(true)
	for i := range logins {
		if i%2 == 0 {
			loginRawWith(t, tp, map[string]string{"application_name": strconv.Itoa(i) + pad})
		} else {
			loginRawWith(t, tp, map[string]string{"search_path": "s" + strconv.Itoa(i) + pad})
		}
	}
	var grown int64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if grown = int64(heapInuse(true)) - int64(base); grown < 10<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d logins with new 8 kB start-up parameter values, all gone, the heap is %d MiB larger; want under 10 MiB", logins, grown>>20)
		}
	}
	row := one(t, openConsole(t, tp, consoleAdmin).rows(t, "SHOW MEM"), "name", "startup_parameter_cache")
	used, _ := strconv.Atoi(row["used"])
	total, _ := strconv.Atoi(row["memtotal"])
	if used <= 0 || used > 10000 || total <= 0 || total > 4<<20 {
		t.Fatalf("SHOW MEM startup_parameter_cache %v: want some entries, at most 10000 of them and 4 MiB", row)
	}
	t.Logf("%d logins with new 8 kB values: heap +%d KiB; SHOW MEM startup_parameter_cache %v", logins, grown>>10, row)
}

// TestLoginWithNewParametersDoesNotQueue: a client logging in with start-up parameter values never seen
// before, while the only server is held in another client's transaction, logs in at once (it used to
// wait for a server to try them on and fail with 53300), and its queries then see its values, with
// DateStyle as the server normalises it (issue 10, finding 9). An invalid value that could not be tried
// at login fails the client's first query with the server's own error, and its connection.
func TestLoginWithNewParametersDoesNotQueue(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		transactionPool(1)(c)
		c.Pooler.QueryWaitTimeout = config.Duration(3 * time.Second)
	})
	ctx := context.Background()
	holder := tp.connect(t)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil { // the only server is now in holder's transaction
		t.Fatal(err)
	}
	connect := func(params string) (*pgx.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return pgx.Connect(ctx, tp.pgxURL(appDB)+params)
	}
	newcomer, err := connect("&DateStyle=sql,dmy&application_name=newcomer&search_path=newcomer_schema,public")
	if err != nil {
		t.Fatalf("login with new start-up parameter values while the pool is busy: %v", err)
	}
	defer newcomer.Close(ctx)
	invalid, err := connect("&DateStyle=no_such_style")
	if err != nil {
		t.Fatalf("login with an invalid DateStyle while the pool is busy (it cannot be tried yet): %v", err)
	}
	defer invalid.Close(ctx)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	var ds, app, path string
	if err := newcomer.QueryRow(ctx, "SELECT current_setting('DateStyle'), current_setting('application_name'), current_setting('search_path')").Scan(&ds, &app, &path); err != nil {
		t.Fatalf("newcomer's first query: %v", err)
	}
	if ds != "SQL, DMY" || app != "newcomer" || path != "newcomer_schema,public" {
		t.Fatalf("newcomer sees DateStyle=%q application_name=%q search_path=%q, want its own start-up values", ds, app, path)
	}
	if got := newcomer.PgConn().ParameterStatus("DateStyle"); got != "SQL, DMY" {
		t.Errorf("newcomer's ParameterStatus DateStyle after its first query = %q, want the server's %q", got, "SQL, DMY")
	}
	for i := range 3 { // the server goes back and forth between clients: each keeps its own values
		if err := holder.QueryRow(ctx, "SHOW DateStyle").Scan(&ds); err != nil || ds != "ISO, MDY" {
			t.Fatalf("round %d: holder's DateStyle %q, %v; want the server default", i, ds, err)
		}
		if err := newcomer.QueryRow(ctx, "SHOW DateStyle").Scan(&ds); err != nil || ds != "SQL, DMY" {
			t.Fatalf("round %d: newcomer's DateStyle %q, %v", i, ds, err)
		}
	}

	_, err = invalid.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "22023" || !strings.Contains(pgErr.Message, "DateStyle") {
		t.Fatalf("first query of the client with an invalid DateStyle: %v, want the server's 22023 naming DateStyle", err)
	}
	mustExec(t, holder, "SELECT 1") // the server is still fine

	// With the server free, a new invalid value fails the login itself, as on a direct connection. The
	// server goes back to its pool just after holder has its ReadyForQuery: wait for it.
	eventually(t, 5*time.Second, "the server idle in its pool", func() bool {
		for _, p := range tp.srv.Snapshot().Pools {
			if p.Database == appDB && p.SvIdle+p.SvUsed == 1 {
				return true
			}
		}
		return false
	})
	_, err = connect("&DateStyle=also_no_such_style")
	if !errors.As(err, &pgErr) || pgErr.Code != "22023" {
		t.Fatalf("login with an invalid DateStyle while a server is free: %v, want the server's 22023", err)
	}
}

// TestLongApplicationName: PostgreSQL truncates application_name to 63 bytes (NAMEDATALEN - 1); a client
// that logs in through the pooler with a longer one is greeted, and served, with the value PostgreSQL
// reports, as on a direct connection, in every pool mode.
func TestLongApplicationName(t *testing.T) {
	long := strings.Repeat("a", 100)
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, withMode(mode))
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, tp.pgxURL(appDB)+"&application_name="+long)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			want := long[:63]
			if got := conn.PgConn().ParameterStatus("application_name"); got != want {
				t.Errorf("ParameterStatus application_name at login: %d bytes, want the %d PostgreSQL reports", len(got), len(want))
			}
			var got string
			if err := conn.QueryRow(ctx, "SHOW application_name").Scan(&got); err != nil || got != want {
				t.Errorf("SHOW application_name: %d bytes (%v), want %d", len(got), err, len(want))
			}
		})
	}
}
