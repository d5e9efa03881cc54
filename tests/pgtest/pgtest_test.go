package pgtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestFindBinDirAndFreePort(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("FindBinDir() = %s, which lacks the server binaries", dir)
	}
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	if port <= 0 || port > 65535 {
		t.Fatalf("FreePort() = %d", port)
	}
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect %s: %v", connString, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var v string
	if err := conn.QueryRow(context.Background(), sql).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// sqlState returns the SQLSTATE of a server error, or "" for any other error.
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func TestServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := StartT(t, Options{Settings: map[string]string{"work_mem": "8MB"}})

	super := connect(t, s.SuperConnString("postgres"))
	for sql, want := range map[string]string{
		"SHOW password_encryption": "scram-sha-256",
		"SHOW max_connections":     "200",
		"SHOW fsync":               "off",
		"SHOW work_mem":            "8MB",
		"SHOW listen_addresses":    "127.0.0.1",
		"SHOW port":                strconv.Itoa(s.Port),
		"SELECT current_user":      "postgres",
	} {
		if got := queryString(t, super, sql); got != want {
			t.Errorf("%s = %q, want %q", sql, got, want)
		}
	}

	// TCP asks for the password, and it must be right.
	_, err := pgx.Connect(ctx, s.ConnString(s.SuperUser, "wrong", "postgres"))
	if sqlState(err) != "28P01" {
		t.Errorf("wrong password: err = %v, want SQLSTATE 28P01", err)
	}

	if err := s.CreateRole(ctx, "app", "it's secret"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatabase(ctx, "appdb", "app"); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, super, "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'app'"); got != "SCRAM-SHA-256$" {
		t.Errorf("stored password starts %q, want a SCRAM-SHA-256 verifier", got)
	}
	app := connect(t, s.ConnString("app", "it's secret", "appdb"))
	if got := queryString(t, app, "SELECT current_user || '@' || current_database()"); got != "app@appdb" {
		t.Errorf("connected as %s", got)
	}
	if _, err := app.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')"); err != nil {
		t.Fatal(err)
	}

	// StopKeep and StartAgain keep the data and the port.
	port := s.Port
	if err := s.StopKeep(); err != nil {
		t.Fatal(err)
	}
	if err := app.Ping(ctx); err == nil {
		t.Error("connection still answers after StopKeep")
	}
	if err := s.StartAgain(); err != nil {
		t.Fatal(err)
	}
	if s.Port != port {
		t.Errorf("port changed from %d to %d", port, s.Port)
	}
	app = connect(t, s.ConnString("app", "it's secret", "appdb"))
	if got := queryString(t, app, "SELECT v FROM kept"); got != "still here" {
		t.Errorf("after restart: %q", got)
	}
	if err := s.Exec(ctx, "SELECT 1; SELECT 2"); err != nil {
		t.Errorf("Exec of two statements: %v", err)
	}
	if tail := s.LogTail(5); tail == "" || strings.Count(tail, "\n") > 4 {
		t.Errorf("LogTail(5) = %q", tail)
	}

	// Stop removes everything and can be called again.
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{s.DataDir, s.SocketDir} {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still exists after Stop (stat: %v)", dir, err)
		}
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.StartAgain(); err == nil {
		t.Error("StartAgain after Stop succeeded")
	}
}

func TestOptionsHBA(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := StartT(t, Options{HBA: "host all blocked 127.0.0.1/32 reject"})
	for _, role := range []string{"blocked", "allowed"} {
		if err := s.CreateRole(ctx, role, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pgx.Connect(ctx, s.ConnString("blocked", "pw", "postgres")); sqlState(err) != "28000" {
		t.Errorf("role blocked by Options.HBA: err = %v, want SQLSTATE 28000", err)
	}
	conn := connect(t, s.ConnString("allowed", "pw", "postgres"))
	if got := queryString(t, conn, "SELECT current_user"); got != "allowed" {
		t.Errorf("current_user = %q", got)
	}
}

// TestOrphanedServerIsStopped runs a child test process that starts a server and exits without Stop;
// the watchdog must stop the postmaster and remove the directory.
func TestOrphanedServerIsStopped(t *testing.T) {
	if os.Getenv("PGTEST_ORPHAN_CHILD") == "1" {
		s, err := Start(Options{})
		if err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		fmt.Println("ORPHAN", s.SocketDir, postmasterPID(s.DataDir))
		os.Exit(0) // no Stop, as after a panic or a -timeout
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestOrphanedServerIsStopped$", "-test.count=1")
	cmd.Env = append(os.Environ(), "PGTEST_ORPHAN_CHILD=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	var pid int
	for sc := bufio.NewScanner(strings.NewReader(string(out))); sc.Scan(); {
		if _, err := fmt.Sscanf(sc.Text(), "ORPHAN %s %d", &dir, &pid); err == nil {
			break
		}
	}
	if dir == "" || pid <= 0 {
		t.Fatalf("child printed no server:\n%s", out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for processAlive(pid) || exists(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("60s after its test process exited: postmaster %d alive: %v, %s exists: %v",
				pid, processAlive(pid), dir, exists(dir))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func postmasterPID(dataDir string) int {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.SplitN(string(data), "\n", 2)[0])
	return pid
}

// processAlive reports whether pid runs (a zombie, never reaped by a container's init, counts as gone).
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
