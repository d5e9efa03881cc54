package main

import (
	"bufio"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{math.NaN(), 7, 1}, 4}, // NaN (nothing measured) is left out
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	if got := median([]float64{math.NaN()}); !math.IsNaN(got) {
		t.Errorf("median(NaN) = %v, want NaN", got)
	}
}

func TestPercentile(t *testing.T) {
	var v []int64
	for i := int64(1); i <= 200; i++ {
		v = append(v, i)
	}
	if got := percentile(v, 99); got != 198 {
		t.Errorf("p99 of 1..200 = %d, want 198", got)
	}
	if got := percentile(v[:1], 99); got != 1 {
		t.Errorf("p99 of one value = %d, want it", got)
	}
	if got := percentile(nil, 99); got != 0 {
		t.Errorf("p99 of none = %d, want 0", got)
	}
}

// pgbench15 is pgbench 15's summary on stdout, as the suite captures it (progress and vacuum
// messages go to stderr).
const pgbench15 = `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: <builtin: select only>
scaling factor: 10
query mode: simple
number of clients: 50
number of threads: 2
maximum number of tries: 1
duration: 10 s
number of transactions actually processed: 262243
number of failed transactions: 3 (0.001%)
latency average = 1.905 ms
initial connection time = 61.530 ms
tps = 26247.123456 (without initial connection time)
`

func TestParseSummary(t *testing.T) {
	var r result
	if err := parseSummary([]byte(pgbench15), &r); err != nil {
		t.Fatal(err)
	}
	if r.tps != 26247.123456 || r.latAvgMs != 1.905 || r.txns != 262243 || r.failed != 3 {
		t.Errorf("got tps %v, latency %v, txns %d, failed %d; want 26247.123456, 1.905, 262243, 3", r.tps, r.latAvgMs, r.txns, r.failed)
	}
}

func TestParseSummaryNothingRan(t *testing.T) {
	out := strings.Replace(pgbench15, "processed: 262243", "processed: 0", 1)
	out = out[:strings.Index(out, "latency average")]
	var r result
	if err := parseSummary([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.tps != 0 || r.txns != 0 || !math.IsNaN(r.latAvgMs) {
		t.Errorf("got tps %v, txns %d, latency %v; want 0, 0, NaN", r.tps, r.txns, r.latAvgMs)
	}
}

func TestParseSummaryGarbage(t *testing.T) {
	var r result
	if err := parseSummary([]byte("pgbench: error: connection to server failed\n"), &r); err == nil {
		t.Error("no error for output without a summary")
	}
	noTPS := strings.Replace(pgbench15, "tps = ", "xps = ", 1)
	if err := parseSummary([]byte(noTPS), &r); err == nil {
		t.Error("no error for a summary with transactions but no tps line")
	}
}

func TestAppendLatencies(t *testing.T) {
	log := "0 1 153 0 1764635212 331402\n" +
		"0 2 failed 0 1764635212 331600\n" + // did not complete: left out
		"1 1 98 0 1764635212 331410 0\n" + // with a retries column
		"\n"
	got, err := appendLatencies(nil, bufio.NewScanner(strings.NewReader(log)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 153 || got[1] != 98 {
		t.Errorf("latencies %v, want [153 98]", got)
	}
}

func TestParseStatTicks(t *testing.T) {
	// A command name with a space and a ')' in it; utime 1234, stime 567.
	stat := "4242 (pg pool)er) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 8 0 100 0 0\n"
	got, err := parseStatTicks([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if got != 1801 {
		t.Errorf("ticks %d, want 1801", got)
	}
	if _, err := parseStatTicks([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("no error for a short stat line")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tpgpooler\nVmPeak:\t  900000 kB\nVmRSS:\t   12180 kB\nThreads:\t8\n"
	got, err := parseVmRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if got != 12180 {
		t.Errorf("VmRSS %d kB, want 12180", got)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("no error without a VmRSS line")
	}
}

func TestSelectScenarios(t *testing.T) {
	got, idle, storm, err := selectScenarios("c20, s1,storm")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].name != "S1" || got[1].name != "C20" || idle || !storm {
		t.Errorf("got %v idle %v storm %v; want S1, C20 in suite order, storm only", got, idle, storm)
	}
	if _, _, _, err := selectScenarios("S2"); err == nil {
		t.Error("no error for an unknown scenario")
	}
	all, idle, storm, _ := selectScenarios("")
	if len(all) != len(allScenarios) || !idle || !storm {
		t.Error("an empty list does not select everything")
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999.4: "999", 32735.5: "32,736", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestRunTime(t *testing.T) {
	for _, c := range []struct {
		sc   scenario
		want time.Duration
	}{
		{selectOnly(1), 11 * time.Second},                     // 10 s + 15 ms, rounded up
		{selectOnly(1000), 25 * time.Second},                  // 10 s + 15 s
		{allScenarios[len(allScenarios)-1], 10 * time.Second}, // -C: connecting is what it measures
	} {
		if got := c.sc.runTime(10 * time.Second); got != c.want {
			t.Errorf("%s: -T %v, want %v", c.sc.name, got, c.want)
		}
	}
}

func TestSummarizeLeavesOutEmptyRounds(t *testing.T) {
	nan := math.NaN()
	rs := []result{
		{tps: 0, txns: 0, latAvgMs: nan, latP99Ms: nan, cpuPerTxUs: nan},
		{tps: 100, txns: 1000, latAvgMs: 2, latP99Ms: 5, cpuPerTxUs: 30},
		{tps: 300, txns: 3000, latAvgMs: 4, latP99Ms: 9, cpuPerTxUs: 50, failed: 2, aborted: true},
	}
	s := summarize(rs)
	if s.tps != 200 || s.cpuPerTxUs != 40 || s.empty != 1 || s.aborted != 1 || s.failed != 2 {
		t.Errorf("summary %+v; want tps 200, cpu 40, 1 empty, 1 aborted, 2 failed", s)
	}
}
