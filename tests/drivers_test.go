package tests

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The driver matrix of issue 5: real client libraries, each running a real workload through the pooler
// in session and in transaction mode, with more clients than servers so that in transaction mode the
// clients really change servers. Go drivers run in-process (drivers_go_test.go); the others are programs
// under tests/drivers/ run by their own runtimes (drivers_cmd_test.go). Every driver/mode pair is a
// subtest, e.g. TestDrivers/asyncpg/transaction. With PGPOOLER_WRITE_COMPAT=1 the test (re)writes
// docs/compatibility.md from its results (drivers_compat_test.go).

// preparedStatementsTracked says whether the pooler carries clients' named prepared statements across
// servers in transaction mode (issue 5, max_prepared_statements). Where it does not, a driver marked
// needsPreparedStatements must fail in transaction mode with a prepared-statement error (42P05 or
// 26000): the test asserts the documented limitation. Where it does, those drivers must pass.
const preparedStatementsTracked = true

// preparedStatementsSupported reports whether named prepared statements work in transaction mode with
// the pooler configuration cfg: tracked, and max_prepared_statements > 0 (0 turns the tracking off).
func preparedStatementsSupported(cfg *config.Config) bool {
	return preparedStatementsTracked && cfg.Pooler.MaxPreparedStatements > 0
}

// preparedStatementError matches the errors a driver gets when its named statements do not follow it
// to another server: prepared on a server that another client already prepared it on (42P05), or used
// on a server that never saw it (26000).
var preparedStatementError = regexp.MustCompile(`42P05|26000|prepared statement "[^"]*" (already exists|does not exist)`)

// unnamedStatementsCarried says whether the pooler keeps a client's unnamed statement for it from one
// round trip to the next in transaction mode: some drivers Parse and Describe the unnamed statement,
// Sync, then Bind it in a second round trip (lib/pq without binary_parameters, pgx's DescribeExec),
// and the server of the second round trip may be another one. The pooler carries it as part of its
// statement tracking, so with max_prepared_statements = 0 such a driver must fail in transaction mode
// with one of unnamedStatementSymptoms.
const unnamedStatementsCarried = true

// unnamedCarried is unnamedStatementsCarried for a pooler configuration.
func unnamedCarried(cfg *config.Config) bool {
	return unnamedStatementsCarried && cfg.Pooler.MaxPreparedStatements > 0
}

// unnamedStatementSymptoms matches what a driver sees when its Bind meets no unnamed statement (26000)
// or another client's: a parameter count (08P01) or type (22P02) that does not fit, or a result that is
// not its own (the workloads' "got ..., want ..." checks, pgx's scan errors).
var unnamedStatementSymptoms = regexp.MustCompile(`26000|08P01|22P02|: got .+, want |can't scan`)

// expectedFailure is, for driver d with pooler configuration cfg, the documented limitation the run
// must fail with and the pattern its error must match, or "" when it must pass.
func (d driverCase) expectedFailure(cfg *config.Config) (string, *regexp.Regexp) {
	if cfg.Pooler.PoolMode != "transaction" {
		return "", nil
	}
	if d.needsPreparedStatements && !preparedStatementsSupported(cfg) {
		return limitPrepared, preparedStatementError
	}
	if d.unnamedAcrossRoundTrips && !unnamedCarried(cfg) {
		return limitUnnamed, unnamedStatementSymptoms
	}
	return "", nil
}

// The documented limitations of transaction mode, as docs/compatibility.md names them.
const (
	limitPrepared = "prepared statements"
	limitUnnamed  = "unnamed statement across round trips"
)

// workloadSize is the shape of a driver workload: workers connections at once, each running rounds
// times queries parameterised queries, a transaction of inserts INSERTs and a SELECT that checks them,
// then a division by zero and a query that must still work.
type workloadSize struct {
	workers, rounds, queries, inserts int
}

var driverLoad = workloadSize{workers: 8, rounds: 3, queries: 10, inserts: 3}

// Pool sizes of the matrix. Transaction mode: fewer servers than clients, so clients change servers.
// Session mode: a server per client, as a session pooler is sized in front of an application's pool
// (pgxpool and database/sql keep their connections, so fewer servers would leave some waiting for good).
const (
	transactionPoolSize = 2
	sessionPoolSize     = 8
)

// counts is what a workload reports having done; a run passes only with the counts its driver expects.
type counts struct {
	queries, transactions, errors, rows int
}

func (c counts) String() string {
	return fmt.Sprintf("queries=%d transactions=%d errors=%d rows=%d", c.queries, c.transactions, c.errors, c.rows)
}

// standardCounts is what the common workload does: every worker, every round, the queries, one
// transaction inserting inserts rows, one division by zero.
func standardCounts(s workloadSize) counts {
	n := s.workers * s.rounds
	return counts{queries: n * s.queries, transactions: n, errors: n, rows: n * s.inserts}
}

// driverEnv is what a driver's run gets: the pooler, a fresh table (worker int, round int, k int) and
// the workload's size.
type driverEnv struct {
	tp    *testPooler
	table string
	size  workloadSize
}

// driverCase is one row of the matrix.
type driverCase struct {
	name string
	// what the run exercises, for docs/compatibility.md.
	what string
	// family groups variants of one driver in docs/compatibility.md (and shares their probe).
	family string
	// needsPreparedStatements: the driver uses named server-side prepared statements, so that in
	// transaction mode it works only when the pooler tracks them (preparedStatementsSupported).
	needsPreparedStatements bool
	// unnamedAcrossRoundTrips: the driver binds the unnamed statement in a later round trip than the one
	// that parsed it, so that in transaction mode it works only when the pooler carries the unnamed
	// statement (unnamedStatementsCarried).
	unnamedAcrossRoundTrips bool
	// probe tells the driver's version, or why it is not installed here (the run is then skipped).
	probe func() (string, error)
	run   func(ctx context.Context, e driverEnv) (counts, error)
	// want is the counts of a passing run; standardCounts when nil.
	want func(workloadSize) counts
}

// driverMatrix is the matrix: every driver, the variants that matter for a pooler, and whether the
// variant needs named prepared statements to follow the client from server to server.
func driverMatrix() []driverCase {
	pgxVersion := sync.OnceValues(goModuleVersion("github.com/jackc/pgx/v5"))
	pqVersion := sync.OnceValues(goModuleVersion("github.com/lib/pq"))
	psycopg2 := pythonModuleProbe("psycopg2", "python3-psycopg2")
	psycopg3 := pythonModuleProbe("psycopg", "python3-psycopg")
	asyncpg := pythonModuleProbe("asyncpg", "python3-asyncpg")
	pgxWhat := fmt.Sprintf("pgxpool (%d connections), QueryExecMode%%s; the queries also as a pgx.Batch; CopyFrom", driverLoad.workers)
	return []driverCase{
		{name: "pgx-cache_statement", family: "pgx", probe: pgxVersion, run: pgxPoolRun(pgx.QueryExecModeCacheStatement), want: pgxCounts,
			needsPreparedStatements: true, what: fmt.Sprintf(pgxWhat, "CacheStatement (pgx's default: named statements, cached per connection)")},
		{name: "pgx-cache_describe", family: "pgx", probe: pgxVersion, run: pgxPoolRun(pgx.QueryExecModeCacheDescribe), want: pgxCounts,
			what: fmt.Sprintf(pgxWhat, "CacheDescribe (unnamed statements, descriptions cached)")},
		{name: "pgx-describe_exec", family: "pgx", probe: pgxVersion, run: pgxPoolRun(pgx.QueryExecModeDescribeExec), want: pgxCounts,
			unnamedAcrossRoundTrips: true,
			what:                    fmt.Sprintf(pgxWhat, "DescribeExec (the unnamed statement described in one round trip, bound in the next)")},
		{name: "pgx-exec", family: "pgx", probe: pgxVersion, run: pgxPoolRun(pgx.QueryExecModeExec), want: pgxCounts,
			what: fmt.Sprintf(pgxWhat, "Exec (unnamed statements, no describe)")},
		{name: "pgx-simple_protocol", family: "pgx", probe: pgxVersion, run: pgxPoolRun(pgx.QueryExecModeSimpleProtocol), want: pgxCounts,
			what: fmt.Sprintf(pgxWhat, "SimpleProtocol (client-side parameters, simple queries)")},
		{name: "pgconn-pipeline", family: "pgx", probe: pgxVersion, run: pipelineRun(false),
			what: "pgconn pipeline: queries, BEGIN, INSERTs, SELECT, COMMIT before one Sync, unnamed statements (SendQueryParams)"},
		{name: "pgconn-pipeline-named", family: "pgx", probe: pgxVersion, run: pipelineRun(true), needsPreparedStatements: true,
			what: "pgconn pipeline with a named statement: SendPrepare in the first pipeline, then SendQueryPrepared"},
		{name: "pgx-stdlib", family: "pgx", probe: pgxVersion, run: sqlDBRun("pgx", "", true), needsPreparedStatements: true,
			what: "database/sql over pgx/v5/stdlib, default QueryExecMode (CacheStatement), the query as a *sql.Stmt"},
		{name: "pgx-stdlib-exec", family: "pgx", probe: pgxVersion, run: sqlDBRun("pgx", "&default_query_exec_mode=exec", false),
			what: "database/sql over pgx/v5/stdlib with default_query_exec_mode=exec, no *sql.Stmt"},
		{name: "lib-pq", family: "lib/pq", probe: pqVersion, run: sqlDBRun("postgres", "", false), unnamedAcrossRoundTrips: true,
			what: "database/sql over lib/pq, queries with arguments: the unnamed statement parsed in one round trip, bound in the next"},
		{name: "lib-pq-binary_parameters", family: "lib/pq", probe: pqVersion, run: sqlDBRun("postgres", "&binary_parameters=yes", false),
			what: "lib/pq with binary_parameters=yes: queries with arguments in one round trip (unnamed statements)"},
		{name: "lib-pq-prepared", family: "lib/pq", probe: pqVersion, run: sqlDBRun("postgres", "&binary_parameters=yes", true),
			needsPreparedStatements: true,
			what:                    "lib/pq with binary_parameters=yes, the query as a *sql.Stmt (named statements)"},
		{name: "psql", family: "psql", probe: clientToolProbe("psql", "postgresql-client"), run: psqlRun,
			what: "one psql per worker: simple queries with psql variables, BEGIN/COMMIT, an error and on"},
		{name: "pgbench-simple", family: "pgbench", probe: clientToolProbe("pgbench", "postgresql-contrib"), run: pgbenchRun("simple"), want: pgbenchCounts,
			what: "pgbench -M simple -c 8 -j 8 -t 25, a script of a query and a transaction (no error step: pgbench ends a client at an error)"},
		{name: "pgbench-extended", family: "pgbench", probe: clientToolProbe("pgbench", "postgresql-contrib"), run: pgbenchRun("extended"), want: pgbenchCounts,
			what: "pgbench -M extended (unnamed statements), same script"},
		{name: "pgbench-prepared", family: "pgbench", probe: clientToolProbe("pgbench", "postgresql-contrib"), run: pgbenchRun("prepared"), want: pgbenchCounts,
			needsPreparedStatements: true, what: "pgbench -M prepared (named statements P_0, P_1, ...), same script"},
		{name: "node-postgres", family: "node-postgres", probe: nodePostgresProbe, run: nodeRun(""),
			what: "pg.Client per worker, client.query({text, values}) (unnamed statements)"},
		{name: "node-postgres-named", family: "node-postgres", probe: nodePostgresProbe, run: nodeRun("named"), needsPreparedStatements: true,
			what: "client.query({name, text, values}): named statements, prepared once per connection"},
		{name: "psycopg2", family: "psycopg2", probe: psycopg2, run: pythonRun("psycopg2_workload.py", ""),
			what: "a thread per connection, client-side parameters, implicit transactions ended by commit/rollback"},
		{name: "psycopg3", family: "psycopg 3", probe: psycopg3, run: pythonRun("psycopg3_workload.py", ""), needsPreparedStatements: true,
			what: "autocommit, conn.transaction(), default prepare_threshold=5 (a query is prepared under a name once executed 5 times)"},
		{name: "psycopg3-prepare_threshold_0", family: "psycopg 3", probe: psycopg3, run: pythonRun("psycopg3_workload.py", "threshold=0"),
			needsPreparedStatements: true, what: "prepare_threshold=0: every query prepared at once under a name"},
		{name: "psycopg3-pipeline", family: "psycopg 3", probe: psycopg3, run: pythonRun("psycopg3_workload.py", "pipeline"),
			needsPreparedStatements: true, what: "pipeline mode for the queries and the transaction, default prepare_threshold"},
		{name: "psycopg3-no_prepare-pipeline", family: "psycopg 3", probe: psycopg3, run: pythonRun("psycopg3_workload.py", "threshold=none,pipeline"),
			what: "prepare_threshold=None (never prepare), pipeline mode"},
		{name: "asyncpg", family: "asyncpg", probe: asyncpg, run: pythonRun("asyncpg_workload.py", ""), needsPreparedStatements: true,
			what: "asyncio, a connection per worker, default statement cache (every query a named statement)"},
		{name: "asyncpg-no_statement_cache", family: "asyncpg", probe: asyncpg, run: pythonRun("asyncpg_workload.py", "nocache"),
			what: "statement_cache_size=0 (unnamed statements)"},
		{name: "jdbc-prepareThreshold_1", family: "PostgreSQL JDBC", probe: jdbcProbe, run: jdbcRun("1"), needsPreparedStatements: true,
			what: "a thread per Connection, PreparedStatement with prepareThreshold=1 (named statements from the first execution)"},
		{name: "jdbc-prepareThreshold_0", family: "PostgreSQL JDBC", probe: jdbcProbe, run: jdbcRun("0"),
			what: "prepareThreshold=0 (unnamed statements only)"},
		{name: "ruby-pg", family: "ruby-pg", probe: rubyPGProbe, run: rubyRun(""),
			what: "a thread per connection, exec_params (unnamed statements)"},
		{name: "ruby-pg-prepared", family: "ruby-pg", probe: rubyPGProbe, run: rubyRun("prepared"), needsPreparedStatements: true,
			what: "prepare once per connection, then exec_prepared (named statements)"},
	}
}

// driverMode is a column of the matrix: a pool mode and the configuration that goes with it.
type driverMode struct {
	name   string // the subtest's name
	short  string // for table names
	header string // for docs/compatibility.md
	edit   func(*config.Config)
}

// driverModes are the columns of the matrix: session mode, transaction mode as configured by default,
// and transaction mode with max_prepared_statements = 0 (PgBouncer's setting before 1.21, and what
// pgpooler did before it tracked prepared statements). Statement mode has no transactions: left out.
var driverModes = []driverMode{
	{name: "session", short: "s", header: "session", edit: func(c *config.Config) {
		c.Pooler.PoolMode = "session"
		c.Pooler.DefaultPoolSize = sessionPoolSize
	}},
	{name: "transaction", short: "t", header: "transaction", edit: func(c *config.Config) {
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = transactionPoolSize
	}},
	{name: "transaction-max_prepared_statements_0", short: "t0", header: "transaction, `max_prepared_statements = 0`",
		edit: func(c *config.Config) {
			c.Pooler.PoolMode = "transaction"
			c.Pooler.DefaultPoolSize = transactionPoolSize
			c.Pooler.MaxPreparedStatements = 0
		}},
}

type driverOutcome int

const (
	outcomePass driverOutcome = iota
	outcomeDocumented
	outcomeSkipped
	outcomeFailed
)

type driverResult struct {
	outcome driverOutcome
	detail  string // skip reason, documented error or failure
}

// driverResults collects the outcome of every subtest for the summary and docs/compatibility.md.
type driverResults struct {
	mu       sync.Mutex
	results  map[string]driverResult // key: driver name + "/" + mode
	versions map[string]string       // key: family
}

func (r *driverResults) set(name, mode string, res driverResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results[name+"/"+mode] = res
}

func (r *driverResults) get(name, mode string) (driverResult, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res, ok := r.results[name+"/"+mode]
	return res, ok
}

// TestDrivers runs every driver of the matrix in every column of driverModes. A driver passes when its
// workload completes with the expected counts and the table holds the rows it committed; in transaction
// mode, a driver that needs what the pooler does not carry (named prepared statements with
// max_prepared_statements = 0, the unnamed statement across round trips) must instead fail with the
// documented error. A driver not installed here is skipped with the reason. After each run, a new
// client must still get a server.
func TestDrivers(t *testing.T) {
	started := time.Now()
	res := &driverResults{results: map[string]driverResult{}, versions: map[string]string{}}
	drivers := driverMatrix()
	for _, d := range drivers {
		t.Run(d.name, func(t *testing.T) {
			for _, mode := range driverModes {
				t.Run(mode.name, func(t *testing.T) { runDriver(t, d, mode, res) })
			}
		})
	}

	var pass, documented, skipped, failed, notRun int
	for _, d := range drivers {
		for _, mode := range driverModes {
			r, ok := res.get(d.name, mode.name)
			switch {
			case !ok:
				notRun++ // left out by -run
			case r.outcome == outcomePass:
				pass++
			case r.outcome == outcomeDocumented:
				documented++
			case r.outcome == outcomeSkipped:
				skipped++
				t.Logf("skipped %s/%s: %s", d.name, mode.name, r.detail)
			default:
				failed++
			}
		}
	}
	t.Logf("driver matrix in %s: %d pass, %d fail as documented, %d skipped (not installed), %d unexpected failures, %d not run",
		time.Since(started).Round(time.Millisecond), pass, documented, skipped, failed, notRun)

	if os.Getenv("PGPOOLER_WRITE_COMPAT") == "1" {
		switch {
		case t.Failed():
			t.Errorf("PGPOOLER_WRITE_COMPAT=1: docs/compatibility.md not written, since the run failed")
		case notRun > 0:
			t.Errorf("PGPOOLER_WRITE_COMPAT=1: docs/compatibility.md not written, since -run left out %d runs", notRun)
		default:
			if err := writeCompatibility(drivers, res); err != nil {
				t.Fatalf("writing docs/compatibility.md: %v", err)
			}
			t.Logf("wrote docs/compatibility.md")
		}
	}
}

// runDriver is one subtest: driver d in column mode of the matrix.
func runDriver(t *testing.T, d driverCase, mode driverMode, res *driverResults) {
	outcome := driverResult{outcome: outcomeFailed}
	defer func() {
		if t.Failed() {
			outcome.outcome = outcomeFailed
		}
		res.set(d.name, mode.name, outcome)
	}()

	version, err := d.probe()
	if err != nil {
		outcome = driverResult{outcome: outcomeSkipped, detail: err.Error()}
		t.Skipf("not installed here: %v", err)
	}
	res.mu.Lock()
	res.versions[d.family] = version
	res.mu.Unlock()

	size := driverLoad
	tp, table, got, runErr := runWorkload(t, d, mode.edit, size, mode.short)

	if limit, symptoms := d.expectedFailure(tp.cfg); limit != "" {
		if runErr == nil {
			t.Fatalf("passed (%s), but %s/%s is documented to fail (%s): the limitation is gone, "+
				"update the matrix or preparedStatementsTracked/unnamedStatementsCarried", got, d.name, mode.name, limit)
		}
		detail := matchingLine(runErr, symptoms)
		if detail == "" {
			t.Fatalf("failed, but not as documented (%s: %s): %v", limit, symptoms, runErr)
		}
		t.Logf("fails as documented (%s): %s", limit, detail)
		stillServes(t, tp)
		outcome = driverResult{outcome: outcomeDocumented, detail: limit}
		return
	}

	wantWorkloadDone(t, d, size, table, got, runErr)
	stillServes(t, tp)
	outcome = driverResult{outcome: outcomePass}
}

// runWorkload starts a pooler configured by edit, runs driver d's workload of the given size through
// it into a fresh table (named after d and suffix), and returns the pooler, the table, the counts the
// workload reported and its error.
func runWorkload(t *testing.T, d driverCase, edit func(*config.Config), size workloadSize, suffix string) (*testPooler, string, counts, error) {
	tp := startPooler(t, edit)
	table := workloadTable(t, d.name, suffix)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	started := time.Now()
	got, err := d.run(ctx, driverEnv{tp: tp, table: table, size: size})
	t.Logf("%s/%s, %d connections: %s", d.name, suffix, size.workers, time.Since(started).Round(time.Millisecond))
	return tp, table, got, err
}

// wantWorkloadDone fails the test unless driver d's workload of the given size succeeded with the
// counts it must report and the rows it committed are in table.
func wantWorkloadDone(t *testing.T, d driverCase, size workloadSize, table string, got counts, runErr error) {
	t.Helper()
	if runErr != nil {
		t.Fatalf("workload failed: %v", runErr)
	}
	want := standardCounts(size)
	if d.want != nil {
		want = d.want(size)
	}
	if got != want {
		t.Fatalf("workload reported %s; want %s", got, want)
	}
	if n := tableRows(t, table); n != want.rows {
		t.Fatalf("table %s holds %d rows after the workload; want the %d it committed", table, n, want.rows)
	}
}

// TestDriversUnderLoad is issue 5's acceptance for drivers that prepare statements: asyncpg (statement
// cache) and JDBC (prepareThreshold=1) with 50 connections at once through a transaction pool of 5
// servers, with no error besides the workload's own divisions by zero. pgx's is
// TestPgxStatementCacheTransactionMode. A driver that is not installed is skipped with the reason.
func TestDriversUnderLoad(t *testing.T) {
	size := workloadSize{workers: 50, rounds: 2, queries: 10, inserts: 3}
	edit := func(c *config.Config) {
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 5
	}
	for _, d := range driverMatrix() {
		if d.name != "asyncpg" && d.name != "jdbc-prepareThreshold_1" {
			continue
		}
		t.Run(d.name, func(t *testing.T) {
			if _, err := d.probe(); err != nil {
				t.Skipf("not installed here: %v", err)
			}
			tp, table, got, err := runWorkload(t, d, edit, size, "load")
			wantWorkloadDone(t, d, size, table, got, err)
			stillServes(t, tp)
		})
	}
}

// matchingLine is the first line of err that re matches, or "".
func matchingLine(err error, re *regexp.Regexp) string {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		if re.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// workloadTable creates the run's table over a direct connection (so that setup and the final count do
// not depend on the pooler) and drops it when the test ends.
func workloadTable(t *testing.T, driver, suffix string) string {
	t.Helper()
	table := "drv_" + regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(driver), "_") + "_" + suffix
	conn := directConn(t)
	mustExec(t, conn, "DROP TABLE IF EXISTS "+table)
	mustExec(t, conn, "CREATE TABLE "+table+" (worker int NOT NULL, round int NOT NULL, k int NOT NULL)")
	t.Cleanup(func() {
		conn, err := connectDirect()
		if err != nil {
			t.Errorf("dropping %s: %v", table, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP TABLE IF EXISTS "+table); err != nil {
			t.Errorf("dropping %s: %v", table, err)
		}
	})
	return table
}

// tableRows counts the rows of table over a direct connection.
func tableRows(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := directConn(t).QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// directConn opens a connection to appDB as appUser straight to PostgreSQL, closed when the test ends.
func directConn(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := connectDirect()
	if err != nil {
		t.Fatalf("direct connection: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func connectDirect() (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.Connect(ctx, pg.ConnString(appUser, appPassword, appDB))
}

// tally adds up the counts of concurrent workers.
type tally struct {
	mu sync.Mutex
	c  counts
}

func (t *tally) add(c counts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.c.queries += c.queries
	t.c.transactions += c.transactions
	t.c.errors += c.errors
	t.c.rows += c.rows
}

// runWorkers runs work for workers 0..n-1 at once and returns their counts and the first error.
func runWorkers(n int, work func(w int, tl *tally) error) (counts, error) {
	var (
		tl    tally
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for w := range n {
		wg.Go(func() {
			if err := work(w, &tl); err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("worker %d: %w", w, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return tl.c, first
}
