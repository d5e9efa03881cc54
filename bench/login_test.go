package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// path is one way to reach the shared PostgreSQL. start prepares it for a benchmark (tls: the client
// uses sslmode=require) and returns where to connect and the PID of a pooler process whose CPU time to
// report (0: none, or in this process).
type path struct {
	name  string
	start func(b *testing.B, tls bool) (e endpoint, pid int)
}

// paths are the three sub-benchmarks of every benchmark, in the order they run.
var paths = []path{
	{"direct", func(b *testing.B, tls bool) (endpoint, int) {
		return directEndpoint(needBackend(b)), 0
	}},
	{"pgpooler", func(b *testing.B, tls bool) (endpoint, int) {
		needBackend(b)
		return startPgpooler(b, pgpoolerSettings(tls)), 0
	}},
	{"pgbouncer", func(b *testing.B, tls bool) (endpoint, int) {
		needBackend(b)
		pgbouncerPath(b) // skip, saying why, before anything else when PgBouncer is missing
		ini, files := pgbouncerSettings(b, tls)
		pb := startPgBouncer(b, ini, files)
		return pb.endpoint, pb.pid
	}},
}

// loginModes are BenchmarkLogin's leaves: SCRAM-SHA-256 over plain TCP, and over TLS.
var loginModes = []struct {
	name string
	tls  bool
}{
	{"scram", false},
	{"scram-tls", true},
}

// BenchmarkLogin measures a short-lived client: connect and log in with SCRAM-SHA-256 (over TLS in
// scram-tls), run SELECT 1, close. The poolers lend a server connection they keep; direct starts a new
// PostgreSQL backend every time. With b.Loop each sub-benchmark's function, and so its setup (pooler
// start, warm-up), runs once; the timer covers the loop only.
func BenchmarkLogin(b *testing.B) {
	for _, p := range paths {
		b.Run(p.name, func(b *testing.B) {
			if p.name == "pgbouncer" {
				pgbouncerPath(b)
			}
			for _, mode := range loginModes {
				b.Run(mode.name, func(b *testing.B) {
					e, pid := p.start(b, mode.tls)
					cfg := e.connConfig(b, mode.tls)
					ctx := context.Background()
					// Warm up: the pooler opens its server connection, both sides fill their caches.
					for range 3 {
						if err := checkLogin(ctx, cfg, mode.tls); err != nil {
							b.Fatalf("warm-up login: %v", err)
						}
					}
					b.ReportAllocs()
					b.ResetTimer()
					cpu := startCPU(pid)
					for b.Loop() {
						if err := loginOnce(ctx, cfg); err != nil {
							b.Fatal(err)
						}
					}
					b.StopTimer()
					cpu.report(b)
					reportRate(b, "logins/s")
				})
			}
		})
	}
}

// loginOnce is one short-lived client: ConnectConfig, SELECT 1 (simple protocol), Close.
func loginOnce(ctx context.Context, cfg *pgconn.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
	return err
}

// checkLogin is loginOnce that also checks, for the warm-up, that the connection uses TLS exactly when
// wantTLS is set.
func checkLogin(ctx context.Context, cfg *pgconn.Config, wantTLS bool) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, isTLS := conn.Conn().(*tls.Conn); isTLS != wantTLS {
		return fmt.Errorf("connection uses TLS: %v, want %v", isTLS, wantTLS)
	}
	_, err = conn.Exec(ctx, "SELECT 1").ReadAll()
	return err
}

// TestPgBouncerIni checks the harness's own ini editing and CPU reading, without PostgreSQL.
func TestPgBouncerIni(t *testing.T) {
	got, err := withManagedKeys("[databases]\n* = host=127.0.0.1\n\n[pgbouncer]\npool_mode = transaction\n", 6543)
	if err != nil {
		t.Fatal(err)
	}
	want := "[databases]\n* = host=127.0.0.1\n\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = 6543\n" +
		"unix_socket_dir =\npidfile =\npool_mode = transaction\n"
	if got != want {
		t.Errorf("withManagedKeys:\n%s\nwant:\n%s", got, want)
	}
	if _, err := withManagedKeys("[databases]\n", 1); err == nil {
		t.Error("withManagedKeys accepted an ini without [pgbouncer]")
	}
	if _, err := procCPU(os.Getpid()); err != nil && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("procCPU(self): %v", err)
	}
}
