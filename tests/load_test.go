package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// The load test: loadClients clients on one transaction pool of loadPoolSize servers.
const (
	loadClients  = 10000
	loadPoolSize = 20
	loadDuration = 15 * time.Second
	// loadWaitTimeout is query_wait_timeout: a client that cannot get a server in time gets 53300.
	loadWaitTimeout = 30 * time.Second
	// loadOpTimeout is a client's own deadline for one operation: longer than loadWaitTimeout, so that
	// the pooler always answers (or refuses) first.
	loadOpTimeout = loadWaitTimeout + 15*time.Second
	loadMargin    = 5 * time.Second
)

// Tolerances for "back to the baseline" once every load client has gone.
const (
	loadGoroutineSlack = 10
	loadFDSlack        = 10
	loadHeapSlack      = 2 << 20 // bytes: 200 bytes kept per client of 10,000
)

// loadResult is tests/loadclient's JSON summary.
type loadResult struct {
	Clients       int            `json:"clients"`
	Connected     int            `json:"connected"`
	ConnectErrors map[string]int `json:"connect_errors"`
	Attempted     int64          `json:"attempted"`
	OK            int64          `json:"ok"`
	Errors        map[string]int `json:"errors"`
	Relogin       map[string]int `json:"relogin"`
	Hung          int64          `json:"hung"`
	Stuck         int64          `json:"stuck"`
	Wrong         int64          `json:"wrong"`
	SlowestMS     int64          `json:"slowest_ms"`
	RunSeconds    float64        `json:"run_seconds"`
	ConnectSecs   float64        `json:"connect_seconds"`
	Samples       []string       `json:"samples"`
}

// stateCounts formats a map of SQLSTATE counts as "none" or "53300=4 57014=1".
func stateCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// poolServers returns how many servers SHOW POOLS counts for database db (active, idle, used, tested
// and logging in), and the row; -1 when the console does not answer. Safe outside the test's goroutine.
func poolServers(con *console, db string) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := con.Exec(ctx, "SHOW POOLS").ReadAll()
	if err != nil || len(res) != 1 {
		return -1, fmt.Sprint(err)
	}
	col := map[string]int{}
	for i, fd := range res[0].FieldDescriptions {
		col[fd.Name] = i
	}
	for _, r := range res[0].Rows {
		if string(r[col["database"]]) != db {
			continue
		}
		n := 0
		for _, k := range []string{"sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"} {
			n += atoi(string(r[col[k]]))
		}
		return n, fmt.Sprintf("%s", r)
	}
	return 0, ""
}

// processUsage is what the test process (the pooler is in it) holds.
type processUsage struct {
	goroutines int
	fds        int
	heap       uint64 // bytes live after a GC
	rss        uint64 // bytes, VmRSS
}

// openFDs counts this process's open files, -1 if /proc cannot tell.
func openFDs() int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// usage measures the process; with gc it first collects garbage and returns freed memory to the OS.
func usage(gc bool) processUsage {
	if gc {
		runtime.GC()
		debug.FreeOSMemory()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return processUsage{goroutines: runtime.NumGoroutine(), fds: openFDs(), heap: ms.HeapAlloc, rss: rssBytes()}
}

func mb(b uint64) string { return fmt.Sprintf("%.1fMB", float64(b)/(1<<20)) }

// runGoroutines starts n goroutines and lets them end. The runtime keeps the g of every goroutine that
// ever ran, for reuse (some 400 bytes of heap each): run first, a burst of goroutines is part of the
// baseline rather than counted as memory the pooler kept.
func runGoroutines(n int) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range n {
		wg.Go(func() { <-start })
	}
	close(start)
	wg.Wait()
}

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns it.
func raiseFileLimit(t testing.TB) uint64 {
	t.Helper()
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			t.Fatalf("setrlimit: %v", err)
		}
	}
	return lim.Cur
}

// buildLoadClient builds tests/loadclient into a temporary directory.
func buildLoadClient(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "loadclient")
	if out, err := exec.Command("go", "build", "-o", bin, "./loadclient").CombinedOutput(); err != nil {
		t.Fatalf("go build ./loadclient: %v\n%s", err, out)
	}
	return bin
}

// TestLoad: loadClients clients (tests/loadclient, a separate process, so that the pooler's process
// holds only its own sockets) log in to a transaction pool of loadPoolSize servers, at most 64 logins at
// a time, and run two-round-trip transactions for loadDuration. Every transaction succeeds or gets an
// ErrorResponse with a SQLSTATE (hung 0, no client stuck, no answer that belongs to another client); the
// pool never holds more than loadPoolSize servers; afterwards the pooler's goroutines, open files and
// heap return to their baseline. PGPOOLER_LONG=1 runs it for 2 minutes; PGPOOLER_LOAD_CLIENTS=n sets
// the number of clients; PGPOOLER_LOAD_HEAPPROFILE=file writes a heap profile after the load.
func TestLoad(t *testing.T) {
	clients, duration := loadClients, loadDuration
	if os.Getenv("PGPOOLER_LONG") == "1" {
		duration = 2 * time.Minute
	}
	if n, err := strconv.Atoi(os.Getenv("PGPOOLER_LOAD_CLIENTS")); err == nil && n > 0 {
		clients = n
	}
	// The pooler's process holds one socket per client plus its own; the client process, the same again.
	if limit := raiseFileLimit(t); limit < uint64(clients)+1000 {
		t.Skipf("RLIMIT_NOFILE hard limit %d is below the %d files %d clients need in each process", limit, clients+1000, clients)
	}
	bin := buildLoadClient(t)
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = loadPoolSize
		c.Pooler.MaxClientConn = clients + 500
		c.Pooler.QueryWaitTimeout = config.Duration(loadWaitTimeout)
		c.Pooler.LogConnections = false // 20,000 log lines would be heap the test measures
		c.Pooler.LogDisconnections = false
	})
	con := openConsole(t, tp, consoleAdmin)
	super := superConn(t, pg)

	// Open the pool's servers first, so that the baseline holds them.
	release := make(chan struct{})
	holders := holdTransactions(t, tp.pgxURL(appDB), loadPoolSize, release)
	eventually(t, 20*time.Second, "the pool's servers open", func() bool { return backendCount(t, super, appDB, "") >= loadPoolSize })
	close(release)
	holders.Wait()
	runGoroutines(2 * clients)
	before := usage(true)

	ctx, cancel := context.WithTimeout(context.Background(), duration+3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-addr", tp.addr(), "-user", appUser, "-db", appDB,
		"-clients", strconv.Itoa(clients), "-duration", duration.String(),
		"-op-timeout", loadOpTimeout.String(), "-margin", loadMargin.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start loadclient: %v", err)
	}

	// Sample the pooler while the clients run: the most it holds, and the pool's server count.
	var mu sync.Mutex
	peak := before
	poolOver := ""
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			u := usage(false)
			servers, p := poolServers(con, appDB)
			mu.Lock()
			peak.goroutines, peak.fds = max(peak.goroutines, u.goroutines), max(peak.fds, u.fds)
			peak.heap, peak.rss = max(peak.heap, u.heap), max(peak.rss, u.rss)
			if servers > loadPoolSize && poolOver == "" {
				poolOver = fmt.Sprint(p)
			}
			mu.Unlock()
		}
	}()

	var res loadResult
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "result "); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatalf("loadclient result %q: %v", rest, err)
			}
		} else if rest, ok := strings.CutPrefix(line, "connected "); ok {
			t.Logf("load: %s of %d clients logged in", rest, clients)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("loadclient: %v\n%s", err, stderr.String())
	}
	close(stopSampling)
	<-sampled

	// Back to the baseline: every client's goroutines and sockets gone.
	var after processUsage
	deadline := time.Now().Add(30 * time.Second)
	for {
		after = usage(true)
		if after.goroutines <= before.goroutines+loadGoroutineSlack && after.fds <= before.fds+loadFDSlack {
			break
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if f := os.Getenv("PGPOOLER_LOAD_HEAPPROFILE"); f != "" { // what the heap still holds, for a failure here
		if w, err := os.Create(f); err == nil {
			_ = pprof.Lookup("heap").WriteTo(w, 0)
			w.Close()
		}
	}
	if n := backendCount(t, super, appDB, ""); n > loadPoolSize {
		t.Errorf("PostgreSQL has %d server connections for the pool after the load, want at most %d", n, loadPoolSize)
	}
	failed := 0
	for _, n := range res.Errors {
		failed += n
	}
	t.Logf("reliability: load %d clients pool %d for %s: logged in %d in %.1fs (errors %s); attempted %d ok %d errors %s hung %d stuck %d wrong %d slowest %dms (%.0f tx/s); relogins after errors failed %s; goroutines %d->%d->%d fds %d->%d->%d heap %s->%s->%s rss %s->%s->%s",
		clients, loadPoolSize, duration, res.Connected, res.ConnectSecs, stateCounts(res.ConnectErrors),
		res.Attempted, res.OK, stateCounts(res.Errors), res.Hung, res.Stuck, res.Wrong, res.SlowestMS, float64(res.OK)/res.RunSeconds,
		stateCounts(res.Relogin),
		before.goroutines, peak.goroutines, after.goroutines, before.fds, peak.fds, after.fds,
		mb(before.heap), mb(peak.heap), mb(after.heap), mb(before.rss), mb(peak.rss), mb(after.rss))

	if res.Connected != clients || len(res.ConnectErrors) > 0 {
		t.Errorf("%d of %d clients logged in; failures %s", res.Connected, clients, stateCounts(res.ConnectErrors))
	}
	if res.OK == 0 || res.OK+int64(failed) != res.Attempted {
		t.Errorf("attempted %d, ok %d, failed %d: every transaction must succeed or fail with an error", res.Attempted, res.OK, failed)
	}
	if res.Hung > 0 || res.Stuck > 0 || res.Wrong > 0 {
		t.Errorf("hung operations %d, stuck clients %d, wrong answers %d: want 0", res.Hung, res.Stuck, res.Wrong)
	}
	for _, class := range []string{"client_deadline", "no_sqlstate"} {
		if res.Errors[class]+res.Relogin[class] > 0 {
			t.Errorf("%d transactions or logins ended with %s (want an ErrorResponse with a SQLSTATE); samples %q", res.Errors[class]+res.Relogin[class], class, res.Samples)
		}
	}
	if poolOver != "" {
		t.Errorf("SHOW POOLS during the load: %s, more than pool_size %d servers", poolOver, loadPoolSize)
	}
	if after.goroutines > before.goroutines+loadGoroutineSlack {
		t.Errorf("goroutines %d after the load, %d before (tolerance %d)", after.goroutines, before.goroutines, loadGoroutineSlack)
	}
	if after.fds > before.fds+loadFDSlack {
		t.Errorf("open files %d after the load, %d before (tolerance %d)", after.fds, before.fds, loadFDSlack)
	}
	if after.heap > before.heap+loadHeapSlack {
		t.Errorf("heap %s after the load and a GC, %s before (tolerance %s)", mb(after.heap), mb(before.heap), mb(loadHeapSlack))
	}
}
