package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// publishedINI is one of the pgbouncer.ini files PgBouncer, Debian, a container image and an operator
// publish (pooler/config/testdata/ini/, where each names its source), and how the test runs it.
type publishedINI struct {
	file string
	// dbs are the database names pgbench runs on: the file's own [databases] entries, or appDB, which
	// the test adds when the file has none.
	dbs []string
	// authQuery: the auth_file holds only the auth_user (as CloudNativePG writes it), so the
	// application's user is found by the file's auth_query; otherwise it holds the test role's stored
	// SCRAM secret.
	authQuery bool
	// tls: clients get TLS (client_tls_sslmode) and servers are reached over TLS (server_tls_sslmode).
	tls bool
	// pgbouncerSince, when set, is the PgBouncer version (minor) the file needs: an older installed
	// PgBouncer must refuse it, saying pgbouncerRefuses (the file's own PgBouncer would read it).
	pgbouncerSince   int
	pgbouncerRefuses string
}

// publishedINIs are the files, with what each needs.
var publishedINIs = []publishedINI{
	{file: "pgbouncer-sample.ini", dbs: []string{appDB}},
	{file: "debian-pgbouncer.ini", dbs: []string{appDB}},
	{file: "edoburu-minimal.ini", dbs: []string{appDB}},
	{file: "edoburu-multiple.ini", dbs: []string{"base", "paid", "free"}},
	// auth_dbname is PgBouncer 1.19's; CloudNativePG requires 1.19 or later for this reason.
	{file: "cloudnative-pg-pooler.ini", dbs: []string{appDB}, authQuery: true, tls: true,
		pgbouncerSince: 19, pgbouncerRefuses: "unknown parameter: pgbouncer/auth_dbname"},
}

// The rewrite of a published file: only what must point at this machine changes.
var (
	iniSection = regexp.MustCompile(`^\s*\[([a-z]+)\]`)
	iniKey     = regexp.MustCompile(`^\s*([A-Za-z0-9_.*-]+)\s*=\s*(.*?)\s*$`)
	connHost   = regexp.MustCompile(`\bhost=\S+`)
	connPort   = regexp.MustCompile(`\bport=\S+`)
	iniOSUser  = regexp.MustCompile(`(?m)^user = (\S+)`)
)

// iniPaths are the [pgbouncer] keys naming files, and the file in the test's directory each becomes.
var iniPaths = map[string]string{
	"logfile":              "pgbouncer.log",
	"pidfile":              "pgbouncer.pid",
	"auth_file":            "userlist.txt",
	"auth_hba_file":        "pg_hba.conf",
	"client_tls_ca_file":   "client-ca.crt",
	"client_tls_cert_file": "client-tls.crt",
	"client_tls_key_file":  "client-tls.key",
	"server_tls_ca_file":   "server-ca.crt",
}

// rewriteINI returns the published text with the [databases] entries' host and port set to backend's
// (an entry for appDB added when there is none), listen_addr 127.0.0.1, listen_port port, a non-empty
// unix_socket_dir dir, and the file keys of iniPaths in dir; every other line is kept. It also returns
// the file keys the text sets.
func rewriteINI(t *testing.T, text string, backend *pgtest.Server, dir string, port int) (string, map[string]bool) {
	t.Helper()
	target := fmt.Sprintf("host=%s port=%d", backend.Host, backend.Port)
	lines := strings.Split(text, "\n")
	var out []string
	section, entries, files := "", 0, map[string]bool{}
	for _, line := range lines {
		if m := iniSection.FindStringSubmatch(line); m != nil {
			section = m[1]
			out = append(out, line)
			continue
		}
		m := iniKey.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(strings.TrimSpace(line), ";") || strings.HasPrefix(strings.TrimSpace(line), "#") {
			out = append(out, line)
			continue
		}
		key, value := m[1], m[2]
		switch {
		case section == "databases":
			entries++
			value = strings.TrimSpace(connPort.ReplaceAllString(connHost.ReplaceAllString(value, ""), ""))
			line = strings.TrimSpace(key + " = " + target + " " + value)
		case section == "pgbouncer" && key == "listen_addr":
			line = "listen_addr = 127.0.0.1"
		case section == "pgbouncer" && key == "listen_port":
			line = "listen_port = " + strconv.Itoa(port)
		case section == "pgbouncer" && key == "unix_socket_dir" && value != "":
			line = "unix_socket_dir = " + dir
		case section == "pgbouncer" && iniPaths[key] != "":
			line = key + " = " + filepath.Join(dir, iniPaths[key])
			files[key] = true
		}
		out = append(out, line)
	}
	if entries == 0 {
		for i, line := range out {
			if m := iniSection.FindStringSubmatch(line); m != nil && m[1] == "databases" {
				out = append(out[:i+1], append([]string{appDB + " = " + target}, out[i+1:]...)...)
				break
			}
		}
	}
	return strings.Join(out, "\n"), files
}

// publishedBackend starts a private PostgreSQL with TLS (CloudNativePG's file verifies the server's
// certificate against a CA): appUser with appPassword owning appDB and the databases of edoburu's
// multiple-database file (copies of appDB), pgbench's tables in each, and CloudNativePG's auth_user
// with its SECURITY DEFINER lookup function in database postgres, as the operator sets them up.
func publishedBackend(t *testing.T) (*pgtest.Server, *pgtest.Certs) {
	t.Helper()
	certs, err := pgtest.NewCerts(t.TempDir(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	s := pgtest.StartT(t, pgtest.Options{SSL: certs})
	t.Logf("PostgreSQL started in %v", time.Since(started).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.CreateRole(ctx, appUser, appPassword); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatabase(ctx, appDB, appUser); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("pgbench", "-i", "-q", "-I", "dtgp", "-s", "1", "-h", s.Host, "-p", strconv.Itoa(s.Port), "-U", appUser, appDB)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	for _, sql := range []string{
		"CREATE DATABASE base TEMPLATE app OWNER app",
		"CREATE DATABASE paid TEMPLATE app OWNER app",
		"CREATE DATABASE free TEMPLATE app OWNER app",
		"CREATE ROLE cnpg_pooler_pgbouncer LOGIN PASSWORD 'pooler-secret-pw'",
		// CloudNativePG's lookup: the auth_user may read one user's secret through it, nothing else.
		`CREATE FUNCTION public.user_search(uname text) RETURNS TABLE (usename name, passwd text)
		   LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
		   $$ SELECT usename, passwd FROM pg_shadow WHERE usename = uname $$`,
		"REVOKE ALL ON FUNCTION public.user_search(text) FROM public",
		"GRANT EXECUTE ON FUNCTION public.user_search(text) TO cnpg_pooler_pgbouncer",
	} {
		if err := s.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return s, certs
}

// TestPublishedPgbouncerINIs starts the binary on each published pgbouncer.ini, rewritten only where it
// must point at this machine (rewriteINI) with the files it names written in the test's directory, and
// runs pgbench -S through it on each of its databases; then PgBouncer itself (when installed) on the
// same rewritten file, with the same pgbench. Each file's settings thus run as published: auth_type md5
// against a userlist of SCRAM secrets, CloudNativePG's auth_type hba with its pg_hba.conf, client TLS,
// server TLS verified against a CA and its auth_query through auth_user in auth_dbname. The warnings
// pgpooler printed for each file are logged.
func TestPublishedPgbouncerINIs(t *testing.T) {
	if os.Getenv("PGPOOLER_EVENT_LOOPS") == "0" {
		// The binary runs on the files' own settings (event_loops left out: on), the same in both runs.
		t.Skip("PGPOOLER_EVENT_LOOPS=0 does not reach the binary started on a published file: run once")
	}
	start := time.Now()
	bin := buildBinary(t)
	built := time.Now()
	backend, certs := publishedBackend(t)
	t.Logf("set-up: go build %v, PostgreSQL and its databases %v", built.Sub(start).Round(time.Millisecond), time.Since(built).Round(time.Millisecond))
	var secret string
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, backend.SuperConnString("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", appUser).Scan(&secret); err != nil {
			t.Fatal(err)
		}
	}()
	if !strings.HasPrefix(secret, "SCRAM-SHA-256$") {
		t.Fatalf("stored secret is not SCRAM: %.20s", secret)
	}
	bouncer := pgbouncerBinary()
	owner := pgbouncerCredential(t)
	bouncerMinor := pgbouncerMinor(t, bouncer)

	for _, tc := range publishedINIs {
		t.Run(tc.file, func(t *testing.T) {
			published, err := os.ReadFile(filepath.Join("..", "pooler", "config", "testdata", "ini", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			port, err := pgtest.FreePort()
			if err != nil {
				t.Fatal(err)
			}
			dir, chownAll := sharedDir(t, owner)
			text, files := rewriteINI(t, string(published), backend, dir, port)
			ini := filepath.Join(dir, "pgbouncer.ini")
			write := func(name, content string) {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write("pgbouncer.ini", text)
			users := fmt.Sprintf("%q %q\n", appUser, secret)
			if tc.authQuery {
				users = "\"cnpg_pooler_pgbouncer\" \"pooler-secret-pw\"\n"
			}
			for key := range files {
				switch key {
				case "auth_file":
					write(iniPaths[key], users)
				case "auth_hba_file": // CloudNativePG's template, as the operator writes it
					write(iniPaths[key], "\nlocal pgbouncer pgbouncer peer\n\n\nhost all all 0.0.0.0/0 md5\nhost all all ::/0 md5\n")
				case "client_tls_ca_file", "server_tls_ca_file":
					copyFile(t, certs.CAFile, filepath.Join(dir, iniPaths[key]))
				case "client_tls_cert_file":
					copyFile(t, certs.ServerCert, filepath.Join(dir, iniPaths[key]))
				case "client_tls_key_file":
					copyFile(t, certs.ServerKey, filepath.Join(dir, iniPaths[key]))
				}
			}
			chownAll()
			var set []string
			for _, line := range strings.Split(text, "\n") {
				if l := strings.TrimSpace(line); l != "" && l[0] != ';' && l[0] != '#' {
					set = append(set, l)
				}
			}
			t.Logf("rewritten, its settings:\n%s", strings.Join(set, "\n"))

			cmd, logs, exited := startBinary(t, bin, "-config", ini)
			waitServing(t, "pgpooler", port, tc.dbs[0], exited)
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, ini+":") {
					t.Logf("pgpooler warned: %s", line)
				}
			}
			for _, db := range tc.dbs {
				if processed, failed := pgbenchOn(t, port, db); processed != 200 || failed != 0 {
					t.Errorf("pgbench -S on %s through pgpooler: %d processed, %d failed; want 200, 0", db, processed, failed)
				}
			}
			if tc.tls {
				checkTLSBothWays(t, port, tc.dbs[0])
			}
			stopBinary(t, cmd, exited)

			if bouncer == "" {
				t.Log("PgBouncer is not installed ($PGBOUNCER, /usr/sbin/pgbouncer): not compared with it")
				return
			}
			if m := iniOSUser.FindStringSubmatch(text); m != nil && owner == nil {
				if me, err := user.Current(); err != nil || me.Username != m[1] {
					t.Logf("PgBouncer would switch to the OS user %s (user =), which only root or that user may: not compared with it", m[1])
					return
				}
			}
			chownAll()
			if tc.pgbouncerSince > bouncerMinor {
				// Documented expectation: the installed PgBouncer is older than the file.
				out, err := pgbouncerRefusal(bouncer, ini, owner)
				if err == nil || !strings.Contains(out, tc.pgbouncerRefuses) {
					t.Errorf("PgBouncer on %s: %v, want it to refuse the file with %q:\n%s", tc.file, err, tc.pgbouncerRefuses, out)
				}
				t.Logf("PgBouncer refuses the file, as expected: %s", tc.pgbouncerRefuses)
				return
			}
			stop, _ := runPgBouncer(t, bouncer, ini, owner)
			waitServing(t, "PgBouncer", port, tc.dbs[0], nil)
			for _, db := range tc.dbs {
				if processed, failed := pgbenchOn(t, port, db); processed != 200 || failed != 0 {
					t.Errorf("pgbench -S on %s through PgBouncer: %d processed, %d failed; want 200, 0", db, processed, failed)
				}
			}
			if tc.tls {
				checkTLSBothWays(t, port, tc.dbs[0])
			}
			stop()
		})
	}
}

// waitServing waits until a query as appUser on db through 127.0.0.1:port works (TLS when offered, as
// libpq's sslmode=prefer); a binary that exits meanwhile (exited) fails the test at once.
func waitServing(t *testing.T, who string, port int, db string, exited chan error) {
	t.Helper()
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=prefer", appUser, appPassword, port, db)
	var last error
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("%s exited before serving: %v", who, err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not serving %s on port %d: %v", who, db, port, last)
}

// checkTLSBothWays checks that a client asking for TLS (sslmode=require) gets it from the pooler on
// 127.0.0.1:port, and that the server its query runs on was reached over TLS (pg_stat_ssl).
func checkTLSBothWays(t *testing.T, port int, db string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=require", appUser, appPassword, port, db))
	if err != nil {
		t.Fatalf("client TLS (sslmode=require): %v", err)
	}
	defer conn.Close(ctx)
	var ssl bool
	if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Error("the server connection is not TLS (pg_stat_ssl.ssl = false)")
	}
}

// pgbenchOn runs `pgbench -S -c 4 -j 2 -t 50` as appUser on db through 127.0.0.1:port (sslmode prefer,
// libpq's default) and returns the processed and failed transaction counts.
func pgbenchOn(t *testing.T, port int, db string) (processed, failed int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pgbench", "-n", "-S", "-c", "4", "-j", "2", "-t", "50",
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", appUser, db)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword, "PGSSLMODE=prefer")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pgbench on %s: %v\n%s", db, err, out)
	}
	m := processedRe.FindSubmatch(out)
	if m == nil {
		t.Fatalf("pgbench output has no processed count:\n%s", out)
	}
	processed, _ = strconv.Atoi(string(m[1]))
	if m := failedRe.FindSubmatch(out); m != nil {
		failed, _ = strconv.Atoi(string(m[1]))
	}
	return processed, failed
}

// pgbouncerRefusal runs PgBouncer on ini, expecting it to exit at once on a configuration it refuses;
// it returns PgBouncer's output and exit error (nil if it ran: then it is killed after 5 s).
func pgbouncerRefusal(bin, ini string, owner *syscall.Credential) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, ini)
	cmd.Dir = filepath.Dir(ini)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), nil
	}
	return string(out), err
}

// pgbouncerVersion matches `pgbouncer --version`'s first line: "PgBouncer 1.18.0".
var pgbouncerVersion = regexp.MustCompile(`PgBouncer 1\.(\d+)\.`)

// pgbouncerMinor is the minor version of PgBouncer 1.x at bin (0 when bin is "").
func pgbouncerMinor(t *testing.T, bin string) int {
	t.Helper()
	if bin == "" {
		return 0
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := pgbouncerVersion.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	minor, _ := strconv.Atoi(string(m[1]))
	return minor
}

// copyFile copies src to dst with mode 0600.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
