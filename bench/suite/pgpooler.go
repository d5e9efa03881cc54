package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// setting is one key of pgpooler's [pooler] section, its value in TOML syntax.
type setting struct{ key, value string }

// goroutineSettings are what target pgpooler-goroutines adds to the settings both pgpooler targets
// share: event_loops = false (pgpooler's own key), so that every logged-in client is served by
// goroutines of its own, for comparison with pgpooler's default relay on the event loops. A
// max_prepared_statements = 0 here would keep pgbench -M prepared (S50prep) off this target
// (skipReason).
var goroutineSettings = []setting{
	{"event_loops", "false"},
}

// pgpoolerExtra returns the settings target (one of pgpoolerTargets) adds to the shared ones.
func pgpoolerExtra(target string) []setting {
	if target == targetPgpoolerGoroutines {
		return goroutineSettings
	}
	return nil
}

// skipReason says why scenario sc does not run through target, "" when it does. In transaction mode
// without prepared-statement tracking (max_prepared_statements = 0) pgbench -M prepared fails: it
// prepares each statement once per connection, and a later transaction that gets a server which never
// saw the statement fails with "prepared statement ... does not exist", aborting the client.
func skipReason(target string, sc scenario) string {
	if !slices.Contains(pgpoolerTargets, target) || !sc.prepared() {
		return ""
	}
	for _, st := range pgpoolerExtra(target) {
		if st.key == "max_prepared_statements" && st.value == "0" {
			return "pgbench -M prepared fails in transaction mode with max_prepared_statements = 0 " +
				"(no statement tracking), which this target is set to"
		}
	}
	return ""
}

// startPgpooler runs the pgpooler binary path in front of db as target (one of pgpoolerTargets), with
// a config.toml (the settings both poolers share, plus pgpoolerExtra(target)) in a fresh directory
// under dir: each target is a process of its own.
func startPgpooler(path, dir, target string, db *database) (*pooler, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("pgpooler binary: %v (run `make build`, or set PGPOOLER_BIN)", err)
	}
	dir = filepath.Join(dir, target)
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
		toml := pgpoolerConfig(port, db, pgpoolerExtra(target))
		cfgPath := filepath.Join(dir, "config.toml")
		if err := os.WriteFile(cfgPath, []byte(toml), 0o600); err != nil {
			return nil, err
		}
		p := &pooler{name: target, version: version, config: toml,
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
// pgbouncerIni's; pgpooler's listen backlog is the kernel's somaxconn), then extra.
func pgpoolerConfig(port int, db *database, extra []setting) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[pooler]\nlisten_addr = \"127.0.0.1\"\nlisten_port = %d\n", port)
	fmt.Fprintf(&b, "pool_mode = \"transaction\"\ndefault_pool_size = %d\nmax_client_conn = %d\n", poolSize, maxClientConn)
	b.WriteString("auth_type = \"scram-sha-256\"\nauth_file = \"userlist.txt\"\nserver_tls_sslmode = \"disable\"\n")
	for _, st := range extra {
		fmt.Fprintf(&b, "%s = %s\n", st.key, st.value)
	}
	fmt.Fprintf(&b, "\n[databases.%s]\nhost = %q\nport = %d\ndbname = %q\n", appDB, db.pg.Host, db.pg.Port, appDB)
	return b.String()
}
