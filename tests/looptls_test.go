package tests

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// TestEventLoopsTLSServer: with event_loops on, clients whose servers use TLS (server_tls_sslmode
// require, and prefer against a PostgreSQL with ssl = on) are served on the loops, their servers
// resident there (LoopConns counts both), and pg_stat_ssl shows every server connection encrypted:
// pgbench -S and pgx in transaction mode; SETs that make one server go from client to client through a
// parameter sync (on the loop, through its TLS layer); results of several MB, in many rows and in one
// value; and a server terminated mid-transaction, idle or running a query, ends its client with an error
// (the server's own FATAL 57P01, which it sends before it closes, or 08006) and a closed connection, never
// a hang.
func TestEventLoopsTLSServer(t *testing.T) {
	pgCerts, err := pgtest.NewCerts(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	backend := pgtest.StartT(t, pgtest.Options{SSL: pgCerts})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := backend.CreateRole(ctx, appUser, appPassword); err != nil {
		t.Fatal(err)
	}
	if err := backend.CreateDatabase(ctx, appDB, appUser); err != nil {
		t.Fatal(err)
	}
	init := exec.Command("pgbench", "-i", "-q", "-s", "1", "-h", backend.Host, "-p", strconv.Itoa(backend.Port), "-U", appUser, appDB)
	init.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	super := superConn(t, backend)
	// allTLS checks that the pooler has server connections to backend and that all use TLS.
	allTLS := func(t *testing.T) {
		t.Helper()
		var encrypted, all int
		q := `SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		      WHERE a.usename = $1 AND a.datname = $2 AND a.pid <> pg_backend_pid()`
		if err := super.QueryRow(ctx, q, appUser, appDB).Scan(&encrypted, &all); err != nil {
			t.Fatalf("pg_stat_ssl: %v", err)
		}
		if all == 0 || encrypted != all {
			t.Fatalf("%d of %d server connections of the pooler use TLS, want all (and at least one)", encrypted, all)
		}
	}
	start := func(t *testing.T, mode string, poolSize int) *testPooler {
		return startPoolerFor(t, backend, func(c *config.Config) {
			c.Pooler.PoolMode = "transaction"
			c.Pooler.DefaultPoolSize = poolSize
			c.Pooler.ServerTLSSSLMode = mode
			c.Pooler.EventLoops = true
		})
	}
	// onLoops checks that a client of tp and a server it was lent are enrolled (a pgx conn is open).
	onLoops := func(t *testing.T, tp *testPooler) {
		t.Helper()
		if n := tp.srv.LoopConns(); n < 2 {
			t.Fatalf("LoopConns = %d with a client that has run a query: want it and its TLS server on the loops", n)
		}
	}

	for _, mode := range []string{config.SSLModeRequire, config.SSLModePrefer} {
		t.Run("pgbench "+mode, func(t *testing.T) {
			tp := start(t, mode, 5)
			processed, failed, err := pgbench(tp, "-S", "-c", "8", "-j", "2", "-t", "150")
			if err != nil || processed != 1200 || failed != 0 {
				t.Fatalf("pgbench -S -c 8 -t 150 through TLS servers on the loops: %d processed, %d failed, %v; want 1200 and 0", processed, failed, err)
			}
			app := tp.connect(t)
			var ssl bool
			if err := app.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
				t.Fatalf("pg_stat_ssl of the server connection: ssl %v, %v", ssl, err)
			}
			onLoops(t, tp)
			allTLS(t)
		})
	}

	t.Run("parameter sync", func(t *testing.T) {
		tp := start(t, config.SSLModeRequire, 1) // one server, synced each time it changes client
		a, b := tp.connect(t), tp.connect(t)
		for name, conn := range map[string]interface {
			Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
		}{"a": a, "b": b} {
			if _, err := conn.Exec(ctx, "SET application_name = '"+name+"'"); err != nil {
				t.Fatal(err)
			}
		}
		pids := map[int]bool{}
		for i := range 10 {
			for name, conn := range map[string]func() (string, int, error){
				"a": func() (s string, pid int, err error) {
					err = a.QueryRow(ctx, "SELECT current_setting('application_name'), pg_backend_pid()").Scan(&s, &pid)
					return
				},
				"b": func() (s string, pid int, err error) {
					err = b.QueryRow(ctx, "SELECT current_setting('application_name'), pg_backend_pid()").Scan(&s, &pid)
					return
				},
			} {
				got, pid, err := conn()
				if err != nil || got != name {
					t.Fatalf("round %d, client %s: application_name %q, %v; want %q", i, name, got, err, name)
				}
				pids[pid] = true
			}
		}
		if len(pids) != 1 {
			t.Fatalf("server pids %v: want the one server of pool_size 1", pids)
		}
		onLoops(t, tp)
		allTLS(t)
	})

	t.Run("large results", func(t *testing.T) {
		tp := start(t, config.SSLModeRequire, 2)
		app := tp.connect(t)
		rows, err := app.Query(ctx, "SELECT i, repeat(chr(65 + i % 26), 1000 + i % 300) FROM generate_series(1, 6000) i")
		if err != nil {
			t.Fatal(err)
		}
		n, bytes := 0, 0
		for rows.Next() {
			var i int
			var s string
			if err := rows.Scan(&i, &s); err != nil {
				t.Fatal(err)
			}
			n++
			bytes += len(s)
			if i != n || len(s) != 1000+i%300 || s != strings.Repeat(string(rune(65+i%26)), len(s)) {
				t.Fatalf("row %d: i %d, a value of %d bytes that is not what was asked", n, i, len(s))
			}
		}
		if err := rows.Err(); err != nil || n != 6000 {
			t.Fatalf("%d rows, %v; want 6000", n, err)
		}
		var big string
		if err := app.QueryRow(ctx, "SELECT repeat('0123456789', 500000)").Scan(&big); err != nil {
			t.Fatal(err)
		}
		if big != strings.Repeat("0123456789", 500000) {
			t.Fatalf("a 5 MB value read back as %d bytes that differ", len(big))
		}
		t.Logf("%d rows of %d bytes, then one value of %d bytes", n, bytes, len(big))
		onLoops(t, tp)
		allTLS(t)
	})

	t.Run("server terminated mid-transaction", func(t *testing.T) {
		tp := start(t, config.SSLModeRequire, 2)
		app := tp.connect(t)
		tx, err := app.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		onLoops(t, tp)
		var done bool
		if err := super.QueryRow(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&done); err != nil || !done {
			t.Fatalf("pg_terminate_backend: %v, %v", done, err)
		}
		qctx, qcancel := context.WithTimeout(ctx, 15*time.Second)
		defer qcancel()
		_, err = tx.Exec(qctx, "SELECT 1")
		var pe *pgconn.PgError
		switch {
		case err == nil:
			t.Fatal("a query on a terminated server succeeded")
		case qctx.Err() != nil:
			t.Fatalf("no answer within 15 s after the server was terminated (a hang): %v", err)
		case errors.As(err, &pe) && pe.Code != "08006" && pe.Code != "57P01":
			t.Fatalf("SQLSTATE %s (%s), want 08006 (or the server's own 57P01)", pe.Code, pe.Message)
		}
		t.Logf("the client got: %v", err)
		if _, err := app.Exec(qctx, "SELECT 1"); err == nil || qctx.Err() != nil {
			t.Fatalf("the client's connection after its server was terminated: %v; want it closed, at once", err)
		}
		queryWorks(t, tp.pgxURL(appDB)) // the next client gets another server

		// Terminated while it runs a query: the error comes at once, not after the query's time.
		busy := tp.connect(t)
		var busyPID int
		if err := busy.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&busyPID); err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { _, err := busy.Exec(ctx, "SELECT pg_sleep(60)"); errc <- err }()
		eventually(t, 10*time.Second, "pg_sleep running", func() bool {
			var n int
			_ = super.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%'", busyPID).Scan(&n)
			return n == 1
		})
		if _, err := super.Exec(ctx, "SELECT pg_terminate_backend($1)", busyPID); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("pg_sleep on a terminated server succeeded")
			}
			t.Logf("the busy client got: %v", err)
		case <-time.After(15 * time.Second):
			t.Fatal("no answer within 15 s after the busy server was terminated (a hang)")
		}
	})

	t.Run("prefer against plain PostgreSQL stays plain", func(t *testing.T) {
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = "transaction"
			c.Pooler.ServerTLSSSLMode = config.SSLModePrefer
			c.Pooler.EventLoops = true
		})
		app := tp.connect(t)
		var ssl bool
		if err := app.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || ssl {
			t.Fatalf("pg_stat_ssl: ssl %v, %v; want a plain server connection", ssl, err)
		}
		onLoops(t, tp)
	})
}

// TestEventLoopsTLSClient: with event_loops on and client_tls_sslmode require, TLS clients are served
// on the loops (LoopConns), decrypted there: pgbench -S over TLS, a pgx conn's queries, a query of 3 MB
// sent through the pooler's TLS, a result of several MB read back through it, and a SET that the next
// transaction's parameter sync carries; the client sees TLS throughout.
func TestEventLoopsTLSClient(t *testing.T) {
	pgbenchInit(t)
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) {
		clientTLS(c, certs, config.SSLModeRequire)
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 2
		c.Pooler.EventLoops = true
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-h", "127.0.0.1", "-p", strconv.Itoa(tp.port), "-U", appUser,
		"-S", "-c", "6", "-j", "2", "-t", "150", appDB)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword, "PGSSLMODE=require")
	out, err := cmd.CombinedOutput()
	if m := processedRe.FindSubmatch(out); err != nil || m == nil || string(m[1]) != "900" {
		t.Fatalf("pgbench -S -c 6 -t 150 over TLS: %v\n%s", err, out)
	}

	conn, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require", "default_query_exec_mode", "exec"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("the client's connection is %T, not TLS", conn.PgConn().Conn())
	}
	if n := tp.srv.LoopConns(); n < 1 {
		t.Fatalf("LoopConns = %d with a logged-in TLS client; want it on the loops", n)
	}
	long := strings.Repeat("abcdefghij", 300000)
	var n int
	if err := conn.QueryRow(ctx, "SELECT length('"+long+"')").Scan(&n); err != nil || n != len(long) {
		t.Fatalf("a 3 MB query over TLS: length %d, %v; want %d", n, err, len(long))
	}
	var big string
	if err := conn.QueryRow(ctx, "SELECT repeat('0123456789', 500000)").Scan(&big); err != nil || big != strings.Repeat("0123456789", 500000) {
		t.Fatalf("a 5 MB value over TLS: %d bytes, %v", len(big), err)
	}
	rows, err := conn.Query(ctx, "SELECT i, repeat('x', 2000) FROM generate_series(1, 3000) i")
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for rows.Next() {
		var i int
		var s string
		if err := rows.Scan(&i, &s); err != nil || i != count+1 || len(s) != 2000 {
			t.Fatalf("row %d: %d, %d bytes, %v", count+1, i, len(s), err)
		}
		count++
	}
	if rows.Err() != nil || count != 3000 {
		t.Fatalf("%d rows, %v", count, rows.Err())
	}
	if _, err := conn.Exec(ctx, "SET application_name = 'tlsloop'"); err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "SHOW application_name").Scan(&name); err != nil || name != "tlsloop" {
		t.Fatalf("application_name after SET: %q, %v", name, err)
	}
	if n := tp.srv.LoopConns(); n < 2 {
		t.Fatalf("LoopConns = %d after queries: want the TLS client and its server on the loops", n)
	}
}
