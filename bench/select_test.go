package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// BenchmarkSelect measures the per-query cost of each path: one open connection (transaction pooling
// for the poolers), SELECT 1 through the simple query protocol per iteration.
func BenchmarkSelect(b *testing.B) {
	benchQueries(b, nil, func(ctx context.Context, conn *pgconn.PgConn) error {
		_, err := conn.Exec(ctx, "SELECT 1").ReadAll()
		return err
	})
}

// BenchmarkSelectPrepared is BenchmarkSelect for a named prepared statement, as pgx's statement cache,
// JDBC and pgbench -M prepared use: Bind, Describe, Execute and Sync of "SELECT $1::int" per iteration.
// pgpooler rewrites the statement's name in every Bind (max_prepared_statements, default 200);
// PgBouncer before 1.21 passes it unchanged, which works here only because this one client always gets
// the same server.
func BenchmarkSelectPrepared(b *testing.B) {
	prepare := func(ctx context.Context, conn *pgconn.PgConn) error {
		_, err := conn.Prepare(ctx, "bench_select", "SELECT $1::int", nil)
		return err
	}
	params := [][]byte{[]byte("42")}
	benchQueries(b, prepare, func(ctx context.Context, conn *pgconn.PgConn) error {
		return conn.ExecPrepared(ctx, "bench_select", params, nil, nil).Read().Err
	})
}

// benchQueries runs query once per iteration on one open connection through each path, after setup
// (when not nil) and a warm-up, and reports the rate and the pooler's CPU time per query.
func benchQueries(b *testing.B, setup, query func(context.Context, *pgconn.PgConn) error) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			e, pid := p.start(b, false)
			ctx := context.Background()
			conn, err := pgconn.ConnectConfig(ctx, e.connConfig(b, false))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close(ctx)
			if setup != nil {
				if err := setup(ctx, conn); err != nil {
					b.Fatal(err)
				}
			}
			for range 10 { // warm up
				if err := query(ctx, conn); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu := startCPU(pid)
			for b.Loop() {
				if err := query(ctx, conn); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu.report(b)
			reportRate(b, "queries/s")
		})
	}
}
