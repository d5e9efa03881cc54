package tests

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/lib/pq"                // database/sql driver "postgres"
)

// The Go drivers of the matrix, run in-process: pgx in every QueryExecMode (through pgxpool, with
// batches and COPY), pipelines through pgconn, database/sql over pgx's stdlib and over lib/pq.

const (
	sqlAdd   = "SELECT $1::int + $2::int"
	sqlAfter = "SELECT $1::text || ' after the error'"
)

func sqlInsert(table string) string {
	return "INSERT INTO " + table + " (worker, round, k) VALUES ($1, $2, $3)"
}

func sqlCount(table string) string {
	return "SELECT count(*) FROM " + table + " WHERE worker = $1 AND round = $2"
}

// goModuleVersion is the version of module path that go.mod requires (test binaries carry no module
// list in their build information).
func goModuleVersion(path string) func() (string, error) {
	return func() (string, error) {
		b, err := os.ReadFile(filepath.Join("..", "go.mod"))
		if err != nil {
			return "", err
		}
		for line := range strings.SplitSeq(string(b), "\n") {
			f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
			if len(f) >= 2 && f[0] == path {
				return f[1] + " (" + runtime.Version() + ")", nil
			}
		}
		return "", fmt.Errorf("go.mod does not require %s", path)
	}
}

// sqlState is the SQLSTATE of a pgx or lib/pq error, or "".
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	var qe *pq.Error
	if errors.As(err, &qe) {
		return string(qe.Code)
	}
	return ""
}

// withState prefixes err with its SQLSTATE, as the drivers' programs print their errors.
func withState(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("SQLSTATE %s: %w", sqlState(err), err)
}

func expectInt(what string, got, want int) error {
	if got != want {
		return fmt.Errorf("%s: got %d, want %d", what, got, want)
	}
	return nil
}

// wantDivisionByZero checks that err is the division by zero of SELECT 1/0.
func wantDivisionByZero(err error) error {
	if err == nil {
		return errors.New("SELECT 1/0 did not fail")
	}
	if sqlState(err) != "22012" {
		return withState(err)
	}
	return nil
}

// pgxCounts: pgx workers also send their queries once more as a batch and COPY two rows in each round.
func pgxCounts(s workloadSize) counts {
	c := standardCounts(s)
	c.queries *= 2
	c.rows += s.workers * s.rounds * 2
	return c
}

// pgxPoolRun is the pgx workload through a pgxpool of size.workers connections in exec mode mode.
func pgxPoolRun(mode pgx.QueryExecMode) func(ctx context.Context, e driverEnv) (counts, error) {
	return func(ctx context.Context, e driverEnv) (counts, error) {
		cfg, err := pgxpool.ParseConfig(e.tp.url(appDB))
		if err != nil {
			return counts{}, err
		}
		cfg.ConnConfig.DefaultQueryExecMode = mode
		cfg.MaxConns = int32(e.size.workers)
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return counts{}, err
		}
		defer pool.Close()
		return runWorkers(e.size.workers, func(w int, tl *tally) error {
			for r := range e.size.rounds {
				if err := pgxRound(ctx, pool, e, w, r, tl); err != nil {
					return withState(err)
				}
			}
			return nil
		})
	}
}

func pgxRound(ctx context.Context, pool *pgxpool.Pool, e driverEnv, w, r int, tl *tally) error {
	for i := range e.size.queries {
		var s int
		if err := pool.QueryRow(ctx, sqlAdd, i, w).Scan(&s); err != nil {
			return err
		}
		if err := expectInt("sum", s, i+w); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	for i := range e.size.queries {
		b.Queue(sqlAdd, i, w)
	}
	br := pool.SendBatch(ctx, b)
	for i := range e.size.queries {
		var s int
		if err := br.QueryRow().Scan(&s); err != nil {
			br.Close()
			return fmt.Errorf("batch: %w", err)
		}
		if err := expectInt("batch sum", s, i+w); err != nil {
			br.Close()
			return err
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	tl.add(counts{queries: 2 * e.size.queries})

	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for k := range e.size.inserts {
			if _, err := tx.Exec(ctx, sqlInsert(e.table), w, r, k); err != nil {
				return err
			}
		}
		var n int
		if err := tx.QueryRow(ctx, sqlCount(e.table), w, r).Scan(&n); err != nil {
			return err
		}
		return expectInt("rows seen in the transaction", n, e.size.inserts)
	})
	if err != nil {
		return fmt.Errorf("transaction: %w", err)
	}
	rows := [][]any{{w, r, e.size.inserts}, {w, r, e.size.inserts + 1}}
	copied, err := pool.CopyFrom(ctx, pgx.Identifier{e.table}, []string{"worker", "round", "k"}, pgx.CopyFromRows(rows))
	if err != nil {
		return fmt.Errorf("COPY: %w", err)
	}
	if err := expectInt("rows copied", int(copied), 2); err != nil {
		return err
	}
	tl.add(counts{transactions: 1, rows: e.size.inserts + 2})

	if _, err := pool.Exec(ctx, "SELECT 1/0"); wantDivisionByZero(err) != nil {
		return wantDivisionByZero(err)
	}
	var after string
	if err := pool.QueryRow(ctx, sqlAfter, fmt.Sprint("worker ", w)).Scan(&after); err != nil {
		return fmt.Errorf("query after the error: %w", err)
	}
	if want := fmt.Sprint("worker ", w, " after the error"); after != want {
		return fmt.Errorf("query after the error: got %q, want %q", after, want)
	}
	tl.add(counts{errors: 1})
	return nil
}

// pipelineRun is the workload through pgconn pipelines, one connection per worker: in every round one
// pipeline with the queries and the transaction before a Sync, then the error and the query after it,
// each followed by its own Sync. named: the query is a named statement, prepared in the first round's
// pipeline and then only bound (SendQueryPrepared); otherwise unnamed statements (SendQueryParams).
func pipelineRun(named bool) func(ctx context.Context, e driverEnv) (counts, error) {
	return func(ctx context.Context, e driverEnv) (counts, error) {
		return runWorkers(e.size.workers, func(w int, tl *tally) error {
			conn, err := pgconn.Connect(ctx, e.tp.url(appDB))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			for r := range e.size.rounds {
				if err := pipelineRound(ctx, conn, e, named, w, r, tl); err != nil {
					return withState(err)
				}
			}
			return nil
		})
	}
}

func itob(i int) []byte { return []byte(strconv.Itoa(i)) }

func pipelineRound(ctx context.Context, conn *pgconn.PgConn, e driverEnv, named bool, w, r int, tl *tally) error {
	p := conn.StartPipeline(ctx)
	if named && r == 0 {
		p.SendPrepare("add", sqlAdd, nil)
	}
	for i := range e.size.queries {
		if named {
			p.SendQueryPrepared("add", [][]byte{itob(i), itob(w)}, nil, nil)
		} else {
			p.SendQueryParams(sqlAdd, [][]byte{itob(i), itob(w)}, nil, nil, nil)
		}
	}
	p.SendQueryParams("BEGIN", nil, nil, nil, nil)
	for k := range e.size.inserts {
		p.SendQueryParams(sqlInsert(e.table), [][]byte{itob(w), itob(r), itob(k)}, nil, nil, nil)
	}
	p.SendQueryParams(sqlCount(e.table), [][]byte{itob(w), itob(r)}, nil, nil, nil)
	p.SendQueryParams("COMMIT", nil, nil, nil, nil)
	if err := p.Sync(); err != nil {
		p.Close()
		return err
	}
	p.SendQueryParams("SELECT 1/0", nil, nil, nil, nil)
	if err := p.Sync(); err != nil {
		p.Close()
		return err
	}
	p.SendQueryParams(sqlAfter, [][]byte{fmt.Append(nil, "worker ", w)}, nil, nil, nil)
	if err := p.Sync(); err != nil {
		p.Close()
		return err
	}

	err := readPipeline(p, e, named && r == 0, w)
	if cerr := p.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing the pipeline: %w", cerr)
	}
	if err != nil {
		return err
	}
	tl.add(counts{queries: e.size.queries, transactions: 1, rows: e.size.inserts, errors: 1})
	return nil
}

// readPipeline reads and checks the results of pipelineRound's three Syncs.
func readPipeline(p *pgconn.Pipeline, e driverEnv, prepared bool, w int) error {
	next := func(what string) (*pgconn.ResultReader, error) {
		res, err := p.GetResults()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			return nil, fmt.Errorf("%s: got %T, want a result", what, res)
		}
		return rr, nil
	}
	value := func(what string) (string, error) {
		rr, err := next(what)
		if err != nil {
			return "", err
		}
		rows := rr.Read()
		if rows.Err != nil {
			return "", fmt.Errorf("%s: %w", what, rows.Err)
		}
		if len(rows.Rows) != 1 || len(rows.Rows[0]) != 1 {
			return "", fmt.Errorf("%s: got %d rows, want 1", what, len(rows.Rows))
		}
		return string(rows.Rows[0][0]), nil
	}
	command := func(what string) error {
		rr, err := next(what)
		if err != nil {
			return err
		}
		if _, err := rr.Close(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	sync := func(what string) error {
		res, err := p.GetResults()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, ok := res.(*pgconn.PipelineSync); !ok {
			return fmt.Errorf("%s: got %T, want the Sync's ReadyForQuery", what, res)
		}
		return nil
	}

	if prepared {
		res, err := p.GetResults()
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		if _, ok := res.(*pgconn.StatementDescription); !ok {
			return fmt.Errorf("prepare: got %T, want a statement description", res)
		}
	}
	for i := range e.size.queries {
		v, err := value("sum")
		if err != nil {
			return err
		}
		if v != strconv.Itoa(i+w) {
			return fmt.Errorf("sum: got %s, want %d", v, i+w)
		}
	}
	if err := command("BEGIN"); err != nil {
		return err
	}
	for range e.size.inserts {
		if err := command("INSERT"); err != nil {
			return err
		}
	}
	n, err := value("count")
	if err != nil {
		return err
	}
	if n != strconv.Itoa(e.size.inserts) {
		return fmt.Errorf("rows seen in the transaction: got %s, want %d", n, e.size.inserts)
	}
	if err := command("COMMIT"); err != nil {
		return err
	}
	if err := sync("Sync after COMMIT"); err != nil {
		return err
	}

	// SELECT 1/0: the error comes either instead of the result or while reading it.
	res, err := p.GetResults()
	if err == nil {
		rr, ok := res.(*pgconn.ResultReader)
		if !ok {
			return fmt.Errorf("SELECT 1/0: got %T, want a result", res)
		}
		err = rr.Read().Err
	}
	if err := wantDivisionByZero(err); err != nil {
		return err
	}
	if err := sync("Sync after the error"); err != nil {
		return err
	}
	after, err := value("query after the error")
	if err != nil {
		return err
	}
	if want := fmt.Sprint("worker ", w, " after the error"); after != want {
		return fmt.Errorf("query after the error: got %q, want %q", after, want)
	}
	return sync("last Sync")
}

// sqlDBRun is the workload through database/sql with driverName ("pgx" for pgx's stdlib, "postgres" for
// lib/pq) and size.workers open connections; with prepare, the repeated query is a *sql.Stmt (a named
// server-side statement on every connection that runs it).
func sqlDBRun(driverName, query string, prepare bool) func(ctx context.Context, e driverEnv) (counts, error) {
	return func(ctx context.Context, e driverEnv) (counts, error) {
		db, err := sql.Open(driverName, e.tp.url(appDB)+query)
		if err != nil {
			return counts{}, err
		}
		defer db.Close()
		db.SetMaxOpenConns(e.size.workers)
		db.SetMaxIdleConns(e.size.workers)
		var stmt *sql.Stmt
		if prepare {
			if stmt, err = db.PrepareContext(ctx, sqlAdd); err != nil {
				return counts{}, withState(err)
			}
			defer stmt.Close()
		}
		return runWorkers(e.size.workers, func(w int, tl *tally) error {
			for r := range e.size.rounds {
				if err := sqlDBRound(ctx, db, stmt, e, w, r, tl); err != nil {
					return withState(err)
				}
			}
			return nil
		})
	}
}

func sqlDBRound(ctx context.Context, db *sql.DB, stmt *sql.Stmt, e driverEnv, w, r int, tl *tally) error {
	for i := range e.size.queries {
		var s int
		var err error
		if stmt != nil {
			err = stmt.QueryRowContext(ctx, i, w).Scan(&s)
		} else {
			err = db.QueryRowContext(ctx, sqlAdd, i, w).Scan(&s)
		}
		if err != nil {
			return err
		}
		if err := expectInt("sum", s, i+w); err != nil {
			return err
		}
	}
	tl.add(counts{queries: e.size.queries})

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for k := range e.size.inserts {
		if _, err := tx.ExecContext(ctx, sqlInsert(e.table), w, r, k); err != nil {
			tx.Rollback()
			return fmt.Errorf("transaction: %w", err)
		}
	}
	var n int
	if err := tx.QueryRowContext(ctx, sqlCount(e.table), w, r).Scan(&n); err != nil {
		tx.Rollback()
		return fmt.Errorf("transaction: %w", err)
	}
	if err := expectInt("rows seen in the transaction", n, e.size.inserts); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	tl.add(counts{transactions: 1, rows: e.size.inserts})

	if _, err := db.ExecContext(ctx, "SELECT 1/0"); wantDivisionByZero(err) != nil {
		return wantDivisionByZero(err)
	}
	var after string
	if err := db.QueryRowContext(ctx, sqlAfter, fmt.Sprint("worker ", w)).Scan(&after); err != nil {
		return fmt.Errorf("query after the error: %w", err)
	}
	if want := fmt.Sprint("worker ", w, " after the error"); after != want {
		return fmt.Errorf("query after the error: got %q, want %q", after, want)
	}
	tl.add(counts{errors: 1})
	return nil
}
