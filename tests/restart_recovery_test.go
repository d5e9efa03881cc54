package tests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// The faults of this file run against a private PostgreSQL (they stop, kill and terminate it), with the
// role and database of the shared one. Each scenario logs one line
//
//	reliability: <scenario>: recovery 0.31s; errors 08006=12 08006/cached=480 57P01=3; hung 0
//
// (and the first message seen for each SQLSTATE) for docs/reliability.md.

const (
	recoveryWorkers = 10              // clients of the load
	recoveryPool    = 5               // default_pool_size under the load
	opTimeout       = 5 * time.Second // bounds every client operation; reaching it counts as hung
	downFor         = 2 * time.Second // PostgreSQL stays down this long, so that the retry backs off
	recoveryLimit   = 3 * time.Second // the assertion; the target is 1 s
)

// privateBackend starts a PostgreSQL for the test with appUser owning appDB.
func privateBackend(t *testing.T) *pgtest.Server {
	t.Helper()
	backend := pgtest.StartT(t, pgtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := backend.CreateRole(ctx, appUser, appPassword); err != nil {
		t.Fatal(err)
	}
	if err := backend.CreateDatabase(ctx, appDB, appUser); err != nil {
		t.Fatal(err)
	}
	return backend
}

// errClass names what a client saw: the SQLSTATE of an ErrorResponse (with "/cached" for pgpooler's
// cached server login error, which names server_login_retry), "hung" when its operation ran into
// opTimeout, or "conn" when the connection broke without an ErrorResponse.
func errClass(err error) string {
	var pe *pgconn.PgError
	switch {
	case errors.As(err, &pe) && strings.Contains(pe.Message, "(server_login_retry)"):
		return pe.Code + "/cached"
	case errors.As(err, &pe):
		return pe.Code
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		return "hung"
	default:
		return "conn"
	}
}

// outcomes counts what clients saw, by errClass, with the first message of each.
type outcomes struct {
	mu     sync.Mutex
	counts map[string]int
	sample map[string]string
}

func (o *outcomes) add(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts, o.sample = map[string]int{}, map[string]string{}
	}
	c := errClass(err)
	o.counts[c]++
	if _, ok := o.sample[c]; !ok {
		o.sample[c] = err.Error()
	}
}

// summary returns "57P01=3 08006=12" (sorted; "none" when empty), the hung count, and the total.
func (o *outcomes) summary() (errs string, hung, total int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var parts []string
	for c, n := range o.counts {
		total += n
		if c == "hung" {
			hung = n
			continue
		}
		parts = append(parts, c+"="+strconv.Itoa(n))
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return "none", hung, total
	}
	return strings.Join(parts, " "), hung, total
}

// report logs the scenario's grep-able line and the first message of each SQLSTATE.
func (o *outcomes) report(t *testing.T, scenario, recovery string) {
	t.Helper()
	errs, hung, _ := o.summary()
	t.Logf("reliability: %s: recovery %s; errors %s; hung %d", scenario, recovery, errs, hung)
	o.mu.Lock()
	defer o.mu.Unlock()
	for c, msg := range o.sample {
		t.Logf("reliability: %s: %s %q", scenario, c, msg)
	}
	if hung > 0 {
		t.Errorf("%s: %d client operations hung until their %s deadline", scenario, hung, opTimeout)
	}
}

// recoveryLoad is recoveryWorkers clients running short transactions through the pooler in a loop,
// each reconnecting after an error, as applications do.
type recoveryLoad struct {
	url   string
	out   outcomes
	ok    atomic.Int64
	mark  atomic.Int64 // UnixNano; successes of transactions started after it are "after the mark"
	first atomic.Int64 // UnixNano of the end of the first transaction after the mark, 0 for none yet
	after []atomic.Bool
	// clean counts errors while set: the phase after recovery in which every transaction must succeed.
	clean    atomic.Bool
	cleanErr outcomes
	stop     context.CancelFunc
	wg       sync.WaitGroup
}

func startRecoveryLoad(t *testing.T, url string) *recoveryLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &recoveryLoad{url: url, stop: cancel, after: make([]atomic.Bool, recoveryWorkers)}
	for i := range recoveryWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.work(ctx, i)
		}()
	}
	t.Cleanup(l.end)
	eventually(t, 20*time.Second, "every load client ran a transaction", func() bool { return l.ok.Load() >= recoveryWorkers })
	return l
}

func (l *recoveryLoad) work(ctx context.Context, i int) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			closeBounded(conn)
		}
	}()
	fail := func(err error) {
		if ctx.Err() != nil {
			return // the test stopped the load
		}
		l.out.add(err)
		if l.clean.Load() {
			l.cleanErr.add(err)
		}
		select { // an application's retry delay
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	for ctx.Err() == nil {
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, opTimeout)
			c, err := pgx.Connect(cctx, l.url)
			cancel()
			if err != nil {
				fail(err)
				continue
			}
			conn = c
		}
		start := time.Now()
		qctx, cancel := context.WithTimeout(ctx, opTimeout)
		_, err := conn.Exec(qctx, "BEGIN; SELECT pg_sleep(0.002); COMMIT")
		cancel()
		if err != nil {
			closeBounded(conn)
			conn = nil
			fail(err)
			continue
		}
		l.ok.Add(1)
		if start.UnixNano() > l.mark.Load() {
			l.first.CompareAndSwap(0, time.Now().UnixNano())
			l.after[i].Store(true)
		}
	}
}

// setMark starts counting "after the mark" from now and forgets the outcomes so far.
func (l *recoveryLoad) setMark() {
	for i := range l.after {
		l.after[i].Store(false)
	}
	l.first.Store(0)
	l.mark.Store(time.Now().UnixNano())
}

// allAfter reports whether every client has had a transaction succeed after the mark.
func (l *recoveryLoad) allAfter() bool {
	for i := range l.after {
		if !l.after[i].Load() {
			return false
		}
	}
	return true
}

func (l *recoveryLoad) end() {
	l.stop()
	l.wg.Wait()
}

func closeBounded(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// acceptingAgain polls PostgreSQL with direct connections every 10 ms until one logs in, and returns
// when that attempt started (PostgreSQL accepted it then; its SCRAM login takes a while).
func acceptingAgain(t *testing.T, backend *pgtest.Server, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		at := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgconn.Connect(ctx, backend.SuperConnString("postgres"))
		cancel()
		if err == nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
			return at
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL does not accept connections %s after it was started again: %v\n%s", within, err, backend.LogTail(20))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkServersSane waits (up to 10 s) until the pool has settled, its clients gone or idle: no server
// active, logging in or waited for, every server in SHOW SERVERS, at most poolSize; then it asserts
// that every server pgpooler holds is a live PostgreSQL backend.
func checkServersSane(t *testing.T, tp *testPooler, backend *pgtest.Server, poolSize int) {
	t.Helper()
	c := openConsole(t, tp, consoleAdmin)
	var servers []map[string]string
	var p map[string]string
	deadline := time.Now().Add(10 * time.Second)
	for {
		servers = find(c.rows(t, "SHOW SERVERS"), "database", appDB)
		p = one(t, c.rows(t, "SHOW POOLS"), "database", appDB, "user", appUser)
		idle, _ := strconv.Atoi(p["sv_idle"])
		if p["sv_active"] == "0" && p["sv_login"] == "0" && p["sv_used"] == "0" && p["cl_waiting"] == "0" &&
			idle == len(servers) && idle <= poolSize {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pool did not settle within 10s: SHOW POOLS %v; SHOW SERVERS has %d servers; pool_size %d", p, len(servers), poolSize)
		}
		time.Sleep(20 * time.Millisecond)
	}
	super := superConn(t, backend)
	live := map[string]bool{}
	rows, err := super.Query(context.Background(), "SELECT pid FROM pg_stat_activity WHERE usename = $1", appUser)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			t.Fatal(err)
		}
		live[strconv.Itoa(pid)] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, sv := range servers {
		if !live[sv["remote_pid"]] {
			t.Errorf("pgpooler holds server %s (backend pid %s, state %s) that PostgreSQL no longer has", sv["id"], sv["remote_pid"], sv["state"])
		}
	}
}

// TestRestartRecovery: PostgreSQL stopped fast, stopped immediate, or its postmaster killed with
// SIGKILL, under a load of short transactions, then started again. Every client operation ends with an
// answer or an error (hung 0); the first transaction through pgpooler succeeds within recoveryLimit of
// PostgreSQL accepting connections again, not after server_login_retry (15 s by default, issue 10
// finding 7); afterwards every transaction succeeds and the pool holds no dead server.
func TestRestartRecovery(t *testing.T) {
	backend := privateBackend(t)
	scenarios := []struct {
		name string
		stop func() error
	}{
		{"postgres stopped fast", backend.StopKeep},
		{"postgres stopped immediate", backend.StopKeepImmediate},
		{"postmaster killed (SIGKILL)", backend.Kill},
	}
	for _, sc := range scenarios {
		t.Run(strings.ReplaceAll(sc.name, " ", "_"), func(t *testing.T) {
			tp := startPoolerFor(t, backend, func(c *config.Config) {
				withConsoleUsers(c)
				c.Pooler.PoolMode = "transaction"
				c.Pooler.DefaultPoolSize = recoveryPool
				// server_login_retry keeps its default, 15 s.
			})
			load := startRecoveryLoad(t, tp.pgxURL(appDB))

			if err := sc.stop(); err != nil {
				t.Fatal(err)
			}
			load.setMark()
			time.Sleep(downFor) // the outage: the load meets a stopped PostgreSQL meanwhile
			if load.first.Load() != 0 {
				t.Fatal("a transaction succeeded while PostgreSQL was down")
			}
			started := make(chan error, 1)
			go func() { started <- backend.StartAgain() }()
			accepting := acceptingAgain(t, backend, 60*time.Second)
			if err := <-started; err != nil {
				t.Fatal(err)
			}

			var recovery time.Duration
			waitFor := 20 * time.Second // long enough to see the old 15 s server_login_retry
			for {
				if f := load.first.Load(); f != 0 {
					recovery = max(time.Unix(0, f).Sub(accepting), 0) // 0: within the poll's resolution
					break
				}
				if time.Since(accepting) > waitFor {
					recovery = -1
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			rec := fmt.Sprintf("%.2fs", recovery.Seconds())
			if recovery < 0 {
				rec = "none within " + waitFor.String()
			}
			load.out.report(t, sc.name, rec)
			if recovery < 0 || recovery > recoveryLimit {
				t.Fatalf("first transaction through pgpooler %s after PostgreSQL accepted connections again; want under %s", rec, recoveryLimit)
			}

			eventually(t, 10*time.Second, "every load client ran a transaction after the restart", load.allAfter)
			before := load.ok.Load()
			load.clean.Store(true)
			time.Sleep(time.Second) // the load runs on the recovered pool
			load.clean.Store(false)
			load.end()
			if errs, hung, total := load.cleanErr.summary(); total > 0 {
				t.Errorf("after recovery, transactions still failed: %s; hung %d", errs, hung)
			}
			if load.ok.Load() == before {
				t.Error("no transaction ran in the second after recovery")
			}
			checkServersSane(t, tp, backend, recoveryPool)
		})
	}
}

// TestTerminateBackend: pg_terminate_backend of pooled servers. Idle ones are discarded before they are
// lent (the next clients see no error); a busy one's client gets the server's error (57P01) or a closed
// connection, never a hang, and the pool goes on with new servers.
func TestTerminateBackend(t *testing.T) {
	backend := privateBackend(t)
	ctx := context.Background()
	const poolSize = 3
	tp := startPoolerFor(t, backend, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = poolSize
	})
	super := superConn(t, backend)
	terminate := func(t *testing.T, pid int) {
		t.Helper()
		var done bool // pg_terminate_backend(pid, timeout) waits for the backend to exit
		if err := super.QueryRow(ctx, "SELECT pg_terminate_backend($1, 5000)", pid).Scan(&done); err != nil || !done {
			t.Fatalf("pg_terminate_backend(%d): %v, %v", pid, done, err)
		}
	}

	t.Run("idle", func(t *testing.T) {
		// Three clients hold three servers in open transactions, then leave them idle in the pool.
		conns := make([]*pgx.Conn, poolSize)
		dead := map[int]bool{}
		for i := range conns {
			conns[i] = tp.connect(t)
			pid := beginPID(t, conns[i])
			dead[pid] = true
		}
		for _, c := range conns {
			if _, err := c.Exec(ctx, "COMMIT"); err != nil {
				t.Fatal(err)
			}
		}
		if len(dead) != poolSize {
			t.Fatalf("open transactions ran on %d servers, want %d", len(dead), poolSize)
		}
		for pid := range dead {
			terminate(t, pid)
		}
		var out outcomes
		for i := range 2 * poolSize {
			qctx, cancel := context.WithTimeout(ctx, opTimeout)
			var pid int
			err := conns[i%poolSize].QueryRow(qctx, "SELECT pg_backend_pid()").Scan(&pid)
			cancel()
			if err != nil {
				out.add(err)
				continue
			}
			if dead[pid] {
				t.Errorf("a transaction ran on terminated backend %d", pid)
			}
		}
		out.report(t, "terminate idle servers", "immediate")
		if _, _, total := out.summary(); total > 0 {
			t.Errorf("clients after their idle servers were terminated saw errors; a dead idle server was lent")
		}
		checkServersSane(t, tp, backend, poolSize)
	})

	t.Run("busy", func(t *testing.T) {
		victim := tp.connect(t)
		pid := beginPID(t, victim)
		res := make(chan error, 1)
		go func() {
			qctx, cancel := context.WithTimeout(ctx, opTimeout)
			defer cancel()
			_, err := victim.Exec(qctx, "SELECT pg_sleep(60)")
			res <- err
		}()
		eventually(t, 5*time.Second, "the victim's query runs", func() bool {
			var n int
			q := "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep(60)%'"
			return super.QueryRow(ctx, q, pid).Scan(&n) == nil && n == 1
		})
		terminate(t, pid)
		var out outcomes
		err := <-res
		if err == nil {
			t.Fatal("the query of a terminated server succeeded")
		}
		out.add(err)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "57P01" {
			t.Errorf("the client of a terminated busy server got %v, want 57P01 admin_shutdown", err)
		}

		// The pool goes on: new clients (as many as the pool) get live servers, in parallel.
		var wg sync.WaitGroup
		for range poolSize {
			wg.Add(1)
			go func() {
				defer wg.Done()
				qctx, cancel := context.WithTimeout(ctx, opTimeout)
				defer cancel()
				conn, err := pgx.Connect(qctx, tp.pgxURL(appDB))
				if err != nil {
					out.add(err)
					return
				}
				defer closeBounded(conn)
				var got int
				if _, err := conn.Exec(qctx, "BEGIN"); err != nil {
					out.add(err)
					return
				}
				if err := conn.QueryRow(qctx, "SELECT pg_backend_pid()").Scan(&got); err != nil {
					out.add(err)
					return
				}
				if got == pid {
					t.Errorf("a new client got the terminated backend %d", pid)
				}
				if _, err := conn.Exec(qctx, "COMMIT"); err != nil {
					out.add(err)
				}
			}()
		}
		wg.Wait()
		out.report(t, "terminate busy server", "immediate")
		if errs, _, total := out.summary(); total != 1 {
			t.Errorf("clients saw %s; want only the victim's error", errs)
		}
		checkServersSane(t, tp, backend, poolSize)
	})
}

// beginPID opens a transaction on conn and returns the backend PID of the server it holds.
func beginPID(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pid
}
