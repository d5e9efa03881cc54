package tests

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// The console out of the box (issue 12), as PgBouncer's doc/usage.md "Admin console" says: "the user
// name pgbouncer is allowed to log in without password, if the login comes via the Unix socket and the
// client has same Unix user UID as the running process" (src/admin.c admin_pre_login); pgpooler lets
// any admin_users name in the same way. Real psql over a real Unix socket; the tests run as root, and
// the other-uid client is psql run as the OS user postgres (runuser).

const consolePeerPassword = "console-peer-pw"

// serveUnixSocketAll serves tp on a Unix socket in a fresh directory that every OS user can enter (the
// socket itself is 0777, as Server.Listen makes it) and returns the directory.
func serveUnixSocketAll(t *testing.T, tp *testPooler) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgpooler-console-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", tp.cfg.Pooler.ListenPort))
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- tp.srv.Serve(ln) }()
	t.Cleanup(func() { ln.Close(); <-served }) // before the harness's Shutdown
	return dir
}

// psqlAs runs psql (never prompting for a password: -w) with args, as the OS user osUser ("" = this
// process's), with PGPASSWORD set to password unless it is "". It returns psql's output and whether
// it succeeded.
func psqlAs(t *testing.T, osUser, password string, args ...string) (string, bool) {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		t.Skip("psql not installed")
	}
	argv := append([]string{"-X", "-w"}, args...)
	name := psql
	if osUser != "" {
		argv = append([]string{"-u", osUser, "--", psql}, argv...)
		name = "runuser"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, argv...)
	cmd.Dir = "/" // a directory every user may enter
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGCONNECT_TIMEOUT=10"}
	if password != "" {
		cmd.Env = append(cmd.Env, "PGPASSWORD="+password)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), err == nil
}

// needOtherOSUser skips unless the test runs as root and can run psql as the OS user postgres.
func needOtherOSUser(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("the other-uid cases run psql as the OS user postgres through runuser, which needs root")
	}
	if _, err := user.Lookup("postgres"); err != nil {
		t.Skip("no OS user postgres")
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		t.Skip("runuser not installed")
	}
}

// TestConsoleSameUIDWithoutPassword: with auth_type scram-sha-256 and every user's password in
// auth_file, pgbouncer and an admin_users name get into the console over the Unix socket from the
// pooler's own uid without a password; everything else still needs one: a user that is not an admin
// (stats_users included), pgbouncer over TCP, another database than pgbouncer, and another OS user on
// the same socket. With the password, each of those gets in, so that their refusal is the password's.
func TestConsoleSameUIDWithoutPassword(t *testing.T) {
	needOtherOSUser(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, "pgbouncer", consolePeerPassword, consoleAdmin, consolePeerPassword,
			consoleStats, consolePeerPassword, appUser, appPassword)
		c.Pooler.AdminUsers = consoleAdmin
		c.Pooler.StatsUsers = consoleStats
	})
	dir := serveUnixSocketAll(t, tp)
	port := fmt.Sprint(tp.cfg.Pooler.ListenPort)
	sock := func(user, db string) []string { return []string{"-h", dir, "-p", port, "-U", user, "-d", db} }
	tcp := func(user, db string) []string {
		return []string{"-h", "127.0.0.1", "-p", fmt.Sprint(tp.port), "-U", user, "-d", db}
	}
	showPools := []string{"-c", "SHOW POOLS"}
	const noPassword = "no password supplied" // libpq's answer when asked for a password it does not have

	for _, u := range []string{"pgbouncer", consoleAdmin} {
		// PAUSE is an admin command: the password-less login is an admin's, not a stats user's.
		out, ok := psqlAs(t, "", "", append(sock(u, "pgbouncer"), "-c", "SHOW POOLS", "-c", "PAUSE", "-c", "RESUME")...)
		if !ok || !strings.Contains(out, "cl_active") || !strings.Contains(out, "RESUME") {
			t.Fatalf("%s over the Unix socket from the pooler's uid, no password: want SHOW POOLS, PAUSE, RESUME, got:\n%s", u, out)
		}
	}
	if !strings.Contains(tp.logs.String(), "over the Unix socket from pgpooler's own uid without a password") {
		t.Errorf("no log line for the password-less console login:\n%s", tp.logs.String())
	}

	refused := []struct {
		what   string
		osUser string
		args   []string
	}{
		{"a stats user over the Unix socket", "", sock(consoleStats, "pgbouncer")},
		{"a user that is not an admin over the Unix socket", "", sock(appUser, "pgbouncer")},
		{"pgbouncer over TCP", "", tcp("pgbouncer", "pgbouncer")},
		{"an admin user over TCP", "", tcp(consoleAdmin, "pgbouncer")},
		{"pgbouncer to another database over the Unix socket", "", sock("pgbouncer", appDB)},
		{"an admin user to another database over the Unix socket", "", sock(consoleAdmin, appDB)},
		{"pgbouncer from another OS user over the Unix socket", "postgres", sock("pgbouncer", "pgbouncer")},
		{"an admin user from another OS user over the Unix socket", "postgres", sock(consoleAdmin, "pgbouncer")},
	}
	for _, r := range refused {
		out, ok := psqlAs(t, r.osUser, "", append(r.args, "-c", "SELECT 1")...)
		if ok || !strings.Contains(out, noPassword) {
			t.Errorf("%s without a password: want %q, got (success %v):\n%s", r.what, noPassword, ok, out)
		}
	}
	// With the password, the same logins pass the password check: what refused them above was the
	// missing password. pgbouncer by its name alone is no admin (PgBouncer src/admin.c admin_post_login:
	// admin_users or stats_users, or the same-uid login), so with its password it passes the password
	// check and meets the admin_users check. The other databases route to PostgreSQL, which knows appUser
	// only, so the other-database case uses appUser.
	const notAllowed = `user "pgbouncer" is not allowed to use the admin console`
	passed := []struct {
		what   string
		osUser string
		pw     string
		args   []string
		want   string // "" = success, else in psql's error
	}{
		{"a stats user over the Unix socket", "", consolePeerPassword, append(sock(consoleStats, "pgbouncer"), showPools...), ""},
		{"an admin user over TCP", "", consolePeerPassword, append(tcp(consoleAdmin, "pgbouncer"), showPools...), ""},
		{"an admin user from another OS user over the Unix socket", "postgres", consolePeerPassword, append(sock(consoleAdmin, "pgbouncer"), showPools...), ""},
		{"appUser to its database over the Unix socket", "", appPassword, append(sock(appUser, appDB), "-c", "SELECT 1"), ""},
		{"pgbouncer over TCP", "", consolePeerPassword, append(tcp("pgbouncer", "pgbouncer"), showPools...), notAllowed},
		{"pgbouncer from another OS user over the Unix socket", "postgres", consolePeerPassword, append(sock("pgbouncer", "pgbouncer"), showPools...), notAllowed},
	}
	for _, w := range passed {
		out, ok := psqlAs(t, w.osUser, w.pw, w.args...)
		if w.want == "" && !ok {
			t.Errorf("%s with the password: refused:\n%s", w.what, out)
		} else if w.want != "" && (ok || !strings.Contains(out, w.want)) {
			t.Errorf("%s with the password: want %q, got (success %v):\n%s", w.what, w.want, ok, out)
		}
	}
	// A non-admin user to another database without a password (the ordinary login, unchanged).
	if out, ok := psqlAs(t, "", "", append(sock(appUser, appDB), "-c", "SELECT 1")...); ok || !strings.Contains(out, noPassword) {
		t.Errorf("appUser to its database over the Unix socket without a password: want %q, got:\n%s", noPassword, out)
	}
}

// TestConsoleSameUIDWhateverAuthType: the password-less console login comes before auth_type and the
// auth_hba_file, as PgBouncer's admin_pre_login comes before its hba_eval: an hba file that rejects
// every local connection still lets pgbouncer in from the pooler's uid, and still rejects the others.
func TestConsoleSameUIDWhateverAuthType(t *testing.T) {
	needOtherOSUser(t)
	hba := filepath.Join(t.TempDir(), "hba.conf")
	if err := os.WriteFile(hba, []byte("local all all reject\nhost all all 127.0.0.1/32 reject\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "hba"
		c.Pooler.AuthHBAFile = hba
		c.Pooler.AuthFile = writeUserlist(t, "pgbouncer", consolePeerPassword)
	})
	dir := serveUnixSocketAll(t, tp)
	port := fmt.Sprint(tp.cfg.Pooler.ListenPort)
	out, ok := psqlAs(t, "", "", "-h", dir, "-p", port, "-U", "pgbouncer", "-d", "pgbouncer", "-c", "SHOW POOLS")
	if !ok || !strings.Contains(out, "cl_active") {
		t.Fatalf("pgbouncer over the Unix socket from the pooler's uid with an hba file that rejects all: want SHOW POOLS, got:\n%s", out)
	}
	const rejected = "pg_hba.conf rejects connection"
	for _, osUser := range []string{"", "postgres"} {
		db := appDB
		if osUser != "" {
			db = "pgbouncer"
		}
		out, ok := psqlAs(t, osUser, consolePeerPassword, "-h", dir, "-p", port, "-U", "pgbouncer", "-d", db, "-c", "SELECT 1")
		if ok || !strings.Contains(out, rejected) {
			t.Errorf("pgbouncer to %s as OS user %q: want %q, got:\n%s", db, osUser, rejected, out)
		}
	}
}
