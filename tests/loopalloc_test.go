package tests

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsNoAllocPerTransaction: a transaction on the event loops (pgbench -S, simple and extended
// protocol, and prepared with max_prepared_statements > 0; transaction mode, the pool smaller than the clients so that clients also wait in line)
// allocates nothing on the heap (design.md: no allocation per forwarded message). Two pgbench runs of
// different lengths with the same clients: the difference of the process's heap allocation counts
// (runtime.MemStats.Mallocs) over the difference of their transactions is what one transaction costs,
// logins and the harness's own work cancelling out. PGPOOLER_ALLOC_PROFILE=path writes an allocation
// profile of the long run.
func TestEventLoopsNoAllocPerTransaction(t *testing.T) {
	pgbenchInit(t)
	for _, mode := range []string{"simple", "extended", "prepared"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.EventLoops = true
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.DefaultPoolSize = 4
				c.Pooler.MaxPreparedStatements = 0
				if mode == "prepared" { // pgbench's named statements, tracked on the loop (loopprepare.go)
					c.Pooler.MaxPreparedStatements = 100
				}
				c.Pooler.ServerTLSSSLMode = "disable"
				c.Pooler.LogConnections = false
				c.Pooler.LogDisconnections = false
			})
			const clients = "8"
			run := func(txns int) (mallocs uint64, done int) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				done, failed := runPgbench(t, tp, "-S", "-M", mode, "-c", clients, "-t", strconv.Itoa(txns))
				runtime.ReadMemStats(&after)
				if failed > 0 {
					t.Fatalf("pgbench: %d failed transactions", failed)
				}
				return after.Mallocs - before.Mallocs, done
			}
			run(200) // warm-up: pools, servers, caches
			shortM, shortN := run(200)
			if path := os.Getenv("PGPOOLER_ALLOC_PROFILE"); path != "" {
				runtime.MemProfileRate = 1
				defer func() {
					runtime.MemProfileRate = 512 << 10
					f, err := os.Create(path + "." + mode)
					if err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					runtime.GC() // the profile holds what the last completed collection published
					runtime.GC()
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
				}()
			}
			longM, longN := run(2200)
			perTxn := (float64(longM) - float64(shortM)) / float64(longN-shortN)
			t.Logf("heap allocations per transaction on the loops (-M %s): %.3f (runs of %d and %d transactions: %d and %d allocations)",
				mode, perTxn, shortN, longN, shortM, longM)
			if perTxn > 0.1 {
				t.Errorf("a transaction on the event loops allocates %.3f heap objects (-M %s), want none (at most 0.1: the Go runtime's own)", perTxn, mode)
			}
		})
	}
}
