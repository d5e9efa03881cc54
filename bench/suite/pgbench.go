package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// result is one pgbench run of one scenario through one target.
type result struct {
	tps        float64 // pgbench's tps line
	latAvgMs   float64 // pgbench's "latency average"
	latP99Ms   float64 // from the per-transaction logs; NaN without them
	connMs     float64 // pgbench's "initial connection time" (with -C: "average connection time")
	txns       int64   // "number of transactions actually processed"
	failed     int64   // "number of failed transactions", plus clients pgbench aborted
	aborted    bool    // pgbench exited non-zero (clients aborted); the numbers cover what ran
	cpuPerTxUs float64 // the pooler's CPU µs per transaction; NaN for direct
	errText    string  // first lines of pgbench's complaints, when aborted
}

// pgbenchArgs are the pgbench arguments of sc through e for d (-T is sc.runTime(d)), logging per
// transaction under prefix.
func pgbenchArgs(sc scenario, e endpoint, d time.Duration, prefix string) []string {
	args := append([]string{}, sc.args...)
	args = append(args, "-c", strconv.Itoa(sc.clients), "-j", strconv.Itoa(sc.threads()),
		"-T", strconv.Itoa(int(sc.runTime(d)/time.Second)))
	if prefix != "" {
		args = append(args, "--log", "--log-prefix="+prefix)
	}
	return append(args, "-h", e.host, "-p", strconv.Itoa(e.port), "-U", appUser, appDB)
}

// runPgbench runs sc through e for d. When pid is not 0 it is the pooler's process, whose CPU time
// over the run is divided by the transactions pgbench completed. Logs go to a directory under dir,
// removed afterwards.
func runPgbench(ctx context.Context, sc scenario, e endpoint, pid int, d time.Duration, dir string) (result, error) {
	logDir, err := os.MkdirTemp(dir, "pgbench-log-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(logDir)
	prefix := filepath.Join(logDir, "txn")
	ctx, cancel := context.WithTimeout(ctx, sc.runTime(d)+5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "pgbench", pgbenchArgs(sc, e, d, prefix)...)
	cmd.Env = pgbenchEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var cpu0 time.Duration
	if pid != 0 {
		if cpu0, err = procCPU(pid); err != nil {
			return result{}, err
		}
	}
	runErr := cmd.Run()
	var cpu time.Duration
	if pid != 0 {
		cpu1, err := procCPU(pid)
		if err != nil {
			return result{}, err
		}
		cpu = cpu1 - cpu0
	}
	r := result{cpuPerTxUs: math.NaN(), latP99Ms: math.NaN()}
	if err := parseSummary(stdout.Bytes(), &r); err != nil {
		return r, fmt.Errorf("pgbench %s: %v (%v)\nstdout:\n%s\nstderr:\n%s", sc.name, err, runErr, stdout.String(), tail(stderr.String(), 10))
	}
	if pid != 0 && r.txns > 0 {
		r.cpuPerTxUs = float64(cpu.Microseconds()) / float64(r.txns)
	}
	r.failed += int64(strings.Count(stderr.String(), " aborted "))
	if runErr != nil {
		r.aborted = true
		r.errText = tail(stderr.String(), 3)
	}
	if r.txns == 0 {
		logf("pgbench %s through %s completed no transaction; its output:\n%s\n%s", sc.name, e.addr(), stdout.String(), tail(stderr.String(), 5))
	}
	lat, err := readLatencyLogs(prefix)
	if err != nil {
		return r, err
	}
	if len(lat) > 0 {
		r.latP99Ms = float64(percentile(lat, 99)) / 1000
	}
	return r, nil
}

var (
	tpsRE     = regexp.MustCompile(`(?m)^tps = ([0-9.]+)`)
	latAvgRE  = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
	txnsRE    = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	connRE    = regexp.MustCompile(`(?m)^(?:initial|average) connection time = ([0-9.]+) ms`)
	failedRE  = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	headingRE = regexp.MustCompile(`(?m)^transaction type: `)
)

// parseSummary reads pgbench's summary (PostgreSQL 15's format) into r: tps, latency average,
// transactions processed and failed. The transactions line is required, and the tps line unless no
// transaction ran (pgbench then prints none); the others are optional (NaN and 0 when missing).
func parseSummary(out []byte, r *result) error {
	if !headingRE.Match(out) {
		return fmt.Errorf("no pgbench summary")
	}
	m := txnsRE.FindSubmatch(out)
	if m == nil {
		return fmt.Errorf("no line with the number of transactions")
	}
	r.txns, _ = strconv.ParseInt(string(m[1]), 10, 64)
	if m := tpsRE.FindSubmatch(out); m != nil {
		r.tps, _ = strconv.ParseFloat(string(m[1]), 64)
	} else if r.txns != 0 {
		return fmt.Errorf("no tps line")
	} // pgbench prints none when nothing ran: 0
	if m := latAvgRE.FindSubmatch(out); m != nil {
		r.latAvgMs, _ = strconv.ParseFloat(string(m[1]), 64)
	} else {
		r.latAvgMs = math.NaN()
	}
	r.connMs = math.NaN()
	if m := connRE.FindSubmatch(out); m != nil {
		r.connMs, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := failedRE.FindSubmatch(out); m != nil {
		r.failed, _ = strconv.ParseInt(string(m[1]), 10, 64)
	}
	return nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
