package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// buildBinary builds cmd/pgpooler into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pgpooler")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/pgpooler")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinaryRejectsBadConfig: an unknown key and a bad value stop start-up with exit status 1 and a
// message naming the file and the key; nothing starts.
func TestBinaryRejectsBadConfig(t *testing.T) {
	bin := buildBinary(t)
	path := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(path, []byte("[pooler]\nlisten_prot = 6432\npool_mode = \"sessoin\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-config", path).CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, out)
	}
	for _, want := range []string{"bad.toml", "pooler.listen_prot", "pooler.pool_mode", "sessoin"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output lacks %q:\n%s", want, out)
		}
	}
}

// TestBinarySignals runs the binary: it serves psql-style clients, reloads on SIGHUP (a changed
// application_name for new server connections shows in pg_stat_activity), and exits 0 on SIGTERM.
func TestBinarySignals(t *testing.T) {
	bin := buildBinary(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	write := func(app string) {
		cfg := fmt.Sprintf(`[pooler]
listen_addr = "127.0.0.1"
listen_port = %d
pool_mode = "transaction"
[databases."*"]
host = %q
port = %d
password = %q
application_name = %q
`, port, pg.Host, pg.Port, appPassword, app)
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("before-reload")
	logs := &syncBuffer{}
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=exec", appUser, appPassword, port, appDB)
	appName := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return "connect: " + err.Error()
		}
		defer conn.Close(ctx)
		var name string
		if err := conn.QueryRow(ctx, "SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()").Scan(&name); err != nil {
			return "query: " + err.Error()
		}
		return name
	}
	eventually(t, 10*time.Second, "binary serving", func() bool { return appName() == "before-reload" })

	write("after-reload")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "reload applied", func() bool { return appName() == "after-reload" })

	// SIGUSR1 pauses: a query waits (here: past a 300 ms deadline); SIGUSR2 resumes.
	if err := cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "paused by SIGUSR1", func() bool { return strings.Contains(logs.String(), "msg=paused") })
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return // logging in may need a server too: also held back by the pause
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "SELECT 1"); err == nil {
			t.Fatal("a query ran while paused by SIGUSR1")
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "resumed by SIGUSR2", func() bool { return appName() == "after-reload" })

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v\n%s", err, logs.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit within 15s of SIGINT\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "configuration reloaded") || !strings.Contains(logs.String(), "pgpooler stopped") {
		t.Fatalf("log lacks reload or stop:\n%s", logs.String())
	}
}

func errorsAs(err error, target any) bool { return err != nil && errors.As(err, target) }
