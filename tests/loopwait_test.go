package tests

import (
	"io"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsWaitWithoutGoroutine: clients on the event loops that wait in line for a server (pool
// size 1, held in a transaction) wait on their loop, holding no goroutine each (the pooler runs in this
// process, so runtime.NumGoroutine counts its goroutines), and are all answered, in turn, once the
// server is free.
func TestEventLoopsWaitWithoutGoroutine(t *testing.T) {
	const waiters = 20
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.MaxPreparedStatements = 0
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.EventLoops = true
		c.Pooler.EventLoopCount = 2                                   // waiters on both loops: grants across loops
		c.Pooler.QueryWaitTimeout = config.Duration(60 * time.Second) // far beyond the test
	})
	con := openConsole(t, tp, consoleAdmin)
	holder := rawClient(t, tp, appDB, false)
	hfe := pgproto3.NewFrontend(holder, io.Discard)
	_ = holder.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := holder.Write(queryBytes("BEGIN")); err != nil {
		t.Fatal(err)
	}
	if st := readUntilReady(t, hfe); st != 'T' {
		t.Fatalf("BEGIN: status %q, want T", st)
	}
	base := runtime.NumGoroutine()
	clients := make([]*pgproto3.Frontend, waiters)
	for i := range clients {
		nc := rawClient(t, tp, appDB, false)
		_ = nc.SetDeadline(time.Now().Add(30 * time.Second))
		clients[i] = pgproto3.NewFrontend(nc, io.Discard)
		if _, err := nc.Write(queryBytes("SELECT " + strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, strconv.Itoa(waiters)+" clients waiting", func() bool {
		return appPool(t, con)["cl_waiting"] == strconv.Itoa(waiters)
	})
	// Logins' goroutines end once their clients are on the loops: allow a few still ending.
	if n := runtime.NumGoroutine(); n-base >= waiters/2 {
		t.Fatalf("%d goroutines with %d clients waiting in line, %d before they came; want no goroutine per waiting client", n, waiters, base)
	}
	if _, err := holder.Write(queryBytes("COMMIT")); err != nil {
		t.Fatal(err)
	}
	if st := readUntilReady(t, hfe); st != 'I' {
		t.Fatalf("COMMIT: status %q, want I", st)
	}
	for i, fe := range clients {
		if st := readUntilReady(t, fe); st != 'I' {
			t.Fatalf("client %d: status %q, want I", i, st)
		}
	}
}
