package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// startPgpooler runs the pgpooler binary path in front of db, with a config.toml (the settings both
// poolers share) in a fresh directory under dir.
func startPgpooler(path, dir string, db *database) (*pooler, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("pgpooler binary: %v (run `make build`, or set PGPOOLER_BIN)", err)
	}
	dir = filepath.Join(dir, "pgpooler")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), db.userlist, 0o600); err != nil {
		return nil, err
	}
	version := "pgpooler"
	if out, err := exec.Command(abs, "-version").Output(); err == nil {
		version = strings.TrimSpace(string(out))
	}
	var lastErr error
	for try := 0; try < 3; try++ { // a fresh port if the free one got taken meanwhile
		port, err := pgtest.FreePort()
		if err != nil {
			return nil, err
		}
		toml := pgpoolerConfig(port, db)
		cfgPath := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
			return nil, err
		}
		p := &pooler{name: targetPgpooler, version: version, config: toml,
			endpoint: endpoint{host: "127.0.0.1", port: port}, logPath: filepath.Join(dir, "pgpooler.log")}
		cmd := exec.Command(abs, "-config", cfgPath)
		cmd.Dir = dir
		if lastErr = startProcess(p, cmd, nil); lastErr == nil {
			return p, nil
		}
		if !strings.Contains(lastErr.Error(), "in use") {
			break
		}
	}
	return nil, lastErr
}

// pgpoolerConfig is pgpooler's config.toml: the settings both poolers share (the same as
// pgbouncerIni's; pgpooler's listen backlog is the kernel's somaxconn).
func pgpoolerConfig(port int, db *database) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[pooler]\nlisten_addr = \"127.0.0.1\"\nlisten_port = %d\n", port)
	fmt.Fprintf(&b, "pool_mode = \"transaction\"\ndefault_pool_size = %d\nmax_client_conn = %d\n", poolSize, maxClientConn)
	b.WriteString("auth_type = \"scram-sha-256\"\nauth_file = \"userlist.txt\"\nserver_tls_sslmode = \"disable\"\n")
	fmt.Fprintf(&b, "\n[databases.%s]\nhost = %q\nport = %d\ndbname = %q\n", appDB, db.pg.Host, db.pg.Port, appDB)
	return b.String()
}
