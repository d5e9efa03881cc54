// Package bench measures pgpooler side by side with a direct connection to PostgreSQL and with
// PgBouncer, in the same run and against the same PostgreSQL. It holds benchmarks only, never timed
// assertions: the numbers depend on the machine and are meant to be read and compared, not checked.
//
// Run them with
//
//	go test -run '^$' -bench . -benchmem ./bench/
//	go test -run '^$' -bench . -benchmem -benchtime 3s -count 2 ./bench/ | tee new.txt   # for benchstat
//
// Each benchmark has three sub-benchmarks, one per path to the database:
//
//   - direct: straight to PostgreSQL over TCP (pg_hba: scram-sha-256).
//   - pgpooler: a pooler.Server in this process, auth_type scram-sha-256 with an auth_file holding the
//     role's SCRAM secret copied from pg_authid (no plaintext password anywhere: SCRAM passthrough to
//     the server), pool_mode transaction, server_tls_sslmode disable.
//   - pgbouncer: /usr/sbin/pgbouncer (or $PGBOUNCER) as a child process with the same settings and the
//     same userlist. Skipped, with the reason printed, when the binary is missing. PgBouncer refuses to
//     run as root, so under root it runs as the OS user postgres, as PostgreSQL does.
//
// The benchmarks:
//
//   - BenchmarkLogin/{direct,pgpooler,pgbouncer}/{scram,scram-tls}: one iteration is a whole short-lived
//     client: pgconn.ConnectConfig (SCRAM-SHA-256 login, and TLS with sslmode=require for scram-tls),
//     one SELECT 1, Close. The poolers keep their server connections, so their iteration has no server
//     login in it; direct pays for a new PostgreSQL backend each time. Over TLS pgx uses
//     SCRAM-SHA-256-PLUS (channel binding) where offered: by PostgreSQL and pgpooler, not by
//     PgBouncer 1.18.
//   - BenchmarkSelect/{direct,pgpooler,pgbouncer}: one open connection, one SELECT 1 through the simple
//     query protocol per iteration: the per-query cost of each path.
//   - BenchmarkSelectPrepared/{direct,pgpooler,pgbouncer}: the same with a named prepared statement
//     (Bind, Describe, Execute, Sync per iteration), whose name pgpooler rewrites in every Bind. The
//     cost of that rewriting alone, per message, is pooler's BenchmarkStatementTracking.
//
// Besides ns/op, B/op and allocs/op (of this process: the pgx client, plus pgpooler itself in the
// pgpooler case), they report:
//
//   - logins/s or queries/s: iterations per second of wall time.
//   - proc-cpu-us/op: CPU time (user + system) of this process per iteration. The client is the same in
//     every sub-benchmark, so pgpooler's own cost is roughly its value minus direct's.
//   - pgbouncer-cpu-us/op (pgbouncer only): CPU time of the PgBouncer process per iteration, from
//     /proc/PID/stat.
//
// Nothing heavy runs without -bench: TestMain starts PostgreSQL (with TLS, pgtest.Options.SSL) only when
// the test.bench flag is set, so `go test ./...` stays fast. The machine is shared by the client, the
// poolers and PostgreSQL; on few cores the numbers are noisy, so run them more than once (-count) and
// compare with benchstat.
package bench
