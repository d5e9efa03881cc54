// Package pgtest starts real, throwaway PostgreSQL clusters for end-to-end tests.
//
// Start (or StartT in a test) runs initdb into a fresh directory under os.TempDir(), configures the
// cluster for speed and for the authentication the pooler must handle, and starts it with pg_ctl on a
// free 127.0.0.1 port:
//
//   - TCP (127.0.0.1/32 and ::1/128): scram-sha-256, password_encryption = scram-sha-256; the superuser
//     "postgres" has a random password (Server.Password).
//   - Unix socket in Server.SocketDir: trust.
//   - fsync, synchronous_commit and full_page_writes off, max_connections 200, shared_buffers 128MB.
//   - The server log is Server.LogFile inside the data directory; LogTail returns its last lines.
//   - TLS (ssl = on) when Options.SSL holds certificates; NewCerts makes a throwaway CA and certificates.
//
// PostgreSQL refuses to run as root. When the test runs as root, the directory is given to the OS user
// "postgres" (created by Debian's postgresql package) and initdb, pg_ctl and postgres run as that user.
//
// The server binaries are found by FindBinDir: $PG_BINDIR, then `pg_config --bindir`, then the highest
// /usr/lib/postgresql/*/bin, then PATH. On Debian or Ubuntu they come with `apt-get install postgresql`
// (.ci/run installs it). StartT fails the test, never skips it, when they are missing.
//
// # Stopping
//
// pg_ctl starts postgres as a daemon: it outlives the test binary unless stopped. Callers of Start must
// defer Server.Stop; StartT registers Stop with t.Cleanup. As a last resort, for a test binary that dies
// without running its cleanups (a panic, a -timeout, os.Exit, a signal), every Server has a small watchdog
// process that waits on a pipe from the test process: when the pipe closes without a goodbye, the watchdog
// sends the postmaster SIGQUIT (immediate shutdown) and removes the directory.
//
// # Faults
//
// StopKeep (pg_ctl stop -m fast), StopKeepImmediate (-m immediate) and Kill (SIGKILL to the postmaster,
// waiting for its processes to exit) stop a server and keep its data directory; StartAgain starts it on
// the same port, running crash recovery after the last two.
//
// # Example
//
//	func TestSomething(t *testing.T) {
//		pg := pgtest.StartT(t, pgtest.Options{Settings: map[string]string{"max_connections": "50"}})
//		ctx := context.Background()
//		if err := pg.CreateRole(ctx, "app", "secret"); err != nil {
//			t.Fatal(err)
//		}
//		if err := pg.CreateDatabase(ctx, "app", "app"); err != nil {
//			t.Fatal(err)
//		}
//		url := pg.ConnString("app", "secret", "app") // postgres://app:secret@127.0.0.1:PORT/app?sslmode=disable
//		_ = url
//	}
package pgtest
