package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The soak test's pools: a transaction pool and a session pool of the same PostgreSQL database.
const (
	soakTxDB        = "soak_tx"
	soakSessDB      = "soak_sess"
	soakTxPoolSize  = 4
	soakSessPoolSz  = 3
	soakOpDeadline  = 30 * time.Second        // an operation that takes longer counts as hung
	soakLeftMargin  = 1500 * time.Millisecond // a left client's statement that starts later than this ran after it left
	soakDefaultTime = 60 * time.Second
)

// soakDuration is how long TestSoak runs: 60 s, or PGPOOLER_SOAK_DURATION (a Go duration such as
// "10m"), or 5 minutes with PGPOOLER_LONG=1.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("PGPOOLER_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("PGPOOLER_SOAK_DURATION: %v", err)
		}
		return d
	}
	if os.Getenv("PGPOOLER_LONG") == "1" {
		return 5 * time.Minute
	}
	return soakDefaultTime
}

// soakTally counts what the soak's clients saw. Errors are keyed by SQLSTATE, or by a short kind for
// errors without one (a connection the pooler closed after KILL, say).
type soakTally struct {
	ops, ok, hung, checks atomic.Int64

	mu         sync.Mutex
	errs       map[string]int
	violations []string
}

func (st *soakTally) err(kind string) {
	st.mu.Lock()
	st.errs[kind]++
	st.mu.Unlock()
}

// violate records a broken invariant; the test fails with every one of them at the end.
func (st *soakTally) violate(format string, args ...any) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.violations) < 50 {
		st.violations = append(st.violations, fmt.Sprintf(format, args...))
	}
}

func (st *soakTally) summary() string {
	st.mu.Lock()
	defer st.mu.Unlock()
	keys := make([]string, 0, len(st.errs))
	for k := range st.errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%d", k, st.errs[k])
	}
	if b.Len() == 0 {
		b.WriteString(" none")
	}
	return fmt.Sprintf("ops %d ok %d errors%s hung %d; invariant checks %d, violations %d",
		st.ops.Load(), st.ok.Load(), b.String(), st.hung.Load(), st.checks.Load(), len(st.violations))
}

// soakErrorKind classifies an error a soak client got. expected reports whether the soak's own faults
// explain it: the client was killed (57P01, or its connection closed), its query was cancelled (57014),
// or its transaction was aborted by one of those (25P02). Anything else fails the test.
func soakErrorKind(err error) (kind string, expected bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "57P01", "57014", "25P02":
			return pe.Code, true
		}
		return pe.Code + " " + pe.Message, false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "hung", false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || strings.Contains(err.Error(), "conn closed") {
		return "connection closed", true // the pooler closed the connection: KILL, KILL_CLIENT
	}
	return "other " + err.Error(), false
}

// TestSoak runs, for soakDuration, a mix of session and transaction clients doing transactions,
// pipelined queries, session state, cancels and disconnects mid-query and mid-queue, while a console
// client runs KILL_CLIENT, KILL, PAUSE/RESUME and SET (a reload), and checks as it goes:
//   - no server goes back to a pool inside a transaction (a client's statement outside a transaction runs
//     in a transaction that began after it was sent, with no transaction ID assigned);
//   - no client sees another's answers (every query echoes its client's token, in order) or session state
//     (application_name set by each transaction-mode client follows it);
//   - pool counts stay within pool_size (SHOW POOLS, SHOW SERVERS);
//   - nothing runs for a client after it has gone (a client that sends an INSERT and closes at once: if the
//     row lands, it was started within soakLeftMargin of the close);
//   - nothing a client committed is lost (rows per client between its acknowledged and attempted COMMITs);
//   - every operation returns within soakOpDeadline (hung = 0).
func TestSoak(t *testing.T) {
	dur := soakDuration(t)
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.MaxClientConn = 300
		c.Pooler.QueryWaitTimeout = config.Duration(20 * time.Second)
		c.Pooler.MaxPreparedStatements = 50
		c.Databases[soakTxDB] = config.Database{Host: pg.Host, Port: pg.Port, DBName: appDB, Password: appPassword,
			PoolMode: "transaction", PoolSize: ptr(soakTxPoolSize)}
		c.Databases[soakSessDB] = config.Database{Host: pg.Host, Port: pg.Port, DBName: appDB, Password: appPassword,
			PoolMode: "session", PoolSize: ptr(soakSessPoolSz)}
	})
	ctx := context.Background()
	super, err := pgx.Connect(ctx, pg.SuperConnString(appDB))
	if err != nil {
		t.Fatalf("direct superuser connection: %v", err)
	}
	defer super.Close(ctx)
	mustExec(t, super, "DROP TABLE IF EXISTS soak_rows, soak_left")
	mustExec(t, super, "CREATE TABLE soak_rows (token text, seq int)")
	mustExec(t, super, "CREATE TABLE soak_left (token text, started timestamptz)")
	mustExec(t, super, "GRANT ALL ON soak_rows, soak_left TO "+appUser)
	defer func() { _, _ = super.Exec(ctx, "DROP TABLE IF EXISTS soak_rows, soak_left") }()

	st := &soakTally{errs: map[string]int{}}
	stop := time.Now().Add(dur)
	var wg sync.WaitGroup
	var commits sync.Map // token → *soakCommits
	var left sync.Map    // token → time the client closed its socket

	run := func(n int, f func(id int)) {
		for i := range n {
			wg.Add(1)
			go func() { defer wg.Done(); f(i) }()
		}
	}
	run(10, func(id int) { soakClient(t, tp, st, &commits, soakTxDB, fmt.Sprintf("tx%d", id), stop) })
	run(3, func(id int) { soakClient(t, tp, st, &commits, soakSessDB, fmt.Sprintf("se%d", id), stop) })
	run(2, func(id int) { soakHolder(tp, st, fmt.Sprintf("hold%d", id), stop) })
	run(2, func(id int) { soakLeaver(tp, st, &left, fmt.Sprintf("left%d", id), stop) })
	run(1, func(int) { soakConsole(t, tp, st, stop) })
	wg.Wait()

	// Nothing committed was lost, nothing rolled back was kept.
	commits.Range(func(k, v any) bool {
		c := v.(*soakCommits)
		var n int
		if err := super.QueryRow(ctx, "SELECT count(*) FROM soak_rows WHERE token = $1", k).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n < c.acked || n > c.attempted {
			st.violate("client %s: %d rows, want between %d acknowledged and %d attempted COMMITs", k, n, c.acked, c.attempted)
		}
		return true
	})
	// Nothing ran for a client after it had gone.
	var leftRows int
	left.Range(func(k, v any) bool {
		closed := v.(time.Time)
		var started time.Time
		err := super.QueryRow(ctx, "SELECT started FROM soak_left WHERE token = $1", k).Scan(&started)
		if errors.Is(err, pgx.ErrNoRows) {
			return true
		} else if err != nil {
			t.Fatal(err)
		}
		leftRows++
		if late := started.Sub(closed); late > soakLeftMargin {
			st.violate("client %s: its INSERT started %s after it closed its connection", k, late.Round(time.Millisecond))
		}
		return true
	})
	t.Logf("reliability: soak %s (10 transaction-mode and 3 session-mode clients, 2 holders, 2 leavers, console faults): %s; left clients' rows %d",
		dur, st.summary(), leftRows)
	for _, v := range st.violations {
		t.Error(v)
	}
	if st.hung.Load() > 0 {
		t.Errorf("%d operations hung (no answer within %s)", st.hung.Load(), soakOpDeadline)
	}
	st.mu.Lock()
	for k, n := range st.errs {
		if _, ok := soakErrorKind(errorOfKind(k)); !ok {
			t.Errorf("unexpected error %q seen %d times", k, n)
		}
	}
	st.mu.Unlock()
	if st.ok.Load() == 0 {
		t.Error("no operation succeeded")
	}
}

// errorOfKind turns a tally key back into an error for soakErrorKind.
func errorOfKind(kind string) error {
	code, msg, _ := strings.Cut(kind, " ")
	switch {
	case kind == "connection closed":
		return net.ErrClosed
	case kind == "hung":
		return context.DeadlineExceeded
	case code == "other":
		return errors.New(msg)
	}
	return &pgconn.PgError{Code: code, Message: msg}
}

// soakCommits counts one client's transactions that inserted a row: attempted (COMMIT sent) and
// acknowledged (COMMIT answered without error).
type soakCommits struct{ attempted, acked int }

// soakConnect opens a pgx connection to db through the pooler whose context cancellations send a
// CancelRequest (then fall back to a deadline), as applications that cancel queries do.
func soakConnect(ctx context.Context, tp *testPooler, db string, mode pgx.QueryExecMode) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(tp.url(db))
	if err != nil {
		return nil, err
	}
	cfg.DefaultQueryExecMode = mode
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, CancelRequestDelay: 0, DeadlineDelay: 3 * time.Second}
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// soakClient is one application client: it connects, sets its application_name to its token, and runs
// random operations, each checking its invariants, reconnecting after an expected error.
func soakClient(t *testing.T, tp *testPooler, st *soakTally, commits *sync.Map, db, name string, stop time.Time) {
	modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec, pgx.QueryExecModeCacheStatement}
	for gen := 0; time.Now().Before(stop); gen++ {
		token := fmt.Sprintf("%s.%d", name, gen)
		c := &soakCommits{}
		commits.Store(token, c)
		ctx, cancel := context.WithTimeout(context.Background(), soakOpDeadline)
		conn, err := soakConnect(ctx, tp, db, modes[gen%len(modes)])
		cancel()
		st.ops.Add(1)
		if err != nil {
			if soakFailed(st, err) {
				return
			}
			continue
		}
		st.ok.Add(1)
		appName := token
		if err := soakDo(st, func(ctx context.Context) error {
			_, err := conn.Exec(ctx, "SET application_name = '"+appName+"'")
			return err
		}); err == nil {
			for seq := 0; time.Now().Before(stop); seq++ {
				if err := soakStep(st, conn, c, db, token, &appName, seq); err != nil {
					break
				}
			}
		}
		_ = conn.Close(context.Background())
	}
}

// soakDo runs op within soakOpDeadline and counts it; the error is returned after counting (nil when
// the operation succeeded).
func soakDo(st *soakTally, op func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), soakOpDeadline)
	defer cancel()
	st.ops.Add(1)
	err := op(ctx)
	if err == nil {
		st.ok.Add(1)
		return nil
	}
	if ctx.Err() != nil {
		st.hung.Add(1)
		st.err("hung")
		return err
	}
	kind, _ := soakErrorKind(err)
	st.err(kind)
	return err
}

// soakFailed counts a connection error; it reports whether the client should give up (the soak is over).
func soakFailed(st *soakTally, err error) bool {
	kind, _ := soakErrorKind(err)
	st.err(kind)
	return false
}

// soakStep runs one random operation of a soak client and returns its error (nil when it succeeded or
// its error left the connection usable).
func soakStep(st *soakTally, conn *pgx.Conn, c *soakCommits, db, token string, appName *string, seq int) error {
	switch r := rand.IntN(10); {
	case r < 3: // the fresh-transaction and identity check
		return soakDo(st, func(ctx context.Context) error {
			var tok, app string
			var fresh, noXid bool
			// A transaction that began before the client sent its statement is one it did not open.
			sent := time.Now().Add(-5 * time.Millisecond)
			err := conn.QueryRow(ctx, "SELECT $1::text, now() >= $2::timestamptz, txid_current_if_assigned() IS NULL, current_setting('application_name')",
				token, sent).Scan(&tok, &fresh, &noXid, &app)
			if err != nil {
				return err
			}
			st.checks.Add(1)
			if tok != token {
				st.violate("client %s got the answer %q", token, tok)
			}
			if !fresh || !noXid {
				st.violate("client %s (%s): its statement ran inside a transaction it did not open (began after it was sent %v, no xid %v)", token, db, fresh, noXid)
			}
			if app != *appName {
				st.violate("client %s (%s): application_name %q, want %q", token, db, app, *appName)
			}
			return nil
		})
	case r < 5: // a transaction that inserts a row
		return soakDo(st, func(ctx context.Context) error {
			tx, err := conn.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO soak_rows VALUES ($1, $2)", token, seq); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			var tok string
			if err := tx.QueryRow(ctx, "SELECT $1::text", token).Scan(&tok); err != nil {
				_ = tx.Rollback(ctx)
				return err
			}
			if tok != token {
				st.violate("client %s got the answer %q inside its transaction", token, tok)
			}
			c.attempted++
			if err := tx.Commit(ctx); err != nil {
				return err
			}
			c.acked++
			return nil
		})
	case r < 7: // a pipelined batch: answers in order, each the client's own
		return soakDo(st, func(ctx context.Context) error {
			b := &pgx.Batch{}
			for i := range 3 {
				b.Queue("SELECT $1::text, $2::int", token, seq*10+i)
			}
			br := conn.SendBatch(ctx, b)
			for i := range 3 {
				var tok string
				var n int
				if err := br.QueryRow().Scan(&tok, &n); err != nil {
					_ = br.Close()
					return err
				}
				st.checks.Add(1)
				if tok != token || n != seq*10+i {
					st.violate("client %s: pipelined answer %d was (%q, %d), want (%q, %d)", token, i, tok, n, token, seq*10+i)
				}
			}
			return br.Close()
		})
	case r < 8: // a query cancelled by its context: 57014, then the connection goes on
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		st.ops.Add(1)
		_, err := conn.Exec(ctx, "SELECT pg_sleep(0.3)")
		if err == nil {
			st.ok.Add(1)
			return nil
		}
		kind, _ := soakErrorKind(err)
		if errors.Is(err, context.DeadlineExceeded) {
			kind = "57014" // pgx reports the cancelled query as its context's error
		}
		st.err(kind)
		if conn.IsClosed() {
			return err
		}
		return nil
	default: // a new session state
		*appName = fmt.Sprintf("%s.%d", token, seq)
		name := *appName
		return soakDo(st, func(ctx context.Context) error {
			_, err := conn.Exec(ctx, "SET application_name = '"+name+"'")
			return err
		})
	}
}

// soakHolder keeps the transaction pool busy with transactions that hold a server for a while, so that
// other clients queue.
func soakHolder(tp *testPooler, st *soakTally, name string, stop time.Time) {
	for time.Now().Before(stop) {
		ctx, cancel := context.WithTimeout(context.Background(), soakOpDeadline)
		conn, err := soakConnect(ctx, tp, soakTxDB, pgx.QueryExecModeSimpleProtocol)
		cancel()
		st.ops.Add(1)
		if err != nil {
			soakFailed(st, err)
			continue
		}
		st.ok.Add(1)
		for time.Now().Before(stop) {
			if err := soakDo(st, func(ctx context.Context) error {
				_, err := conn.Exec(ctx, "BEGIN; SELECT pg_sleep(0.4); COMMIT")
				return err
			}); err != nil {
				break
			}
		}
		_ = conn.Close(context.Background())
	}
}

// soakLeaver logs in, sends an INSERT and closes its socket at once: while the pool is busy the INSERT
// is queued, and must never run once its client is gone.
func soakLeaver(tp *testPooler, st *soakTally, left *sync.Map, name string, stop time.Time) {
	for i := 0; time.Now().Before(stop); i++ {
		token := fmt.Sprintf("%s.%d", name, i)
		ctx, cancel := context.WithTimeout(context.Background(), soakOpDeadline)
		pc, err := pgconn.Connect(ctx, tp.url(soakTxDB))
		cancel()
		st.ops.Add(1)
		if err != nil {
			soakFailed(st, err)
			continue
		}
		st.ok.Add(1)
		buf, _ := (&pgproto3.Query{String: "INSERT INTO soak_left VALUES ('" + token + "', clock_timestamp())"}).Encode(nil)
		nc := pc.Conn()
		if _, err := nc.Write(buf); err == nil {
			_ = nc.Close()
			left.Store(token, time.Now())
		}
		_ = pc.Close(context.Background())
		time.Sleep(time.Duration(50+rand.IntN(200)) * time.Millisecond) // pacing, not synchronisation
	}
}

// soakConsole runs the operator's side: every few hundred milliseconds one of KILL_CLIENT of a random
// client, PAUSE/RESUME, KILL/RESUME of the session database, or SET (a reload); and checks the pool
// counts against pool_size.
func soakConsole(t *testing.T, tp *testPooler, st *soakTally, stop time.Time) {
	cfg, err := pgconn.ParseConfig(consoleURL(tp, consoleAdmin, "pgbouncer"))
	if err != nil {
		t.Error(err)
		return
	}
	ctx0, cancel0 := context.WithTimeout(context.Background(), soakOpDeadline)
	adm, err := pgconn.ConnectConfig(ctx0, cfg)
	cancel0()
	if err != nil {
		t.Errorf("console: %v", err)
		return
	}
	defer adm.Close(context.Background())
	exec := func(sql string) ([]*pgconn.Result, error) {
		var res []*pgconn.Result
		err := soakDo(st, func(ctx context.Context) error {
			var err error
			res, err = adm.Exec(ctx, sql).ReadAll()
			return err
		})
		return res, err
	}
	for time.Now().Before(stop) {
		time.Sleep(time.Duration(200+rand.IntN(300)) * time.Millisecond) // pacing, not synchronisation
		soakCheckPools(st, exec)
		switch r := rand.IntN(10); {
		case r < 4:
			res, err := exec("SHOW CLIENTS")
			if err != nil || len(res) == 0 {
				continue
			}
			var ids []string
			for _, row := range res[0].Rows {
				if string(row[2]) == soakTxDB || string(row[2]) == soakSessDB {
					ids = append(ids, string(row[len(row)-1]))
				}
			}
			if len(ids) > 0 {
				// The client may leave between SHOW CLIENTS and KILL_CLIENT (a leaver, or one killed by KILL):
				// 42704 no such client is then the right answer, not a fault.
				_ = soakDo(st, func(ctx context.Context) error {
					_, err := adm.Exec(ctx, "KILL_CLIENT "+ids[rand.IntN(len(ids))]).ReadAll()
					var pe *pgconn.PgError
					if errors.As(err, &pe) && pe.Code == "42704" {
						return nil
					}
					return err
				})
			}
		case r < 6:
			if _, err := exec("PAUSE " + soakTxDB); err == nil {
				time.Sleep(100 * time.Millisecond) // how long the database stays paused
			}
			_, _ = exec("RESUME " + soakTxDB)
		case r < 7:
			if _, err := exec("KILL " + soakSessDB); err == nil {
				time.Sleep(50 * time.Millisecond) // how long the database stays killed
			}
			_, _ = exec("RESUME " + soakSessDB)
		default:
			_, _ = exec(fmt.Sprintf("SET server_idle_timeout = %d", 30+rand.IntN(30)))
		}
	}
}

// soakCheckPools checks SHOW POOLS and SHOW SERVERS: no soak pool has more servers than its pool_size.
func soakCheckPools(st *soakTally, exec func(string) ([]*pgconn.Result, error)) {
	limits := map[string]int{soakTxDB: soakTxPoolSize, soakSessDB: soakSessPoolSz}
	res, err := exec("SHOW POOLS")
	if err != nil || len(res) == 0 {
		return
	}
	cols := map[string]int{}
	for i, f := range res[0].FieldDescriptions {
		cols[f.Name] = i
	}
	for _, row := range res[0].Rows {
		limit, ok := limits[string(row[cols["database"]])]
		if !ok {
			continue
		}
		n := 0
		for _, c := range []string{"sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"} {
			var v int
			fmt.Sscan(string(row[cols[c]]), &v)
			n += v
		}
		st.checks.Add(1)
		if n > limit {
			st.violate("SHOW POOLS: %s has %d servers, pool_size %d", row[cols["database"]], n, limit)
		}
	}
	res, err = exec("SHOW SERVERS")
	if err != nil || len(res) == 0 {
		return
	}
	// Distinct servers (the id column): SHOW SERVERS reads each client in turn, so a server handed from
	// one client to the next meanwhile may appear on both rows.
	per := map[string]int{}
	seen := map[string]bool{}
	for _, row := range res[0].Rows {
		if id := string(row[len(row)-1]); !seen[id] {
			seen[id] = true
			per[string(row[2])]++
		}
	}
	for db, limit := range limits {
		st.checks.Add(1)
		if per[db] > limit {
			st.violate("SHOW SERVERS: %s has %d servers, pool_size %d", db, per[db], limit)
		}
	}
}

// TestSoakErrorKinds: the soak's tally keys map back to the right verdict, so that its final check of
// the errors seen fails on unexpected ones and only on those.
func TestSoakErrorKinds(t *testing.T) {
	for _, k := range []string{"connection closed", "57014", "57P01", "25P02"} {
		if _, ok := soakErrorKind(errorOfKind(k)); !ok {
			t.Errorf("%q is counted as unexpected", k)
		}
	}
	for _, k := range []string{"hung", "42P01 relation \"soak_rows\" does not exist", "other unexpected message type"} {
		if _, ok := soakErrorKind(errorOfKind(k)); ok {
			t.Errorf("%q is counted as expected", k)
		}
	}
}
