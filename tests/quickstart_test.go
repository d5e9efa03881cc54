package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// TestQuickStartConsole: `make run` (scripts/run.sh) on the quick start's config.toml prints a psql
// command for the admin console's SHOW POOLS, and that command works as printed (issue 12): the
// config has a Unix socket, and the login over it from the same OS user needs no password. The test
// runs run.sh itself, with the shared PostgreSQL as the one that answers, config.toml copied with the
// test's port, socket directory and PostgreSQL (run.sh's variables say the same), and the pooler built
// from cmd/pgpooler; it then runs the printed line with sh.
func TestQuickStartConsole(t *testing.T) {
	// The defaults of run.sh's variables are config.toml's values.
	cfg, err := config.Load("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	script, err := os.ReadFile("../scripts/run.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, def := range []string{
		fmt.Sprintf(`"${PGPOOLER_PORT:-%d}"`, cfg.Pooler.ListenPort),
		fmt.Sprintf(`"${PGPOOLER_SOCKET_DIR:-%s}"`, cfg.Pooler.UnixSocketDir),
	} {
		if cfg.Pooler.UnixSocketDir == "" || !strings.Contains(string(script), def) {
			t.Fatalf("scripts/run.sh does not default to config.toml's listen_port %d and unix_socket_dir %q (%s)",
				cfg.Pooler.ListenPort, cfg.Pooler.UnixSocketDir, def)
		}
	}

	bin := buildBinary(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	sockDir := filepath.Join(tmp, "sock")
	if err := os.Mkdir(sockDir, 0o700); err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile("../config.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(orig)
	for _, r := range []struct{ re, with string }{
		{`(?m)^listen_port = \d+`, fmt.Sprintf("listen_port = %d", port)},
		{`(?m)^unix_socket_dir = "[^"]*"`, fmt.Sprintf("unix_socket_dir = %q", sockDir)},
		{`(?m)^(\[databases\.postgres\]\n)host = "[^"]*"\nport = \d+`, fmt.Sprintf("${1}host = %q\nport = %d", pg.Host, pg.Port)},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(text) {
			t.Fatalf("config.toml has no line matching %s", r.re)
		}
		text = re.ReplaceAllString(text, r.with)
	}
	path := filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	out := &syncBuffer{}
	run := exec.Command("../scripts/run.sh")
	run.Env = append(os.Environ(), "PGPOOLER_BIN="+bin, "PGPOOLER_CONFIG="+path, "TMPDIR="+tmp,
		"PGPOOLER_BACKEND_HOST="+pg.Host, fmt.Sprintf("PGPOOLER_BACKEND_PORT=%d", pg.Port),
		fmt.Sprintf("PGPOOLER_PORT=%d", port), "PGPOOLER_SOCKET_DIR="+sockDir)
	run.Stdout, run.Stderr = out, out
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- run.Wait() }()
	t.Cleanup(func() {
		_ = run.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = run.Process.Kill()
			t.Errorf("run.sh did not exit on SIGTERM:\n%s", out.String())
		}
		if t.Failed() {
			t.Logf("run.sh output:\n%s", out.String())
		}
	})
	socket := filepath.Join(sockDir, fmt.Sprintf(".s.PGSQL.%d", port))
	eventually(t, 60*time.Second, "run.sh's pooler listening on "+socket, func() bool {
		_, err := os.Stat(socket)
		return err == nil
	})
	var line string
	for _, l := range strings.Split(out.String(), "\n") {
		if strings.Contains(l, "SHOW POOLS") {
			line = strings.TrimSpace(l)
		}
	}
	if want := fmt.Sprintf("psql -h %s -p %d -U pgbouncer pgbouncer -c 'SHOW POOLS'", sockDir, port); line != want {
		t.Fatalf("run.sh printed %q for the console, want %q", line, want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	psql := exec.CommandContext(ctx, "sh", "-c", line)
	psql.Env = append(os.Environ(), "PGPASSWORD=", "PGCONNECT_TIMEOUT=10")
	psql.Stdin = strings.NewReader("")
	got, err := psql.CombinedOutput()
	if err != nil || !strings.Contains(string(got), "cl_active") {
		t.Fatalf("the printed command %q: %v\n%s", line, err, got)
	}
}
