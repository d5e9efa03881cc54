package tests

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The drivers of the matrix that run as programs: psql and pgbench, and the workloads under
// tests/drivers/ run by their own runtimes (Debian's python3 and ruby, Java with Debian's JDBC jar,
// Node.js with node-postgres from npm). A program takes its connection from the libpq environment
// variables and its workload from WORKLOAD_* (tests/drivers/python/workload.py describes them), and
// prints "ok queries=N transactions=N errors=N rows=N", or an "error: ..." line and a non-zero exit.

const (
	// debianPython is Debian's python3, which has Debian's python3-* packages (the python3 first on
	// PATH may be another one).
	debianPython = "/usr/bin/python3"
	// jdbcJar is Debian's libpostgresql-jdbc-java.
	jdbcJar = "/usr/share/java/postgresql.jar"
	// nodeDir holds node-postgres's package.json and package-lock.json; `npm ci` there installs it.
	nodeDir = "drivers/node"
)

// firstLine is the first non-empty line of b, trimmed.
func firstLine(b []byte) string {
	for line := range strings.SplitSeq(string(b), "\n") {
		if s := strings.TrimSpace(line); s != "" {
			return s
		}
	}
	return ""
}

// commandLine runs a short command (a version probe) and returns its first line of output.
func commandLine(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, firstLine(out))
	}
	return firstLine(out), nil
}

// clientToolProbe finds a PostgreSQL client program on PATH and tells its version.
func clientToolProbe(name, debianPackage string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		if _, err := exec.LookPath(name); err != nil {
			return "", fmt.Errorf("%s not on PATH (Debian package %s)", name, debianPackage)
		}
		v, err := commandLine(name, "--version")
		if err != nil {
			return "", err
		}
		return strings.TrimPrefix(v, name+" (PostgreSQL) "), nil
	})
}

// pythonModuleProbe checks that Debian's python3 imports module (from Debian package debianPackage).
func pythonModuleProbe(module, debianPackage string) func() (string, error) {
	return sync.OnceValues(func() (string, error) {
		if _, err := os.Stat(debianPython); err != nil {
			return "", fmt.Errorf("no %s (apt-get install %s)", debianPython, debianPackage)
		}
		v, err := commandLine(debianPython, "-c",
			"import sys, "+module+" as m; print(m.__version__.split()[0], 'on Python', sys.version.split()[0])")
		if err != nil {
			return "", fmt.Errorf("%s cannot import %s (apt-get install %s): %v", debianPython, module, debianPackage, err)
		}
		return v, nil
	})
}

var nodePostgresProbe = sync.OnceValues(func() (string, error) {
	if _, err := exec.LookPath("node"); err != nil {
		return "", errors.New("node not on PATH")
	}
	b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "pg", "package.json"))
	if err != nil {
		return "", fmt.Errorf("node-postgres not installed: run `npm ci` in tests/%s (.ci/run does): %v", nodeDir, err)
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("node_modules/pg/package.json: %v", err)
	}
	nodeVersion, err := commandLine("node", "--version")
	if err != nil {
		return "", err
	}
	return pkg.Version + " on Node.js " + nodeVersion, nil
})

var jdbcProbe = sync.OnceValues(func() (string, error) {
	if _, err := exec.LookPath("java"); err != nil {
		return "", errors.New("java not on PATH")
	}
	zr, err := zip.OpenReader(jdbcJar)
	if err != nil {
		return "", fmt.Errorf("no JDBC driver jar (apt-get install libpostgresql-jdbc-java): %v", err)
	}
	defer zr.Close()
	version := ""
	if f, err := zr.Open("META-INF/MANIFEST.MF"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Implementation-Version:"); ok {
				version = strings.TrimSpace(v)
			}
		}
		f.Close()
	}
	if version == "" {
		return "", fmt.Errorf("%s has no Implementation-Version in its manifest", jdbcJar)
	}
	javaVersion, err := commandLine("java", "-version")
	if err != nil {
		return "", err
	}
	return version + " on " + strings.ReplaceAll(javaVersion, `"`, ""), nil
})

var rubyPGProbe = sync.OnceValues(func() (string, error) {
	if _, err := exec.LookPath("ruby"); err != nil {
		return "", errors.New("ruby not on PATH (apt-get install ruby ruby-pg)")
	}
	v, err := commandLine("ruby", "-rpg", "-e", `print PG::VERSION, " on Ruby ", RUBY_VERSION`)
	if err != nil {
		return "", fmt.Errorf("ruby cannot load pg (apt-get install ruby-pg): %v", err)
	}
	return v, nil
})

// workloadEnv is the environment of a workload program.
func workloadEnv(e driverEnv, variant string) []string {
	return append(os.Environ(),
		"PGHOST=127.0.0.1",
		"PGPORT="+strconv.Itoa(e.tp.port),
		"PGUSER="+appUser,
		"PGPASSWORD="+appPassword,
		"PGDATABASE="+appDB,
		"PGSSLMODE=disable",
		"PYTHONDONTWRITEBYTECODE=1",
		"WORKLOAD_TABLE="+e.table,
		"WORKLOAD_WORKERS="+strconv.Itoa(e.size.workers),
		"WORKLOAD_ROUNDS="+strconv.Itoa(e.size.rounds),
		"WORKLOAD_QUERIES="+strconv.Itoa(e.size.queries),
		"WORKLOAD_INSERTS="+strconv.Itoa(e.size.inserts),
		"WORKLOAD_VARIANT="+variant,
	)
}

// programRun runs a workload program and reads the counts it reports.
func programRun(variant, name string, args ...string) func(ctx context.Context, e driverEnv) (counts, error) {
	return func(ctx context.Context, e driverEnv) (counts, error) {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = workloadEnv(e, variant)
		cmd.WaitDelay = 5 * time.Second
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			// The program's own error line first: it names the driver's error and SQLSTATE.
			return counts{}, fmt.Errorf("%s\n(%s: %v)\nstderr:\n%s\nstdout:\n%s",
				errorLine(stderr.Bytes()), strings.Join(cmd.Args, " "), err, stderr.Bytes(), stdout.Bytes())
		}
		var c counts
		line := firstLine(stdout.Bytes())
		if _, err := fmt.Sscanf(line, "ok queries=%d transactions=%d errors=%d rows=%d", &c.queries, &c.transactions, &c.errors, &c.rows); err != nil {
			return counts{}, fmt.Errorf("%s printed %q, want its ok line (%v); stderr:\n%s", name, line, err, stderr.Bytes())
		}
		return c, nil
	}
}

// errorLine is the "error: ..." line a workload program prints, or its first line of output.
func errorLine(out []byte) string {
	for line := range strings.SplitSeq(string(out), "\n") {
		if strings.HasPrefix(line, "error: ") {
			return line
		}
	}
	return firstLine(out)
}

func pythonRun(script, variant string) func(ctx context.Context, e driverEnv) (counts, error) {
	return programRun(variant, debianPython, "-B", filepath.Join("drivers", "python", script))
}

func nodeRun(variant string) func(ctx context.Context, e driverEnv) (counts, error) {
	return programRun(variant, "node", filepath.Join(nodeDir, "workload.js"))
}

func jdbcRun(prepareThreshold string) func(ctx context.Context, e driverEnv) (counts, error) {
	// Java 11+ runs a single source file, compiled in memory; compiling with C1 only keeps it short.
	return programRun(prepareThreshold, "java", "-XX:TieredStopAtLevel=1", "-cp", jdbcJar,
		filepath.Join("drivers", "java", "Workload.java"))
}

func rubyRun(variant string) func(ctx context.Context, e driverEnv) (counts, error) {
	return programRun(variant, "ruby", filepath.Join("drivers", "ruby", "workload.rb"))
}

// psqlRun runs one psql per worker, each a script of the workload: psql variables (-v w=N) give the
// values, psql sends simple queries, and without ON_ERROR_STOP it goes on after the division by zero.
func psqlRun(ctx context.Context, e driverEnv) (counts, error) {
	return runWorkers(e.size.workers, func(w int, tl *tally) error {
		var script, want strings.Builder
		for r := range e.size.rounds {
			for i := range e.size.queries {
				fmt.Fprintf(&script, "SELECT :w + %d;\n", i)
				fmt.Fprintf(&want, "%d\n", w+i)
			}
			script.WriteString("BEGIN;\n")
			for k := range e.size.inserts {
				fmt.Fprintf(&script, "INSERT INTO %s (worker, round, k) VALUES (:w, %d, %d);\n", e.table, r, k)
			}
			fmt.Fprintf(&script, "SELECT count(*) FROM %s WHERE worker = :w AND round = %d;\nCOMMIT;\n", e.table, r)
			fmt.Fprintf(&want, "%d\n", e.size.inserts)
			script.WriteString("SELECT 1/0;\nSELECT 'worker ' || :w || ' after the error';\n")
			fmt.Fprintf(&want, "worker %d after the error\n", w)
		}
		cmd := exec.CommandContext(ctx, "psql", "-X", "-q", "-A", "-t", "-v", "w="+strconv.Itoa(w), e.tp.url(appDB))
		cmd.Stdin = strings.NewReader(script.String())
		cmd.WaitDelay = 5 * time.Second
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("psql: %v\n%s", err, stderr.Bytes())
		}
		if stdout.String() != want.String() {
			return fmt.Errorf("psql printed\n%s\nwant\n%s\nstderr:\n%s", stdout.Bytes(), want.String(), stderr.Bytes())
		}
		errLines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		for _, line := range errLines {
			if !strings.HasSuffix(line, "ERROR:  division by zero") {
				return fmt.Errorf("psql's standard error has %q; want only the division by zero errors", line)
			}
		}
		if len(errLines) != e.size.rounds {
			return fmt.Errorf("psql reported %d errors; want %d", len(errLines), e.size.rounds)
		}
		tl.add(counts{queries: e.size.rounds * e.size.queries, transactions: e.size.rounds, errors: e.size.rounds,
			rows: e.size.rounds * e.size.inserts})
		return nil
	})
}

// pgbenchErrorRe matches the errors pgbench prints.
var pgbenchErrorRe = regexp.MustCompile(`(?m)^pgbench: error: .*$`)

// pgbenchPerClient is how many transactions each pgbench client runs.
const pgbenchPerClient = 25

// pgbenchCounts: a transaction of pgbench's script is one query and two INSERTs. pgbench ends a client
// at its first SQL error, so its workload has no error step.
func pgbenchCounts(s workloadSize) counts {
	n := s.workers * pgbenchPerClient
	return counts{queries: n, transactions: n, rows: 2 * n}
}

// pgbenchRun runs pgbench with a script of the workload's shape and protocol (-M) protocol: a
// parameterised query, then a transaction of two INSERTs and a SELECT.
func pgbenchRun(protocol string) func(ctx context.Context, e driverEnv) (counts, error) {
	return func(ctx context.Context, e driverEnv) (counts, error) {
		f, err := os.CreateTemp("", "pgpooler-pgbench-*.sql")
		if err != nil {
			return counts{}, err
		}
		defer os.Remove(f.Name())
		script := fmt.Sprintf(`\set k random(0, 1000000)
SELECT :client_id::int + :k::int;
BEGIN;
INSERT INTO %[1]s (worker, round, k) VALUES (:client_id, 0, :k);
INSERT INTO %[1]s (worker, round, k) VALUES (:client_id, 1, :k);
SELECT count(*) FROM %[1]s WHERE worker = :client_id;
END;
`, e.table)
		if _, err := f.WriteString(script); err != nil {
			f.Close()
			return counts{}, err
		}
		if err := f.Close(); err != nil {
			return counts{}, err
		}
		// A thread per client: pgbench prepares its statements with a blocking PQprepare, so a client
		// waiting for a server would stall the other clients of its thread, the one holding that server
		// in a transaction among them, and with fewer servers than clients that is a deadlock.
		cmd := exec.CommandContext(ctx, "pgbench", "-n", "-h", "127.0.0.1", "-p", strconv.Itoa(e.tp.port), "-U", appUser,
			"-c", strconv.Itoa(e.size.workers), "-j", strconv.Itoa(e.size.workers), "-t", strconv.Itoa(pgbenchPerClient),
			"-M", protocol, "-f", f.Name(), appDB)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		// pgbench reports a failed PQprepare and goes on: any error it prints fails the run.
		if m := pgbenchErrorRe.Find(out); err != nil || m != nil {
			return counts{}, fmt.Errorf("pgbench -M %s: %s (exit: %v)\n%s", protocol, m, err, out)
		}
		m := processedRe.FindSubmatch(out)
		if m == nil {
			return counts{}, fmt.Errorf("pgbench output has no processed count:\n%s", out)
		}
		processed, _ := strconv.Atoi(string(m[1]))
		if m := failedRe.FindSubmatch(out); m != nil && string(m[1]) != "0" {
			return counts{}, fmt.Errorf("pgbench -M %s: %s failed transactions\n%s", protocol, m[1], out)
		}
		return counts{queries: processed, transactions: processed, rows: 2 * processed}, nil
	}
}
