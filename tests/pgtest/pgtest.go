package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a running throwaway PostgreSQL cluster.
type Server struct {
	BinDir    string // directory of initdb/pg_ctl/postgres
	DataDir   string
	SocketDir string // unix_socket_directories
	Host      string // "127.0.0.1"
	Port      int
	SuperUser string // "postgres"
	Password  string // superuser password (random), auth is scram-sha-256 on TCP
	LogFile   string // the server log (pg_ctl -l), inside DataDir

	baseDir string // holds DataDir, the socket and the log; removed by Stop
	owner   *osUser

	mu       sync.Mutex
	running  bool
	removed  bool
	watchdog *exec.Cmd
	goodbye  *os.File // write end of the watchdog's stdin
}

// Options configure a new cluster.
type Options struct {
	// HBA holds extra pg_hba.conf lines, placed before the default ones (which are: local trust,
	// host 127.0.0.1/32 and ::1/128 scram-sha-256).
	HBA string
	// Settings are extra postgresql.conf settings, e.g. "max_connections": "200". They override the
	// defaults, except listen_addresses, port and unix_socket_directories, which pgtest manages.
	Settings map[string]string
	// SSL, when set, turns on TLS: ssl = on with copies of SSL.ServerCert and SSL.ServerKey in the data
	// directory (mode 0600, owned by the server's OS user) as ssl_cert_file and ssl_key_file, and of
	// SSL.CAFile as ssl_ca_file, so that hba "cert" rules and clientcert check client certificates the CA
	// signed. Settings may override these. Connect with sslmode=verify-full and sslrootcert=SSL.CAFile
	// when the server certificate is for 127.0.0.1 (NewCerts(dir, "127.0.0.1", "localhost")).
	SSL *Certs
}

const (
	superUser    = "postgres"
	host         = "127.0.0.1"
	pgctlTimeout = "120" // seconds pg_ctl waits for start or stop; CI machines under -race are slow
	startTries   = 5     // attempts on a fresh port when the chosen one got taken meanwhile
)

// defaultSettings come first in pgtest.conf, so Options.Settings override them.
var defaultSettings = [][2]string{
	{"max_connections", "200"},
	{"shared_buffers", "128MB"},
	{"fsync", "off"},
	{"synchronous_commit", "off"},
	{"full_page_writes", "off"},
	{"password_encryption", "scram-sha-256"},
	{"logging_collector", "off"},
}

// live keeps every Server that has not been stopped reachable, so that the garbage collector never
// closes a watchdog pipe (which would stop the cluster) behind a caller's back.
var live sync.Map

// osUser is who runs the PostgreSQL binaries when the test runs as root.
type osUser struct{ uid, gid uint32 }

// Start creates and starts a new cluster. The caller must call Stop (defer it); see StartT for tests.
func Start(opts Options) (*Server, error) {
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	owner, err := serverOwner()
	if err != nil {
		return nil, err
	}
	base, err := makeBaseDir(owner)
	if err != nil {
		return nil, err
	}
	s := &Server{
		BinDir:    binDir,
		DataDir:   filepath.Join(base, "data"),
		SocketDir: base,
		Host:      host,
		SuperUser: superUser,
		Password:  rand.Text(),
		baseDir:   base,
		owner:     owner,
	}
	s.LogFile = filepath.Join(s.DataDir, "postgres.log")
	if err := s.startWatchdog(); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	live.Store(s, struct{}{})
	err = s.initdb(opts.HBA)
	settings := opts.Settings
	if err == nil && opts.SSL != nil {
		settings, err = s.installSSL(opts.SSL, settings)
	}
	if err == nil {
		err = s.startOnFreePort(settings)
	}
	if err != nil {
		if stopErr := s.Stop(); stopErr != nil {
			err = fmt.Errorf("%w (and stopping: %v)", err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

// StartT starts a cluster for the test and stops it (removing its directory) when the test ends. It
// fails the test, with what to install, when the PostgreSQL server binaries are missing.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: last lines of %s:\n%s", s.LogFile, s.LogTail(40))
		}
		if err := s.Stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// Stop stops the server (pg_ctl stop -m immediate) and removes its directory. It is idempotent.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil
	}
	s.removed = true
	live.Delete(s)
	if err := s.stopLocked("immediate"); err != nil {
		// Leave it to the watchdog: it kills the postmaster named in postmaster.pid and removes the
		// directory.
		s.closeWatchdog(false)
		return err
	}
	err := os.RemoveAll(s.baseDir)
	s.closeWatchdog(true)
	if err != nil {
		return fmt.Errorf("pgtest: removing %s: %w", s.baseDir, err)
	}
	return nil
}

// StopKeep stops the server (pg_ctl stop -m fast: clients are disconnected, the shutdown is clean) and
// keeps its data directory for StartAgain.
func (s *Server) StopKeep() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errors.New("pgtest: StopKeep after Stop")
	}
	return s.stopLocked("fast")
}

// StartAgain starts a server stopped by StopKeep, on the same port and data directory.
func (s *Server) StartAgain() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errors.New("pgtest: StartAgain after Stop")
	}
	if s.running {
		return errors.New("pgtest: StartAgain: the server is running")
	}
	_, err := s.pgctlStart()
	return err
}

// ConnString returns "postgres://user:password@127.0.0.1:PORT/db?sslmode=disable", escaped as a URL;
// an empty password is left out.
func (s *Server) ConnString(user, password, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	if password == "" {
		u.User = url.User(user)
	} else {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// SuperConnString is ConnString for the superuser and its password.
func (s *Server) SuperConnString(db string) string {
	return s.ConnString(s.SuperUser, s.Password, db)
}

// Exec runs sql (one or more statements, simple protocol) as the superuser on database "postgres".
func (s *Server) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.SuperConnString("postgres"))
	if err != nil {
		return fmt.Errorf("pgtest: connecting as %s: %w", s.SuperUser, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// CreateRole creates a LOGIN role whose password is stored as a SCRAM-SHA-256 verifier. It creates no
// database: see CreateDatabase.
func (s *Server) CreateRole(ctx context.Context, name, password string) error {
	sql := "CREATE ROLE " + pgx.Identifier{name}.Sanitize() + " LOGIN PASSWORD " + quoteLiteral(password)
	if err := s.Exec(ctx, sql); err != nil {
		return fmt.Errorf("creating role %q: %w", name, err)
	}
	return nil
}

// CreateDatabase creates database name owned by owner (the superuser when owner is "").
func (s *Server) CreateDatabase(ctx context.Context, name, owner string) error {
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if owner != "" {
		sql += " OWNER " + pgx.Identifier{owner}.Sanitize()
	}
	return s.Exec(ctx, sql)
}

// LogTail returns the last n lines of the server log, for failure messages.
func (s *Server) LogTail(n int) string {
	data, err := os.ReadFile(s.LogFile)
	if err != nil {
		return fmt.Sprintf("(no server log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// FindBinDir returns the directory of initdb, pg_ctl and postgres: $PG_BINDIR, else `pg_config
// --bindir`, else the highest /usr/lib/postgresql/*/bin containing them, else the directory of initdb on
// PATH.
func FindBinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		if hasServerBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("pgtest: PG_BINDIR=%s lacks initdb, pg_ctl or postgres (Debian/Ubuntu: apt-get install postgresql)", dir)
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); hasServerBinaries(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, dir := range dirs {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(path); err == nil && hasServerBinaries(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if hasServerBinaries(filepath.Dir(path)) {
			return filepath.Dir(path), nil
		}
	}
	return "", errors.New("pgtest: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in " +
		"$PG_BINDIR, `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH; install them " +
		"(Debian/Ubuntu: apt-get install postgresql; .ci/run does it) or set PG_BINDIR")
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago (bind 127.0.0.1:0, close).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("pgtest: finding a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	return port, l.Close()
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// pgVersion reads 15 from /usr/lib/postgresql/15/bin (9.6 from .../9.6/bin); 0 if it cannot.
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

// serverOwner returns the postgres OS user when running as root (PostgreSQL refuses root), else nil.
func serverOwner() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(superUser)
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root, so PostgreSQL must run as the OS user postgres, "+
			"which is missing (%v); install the postgresql package (it creates the user)", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: OS user postgres has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &osUser{uid: uint32(uid), gid: uint32(gid)}, nil
}

// makeBaseDir creates the 0700 directory that holds everything, owned by owner when given.
func makeBaseDir(owner *osUser) (string, error) {
	parent := os.TempDir()
	// The socket path (dir + "/.s.PGSQL.NNNNN") must fit in sun_path (108 bytes).
	if len(parent) > 64 {
		parent = "/tmp"
	}
	dir, err := os.MkdirTemp(parent, "pgtest-")
	if err != nil {
		return "", fmt.Errorf("pgtest: %w", err)
	}
	if err := chown(dir, owner); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

func chown(path string, owner *osUser) error {
	if owner == nil {
		return nil
	}
	if err := os.Chown(path, int(owner.uid), int(owner.gid)); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// writeFile writes a file the server user can read.
func (s *Server) writeFile(path, content string) error {
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return chown(path, s.owner)
}

// command prepares a PostgreSQL binary to run as the server user, without the caller's PG* variables.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.BinDir, name), args...)
	cmd.Dir = s.baseDir // the caller's directory may be closed to the postgres user
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "LC_MESSAGES=C")
	if s.owner != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential: &syscall.Credential{Uid: s.owner.uid, Gid: s.owner.gid},
		}
	}
	// pg_ctl start hands postgres /dev/null and the log file, never our pipes; this is a safety net.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (s *Server) run(name string, args ...string) error {
	out, err := s.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgtest: %s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func (s *Server) initdb(hba string) error {
	pwfile := filepath.Join(s.baseDir, "pwfile")
	if err := s.writeFile(pwfile, s.Password+"\n"); err != nil {
		return err
	}
	err := s.run("initdb", "-D", s.DataDir, "-U", s.SuperUser, "--pwfile="+pwfile,
		"--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync")
	os.Remove(pwfile)
	if err != nil {
		return err
	}
	if hba != "" && !strings.HasSuffix(hba, "\n") {
		hba += "\n"
	}
	hbaConf := "# pgtest: Options.HBA\n" + hba + "# pgtest: defaults\n" +
		"local all all trust\n" +
		"host all all 127.0.0.1/32 scram-sha-256\n" +
		"host all all ::1/128 scram-sha-256\n"
	if err := s.writeFile(filepath.Join(s.DataDir, "pg_hba.conf"), hbaConf); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(s.DataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	_, err = io.WriteString(f, "\n# pgtest: settings and port\ninclude 'pgtest.conf'\n")
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// writeSettings writes pgtest.conf: defaults, then extra (sorted), then what pgtest manages.
func (s *Server) writeSettings(extra map[string]string, port int) error {
	var b strings.Builder
	set := func(k, v string) { fmt.Fprintf(&b, "%s = %s\n", k, quoteLiteral(v)) }
	for _, kv := range defaultSettings {
		set(kv[0], kv[1])
	}
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		set(k, extra[k])
	}
	set("listen_addresses", s.Host)
	set("port", strconv.Itoa(port))
	set("unix_socket_directories", s.SocketDir)
	return s.writeFile(filepath.Join(s.DataDir, "pgtest.conf"), b.String())
}

// startOnFreePort starts the server on a free port, on another one when that got taken meanwhile.
func (s *Server) startOnFreePort(settings map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	for try := 0; try < startTries; try++ {
		var port int
		if port, err = FreePort(); err != nil {
			return err
		}
		if err = s.writeSettings(settings, port); err != nil {
			return err
		}
		s.Port = port
		var logged string
		if logged, err = s.pgctlStart(); err == nil {
			return nil
		}
		if !strings.Contains(logged, "could not bind") && !strings.Contains(logged, "could not create") {
			return err
		}
	}
	return err
}

// pgctlStart starts the server and waits until it accepts connections. It returns what the attempt
// wrote to the log.
func (s *Server) pgctlStart() (string, error) {
	var offset int64
	if fi, err := os.Stat(s.LogFile); err == nil {
		offset = fi.Size()
	}
	err := s.run("pg_ctl", "start", "-D", s.DataDir, "-l", s.LogFile, "-w", "-t", pgctlTimeout, "-s")
	if err == nil {
		s.running = true
		return "", nil
	}
	logged := ""
	if data, readErr := os.ReadFile(s.LogFile); readErr == nil && int64(len(data)) >= offset {
		logged = string(data[offset:])
	}
	return logged, fmt.Errorf("%w\nserver log (%s):\n%s", err, s.LogFile, s.LogTail(20))
}

// stopLocked stops the server if it runs (postmaster.pid exists), with pg_ctl stop -m mode.
func (s *Server) stopLocked(mode string) error {
	if _, err := os.Stat(filepath.Join(s.DataDir, "postmaster.pid")); errors.Is(err, os.ErrNotExist) {
		s.running = false
		return nil
	}
	if err := s.run("pg_ctl", "stop", "-D", s.DataDir, "-m", mode, "-w", "-t", pgctlTimeout, "-s"); err != nil {
		return err
	}
	s.running = false
	return nil
}

// watchdogScript gets "done" from Stop; anything else (EOF: the test process is gone) makes it stop the
// postmaster named in postmaster.pid (SIGQUIT: immediate shutdown) and remove the directory.
// $1 is the data directory, $2 the directory to remove.
const watchdogScript = `trap '' HUP INT
read -r msg
[ "$msg" = done ] && exit 0
pid=$(head -n 1 "$1/postmaster.pid" 2>/dev/null)
if [ -n "$pid" ] && kill -QUIT "$pid" 2>/dev/null; then
	n=0
	while [ -e "$1/postmaster.pid" ] && [ "$n" -lt 300 ]; do sleep 0.1; n=$((n+1)); done
fi
rm -rf "$2"
`

func (s *Server) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "pgtest-watchdog", s.DataDir, s.baseDir)
	cmd.Stdin = r
	// Its own process group: a Ctrl-C to the test does not reach it, so it can clean up after it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return fmt.Errorf("pgtest: starting the watchdog: %w", err)
	}
	s.watchdog, s.goodbye = cmd, w
	return nil
}

// closeWatchdog dismisses the watchdog (bye) or lets it clean up (!bye), and waits for it.
func (s *Server) closeWatchdog(bye bool) {
	if s.watchdog == nil {
		return
	}
	if bye {
		io.WriteString(s.goodbye, "done\n")
	}
	s.goodbye.Close()
	s.watchdog.Wait()
	s.watchdog, s.goodbye = nil, nil
}

// quoteLiteral quotes s as an SQL (and postgresql.conf) string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
