package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// fdLimit is the open-file limit (soft and hard) the pooler runs under in TestBinaryOutOfFDs: small
// enough that a few dozen connections exhaust it.
const fdLimit = 64

// TestBinaryOutOfFDs (issue 10, finding 6): the binary under RLIMIT_NOFILE 64 warns at start that
// max_client_conn and the pools cannot fit; connections beyond the limit make accept fail with EMFILE,
// which is logged (once per interval) and counted, and the pooler keeps serving: once the connections
// are closed, a new client's query runs, and /metrics and SHOW STATE show the failures.
func TestBinaryOutOfFDs(t *testing.T) {
	bin := buildBinary(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	mport, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	cfg := fmt.Sprintf(`[pooler]
listen_addr = "127.0.0.1"
listen_port = %d
pool_mode = "transaction"
max_client_conn = 200
default_pool_size = 5
admin_users = %q
metrics_addr = "127.0.0.1:%d"
[databases."*"]
host = %q
port = %d
password = %q
`, port, consoleAdmin, mport, pg.Host, pg.Port, appPassword)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// ulimit -n sets the soft and the hard limit in sh, so the pooler cannot raise it.
	logs := &syncBuffer{}
	cmd := exec.Command("sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, fdLimit), bin, path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	alive := func(what string) {
		t.Helper()
		select {
		case err := <-exited:
			t.Fatalf("%s: the pooler exited (%v)\n%s", what, err, logs.String())
		default:
		}
	}
	tp := &testPooler{port: port, logs: &syncBuffer{}}
	eventually(t, 10*time.Second, "pooler listening", func() bool {
		c, err := net.DialTimeout("tcp", tp.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if !hasLogLine(logs.String(), "level=WARN", "open file limit is lower", "max_client_conn=200", fmt.Sprintf("limit=%d", fdLimit)) {
		t.Errorf("no start-up warning that max_client_conn and the pools do not fit in %d open files:\n%s", fdLimit, logs.String())
	}

	// Connections the pooler must hold a descriptor for (each waits for its StartupMessage): more than
	// the limit, so that accept fails. The kernel completes the handshakes of the ones not accepted.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 2*fdLimit; i++ {
		c, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
		if err != nil {
			alive(fmt.Sprintf("dial %d", i))
			t.Fatalf("dial %d: %v", i, err)
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "too many open files") {
		alive("waiting for accept to fail")
		if time.Now().After(deadline) {
			t.Fatalf("no accept failure logged with %d connections under a limit of %d\n%s", len(held), fdLimit, logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	opened := len(held)
	for _, c := range held {
		c.Close()
	}
	held = nil
	closed := time.Now()

	// Served again: a query through the pooler works, from the same process.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	eventually(t, 20*time.Second, "a query through the pooler after the connections closed", func() bool {
		alive("after the connections closed")
		conn, err := pgx.Connect(ctx, tp.pgxURL(appDB))
		if err != nil {
			return false
		}
		defer conn.Close(ctx)
		var one int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
			return false
		}
		return one == 1
	})
	served := time.Since(closed)
	alive("after the query")

	mfs := scrape(t, fmt.Sprintf("http://127.0.0.1:%d", mport))
	if got := sample(mfs, "pgpooler_accept_errors_total", nil); got < 1 {
		t.Errorf("pgpooler_accept_errors_total = %v, want >= 1", got)
	}
	con := openConsole(t, tp, consoleAdmin)
	row := one(t, con.rows(t, "SHOW STATE"), "key", "accept_errors")
	if row["value"] == "" || row["value"] == "0" {
		t.Errorf("SHOW STATE accept_errors = %q, want > 0", row["value"])
	}
	if strings.Contains(logs.String(), "serve failed") {
		t.Errorf("log says serve failed:\n%s", logs.String())
	}
	t.Logf("reliability: out of file descriptors (the binary under RLIMIT_NOFILE %d, max_client_conn 200): start-up warning logged; %d connections opened, accept failed with EMFILE (log lines with \"too many open files\": %d), counted accept_errors %s (pgpooler_accept_errors_total %v); the pooler did not exit, and a new client's query ran %s after the connections closed",
		fdLimit, opened, countLines(logs.String(), "too many open files"), row["value"], sample(mfs, "pgpooler_accept_errors_total", nil), roundTime(served))
}

// hasLogLine reports whether one line of logs contains every one of parts.
func hasLogLine(logs string, parts ...string) bool {
	for _, line := range strings.Split(logs, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			return true
		}
	}
	return false
}
