package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// The shared PostgreSQL: role appUser (SCRAM password appPassword) owning database appDB.
const (
	appUser     = "app"
	appPassword = "app-secret-pw"
	appDB       = "app"
)

// defaultPgBouncer is where Debian's pgbouncer package installs the binary; $PGBOUNCER overrides it.
const defaultPgBouncer = "/usr/sbin/pgbouncer"

// shared is what TestMain sets up once per process when benchmarks run; nil otherwise.
var shared *backend

// backend is the PostgreSQL every benchmark talks to, directly or through a pooler.
type backend struct {
	pg       *pgtest.Server
	certs    *pgtest.Certs // CA and server certificate (127.0.0.1, localhost): PostgreSQL's and the poolers'
	userlist []byte        // auth_file contents: appUser and its SCRAM secret from pg_authid
	dir      string        // holds certs and userlist.txt; removed at the end
}

// userlistPath is the auth_file pgpooler reads.
func (be *backend) userlistPath() string { return filepath.Join(be.dir, "userlist.txt") }

func TestMain(m *testing.M) {
	flag.Parse()
	if !benchmarksRequested() {
		os.Exit(m.Run())
	}
	os.Exit(runWithBackend(m))
}

// benchmarksRequested reports whether -test.bench (go test -bench) selects any benchmark. Without it
// nothing here needs PostgreSQL, and the package's test run stays fast.
func benchmarksRequested() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

func runWithBackend(m *testing.M) int {
	be, err := startBackend()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: cannot start PostgreSQL:", err)
		return 1
	}
	defer be.stop()
	shared = be
	return m.Run()
}

// startBackend starts the shared PostgreSQL once per process: TLS on (for the direct scram-tls case;
// plain TCP still works), max_connections 300, role appUser with a SCRAM password owning database
// appDB. It writes the userlist with appUser's SCRAM secret as stored in pg_authid, so that neither
// pooler knows the plaintext password. The caller must call stop.
func startBackend() (*backend, error) {
	dir, err := os.MkdirTemp("", "pgpooler-bench-")
	if err != nil {
		return nil, err
	}
	be := &backend{dir: dir}
	if err := be.start(); err != nil {
		be.stop()
		return nil, err
	}
	return be, nil
}

func (be *backend) start() error {
	certs, err := pgtest.NewCerts(filepath.Join(be.dir, "certs"), "127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	be.certs = certs
	be.pg, err = pgtest.Start(pgtest.Options{
		Settings: map[string]string{"max_connections": "300"},
		SSL:      certs,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := be.pg.CreateRole(ctx, appUser, appPassword); err != nil {
		return err
	}
	if err := be.pg.CreateDatabase(ctx, appDB, appUser); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, be.pg.SuperConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var secret string
	if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", appUser).Scan(&secret); err != nil {
		return fmt.Errorf("reading %s's secret: %w", appUser, err)
	}
	if !strings.HasPrefix(secret, "SCRAM-SHA-256$") {
		return fmt.Errorf("%s's secret is not SCRAM: %.14s…", appUser, secret)
	}
	be.userlist = fmt.Appendf(nil, "%q %q\n", appUser, secret)
	return os.WriteFile(be.userlistPath(), be.userlist, 0o600)
}

func (be *backend) stop() {
	if be.pg != nil {
		if err := be.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
	}
	os.RemoveAll(be.dir)
}

// needBackend returns the shared PostgreSQL, skipping when TestMain did not start it.
func needBackend(tb testing.TB) *backend {
	tb.Helper()
	if shared == nil {
		tb.Skip("PostgreSQL is started only when -bench selects benchmarks")
	}
	return shared
}

// endpoint is a TCP address that serves database appDB to appUser, directly or through a pooler.
type endpoint struct {
	host string
	port int
}

// connConfig parses a pgx configuration for appUser with its password to e, with sslmode=require when
// tls is set and sslmode=disable otherwise. Parsing is done once, outside the timed loops: it is the
// client's business and the same for every path.
func (e endpoint) connConfig(tb testing.TB, tls bool) *pgconn.Config {
	tb.Helper()
	mode := "disable"
	if tls {
		mode = "require"
	}
	url := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=%s&connect_timeout=10",
		appUser, appPassword, net.JoinHostPort(e.host, strconv.Itoa(e.port)), appDB, mode)
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// directEndpoint is the shared PostgreSQL itself.
func directEndpoint(be *backend) endpoint { return endpoint{host: be.pg.Host, port: be.pg.Port} }

// startPgpooler starts a pooler.Server in this process on a 127.0.0.1:0 listener, in front of the
// shared PostgreSQL, and shuts it down when tb ends. The configuration starts from config.Default()
// with every database ("*") routed to the shared PostgreSQL and no server password; edit changes it
// before it is validated (see pgpoolerSettings). The pooler logs at Info level, as it would in
// production, to a file in a temporary directory (PgBouncer logs to a file too); its last lines are
// shown if tb fails.
func startPgpooler(tb testing.TB, edit func(*config.Config)) endpoint {
	tb.Helper()
	be := needBackend(tb)
	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	cfg.Databases = map[string]config.Database{"*": {Host: be.pg.Host, Port: be.pg.Port}}
	if edit != nil {
		edit(cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatalf("pgpooler config: %v", err)
	}
	logPath := filepath.Join(tb.TempDir(), "pgpooler.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := pooler.New(cfg, slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		logFile.Close()
		tb.Fatalf("pooler.New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logFile.Close()
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.ServeAll([]net.Listener{ln}) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("pgpooler shutdown: %v", err)
		}
		<-done
		logFile.Close()
		if tb.Failed() {
			tb.Logf("pgpooler log (last lines):\n%s", fileTail(logPath, 30))
		}
	})
	return endpoint{host: "127.0.0.1", port: ln.Addr().(*net.TCPAddr).Port}
}

// pgpoolerSettings is the configuration both poolers get, as a pgpooler config edit: auth_type
// scram-sha-256 with the shared userlist (SCRAM passthrough), pool_mode transaction, no TLS towards
// PostgreSQL, and, when tls is set, client_tls_sslmode require with the shared server certificate.
// pgbouncerSettings is the same for PgBouncer.
func pgpoolerSettings(tls bool) func(*config.Config) {
	return func(c *config.Config) {
		be := shared
		c.Pooler.AuthType = config.AuthTypeSCRAMSHA256
		c.Pooler.AuthFile = be.userlistPath()
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.ServerTLSSSLMode = config.SSLModeDisable
		if tls {
			c.Pooler.ClientTLSSSLMode = config.SSLModeRequire
			c.Pooler.ClientTLSCertFile = be.certs.ServerCert
			c.Pooler.ClientTLSKeyFile = be.certs.ServerKey
		}
	}
}

// pgbouncerSettings returns the ini of pgpoolerSettings(tls) for PgBouncer, and the files it names
// (relative to PgBouncer's directory), for startPgBouncer.
func pgbouncerSettings(tb testing.TB, tls bool) (ini string, files map[string][]byte) {
	tb.Helper()
	be := needBackend(tb)
	files = map[string][]byte{"userlist.txt": be.userlist}
	var b strings.Builder
	fmt.Fprintf(&b, "[databases]\n* = host=%s port=%d\n\n", be.pg.Host, be.pg.Port)
	b.WriteString("[pgbouncer]\n" +
		"auth_type = scram-sha-256\n" +
		"auth_file = userlist.txt\n" +
		"pool_mode = transaction\n" +
		"server_tls_sslmode = disable\n")
	if tls {
		for name, src := range map[string]string{"server.crt": be.certs.ServerCert, "server.key": be.certs.ServerKey} {
			data, err := os.ReadFile(src)
			if err != nil {
				tb.Fatal(err)
			}
			files[name] = data
		}
		b.WriteString("client_tls_sslmode = require\n" +
			"client_tls_cert_file = server.crt\n" +
			"client_tls_key_file = server.key\n")
	}
	return b.String(), files
}

// pgbouncerPath returns the PgBouncer binary ($PGBOUNCER, else /usr/sbin/pgbouncer), or skips tb,
// saying why, when it is missing.
func pgbouncerPath(tb testing.TB) string {
	tb.Helper()
	path := os.Getenv("PGBOUNCER")
	if path == "" {
		path = defaultPgBouncer
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		tb.Skipf("PgBouncer not found at %s (install the pgbouncer package or set $PGBOUNCER): skipping the comparison with it", path)
	}
	return path
}

// bouncer is a running PgBouncer.
type bouncer struct {
	endpoint
	pid int
}

// startPgBouncer runs PgBouncer (pgbouncerPath) in the foreground with the configuration ini, and
// stops it (SIGTERM, then SIGKILL) when tb ends. It skips tb when PgBouncer is not installed.
//
// PgBouncer runs in a fresh directory (its working directory) that holds pgbouncer.ini, files (name to
// contents; the ini names them by relative path, e.g. auth_file = userlist.txt) and pgbouncer.log (its
// stderr). The harness owns listen_addr (127.0.0.1), listen_port (a free one), unix_socket_dir (none)
// and pidfile (none): it puts them first in the ini's [pgbouncer] section, which ini must have.
// PgBouncer refuses to run as root: then it runs as the OS user postgres, which owns the directory.
func startPgBouncer(tb testing.TB, ini string, files map[string][]byte) *bouncer {
	tb.Helper()
	path := pgbouncerPath(tb)
	owner, err := pgbouncerOwner()
	if err != nil {
		tb.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "pgbouncer-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	write := func(name string, data []byte) {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			tb.Fatal(err)
		}
		if err := chown(p, owner); err != nil {
			tb.Fatal(err)
		}
	}
	if err := chown(dir, owner); err != nil {
		tb.Fatal(err)
	}
	for name, data := range files {
		write(name, data)
	}
	logPath := filepath.Join(dir, "pgbouncer.log")
	var lastErr error
	for try := 0; try < 3; try++ { // another try on a fresh port if the free one got taken meanwhile
		port, err := pgtest.FreePort()
		if err != nil {
			tb.Fatal(err)
		}
		full, err := withManagedKeys(ini, port)
		if err != nil {
			tb.Fatal(err)
		}
		write("pgbouncer.ini", []byte(full))
		pb, err := runPgBouncer(tb, path, dir, logPath, owner, port)
		if err == nil {
			return pb
		}
		lastErr = err
		if !strings.Contains(fileTail(logPath, 10), "in use") {
			break
		}
	}
	tb.Fatalf("starting PgBouncer: %v\npgbouncer.ini:\n%s\nlog (last lines):\n%s",
		lastErr, readFile(filepath.Join(dir, "pgbouncer.ini")), fileTail(logPath, 30))
	return nil
}

// runPgBouncer starts one PgBouncer process and waits until it accepts connections on port.
func runPgBouncer(tb testing.TB, path, dir, logPath string, owner *syscall.Credential, port int) (*bouncer, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy
	if err := chown(logPath, owner); err != nil {
		return nil, err
	}
	cmd := exec.Command(path, "pgbouncer.ini")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // PgBouncer 1.18: immediate shutdown
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("pgbouncer exited at start: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("pgbouncer does not accept connections on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tb.Cleanup(func() {
		stop()
		if tb.Failed() {
			tb.Logf("pgbouncer log (last lines):\n%s", fileTail(logPath, 30))
		}
	})
	return &bouncer{endpoint: endpoint{host: "127.0.0.1", port: port}, pid: cmd.Process.Pid}, nil
}

// withManagedKeys puts the keys the harness owns first in ini's [pgbouncer] section. PgBouncer lets a
// later line override an earlier one, so ini cannot move PgBouncer off the port the harness waits on
// by accident: it would have to set listen_port itself.
func withManagedKeys(ini string, port int) (string, error) {
	managed := fmt.Sprintf("listen_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\npidfile =\n", port)
	var out strings.Builder
	found := false
	sc := bufio.NewScanner(strings.NewReader(ini))
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line)
		out.WriteByte('\n')
		if !found && strings.EqualFold(strings.TrimSpace(line), "[pgbouncer]") {
			out.WriteString(managed)
			found = true
		}
	}
	if !found {
		return "", errors.New("the ini has no [pgbouncer] section")
	}
	return out.String(), nil
}

// pgbouncerOwner returns the credentials PgBouncer runs with: nil (ours) unless we are root, which
// PgBouncer refuses; then the OS user postgres (created by Debian's postgresql package).
func pgbouncerOwner() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, so PgBouncer must run as the OS user postgres: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("OS user postgres has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func chown(path string, owner *syscall.Credential) error {
	if owner == nil {
		return nil
	}
	return os.Chown(path, int(owner.Uid), int(owner.Gid))
}

// procCPU returns the CPU time (user + system) process pid has used, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces: fields are counted after it.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 { // f[0] is field 3 (state); utime and stime are fields 14 and 15
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime or stime", pid)
	}
	const clockTicks = 100 // USER_HZ, 100 on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// selfCPU returns the CPU time (user + system) this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter reports CPU time per iteration: this process's and, when pid is not 0, another's (PgBouncer).
type cpuMeter struct {
	pid         int
	self, other time.Duration
}

// startCPU takes the starting readings; call it right before the timed loop (after b.ResetTimer).
func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, self: selfCPU()}
	if pid != 0 {
		m.other, _ = procCPU(pid)
	}
	return m
}

// report adds proc-cpu-us/op and, for another process, pgbouncer-cpu-us/op to b's results.
func (m *cpuMeter) report(b *testing.B) {
	if b.N == 0 {
		return
	}
	n := float64(b.N)
	b.ReportMetric(float64((selfCPU()-m.self).Microseconds())/n, "proc-cpu-us/op")
	if m.pid != 0 {
		if now, err := procCPU(m.pid); err == nil {
			b.ReportMetric(float64((now-m.other).Microseconds())/n, "pgbouncer-cpu-us/op")
		}
	}
}

// reportRate reports iterations per second of measured time under unit (e.g. "logins/s").
func reportRate(b *testing.B, unit string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, unit)
	}
}

func readFile(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(data)
}

// fileTail returns the last n lines of a file, for failure messages.
func fileTail(path string, n int) string {
	lines := strings.Split(strings.TrimRight(readFile(path), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
