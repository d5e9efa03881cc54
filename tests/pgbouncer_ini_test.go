package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// pgbouncerINI is a pgbouncer.ini as a PgBouncer user writes it: md5 (PgBouncer's default, left out)
// against a userlist.txt named relative to the file, a [databases] line in connection-string form, keys
// pgpooler ignores with a warning (logfile, pidfile, ignore_startup_parameters), times in seconds.
const pgbouncerINI = `;; PgBouncer configuration, as PgBouncer reads it
[databases]
%[1]s = host=%[2]s port=%[3]d application_name=%[4]s

[pgbouncer]
logfile = %[5]s/pgbouncer.log
pidfile = %[5]s/pgbouncer.pid
listen_addr = 127.0.0.1
listen_port = %[6]d
unix_socket_dir = %[5]s
auth_file = userlist.txt
admin_users = %[7]s
pool_mode = transaction
default_pool_size = 4
server_lifetime = 1800
server_reset_query_always = 0
ignore_startup_parameters = extra_float_digits
`

// startBinary starts bin with args, its output in the returned buffer; it is killed at the end of the test.
func startBinary(t *testing.T, bin string, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("pgpooler %v output:\n%s", args, logs.String())
		}
	})
	return cmd, logs, exited
}

// stopBinary stops cmd with SIGINT and waits for it to exit 0.
func stopBinary(t *testing.T, cmd *exec.Cmd, exited chan error) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGINT: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("pgpooler did not exit after SIGINT")
	}
}

// TestPgbouncerINI starts the binary on a pgbouncer.ini with an auth_file, runs pgbench -S through it
// over TCP and a query over its Unix socket, re-reads the file on SIGHUP and on the console's RELOAD, runs
// the same pgbench through PgBouncer on the same file (when it is installed), and checks that `pgpooler
// convert` prints a config.toml that loads into the same configuration and that pgbench works through
// the binary started on that.
func TestPgbouncerINI(t *testing.T) {
	bin := buildBinary(t)
	pgbenchInit(t)
	port, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	owner := pgbouncerCredential(t)
	dir, chownAll := sharedDir(t, owner) // PgBouncer reads the same files
	ini := filepath.Join(dir, "pgbouncer.ini")
	write := func(app string) {
		text := fmt.Sprintf(pgbouncerINI, appDB, pg.Host, pg.Port, app, dir, port, appUser)
		if err := os.WriteFile(ini, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("before-reload")
	userlist := fmt.Sprintf("%q %q\n", appUser, appPassword)
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(userlist), 0o600); err != nil {
		t.Fatal(err)
	}
	chownAll()

	cmd, logs, exited := startBinary(t, bin, "-config", ini)
	url := fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?sslmode=disable&default_query_exec_mode=exec", appUser, appPassword, port, appDB)
	appName := func(url string) string {
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
	eventually(t, 10*time.Second, "binary serving on the ini", func() bool { return appName(url) == "before-reload" })
	if want := ini + ":6: logfile is ignored"; !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks the warning %q", want)
	}

	tp := &testPooler{port: port}
	if processed, failed := runPgbench(t, tp, "-S", "-c", "4", "-j", "2", "-t", "200"); processed != 800 || failed != 0 {
		t.Errorf("pgbench -S: %d processed, %d failed; want 800, 0", processed, failed)
	}
	socketURL := fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%d&default_query_exec_mode=exec", appUser, appPassword, appDB, dir, port)
	if got := appName(socketURL); got != "before-reload" {
		t.Errorf("over the Unix socket in unix_socket_dir: %s", got)
	}

	write("after-sighup")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "SIGHUP re-read the ini", func() bool { return appName(url) == "after-sighup" })

	write("after-console-reload")
	func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/pgbouncer?sslmode=disable&default_query_exec_mode=simple_protocol", appUser, appPassword, port))
		if err != nil {
			t.Fatalf("admin console: %v", err)
		}
		defer admin.Close(ctx)
		// SHOW CONFIG's default column is PgBouncer's on a pgbouncer.ini (config.toml's auth_type is trust).
		rows, err := admin.Query(ctx, "SHOW CONFIG")
		if err != nil {
			t.Fatalf("SHOW CONFIG: %v", err)
		}
		defaults := map[string]string{}
		for rows.Next() {
			var key, value, def, changeable string
			if err := rows.Scan(&key, &value, &def, &changeable); err != nil {
				t.Fatalf("SHOW CONFIG: %v", err)
			}
			defaults[key] = def
		}
		if rows.Err() != nil {
			t.Fatalf("SHOW CONFIG: %v", rows.Err())
		}
		if defaults["auth_type"] != "md5" || defaults["listen_addr"] != "" || defaults["unix_socket_dir"] != "/tmp" {
			t.Errorf("SHOW CONFIG defaults auth_type %q, listen_addr %q, unix_socket_dir %q; want PgBouncer's md5, \"\", /tmp",
				defaults["auth_type"], defaults["listen_addr"], defaults["unix_socket_dir"])
		}
		if _, err := admin.Exec(ctx, "RELOAD"); err != nil {
			t.Fatalf("RELOAD: %v", err)
		}
	}()
	eventually(t, 10*time.Second, "RELOAD re-read the ini", func() bool { return appName(url) == "after-console-reload" })
	stopBinary(t, cmd, exited)

	// PgBouncer itself on the same file, when it is installed: pgbench works through it just the same.
	if bouncer := pgbouncerBinary(); bouncer == "" {
		t.Log("PgBouncer is not installed ($PGBOUNCER, /usr/sbin/pgbouncer): not compared with it")
	} else {
		chownAll()
		stop, _ := runPgBouncer(t, bouncer, ini, owner)
		eventually(t, 10*time.Second, "PgBouncer serving on the same ini", func() bool { return appName(url) == "after-console-reload" })
		if processed, failed := runPgbench(t, tp, "-S", "-c", "4", "-j", "2", "-t", "200"); processed != 800 || failed != 0 {
			t.Errorf("pgbench -S through PgBouncer: %d processed, %d failed; want 800, 0", processed, failed)
		}
		stop()
	}

	out, err := exec.Command(bin, "convert", ini).Output()
	if err != nil {
		t.Fatalf("pgpooler convert: %v", err)
	}
	if !strings.Contains(string(out), "#   "+ini+":6: logfile is ignored") {
		t.Errorf("converted file lacks the ignored logfile as a comment:\n%s", out)
	}
	converted := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(converted, out, 0o600); err != nil {
		t.Fatal(err)
	}
	fromINI, err := config.Load(ini)
	if err != nil {
		t.Fatal(err)
	}
	fromTOML, err := config.Parse(out, converted)
	if err != nil {
		t.Fatalf("converted file: %v\n%s", err, out)
	}
	fromINI.Path, fromINI.Warnings, fromINI.INI, fromTOML.Path = "", nil, false, ""
	if !reflect.DeepEqual(fromINI, fromTOML) {
		t.Errorf("converted config differs:\n ini %+v\ntoml %+v", fromINI, fromTOML)
	}

	cmd, _, exited = startBinary(t, bin, converted)
	eventually(t, 10*time.Second, "binary serving on the converted config.toml", func() bool { return appName(url) == "after-console-reload" })
	if processed, failed := runPgbench(t, tp, "-S", "-c", "4", "-j", "2", "-t", "200"); processed != 800 || failed != 0 {
		t.Errorf("pgbench -S on the converted file: %d processed, %d failed; want 800, 0", processed, failed)
	}
	stopBinary(t, cmd, exited)
}
