// Command suite is `make bench`: pgbench through a direct connection to PostgreSQL, through PgBouncer,
// through pgpooler (its defaults: event loops) and through pgpooler with a goroutine per client
// (pgpooler-goroutines), side by side in one run
// on one machine, and the idle-memory and login-storm measurements of the three poolers. It writes
// docs/benchmarks.md and docs/benchmarks.png.
//
// What it starts (all throwaway, all on 127.0.0.1):
//
//   - PostgreSQL (tests/pgtest), max_connections 1100, role app (SCRAM password) owning database app,
//     pgbench -i -s 10.
//   - PgBouncer ($PGBOUNCER, default /usr/sbin/pgbouncer; run as the OS user postgres when we are root).
//   - pgpooler ($PGPOOLER_BIN, default bin/pgpooler: `make bench` builds it), a separate process.
//   - pgpooler-goroutines: the same binary in another process of its own (its own CPU accounting), with
//     pgpooler's settings plus goroutineSettings (pgpooler.go): event_loops = false (pgpooler's own key:
//     every logged-in client served by goroutines of its own instead of the event loops, the relay
//     pgpooler had before the loops and keeps for the clients the loops do not cover). Were
//     max_prepared_statements = 0 in that list, S50prep would not run through it (pgbench -M prepared
//     fails in transaction mode without statement tracking) and its cells would read n/a‡ (skipReason).
//
// The poolers get equal settings: pool_mode transaction, default_pool_size 20, max_client_conn 12000,
// auth_type scram-sha-256 with an auth_file holding app's SCRAM secret copied out of pg_authid (SCRAM
// passthrough: no plaintext password in either pooler), no TLS, a listen backlog of 4096 (PgBouncer's
// listen_backlog; pgpooler uses the kernel's somaxconn), connections logged (both defaults).
//
// Scenarios (names for $SCENARIOS): S1, S10, S50, S200, S500, S1000 (pgbench -S at that many clients),
// S50ext and S50prep (-S -M extended / prepared at 50), TPCB50 (the default TPC-B-like script at 50),
// C20 (-S -C at 20: a new connection per transaction), and idle and storm (see idle.go). Every
// pgbench scenario runs once per target per round; rounds are interleaved (round 1 of every scenario,
// then round 2, ...), the order of the targets rotates each round, and the tables show medians, with
// the ratios of pgpooler and of pgpooler-goroutines to PgBouncer and to direct.
//
// Per run it records TPS, average latency (pgbench's summary), p99 latency (from pgbench's
// per-transaction logs, --log), failed transactions, and the pooler process's CPU time (utime+stime from
// /proc/PID/stat) divided by the transactions pgbench completed. pgbench's -T includes the time its
// clients take to connect, which its tps leaves out, so -T is the duration plus 15 ms per client
// (scenarios.go, runTime). With the defaults the whole suite takes about 27 minutes.
//
// Environment:
//
//	DURATION       seconds per pgbench run (default 10)
//	ROUNDS         rounds (default 3)
//	SCENARIOS      comma-separated scenario names (default all)
//	TARGETS        comma-separated subset of direct,pgbouncer,pgpooler,pgpooler-goroutines (default all)
//	IDLE_CLIENTS   idle logged-in clients per pooler (default 10000)
//	STORM_CLIENTS  clients logging in at once (default 2000)
//	PGBOUNCER      PgBouncer binary (default /usr/sbin/pgbouncer)
//	PGPOOLER_BIN   pgpooler binary (default bin/pgpooler)
//	OUT            directory for benchmarks.md and benchmarks.png (default docs)
//	NOTE           a paragraph put at the top of benchmarks.md (e.g. "the machine was shared")
//
// Run it from the repository root. It needs pgbench and the PostgreSQL server binaries; nothing of it
// runs in `make test`.
package main
