package tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// pgbenchInit creates pgbench's tables in appDB with a direct connection.
func pgbenchInit(t *testing.T) {
	t.Helper()
	cmd := exec.Command("pgbench", "-i", "-q", "-s", "1", "-h", pg.Host, "-p", strconv.Itoa(pg.Port), "-U", appUser, appDB)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
}

var (
	failedRe    = regexp.MustCompile(`number of failed transactions: (\d+)`)
	processedRe = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
)

// runPgbench runs pgbench through the pooler and returns the processed and failed transaction counts.
func runPgbench(t *testing.T, tp *testPooler, args ...string) (processed, failed int) {
	t.Helper()
	processed, failed, err := pgbench(tp, args...)
	if err != nil {
		t.Fatal(err)
	}
	return processed, failed
}

// pgbench runs pgbench through the pooler; safe to call from any goroutine. The error carries the output.
func pgbench(tp *testPooler, args ...string) (processed, failed int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	all := append([]string{"-n", "-h", "127.0.0.1", "-p", strconv.Itoa(tp.port), "-U", appUser}, args...)
	all = append(all, appDB)
	cmd := exec.CommandContext(ctx, "pgbench", all...)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+appPassword)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("pgbench %v: %v\n%s", args, err, out)
	}
	m := processedRe.FindSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("pgbench output has no processed count:\n%s", out)
	}
	processed, _ = strconv.Atoi(string(m[1]))
	if m := failedRe.FindSubmatch(out); m != nil {
		failed, _ = strconv.Atoi(string(m[1]))
	}
	return processed, failed, nil
}

// TestPgbenchTransactionMode is the acceptance run: 50 pgbench clients on a pool of 10 in transaction
// mode, TPC-B and then select-only with the extended protocol, with no failed transaction, while
// pg_stat_activity never shows more than 10 server connections for the pool.
func TestPgbenchTransactionMode(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 10
	})
	super := superConn(t, pg)
	var maxSeen atomic.Int64
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(25 * time.Millisecond):
			}
			var n int64
			q := "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND datname = $2"
			if err := super.QueryRow(context.Background(), q, appUser, appDB).Scan(&n); err != nil {
				return
			}
			if n > maxSeen.Load() {
				maxSeen.Store(n)
			}
		}
	}()
	for _, args := range [][]string{
		{"-c", "50", "-j", "2", "-T", "10"},
		{"-c", "50", "-j", "2", "-T", "10", "-S", "-M", "extended"},
	} {
		processed, failed := runPgbench(t, tp, args...)
		t.Logf("pgbench %v: %d transactions, %d failed", args, processed, failed)
		if failed != 0 || processed == 0 {
			t.Errorf("pgbench %v: %d processed, %d failed; want >0 and 0", args, processed, failed)
		}
	}
	close(stop)
	<-watched
	if m := maxSeen.Load(); m > 10 || m == 0 {
		t.Errorf("pg_stat_activity showed at most %d server connections; want between 1 and 10", m)
	} else {
		t.Logf("pg_stat_activity peak: %d server connections", m)
	}
}

// TestPgbenchSessionMode runs pgbench with the prepared protocol in session mode.
func TestPgbenchSessionMode(t *testing.T) {
	pgbenchInit(t)
	tp := startPooler(t, withMode("session"))
	processed, failed := runPgbench(t, tp, "-c", "4", "-j", "2", "-t", "200", "-M", "prepared")
	if failed != 0 || processed != 800 {
		t.Fatalf("pgbench session mode: %d processed, %d failed; want 800 and 0", processed, failed)
	}
}
