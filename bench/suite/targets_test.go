package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

func TestSelectTargets(t *testing.T) {
	all, err := selectTargets("")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{targetDirect, targetPgBouncer, targetPgpooler, targetPgpoolerGoroutines}
	if !slices.Equal(all, want) {
		t.Errorf("default targets %v, want %v", all, want)
	}
	got, err := selectTargets(" pgpooler-goroutines,direct")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{targetDirect, targetPgpoolerGoroutines}) {
		t.Errorf("targets %v, want direct, pgpooler-goroutines in table order", got)
	}
	if _, err := selectTargets("pgpooler-loop"); err == nil {
		t.Error("no error for an unknown target")
	}
}

// parsedConfig is pgpoolerConfig for target, read by pgpooler's own config package.
func parsedConfig(t *testing.T, target string) *config.Config {
	t.Helper()
	db := &database{pg: &pgtest.Server{Host: "127.0.0.1", Port: 5999}}
	c, err := config.Parse([]byte(pgpoolerConfig(6432, db, pgpoolerExtra(target))), "")
	if err != nil {
		t.Fatalf("%s's config.toml: %v", target, err)
	}
	return c
}

// TestPgpoolerGoroutinesConfig: pgpooler runs with pgpooler's defaults for the relay (event_loops on),
// pgpooler-goroutines with event_loops = false, and otherwise with pgpooler's settings.
func TestPgpoolerGoroutinesConfig(t *testing.T) {
	plain, gor := parsedConfig(t, targetPgpooler), parsedConfig(t, targetPgpoolerGoroutines)
	def := config.Default().Pooler
	if plain.Pooler.EventLoops != def.EventLoops || !plain.Pooler.EventLoops || plain.Pooler.MaxPreparedStatements != def.MaxPreparedStatements {
		t.Errorf("pgpooler: event_loops %v, max_prepared_statements %d; want the defaults (event_loops on)",
			plain.Pooler.EventLoops, plain.Pooler.MaxPreparedStatements)
	}
	if gor.Pooler.EventLoops {
		t.Errorf("pgpooler-goroutines: event_loops on; want off")
	}
	// Undo exactly what goroutineSettings sets: the rest must be pgpooler's.
	gor.Pooler.EventLoops = plain.Pooler.EventLoops
	if !reflect.DeepEqual(plain, gor) {
		t.Errorf("pgpooler-goroutines' settings differ from pgpooler's beyond goroutineSettings:\n%+v\n%+v", plain.Pooler, gor.Pooler)
	}
}

func scenarioNamed(t *testing.T, name string) scenario {
	t.Helper()
	for _, sc := range allScenarios {
		if sc.name == name {
			return sc
		}
	}
	t.Fatalf("no scenario %s", name)
	return scenario{}
}

// withoutTracking puts max_prepared_statements = 0 into goroutineSettings for the test: what skipReason
// and the n/a‡ cells are for.
func withoutTracking(t *testing.T) {
	saved := goroutineSettings
	t.Cleanup(func() { goroutineSettings = saved })
	goroutineSettings = []setting{{"event_loops", "false"}, {"max_prepared_statements", "0"}}
}

func TestSkipReason(t *testing.T) {
	withoutTracking(t)
	prep := scenarioNamed(t, "S50prep")
	for _, target := range targetNames {
		got := skipReason(target, prep) != ""
		if want := target == targetPgpoolerGoroutines; got != want {
			t.Errorf("S50prep through %s: skipped %v, want %v", target, got, want)
		}
	}
	for _, sc := range allScenarios {
		if sc.name != prep.name && skipReason(targetPgpoolerGoroutines, sc) != "" {
			t.Errorf("%s through pgpooler-goroutines skipped: %s", sc.name, skipReason(targetPgpoolerGoroutines, sc))
		}
	}
	// Without max_prepared_statements = 0 in the list, S50prep runs through pgpooler-goroutines.
	goroutineSettings = []setting{{"event_loops", "false"}}
	if why := skipReason(targetPgpoolerGoroutines, prep); why != "" {
		t.Errorf("S50prep skipped without max_prepared_statements = 0: %s", why)
	}
}

// fakeSuite is a suite that ran S50 and S50prep once through every target (S50prep not through
// pgpooler-goroutines, as runScenarios skips it) with made-up numbers, and the idle and storm measurements.
func fakeSuite(t *testing.T) *suite {
	s := &suite{
		cfg: &settings{rounds: 1, targets: targetNames,
			scenarios: []scenario{scenarioNamed(t, "S50"), scenarioNamed(t, "S50prep")}},
		poolers: map[string]*pooler{},
		runs:    map[string]map[string][]result{},
		idle:    map[string]idleResult{},
		storm:   map[string]stormResult{},
	}
	nan := math.NaN()
	s.record("S50", targetDirect, result{tps: 1000, txns: 10000, latAvgMs: 1, latP99Ms: 2, cpuPerTxUs: nan})
	s.record("S50", targetPgBouncer, result{tps: 800, txns: 8000, latAvgMs: 1.25, latP99Ms: 3, cpuPerTxUs: 10})
	s.record("S50", targetPgpooler, result{tps: 600, txns: 6000, latAvgMs: 1.6, latP99Ms: 4, cpuPerTxUs: 20})
	s.record("S50", targetPgpoolerGoroutines, result{tps: 880, txns: 8800, latAvgMs: 1.1, latP99Ms: 2.5, cpuPerTxUs: 9, failed: 7})
	for _, tg := range []string{targetDirect, targetPgBouncer, targetPgpooler} {
		s.record("S50prep", tg, result{tps: 900, txns: 9000, latAvgMs: 1, latP99Ms: 2, cpuPerTxUs: 11})
	}
	for i, tg := range poolerTargets {
		s.idle[tg] = idleResult{clients: 500, loggedIn: 500, rssBefore: 10 << 20, rssAfter: 11 << 20, bytesPerClient: float64(1024 * (i + 1))}
		s.storm[tg] = stormResult{clients: 2000, allIn: 1500e6, p50: 300e6, p99: 900e6}
	}
	return s
}

// tableRow returns the table line of md that starts with "| first |", and checks that it has as many
// cells as the header above it.
func tableRow(t *testing.T, md, first string) []string {
	t.Helper()
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "| "+first+" |") {
			continue
		}
		head := i
		for head > 0 && strings.HasPrefix(lines[head-1], "|") {
			head--
		}
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		if n := len(strings.Split(strings.Trim(lines[head], "| "), " | ")); n != len(cells) {
			t.Errorf("row %q has %d cells, its header %d", first, len(cells), n)
		}
		return cells
	}
	t.Fatalf("no row %q in\n%s", first, md)
	return nil
}

func TestThroughputTableHasLoops(t *testing.T) {
	withoutTracking(t)
	s := fakeSuite(t)
	var b strings.Builder
	s.writeThroughput(&b)
	md := b.String()
	head := tableRow(t, md, "pgbench")
	row := tableRow(t, md, "-S, 50 clients")
	cell := map[string]string{}
	for i, h := range head {
		cell[h] = row[i]
	}
	for h, want := range map[string]string{
		"pgpooler TPS": "600", "pgpooler-goroutines TPS": "880",
		"TPS pgpooler/PgBouncer": "0.75", "TPS pgpooler/direct": "0.60",
		"TPS pgpooler-goroutines/PgBouncer": "1.10", "TPS pgpooler-goroutines/direct": "0.88",
		"pgpooler CPU µs/txn": "20.0", "pgpooler-goroutines CPU µs/txn": "9.0",
		"CPU pgpooler/PgBouncer": "2.00", "CPU pgpooler-goroutines/PgBouncer": "0.90",
	} {
		if cell[h] != want {
			t.Errorf("column %q: %q, want %q (header %v)", h, cell[h], want, head)
		}
	}
	prep := tableRow(t, md, "-S -M prepared, 50")
	for i, h := range head {
		loops := strings.Contains(h, "pgpooler-goroutines")
		if got := prep[i]; loops && got != skipMark && !strings.Contains(h, "/") {
			t.Errorf("S50prep, column %q: %q, want %q", h, got, skipMark)
		} else if !loops && (got == skipMark || got == "–") {
			t.Errorf("S50prep, column %q: %q, want a number", h, got)
		}
	}
	if !strings.Contains(md, "-S -M prepared, 50 through pgpooler-goroutines did not run: ") {
		t.Errorf("no note on the skipped S50prep:\n%s", md)
	}
}

func TestLatencyTableHasLoops(t *testing.T) {
	withoutTracking(t)
	s := fakeSuite(t)
	var b strings.Builder
	s.writeLatency(&b)
	md := b.String()
	head := tableRow(t, md, "pgbench")
	wantHead := []string{"pgbench", "avg ms: direct", "PgBouncer", "pgpooler", "pgpooler-goroutines",
		"p99 ms: direct", "PgBouncer", "pgpooler", "pgpooler-goroutines", "failed: direct", "PgBouncer", "pgpooler", "pgpooler-goroutines"}
	if !slices.Equal(head, wantHead) {
		t.Errorf("header %v, want %v", head, wantHead)
	}
	if row := tableRow(t, md, "-S, 50 clients"); row[4] != "1.100" || row[8] != "2.500" || row[12] != "7" {
		t.Errorf("pgpooler-goroutines' avg, p99, failed: %s, %s, %s; want 1.100, 2.500, 7", row[4], row[8], row[12])
	}
	if row := tableRow(t, md, "-S -M prepared, 50"); row[4] != skipMark || row[3] != "1.000" {
		t.Errorf("S50prep avg: pgpooler %s, pgpooler-goroutines %s; want 1.000, %s", row[3], row[4], skipMark)
	}
}

func TestIdleAndStormTablesHaveLoops(t *testing.T) {
	s := fakeSuite(t)
	var b strings.Builder
	s.writeIdle(&b)
	s.writeStorm(&b)
	md := b.String()
	rows := 0
	for _, l := range strings.Split(md, "\n") {
		if strings.HasPrefix(l, "| pgpooler-goroutines |") {
			rows++
		}
	}
	if rows != 2 {
		t.Fatalf("%d pgpooler-goroutines rows, want one in each table:\n%s", rows, md)
	}
	if !strings.Contains(md, "| pgpooler-goroutines | 500 | 0 | 0.0 s | 10.0 MiB | 11.0 MiB | 3.00 KiB |") {
		t.Errorf("pgpooler-goroutines' idle row is not its own:\n%s", md)
	}
}

func TestTargetStyles(t *testing.T) {
	seen := map[string]bool{}
	for _, target := range targetNames {
		st, ok := targetStyle[target]
		if !ok {
			t.Fatalf("%s has no plot style", target)
		}
		r, g, b, _ := st.color.RGBA()
		key := string(rune(r)) + string(rune(g)) + string(rune(b))
		glyph := reflect.TypeOf(st.shape).String()
		if seen[key] || seen[glyph] || st.label == "" {
			t.Errorf("%s: colour or glyph %s shared with another target, or no label", target, glyph)
		}
		seen[key], seen[glyph] = true, true
	}
}

func TestPlotWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "benchmarks.png")
	if err := fakeSuite(t).plot(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
}

func TestSkipMarkOnlyForSelectedTargets(t *testing.T) {
	s := fakeSuite(t)
	s.cfg.targets = []string{targetDirect, targetPgBouncer, targetPgpooler}
	var b strings.Builder
	s.writeThroughput(&b)
	if md := b.String(); strings.Contains(md, skipMark) {
		t.Errorf("pgpooler-goroutines not selected, yet %s in the table:\n%s", skipMark, md)
	}
}
