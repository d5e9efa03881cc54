package tests

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The fault suite's pooler: a transaction pool of faultPoolSize servers reached through a fault proxy,
// with the timeouts PgBouncer users set so that a broken server cannot hang a client (without them a
// stalled server hangs its client, as a stalled PostgreSQL would hang a direct client).
const (
	faultPoolSize       = 5
	faultClients        = 20
	faultQueryTimeout   = 2 * time.Second        // query_timeout: a stalled answer becomes 57014
	faultConnectTimeout = 2 * time.Second        // server_connect_timeout: a stalled login fails
	faultLoginRetry     = 500 * time.Millisecond // server_login_retry (PgBouncer's default is 15 s)
	faultWaitTimeout    = 5 * time.Second        // query_wait_timeout: a client queued behind stalled servers gets 53300
	faultCancelWait     = time.Second            // cancel_wait_timeout: a cancel sent into a stall is bounded

	// faultOpTimeout is a client's own deadline for one operation (connect or query): longer than the
	// longest the pooler may take to answer with the settings above (wait, then log in, then query).
	faultOpTimeout = faultWaitTimeout + faultConnectTimeout + faultQueryTimeout + 3*time.Second
	// faultMargin: an operation that has not returned faultMargin after its deadline is hung.
	faultMargin = 2 * time.Second
	// faultPhase is how long the clients run with the fault in place (PGPOOLER_LONG=1: 8 times longer).
	faultPhase = 2500 * time.Millisecond
)

// phaseFor is how long scenario s keeps its fault in.
func (s faultScenario) phaseFor() time.Duration {
	d := cmp.Or(s.phase, faultPhase)
	if os.Getenv("PGPOOLER_LONG") == "1" {
		d *= 8
	}
	return d
}

// faultSettings is the pooler configuration of the fault tests: database db (a private PostgreSQL
// database) routed through fp, in transaction mode.
func faultSettings(fp *faultProxy, db string, poolSize int) func(*config.Config) {
	return func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.QueryTimeout = config.Duration(faultQueryTimeout)
		c.Pooler.ServerConnectTimeout = config.Duration(faultConnectTimeout)
		c.Pooler.ServerLoginRetry = config.Duration(faultLoginRetry)
		c.Pooler.QueryWaitTimeout = config.Duration(faultWaitTimeout)
		c.Pooler.CancelWaitTimeout = config.Duration(faultCancelWait)
		c.Databases[db] = config.Database{Host: fp.host, Port: fp.port, Password: appPassword, PoolSize: ptr(poolSize)}
	}
}

// faultTally counts the transactions of one phase. A transaction is three round trips: a check that the
// server lent is not inside someone's transaction (txid_current_if_assigned() is NULL), then
// "BEGIN; SELECT txid_current()", then COMMIT, whose tag must be COMMIT. It fails with its first error.
type faultTally struct {
	mu        sync.Mutex
	attempted int
	ok        int
	errs      map[string]int // SQLSTATE, or "client deadline" / "no SQLSTATE" for errors without one
	samples   []string       // the first errors without a SQLSTATE
	hung      int            // operations that returned later than their deadline plus faultMargin
	dirty     int            // a server lent inside a transaction (an xid assigned before BEGIN)
	wrong     int            // an answer other than the one asked for
	slowest   time.Duration
}

func newFaultTally() *faultTally { return &faultTally{errs: map[string]int{}} }

func (ft *faultTally) record(err error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.attempted++
	if err == nil {
		ft.ok++
		return
	}
	var code string
	switch state := sqlState(err); {
	case state != "":
		code = state
	case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
		code = "client deadline"
	default:
		code = "no SQLSTATE"
		if len(ft.samples) < 5 {
			ft.samples = append(ft.samples, err.Error())
		}
	}
	ft.errs[code]++
}

func (ft *faultTally) op(d time.Duration) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if d > faultOpTimeout+faultMargin {
		ft.hung++
	}
	ft.slowest = max(ft.slowest, d)
}

// add counts o's operations (not its transactions) in ft.
func (ft *faultTally) add(o *faultTally) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	ft.hung += o.hung
	ft.dirty += o.dirty
	ft.wrong += o.wrong
	ft.slowest = max(ft.slowest, o.slowest)
}

func (ft *faultTally) note(dirty, wrong bool) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if dirty {
		ft.dirty++
	}
	if wrong {
		ft.wrong++
	}
}

// errorsString is "none" or the errors by SQLSTATE, e.g. "08006=3 57014=5".
func (ft *faultTally) errorsString() string {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if len(ft.errs) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(ft.errs)) {
		parts = append(parts, fmt.Sprintf("%s=%d", strings.ReplaceAll(k, " ", "_"), ft.errs[k]))
	}
	return strings.Join(parts, " ")
}

func (ft *faultTally) String() string {
	errs := ft.errorsString()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return fmt.Sprintf("attempted %d ok %d errors %s hung %d dirty %d wrong %d slowest %s",
		ft.attempted, ft.ok, errs, ft.hung, ft.dirty, ft.wrong, ft.slowest.Round(time.Millisecond))
}

// check fails the test when an operation hung, a server was lent inside a transaction, an answer was
// wrong, the client's own deadline ran out before the pooler answered, or an error came without a
// SQLSTATE (the pooler closed a client without telling it why). Every error must be the pooler's or
// PostgreSQL's ErrorResponse.
func (ft *faultTally) check(t *testing.T, phase string) {
	t.Helper()
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.hung > 0 || ft.dirty > 0 || ft.wrong > 0 || ft.errs["client deadline"] > 0 || ft.errs["no SQLSTATE"] > 0 {
		t.Errorf("%s: hung %d, servers lent inside a transaction %d, wrong answers %d, client deadlines %d, errors without SQLSTATE %d %q",
			phase, ft.hung, ft.dirty, ft.wrong, ft.errs["client deadline"], ft.errs["no SQLSTATE"], ft.samples)
	}
}

// faultClient is one application connection running faultTally's transactions; it reconnects after
// any error.
type faultClient struct {
	url  string
	conn *pgconn.PgConn
}

// timed runs f with faultOpTimeout and records how long it took in ft.
func timed(ft *faultTally, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), faultOpTimeout)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	ft.op(time.Since(start))
	return err
}

// transaction runs one transaction, counted in the tally current when it ends.
func (fc *faultClient) transaction(cur *atomic.Pointer[faultTally]) {
	ops := newFaultTally() // this transaction's operations
	err := fc.try(ops)
	ft := cur.Load()
	ft.record(err)
	ft.add(ops)
	if err != nil && fc.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		fc.conn.Close(ctx)
		cancel()
		fc.conn = nil
	}
}

// only is a tally pointer that stays ft.
func only(ft *faultTally) *atomic.Pointer[faultTally] {
	var p atomic.Pointer[faultTally]
	p.Store(ft)
	return &p
}

func (fc *faultClient) try(ft *faultTally) error {
	if fc.conn == nil {
		if err := timed(ft, func(ctx context.Context) (err error) {
			fc.conn, err = pgconn.Connect(ctx, fc.url)
			return err
		}); err != nil {
			fc.conn = nil
			return err
		}
	}
	var res []*pgconn.Result
	run := func(sql string) error {
		return timed(ft, func(ctx context.Context) (err error) {
			res, err = fc.conn.Exec(ctx, sql).ReadAll()
			return err
		})
	}
	if err := run("SELECT txid_current_if_assigned()"); err != nil {
		return err
	}
	ft.note(len(res) != 1 || len(res[0].Rows) != 1 || res[0].Rows[0][0] != nil, false)
	if err := run("BEGIN; SELECT txid_current()"); err != nil {
		return err
	}
	ft.note(false, len(res) != 2 || len(res[1].Rows) != 1 || len(res[1].Rows[0][0]) == 0)
	if err := run("COMMIT"); err != nil {
		return err
	}
	ft.note(false, len(res) != 1 || res[0].CommandTag.String() != "COMMIT")
	return nil
}

func (fc *faultClient) close() {
	if fc.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		fc.conn.Close(ctx)
	}
}

// faultLoad is faultClients clients running transactions until stopped; each transaction is counted
// in the tally current when it ends.
type faultLoad struct {
	tally atomic.Pointer[faultTally]
	stop  chan struct{}
	wg    sync.WaitGroup
	left  atomic.Int64 // clients still running
}

func startFaultLoad(url string, clients int, first *faultTally) *faultLoad {
	l := &faultLoad{stop: make(chan struct{})}
	l.tally.Store(first)
	for range clients {
		l.wg.Add(1)
		l.left.Add(1)
		go func() {
			defer l.wg.Done()
			defer l.left.Add(-1)
			fc := &faultClient{url: url}
			defer fc.close()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				fc.transaction(&l.tally)
			}
		}()
	}
	return l
}

// finish stops the clients and waits for their last transactions, within the longest a transaction
// may take; it returns how many clients are still inside one (hung).
func (l *faultLoad) finish() int {
	close(l.stop)
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
		return 0
	case <-time.After(3*(faultOpTimeout+faultMargin) + 2*time.Second):
		return int(l.left.Load())
	}
}

// faultScenario is one fault injected between the pooler and PostgreSQL while clients run.
type faultScenario struct {
	name  string
	toxic toxic
	// action, when set, runs every 500 ms while the fault is in place (pg_terminate_backend, say).
	action func(t *testing.T, e *faultEnv)
	// clean: the fault slows answers but must cause no error at all.
	clean bool
	// phase is how long the fault stays in; 0 means faultPhase.
	phase time.Duration
}

// faultEnv is one scenario's PostgreSQL database, proxy, pooler and direct superuser connection.
type faultEnv struct {
	db    string
	fp    *faultProxy
	tp    *testPooler
	super *pgconn.PgConn
}

func newFaultEnv(t *testing.T, poolSize int) *faultEnv {
	t.Helper()
	e := &faultEnv{db: isolatedDB(t, "pooler_faults")}
	e.fp = startFaultProxy(t, net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)))
	e.tp = startPooler(t, faultSettings(e.fp, e.db, poolSize))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var err error
	if e.super, err = pgconn.Connect(ctx, pg.SuperConnString("postgres")); err != nil {
		t.Fatalf("direct superuser connection: %v", err)
	}
	t.Cleanup(func() { e.super.Close(context.Background()) })
	return e
}

// url is the clients' URL: the scenario's database through the pooler, as appUser.
func (e *faultEnv) url() string { return e.tp.url(e.db) }

// backends returns how many server connections PostgreSQL has on the scenario's database, and how many
// of them are not idle (active or inside a transaction).
func (e *faultEnv) backends(t testing.TB) (all, busy int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := e.super.ExecParams(ctx,
		"SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
		[][]byte{[]byte(e.db), []byte(appUser)}, nil, nil, nil).Read()
	if res.Err != nil || len(res.Rows) != 1 {
		t.Fatalf("pg_stat_activity: %v", res.Err)
	}
	all, _ = strconv.Atoi(string(res.Rows[0][0]))
	busy, _ = strconv.Atoi(string(res.Rows[0][1]))
	return all, busy
}

// terminate runs pg_terminate_backend on every server connection of the scenario's database.
func (e *faultEnv) terminate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := e.super.ExecParams(ctx,
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2",
		[][]byte{[]byte(e.db), []byte(appUser)}, nil, nil, nil).Read()
	if res.Err != nil {
		t.Errorf("pg_terminate_backend: %v", res.Err)
	}
}

// checkPool asserts the pool's counts in SHOW POOLS stay within pool_size with nobody waiting, and that
// PostgreSQL has at most pool_size server connections there, all idle, once every client has gone.
func (e *faultEnv) checkPool(t *testing.T, poolSize int) {
	t.Helper()
	con := openConsole(t, e.tp, consoleAdmin)
	// A client that has its last answer may not be gone from the pooler yet (its server goes back just
	// after that ReadyForQuery, its close is noticed when it arrives): the counts settle within a moment.
	deadline := time.Now().Add(10 * time.Second)
	for settled := false; !settled; {
		settled = true
		for _, r := range find(con.rows(t, "SHOW POOLS"), "database", e.db) {
			servers := atoi(r["sv_active"]) + atoi(r["sv_idle"]) + atoi(r["sv_used"]) + atoi(r["sv_tested"]) + atoi(r["sv_login"])
			if servers > poolSize || atoi(r["cl_waiting"]) != 0 || atoi(r["sv_active"]) != 0 {
				if time.Now().After(deadline) {
					t.Errorf("SHOW POOLS after the clients left: %v (want at most %d servers, none active, nobody waiting)", r, poolSize)
					break
				}
				settled = false
				time.Sleep(50 * time.Millisecond) // polling, with a deadline
			}
		}
	}
	var all, busy int
	for {
		all, busy = e.backends(t)
		if all <= poolSize && busy == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("PostgreSQL has %d server connections on %s, %d not idle, after the clients left (want at most %d, all idle)", all, e.db, busy, poolSize)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// recover waits until a fresh client's transaction succeeds and returns when it did.
func (e *faultEnv) recover(t *testing.T) time.Time {
	t.Helper()
	start := time.Now()
	for {
		ft := newFaultTally()
		fc := &faultClient{url: e.url()}
		fc.transaction(only(ft))
		fc.close()
		if ft.ok == 1 {
			return time.Now()
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("no transaction succeeded within 20 s after the fault was removed: %s", ft)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// verify runs 5 transactions in each of faultClients fresh clients: every one must succeed, on servers
// that are not inside a transaction.
func (e *faultEnv) verify(t *testing.T) *faultTally {
	t.Helper()
	ft := newFaultTally()
	cur := only(ft)
	var wg sync.WaitGroup
	for range faultClients {
		wg.Go(func() {
			fc := &faultClient{url: e.url()}
			defer fc.close()
			for range 5 {
				fc.transaction(cur)
			}
		})
	}
	wg.Wait()
	ft.check(t, "after the fault")
	if ft.ok != ft.attempted {
		t.Errorf("after the fault was removed and one transaction succeeded: %s (want every one to succeed: bad servers must be discarded)", ft)
	}
	return ft
}

func (s faultScenario) run(t *testing.T) {
	e := newFaultEnv(t, faultPoolSize)
	warm := newFaultTally()
	load := startFaultLoad(e.url(), faultClients, warm)
	eventually(t, 20*time.Second, "the clients' first transactions", func() bool {
		warm.mu.Lock()
		defer warm.mu.Unlock()
		return warm.ok >= faultClients
	})
	during := newFaultTally() // transactions that end once the fault is in, until the load has stopped
	load.tally.Store(during)
	e.fp.add(t, "fault", s.toxic)
	phase := time.NewTimer(s.phaseFor())
	tick := time.NewTicker(500 * time.Millisecond)
wait:
	for {
		select {
		case <-phase.C:
			break wait
		case <-tick.C:
			if s.action != nil {
				s.action(t, e)
			}
		}
	}
	tick.Stop()
	e.fp.remove(t, "fault")
	removed := time.Now()
	if hung := load.finish(); hung > 0 {
		t.Fatalf("%d clients still inside a transaction %s after the load stopped (hung); during the fault: %s", hung, 3*(faultOpTimeout+faultMargin), during)
	}
	warm.check(t, "before the fault")
	if warm.ok != warm.attempted {
		t.Errorf("before the fault: %s, want every transaction to succeed", warm)
	}
	during.check(t, "during the fault")
	if s.clean && during.ok != during.attempted {
		t.Errorf("during %s: %s, want every transaction to succeed (the fault only slows answers)", s.toxic, during)
	}
	if !s.clean && during.ok == during.attempted {
		t.Errorf("during %s: %s, want some transactions to fail (was the fault injected?)", s.toxic, during)
	}
	recovered := e.recover(t).Sub(removed)
	check := e.verify(t)
	e.checkPool(t, faultPoolSize)
	t.Logf("reliability: toxiproxy %s (%s) for %s, %d clients, pool %d: %s; after removal a new client's transaction succeeded within %s, then %s",
		s.name, s.toxic, s.phaseFor(), faultClients, faultPoolSize, during, recovered.Round(10*time.Millisecond), check)
}

// TestFaultToxics injects each fault between the pooler and PostgreSQL for real, through toxiproxy,
// while faultClients clients run short transactions through a transaction pool of faultPoolSize:
// every operation returns its answer or an ErrorResponse with a SQLSTATE within its deadline (hung 0),
// no server is lent inside a transaction, and once the fault is removed every transaction succeeds
// (bad servers were discarded) and the pool's counts are within pool_size.
func TestFaultToxics(t *testing.T) {
	scenarios := []faultScenario{
		{name: "latency", clean: true,
			toxic: toxic{Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 50, "jitter": 20}}},
		{name: "bandwidth", clean: true,
			toxic: toxic{Type: "bandwidth", Stream: "downstream", Attributes: map[string]any{"rate": 2}}},
		{name: "slicer", clean: true, // answers cut into segments of 1 to 5 bytes
			toxic: toxic{Type: "slicer", Stream: "downstream", Attributes: map[string]any{"average_size": 3, "size_variation": 2, "delay": 20}}},
		{name: "stall", phase: 5 * time.Second, // data stops, the connection stays open: query_timeout ends the wait
			toxic: toxic{Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 0}}},
		{name: "stall-upstream", phase: 5 * time.Second, // the pooler's messages vanish: the server never sees the query
			toxic: toxic{Type: "timeout", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}},
		{name: "late", phase: 5 * time.Second, // answers held back a minute, delivered when the fault is removed
			toxic: toxic{Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 60000}}},
		{name: "half-open", // data stops, and the connection is closed 1 s later
			toxic: toxic{Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 1000}}},
		{name: "limit-data", // a connection is cut after 3,000 bytes from PostgreSQL, mid-message
			toxic: toxic{Type: "limit_data", Stream: "downstream", Attributes: map[string]any{"bytes": 3000}}},
		{name: "reset", // every connection is reset (RST) when the pooler next sends
			toxic: toxic{Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}},
		{name: "slow-close", // PostgreSQL's close reaches the pooler 1 s late; backends are terminated
			toxic:  toxic{Type: "slow_close", Stream: "downstream", Attributes: map[string]any{"delay": 1000}},
			action: func(t *testing.T, e *faultEnv) { e.terminate(t) }},
	}
	for _, s := range scenarios {
		t.Run(s.name, s.run)
	}
}

// TestFaultToxicsEventLoops runs the faults that cut or slice a server's stream with the clients and
// servers on the event loops (PGPOOLER_EVENT_LOOPS=all): what a client sees must be what it sees on
// the goroutine relay, an answer or an ErrorResponse with SQLSTATE class 08 (or 57014), never a message
// cut off and followed by the pooler's error.
func TestFaultToxicsEventLoops(t *testing.T) {
	t.Setenv("PGPOOLER_EVENT_LOOPS", "all")
	for _, s := range []faultScenario{
		{name: "slicer", clean: true,
			toxic: toxic{Type: "slicer", Stream: "downstream", Attributes: map[string]any{"average_size": 3, "size_variation": 2, "delay": 20}}},
		{name: "limit-data",
			toxic: toxic{Type: "limit_data", Stream: "downstream", Attributes: map[string]any{"bytes": 3000}}},
		{name: "reset",
			toxic: toxic{Type: "reset_peer", Stream: "upstream", Attributes: map[string]any{"timeout": 0}}},
	} {
		t.Run(s.name, s.run)
	}
}

// TestFaultStalledServerQueryTimeout: a server that stops answering gives its client 57014 once
// query_timeout has passed, and the pooler closes that server while the fault is still in place (its
// backend goes away), so that the next client gets another server and its own answer. Two stalls: the
// proxy drops the server's data ("timeout"), or holds it back and delivers it late, when the fault is
// removed (latency of a minute).
func TestFaultStalledServerQueryTimeout(t *testing.T) {
	for _, x := range []toxic{
		{Type: "timeout", Stream: "downstream", Attributes: map[string]any{"timeout": 0}},
		{Type: "latency", Stream: "downstream", Attributes: map[string]any{"latency": 60000}},
	} {
		t.Run(x.Type, func(t *testing.T) { stalledServer(t, x) })
	}
}

func stalledServer(t *testing.T, x toxic) {
	e := newFaultEnv(t, 1)
	connect := func() *pgconn.PgConn {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), faultOpTimeout)
		defer cancel()
		c, err := pgconn.Connect(ctx, e.url())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(context.Background()) })
		return c
	}
	pid := func(c *pgconn.PgConn) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), faultOpTimeout)
		defer cancel()
		res, err := c.Exec(ctx, "SELECT pg_backend_pid()").ReadAll()
		if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
			t.Fatalf("SELECT pg_backend_pid(): %v", err)
		}
		return string(res[0].Rows[0][0])
	}
	conn := connect()
	stalled := pid(conn)

	e.fp.add(t, "stall", x)
	start := time.Now()
	qctx, qcancel := context.WithTimeout(context.Background(), faultOpTimeout)
	_, err := conn.Exec(qctx, "SELECT 1").ReadAll()
	qcancel()
	took := time.Since(start)
	if sqlState(err) != "57014" {
		t.Fatalf("query on a stalled server: %v after %s, want SQLSTATE 57014 (query_timeout %s)", err, took, faultQueryTimeout)
	}
	if took < faultQueryTimeout {
		t.Errorf("57014 after %s, before query_timeout %s", took, faultQueryTimeout)
	}
	// The pooler's close reaches PostgreSQL through the proxy (only answers are stalled), fault or not.
	eventually(t, 10*time.Second, "the stalled server's backend "+stalled+" closed while the fault is in place", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res := e.super.ExecParams(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", [][]byte{[]byte(stalled)}, nil, nil, nil).Read()
		return res.Err == nil && string(res.Rows[0][0]) == "0"
	})
	e.fp.remove(t, "stall")

	if got := pid(connect()); got == stalled {
		t.Fatalf("the next client got the stalled server (backend %s) again", got)
	}
	t.Logf("reliability: toxiproxy stall (%s) with query_timeout %s: the client got 57014 after %s; the server was closed and not lent again",
		x, faultQueryTimeout, took.Round(10*time.Millisecond))
}
