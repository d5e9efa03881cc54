package tests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// writeConfigFile writes a configuration file for the shared PostgreSQL with the given pool size and
// console users, and returns its loaded form.
func writeConfigFile(t testing.TB, path string, poolSize int, extra string) *config.Config {
	t.Helper()
	text := fmt.Sprintf(`[pooler]
listen_addr = "127.0.0.1"
pool_mode = "transaction"
default_pool_size = %d
admin_users = %q
%s
[databases."*"]
host = %q
port = %d
password = %q
`, poolSize, consoleAdmin, extra, pg.Host, pg.Port, appPassword)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil && extra == "" {
		t.Fatal(err)
	}
	return cfg
}

// holdTransactions opens n clients that each hold a transaction open until release is closed, so that
// the pool opens n servers (or as many as it may); it returns when all n are inside BEGIN or waiting.
func holdTransactions(t testing.TB, url string, n int, release <-chan struct{}) *sync.WaitGroup {
	t.Helper()
	var wg sync.WaitGroup
	for range n {
		conn, err := tryConnect(url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			tx, err := conn.Begin(ctx)
			if err != nil {
				return
			}
			_, _ = tx.Exec(ctx, "SELECT 1")
			<-release
			_ = tx.Commit(ctx)
		}()
	}
	return &wg
}

// TestAdminReloadPoolSize: RELOAD of a file with a smaller pool size changes SHOW DATABASES and the
// number of server connections; a broken file is refused with its error and the old one keeps serving.
func TestAdminReloadPoolSize(t *testing.T) {
	db := isolatedDB(t, "pooler_reload")
	path := filepath.Join(t.TempDir(), "config.toml")
	cfg := writeConfigFile(t, path, 4, "")
	tp := startPooler(t, func(c *config.Config) { *c = *cfg })
	con := openConsole(t, tp, consoleAdmin)
	url := tp.url(db) + "&default_query_exec_mode=exec"
	super := superConn(t, pg)

	release := make(chan struct{})
	wg := holdTransactions(t, url, 4, release)
	eventually(t, 10*time.Second, "4 servers open", func() bool { return backendCount(t, super, db, "") == 4 })
	close(release)
	wg.Wait()
	if got := one(t, con.rows(t, "SHOW DATABASES"), "name", db)["pool_size"]; got != "4" {
		t.Fatalf("SHOW DATABASES pool_size = %s, want 4", got)
	}

	writeConfigFile(t, path, 2, "")
	con.result(t, "RELOAD")
	if got := one(t, con.rows(t, "SHOW DATABASES"), "name", db)["pool_size"]; got != "2" {
		t.Fatalf("after RELOAD, SHOW DATABASES pool_size = %s, want 2", got)
	}
	eventually(t, 10*time.Second, "servers beyond the new pool size closed", func() bool { return backendCount(t, super, db, "") == 2 })
	pool := one(t, con.rows(t, "SHOW POOLS"), "database", db)
	if n, _ := strconv.Atoi(pool["sv_idle"]); n+atoi(pool["sv_used"]) != 2 {
		t.Fatalf("SHOW POOLS after RELOAD: %v, want 2 idle servers", pool)
	}

	writeConfigFile(t, path, 3, "pool_mode = \"sessoin\"\n")
	pe := con.fails(t, "RELOAD", "F0000")
	if !strings.Contains(pe.Message, "pool_mode") {
		t.Fatalf("RELOAD of a broken file: %q does not name the bad key", pe.Message)
	}
	if got := one(t, con.rows(t, "SHOW DATABASES"), "name", db)["pool_size"]; got != "2" {
		t.Fatalf("after a refused RELOAD, pool_size = %s, want 2 still", got)
	}
	queryWorks(t, url)
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// TestAdminPauseResume: PAUSE through the console waits for running transactions, closes the servers,
// shows in SHOW DATABASES and SHOW STATE, queues new queries; RESUME lets them run.
func TestAdminPauseResume(t *testing.T) {
	db := isolatedDB(t, "pooler_pause")
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
	})
	con := openConsole(t, tp, consoleAdmin)
	app := connectDB(t, tp, db)
	tx, err := app.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	paused := make(chan struct{})
	go func() {
		defer close(paused)
		con.result(t, "PAUSE "+db)
	}()
	eventually(t, 5*time.Second, "PAUSE marks the database", func() bool {
		return one(t, openConsole(t, tp, consoleAdmin).rows(t, "SHOW DATABASES"), "name", db)["paused"] == "1"
	})
	select {
	case <-paused:
		t.Fatal("PAUSE returned while a transaction held a server")
	default:
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("the running transaction could not finish during PAUSE: %v", err)
	}
	<-paused
	if n := backendCount(t, superConn(t, pg), db, ""); n != 0 {
		t.Fatalf("%d server connections after PAUSE, want 0", n)
	}
	queued := make(chan error, 1)
	go func() {
		_, err := app.Exec(context.Background(), "SELECT 1", pgx.QueryExecModeSimpleProtocol)
		queued <- err
	}()
	defer func() { _ = tp.srv.Resume(db); <-queued }() // the query ends before its connection is closed
	other := openConsole(t, tp, consoleAdmin)
	eventually(t, 5*time.Second, "the query waits behind the PAUSE", func() bool {
		return one(t, other.rows(t, "SHOW POOLS"), "database", db)["cl_waiting"] == "1"
	})
	other.result(t, "RESUME "+db)
	err = <-queued
	queued <- err
	if err != nil {
		t.Fatalf("the queued query failed after RESUME: %v", err)
	}
	other.fails(t, "RESUME "+db, "55000")
}

// TestAdminDisableKillSet: DISABLE refuses new logins to a database and ENABLE allows them again;
// KILL_CLIENT closes one client; SET changes a setting live and refuses a fixed one.
func TestAdminDisableKillSet(t *testing.T) {
	db := isolatedDB(t, "pooler_disable")
	tp := startPooler(t, func(c *config.Config) { withConsoleUsers(c) })
	con := openConsole(t, tp, consoleAdmin)

	con.result(t, "DISABLE "+db)
	_, err := tryConnect(tp.url(db))
	wantPgError(t, err, "login to a disabled database", "57P03", "disabled")
	con.result(t, "ENABLE "+db)
	victim := connectDB(t, tp, db)

	var id string
	for _, r := range con.rows(t, "SHOW CLIENTS") {
		if r["database"] == db {
			id = r["id"]
		}
	}
	if id == "" {
		t.Fatal("SHOW CLIENTS does not list the client")
	}
	con.result(t, "KILL_CLIENT "+id)
	_, err = victim.Exec(context.Background(), "SELECT 1")
	if err == nil {
		t.Fatal("the killed client can still run a query")
	}
	con.fails(t, "KILL_CLIENT 999999", "42704")

	con.result(t, "SET default_pool_size = 7")
	if got := one(t, con.rows(t, "SHOW CONFIG"), "key", "default_pool_size")["value"]; got != "7" {
		t.Fatalf("SHOW CONFIG default_pool_size = %s after SET, want 7", got)
	}
	con.fails(t, "SET listen_port = 7000", "22023")
	con.fails(t, "SET pool_mode = 'sessoin'", "22023")
}
