package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// Settings both poolers get (see doc.go).
const (
	poolSize      = 20
	maxClientConn = 12000
	listenBacklog = 4096
)

// startPgBouncer runs PgBouncer (binary path) in front of db in a fresh directory under dir, as the OS
// user postgres when we are root (PgBouncer refuses root).
func startPgBouncer(path, dir string, db *database) (*pooler, error) {
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return nil, fmt.Errorf("PgBouncer not found at %s (apt-get install pgbouncer, or set PGBOUNCER)", path)
	}
	version := pgbouncerVersion(path)
	cred, err := postgresUser()
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "pgbouncer")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := chown(dir, cred); err != nil {
		return nil, err
	}
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, db.userlist, 0o600); err != nil {
		return nil, err
	}
	if err := chown(userlist, cred); err != nil {
		return nil, err
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a fresh port if the free one got taken meanwhile
		port, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		ini := pgbouncerIni(port, db, version)
		iniPath := filepath.Join(dir, "pgbouncer.ini")
		if err := os.WriteFile(iniPath, []byte(ini), 0o600); err != nil {
			return nil, err
		}
		if err := chown(iniPath, cred); err != nil {
			return nil, err
		}
		p := &pooler{name: targetPgBouncer, version: version, config: ini,
			endpoint: endpoint{host: "127.0.0.1", port: port}, logPath: filepath.Join(dir, "pgbouncer.log")}
		cmd := exec.Command(path, "pgbouncer.ini")
		cmd.Dir = dir
		if lastErr = startProcess(p, cmd, cred); lastErr == nil {
			return p, nil
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	return nil, lastErr
}

// pgbouncerIni is PgBouncer's configuration: the settings both poolers share. max_prepared_statements
// (protocol-level prepared statements in transaction mode, PgBouncer 1.21 and later) is set to
// pgpooler's default, 200, when the version has it; older versions run -M prepared without it.
func pgbouncerIni(port int, db *database, version string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[databases]\n%s = host=%s port=%d dbname=%s\n\n", appDB, db.pg.Host, db.pg.Port, appDB)
	fmt.Fprintf(&b, "[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = %d\nunix_socket_dir =\npidfile =\n", port)
	fmt.Fprintf(&b, "pool_mode = transaction\ndefault_pool_size = %d\nmax_client_conn = %d\n", poolSize, maxClientConn)
	b.WriteString("auth_type = scram-sha-256\nauth_file = userlist.txt\nserver_tls_sslmode = disable\n")
	fmt.Fprintf(&b, "listen_backlog = %d\n", listenBacklog)
	if versionAtLeast(version, 1, 21) {
		b.WriteString("max_prepared_statements = 200\n")
	}
	return b.String()
}

var versionRE = regexp.MustCompile(`(\d+)\.(\d+)(?:\.(\d+))?`)

// pgbouncerVersion returns the first line of `pgbouncer --version`, e.g. "PgBouncer 1.18.0".
func pgbouncerVersion(path string) string {
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "PgBouncer (version unknown)"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// versionAtLeast reports whether the first version number in s is major.minor or later.
func versionAtLeast(s string, major, minor int) bool {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return false
	}
	ma, _ := strconv.Atoi(m[1])
	mi, _ := strconv.Atoi(m[2])
	return ma > major || ma == major && mi >= minor
}

// postgresUser returns the credentials PgBouncer runs with: nil (ours) unless we are root; then the
// OS user postgres (created by Debian's postgresql package).
func postgresUser() (*syscall.Credential, error) {
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
