package main

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// readLatencyLogs returns the latencies (µs, sorted) of the successful transactions in pgbench's
// per-transaction logs prefix.PID and prefix.PID.THREAD (pgbench --log --log-prefix=prefix).
func readLatencyLogs(prefix string) ([]int64, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil {
		return nil, err
	}
	var lat []int64
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		lat, err = appendLatencies(lat, bufio.NewScanner(f))
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(lat)
	return lat, nil
}

// appendLatencies appends the latency of every line of a pgbench transaction log to lat. A line is
// "client_id transaction_no time script_no time_epoch time_us [schedule_lag] [retries]" (pgbench(1),
// "Per-Transaction Logging"); time is in µs, or a word ("failed", "skipped", ...) for transactions that
// did not complete, which are left out.
func appendLatencies(lat []int64, sc *bufio.Scanner) ([]int64, error) {
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 {
			continue
		}
		if us, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			lat = append(lat, us)
		}
	}
	return lat, sc.Err()
}
