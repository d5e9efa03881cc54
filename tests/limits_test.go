package tests

// End-to-end tests of pgpooler's connection limits: max_client_conn, the pool sizes (default, per
// database, per user), max_db_connections and max_user_connections shared by several pools, and the
// answer to a database that is not configured. Server connections are counted in pg_stat_activity for
// a database of these tests' own (limitsDB), sampled while the work runs, and by the distinct backend
// pids the work ran on.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// limitsDB is the database of the tests in this file.
const limitsDB = "pooler_limits"

// ensureLoginRole creates LOGIN role name with password pw unless it exists.
func ensureLoginRole(t testing.TB, name, pw string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	super := superConn(t, pg)
	var exists bool
	if err := super.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", name).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if !exists {
		if err := pg.CreateRole(ctx, name, pw); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
}

// poolerURLFor is a libpq URL to the pooler for user (password pw) and database db.
func poolerURLFor(tp *testPooler, user, pw, db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, pw, tp.addr(), db)
}

// openClients opens n connections to url through the pooler, closed at the end of the test.
func openClients(t testing.TB, url string, n int) []*pgx.Conn {
	t.Helper()
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		c, err := tryConnect(url)
		if err != nil {
			t.Fatalf("connect %d to %s: %v", i, url, err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		conns[i] = c
	}
	return conns
}

// runHeldTransactions runs one transaction on every connection at once: BEGIN; SELECT pg_backend_pid();
// SELECT pg_sleep(0.2); COMMIT. It returns the distinct backend pids they ran on and the errors.
func runHeldTransactions(conns []*pgx.Conn) (map[uint32]bool, []error) {
	var mu sync.Mutex
	pids := map[uint32]bool{}
	var errs []error
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				tx, err := c.Begin(ctx)
				if err != nil {
					return err
				}
				defer tx.Rollback(context.Background())
				var pid uint32
				if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()", pgx.QueryExecModeSimpleProtocol).Scan(&pid); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, "SELECT pg_sleep(0.2)"); err != nil {
					return err
				}
				mu.Lock()
				pids[pid] = true
				mu.Unlock()
				return tx.Commit(ctx)
			}()
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("client %d: %w", i, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return pids, errs
}

// watchServerPeak samples how many server connections PostgreSQL has to limitsDB every 10 ms until the
// returned function is called, which returns the highest count seen.
func watchServerPeak(t testing.TB) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	super, err := pgx.Connect(ctx, pg.SuperConnString("postgres"))
	if err != nil {
		t.Fatalf("direct superuser connection: %v", err)
	}
	var peak atomic.Int64
	quit, done := make(chan struct{}), make(chan struct{})
	sample := func() {
		var n int64
		q := "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
		if err := super.QueryRow(context.Background(), q, limitsDB).Scan(&n); err == nil && n > peak.Load() {
			peak.Store(n)
		}
	}
	go func() {
		defer close(done)
		defer super.Close(context.Background())
		for {
			sample()
			select {
			case <-quit:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() int {
		once.Do(func() { close(quit); <-done })
		return int(peak.Load())
	}
	t.Cleanup(func() { stop() })
	return stop
}

// checkTransactions fails the test if any transaction failed or, when limit > 0, they ran on more than limit
// backends.
func checkTransactions(t testing.TB, what string, pids map[uint32]bool, errs []error, limit int) {
	t.Helper()
	for _, err := range errs {
		t.Errorf("%s: %v", what, err)
	}
	if limit > 0 && len(pids) > limit {
		t.Errorf("%s ran on %d backends, want at most %d", what, len(pids), limit)
	}
	t.Logf("%s: %d backends", what, len(pids))
}

// TestMaxClientConn: with max_client_conn 2, a third client's login fails with 53300 naming
// max_client_conn; once one of the two leaves, a new client gets in.
func TestMaxClientConn(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) { c.Pooler.MaxClientConn = 2 })
	a := tp.connect(t)
	tp.connect(t)
	_, err := tryConnect(tp.url(appDB))
	wantPgError(t, err, "third client with max_client_conn 2", "53300", "max_client_conn")
	a.Close(context.Background())
	eventually(t, 3*time.Second, "a client gets in after one left", func() bool {
		c, err := tryConnect(tp.url(appDB))
		if err != nil {
			wantPgError(t, err, "client while the slot is being freed", "53300", "max_client_conn")
			return false
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
			t.Fatalf("query of the client that got in: %v", err)
		}
		return true
	})
}

// TestPoolSize: 8 clients each run a transaction holding a server for 200 ms, all at once, in
// transaction mode. The pool opens exactly its size in servers (distinct backend pids) and
// pg_stat_activity never shows more, and every transaction succeeds. The size comes from
// default_pool_size, a database's pool_size, or a user's pool_size (over the database's).
func TestPoolSize(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		edit func(*config.Config)
	}{
		{"default_pool_size", 2, func(c *config.Config) { c.Pooler.DefaultPoolSize = 2 }},
		{"database pool_size", 3, func(c *config.Config) {
			c.Databases[limitsDB] = config.Database{Host: pg.Host, Port: pg.Port, Password: appPassword, PoolSize: ptr(3)}
		}},
		{"user pool_size", 2, func(c *config.Config) {
			c.Databases[limitsDB] = config.Database{Host: pg.Host, Port: pg.Port, Password: appPassword, PoolSize: ptr(5)}
			c.Users[appUser] = config.User{PoolSize: ptr(2)}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			isolatedDB(t, limitsDB)
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				tc.edit(c)
			})
			conns := openClients(t, tp.url(limitsDB), 8)
			stop := watchServerPeak(t)
			pids, errs := runHeldTransactions(conns)
			peak := stop()
			checkTransactions(t, "8 concurrent transactions", pids, errs, tc.size)
			if len(pids) != tc.size {
				t.Errorf("8 concurrent transactions ran on %d backends, want the pool size %d", len(pids), tc.size)
			}
			if peak > tc.size {
				t.Errorf("pg_stat_activity showed %d server connections, want at most %d", peak, tc.size)
			}
			t.Logf("pg_stat_activity peak %d", peak)
		})
	}
}

// runSharedLimit runs the scenario of max_db_connections and max_user_connections: two pools, a and b,
// share a limit of 3 servers while each may have 10. First 6 clients of pool a run transactions at
// once, leaving a's servers idle; then 6 clients of pool b (whose pool is new, so their login needs a
// server too), then all 12 at once. Every login and transaction must succeed, and PostgreSQL must never
// see more than 3 server connections.
func runSharedLimit(t *testing.T, urlA, urlB string) {
	const limit = 3
	stop := watchServerPeak(t)
	a := openClients(t, urlA, 6)
	pids, errs := runHeldTransactions(a)
	checkTransactions(t, "pool a alone", pids, errs, limit)
	b := openClients(t, urlB, 6)
	pids, errs = runHeldTransactions(b)
	checkTransactions(t, "pool b while a's servers are idle", pids, errs, limit)
	pids, errs = runHeldTransactions(append(a, b...))
	checkTransactions(t, "pools a and b at once", pids, errs, 0) // servers may be replaced: the peak is what counts
	if peak := stop(); peak > limit {
		t.Errorf("pg_stat_activity showed %d server connections, want at most %d", peak, limit)
	} else {
		t.Logf("pg_stat_activity peak %d", peak)
	}
}

// TestMaxDBConnections: max_db_connections 3 is shared by the pools of two users of one database.
func TestMaxDBConnections(t *testing.T) {
	const user2 = "app_limits2"
	ensureLoginRole(t, user2, appPassword) // the "*" database entry logs in with appPassword
	isolatedDB(t, limitsDB)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 10
		c.Pooler.MaxDBConnections = 3
		c.Pooler.QueryWaitTimeout = config.Duration(3 * time.Second)
	})
	runSharedLimit(t, tp.url(limitsDB), poolerURLFor(tp, user2, appPassword, limitsDB))
}

// TestMaxUserConnections: max_user_connections 3 is shared by the pools of one user in two databases
// (both routed to the same PostgreSQL database with dbname).
func TestMaxUserConnections(t *testing.T) {
	isolatedDB(t, limitsDB)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 10
		c.Pooler.MaxUserConnections = 3
		c.Pooler.QueryWaitTimeout = config.Duration(3 * time.Second)
		for _, name := range []string{"limits_one", "limits_two"} {
			c.Databases[name] = config.Database{Host: pg.Host, Port: pg.Port, DBName: limitsDB, Password: appPassword}
		}
	})
	runSharedLimit(t, tp.url("limits_one"), tp.url("limits_two"))
}

// TestUnknownDatabaseRejected: with only [databases.app] configured (no "*"), a client asking for database
// "nope" fails with 3D000 naming it, while "app" works.
func TestUnknownDatabaseRejected(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Databases = map[string]config.Database{appDB: {Host: pg.Host, Port: pg.Port, Password: appPassword}}
	})
	_, err := tryConnect(tp.url("nope"))
	wantPgError(t, err, "database nope", "3D000", "nope")
	if _, err := tp.connect(t).Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("configured database: %v", err)
	}
}
