package tests

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// idleClientCount is how many idle logged-in clients TestIdleClientMemory keeps (PGPOOLER_LONG=1: 5,000).
func idleClientCount() int {
	if os.Getenv("PGPOOLER_LONG") != "" {
		return 5000
	}
	return 2000
}

// TestIdleClientMemory: a logged-in idle client costs the pooler little memory (issue 11: RSS per idle
// logged-in client ≤ 2 KiB). N clients log in (auth_type trust, transaction mode, max_prepared_statements
// = 0 so that event_loops covers them) and stay idle; the heap and goroutine stacks in use, after a
// garbage collection, grow by less than the bound per client, with event_loops on (no goroutine, no
// buffer per idle client) and off (a goroutine per client: its stack); with event_loops on, the live heap
// objects (what the pooler's clients hold, without the free room of their spans and the stacks, which
// vary from run to run) grow by less than a tighter bound. What the test's own ends of the connections
// cost is measured the same way on a plain listener and subtracted. The clients are all
// still served afterwards (one query each on a sample). PGPOOLER_HEAP_PROFILE=path writes the heap
// profile with the clients logged in (go tool pprof -inuse_space).
func TestIdleClientMemory(t *testing.T) {
	if os.Getenv("PGPOOLER_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 64 // every object of the clients shows in the profile
		defer func() { runtime.MemProfileRate = 512 << 10 }()
	}
	for _, tc := range []struct {
		loops     bool
		bound     float64 // bytes per idle client, heap and stacks
		liveBound float64 // bytes per idle client, live heap objects; 0: not checked
	}{
		// Heap and stacks 1.7 to 2.1 KiB (2.3 to 2.5 KiB before the second idle-memory work, 4.8 KiB
		// before the first); live objects 1,540 to 1,550 bytes (1,770 before).
		{loops: true, bound: 2560, liveBound: 1680},
		{loops: false, bound: 16 << 10}, // 6.7 KiB, 11 KiB with -race (a goroutine's stack)
	} {
		t.Run(fmt.Sprintf("event_loops=%v", tc.loops), func(t *testing.T) {
			n := idleClientCount()
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.MaxPreparedStatements = 0
				c.Pooler.EventLoops = tc.loops
				c.Pooler.ServerTLSSSLMode = "disable"
				c.Pooler.MaxClientConn = n + 100
				c.Pooler.DefaultPoolSize = 2
				c.Pooler.LogConnections = false // the test's log buffer would grow with every login
				c.Pooler.LogDisconnections = false
			})
			ownEnd, ownLive := connEndCost(t, n)
			warm := idleLogins(t, tp, 20)
			closeConns(warm)
			eventually(t, 10*time.Second, "the warm-up clients gone", func() bool { return !tc.loops || tp.srv.LoopConns() == 0 })
			base := memInUse()
			conns := idleLogins(t, tp, n)
			defer closeConns(conns)
			if tc.loops {
				eventually(t, 10*time.Second, "every client on the loops", func() bool { return tp.srv.LoopConns() == n })
			}
			now := memInUse()
			grown := perClient(now.heap+now.stacks, base.heap+base.stacks, n) - ownEnd
			stacks := perClient(now.stacks, base.stacks, n)
			live := perClient(now.live, base.live, n) - ownLive
			if path := os.Getenv("PGPOOLER_HEAP_PROFILE"); path != "" {
				writeHeapProfile(t, fmt.Sprintf("%s.loops=%v", path, tc.loops))
			}
			t.Logf("memory: %d idle logged-in clients (event_loops %v): heap and stacks in use grew by %.0f bytes per client (the test's own end of each connection, %.0f bytes, subtracted; bound %.0f), of which stacks %.0f; live heap objects %.0f bytes per client (the test's own end, %.0f, subtracted; bound %.0f)",
				n, tc.loops, grown, ownEnd, tc.bound, stacks, live, ownLive, tc.liveBound)
			if grown > tc.bound {
				t.Errorf("each idle client costs the pooler %.0f bytes of heap and stacks, want at most %.0f", grown, tc.bound)
			}
			if tc.liveBound > 0 && live > tc.liveBound {
				t.Errorf("each idle client holds %.0f bytes of live heap objects in the pooler, want at most %.0f", live, tc.liveBound)
			}
			for i := 0; i < n; i += n / 10 { // still served
				if err := simpleQuery(conns[i], "SELECT 1"); err != nil {
					t.Fatalf("idle client %d: %v", i, err)
				}
			}
		})
	}
}

// memUse is what the process's Go memory holds after a garbage collection, in bytes.
type memUse struct {
	live   uint64 // heap objects (HeapAlloc)
	heap   uint64 // heap spans in use (HeapInuse): objects plus the free room in their spans
	stacks uint64 // goroutine stack spans in use (StackInuse)
}

// perClient returns (now - base) / n: the growth per client in bytes, negative when memory shrank.
func perClient(now, base uint64, n int) float64 { return (float64(now) - float64(base)) / float64(n) }

func memInUse() memUse {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memUse{live: ms.HeapAlloc, heap: ms.HeapInuse, stacks: ms.StackInuse}
}

// connEndCost returns the heap and stacks in use, and the live heap objects, per end of n idle loopback
// TCP connections to a plain listener (both ends in this process): what the test's own end of each
// client connection costs.
func connEndCost(t *testing.T, n int) (total, live float64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	base := memInUse()
	conns := make([]net.Conn, 0, 2*n)
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for range n {
		conns = append(conns, <-accepted)
	}
	now := memInUse()
	total = perClient(now.heap+now.stacks, base.heap+base.stacks, 2*n)
	live = perClient(now.live, base.live, 2*n)
	closeConns(conns)
	return total, live
}

// idleLogins logs n raw clients in (auth_type trust) up to their first ReadyForQuery, 50 at a time,
// and returns their connections, with no deadline set and nothing of the client side kept but the
// connection.
func idleLogins(t *testing.T, tp *testPooler, n int) []net.Conn {
	t.Helper()
	startup, err := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": appUser, "database": appDB}}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := net.DialTimeout("tcp", tp.addr(), rawDeadline)
			if err == nil {
				_ = c.SetDeadline(time.Now().Add(4 * rawDeadline))
				if _, err = c.Write(startup); err == nil {
					err = untilReady(c)
				}
				_ = c.SetDeadline(time.Time{})
			}
			conns[i] = c
			if err != nil {
				errs <- fmt.Errorf("login %d: %w", i, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		closeConns(conns)
		t.Fatal(err)
	}
	return conns
}

// untilReady reads backend messages from c up to a ReadyForQuery; an ErrorResponse is an error.
func untilReady(c net.Conn) error {
	br := bufio.NewReaderSize(c, 512)
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint32(hdr[1:])) - 4
		if n < 0 || n > 1<<20 {
			return fmt.Errorf("message %q of length %d", hdr[0], n+4)
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(br, body); err != nil {
			return err
		}
		switch hdr[0] {
		case 'E':
			return fmt.Errorf("ErrorResponse %q", body)
		case 'Z':
			if br.Buffered() > 0 {
				return fmt.Errorf("%d bytes after ReadyForQuery", br.Buffered())
			}
			return nil
		}
	}
}

// simpleQuery sends a Query on a logged-in raw connection and reads its answer up to ReadyForQuery.
func simpleQuery(c net.Conn, sql string) error {
	msg, err := (&pgproto3.Query{String: sql}).Encode(nil)
	if err != nil {
		return err
	}
	_ = c.SetDeadline(time.Now().Add(rawDeadline))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(msg); err != nil {
		return err
	}
	return untilReady(c)
}

func closeConns(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

func writeHeapProfile(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	t.Logf("heap profile: %s", path)
}

// TestEventLoopsIdleClientAdmin: an idle client on the event loops, which keeps only its addresses of
// its socket (the loop has a duplicate), is listed by SHOW CLIENTS with its own addr, port, local_addr
// and local_port, and KILL_CLIENT ends it: it gets FATAL 57P01 and its connection is closed.
func TestEventLoopsIdleClientAdmin(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.MaxPreparedStatements = 0
		c.Pooler.EventLoops = true
		c.Pooler.ServerTLSSSLMode = "disable"
	})
	con := openConsole(t, tp, consoleAdmin)
	victim := idleLogins(t, tp, 1)[0]
	defer victim.Close()
	eventually(t, 10*time.Second, "the client on the loops", func() bool { return tp.srv.LoopConns() == 1 })
	own := victim.LocalAddr().(*net.TCPAddr)
	row := one(t, con.rows(t, "SHOW CLIENTS"), "database", appDB)
	if row["addr"] != own.IP.String() || row["port"] != fmt.Sprint(own.Port) || row["local_addr"] != "127.0.0.1" || row["local_port"] != fmt.Sprint(tp.port) {
		t.Fatalf("SHOW CLIENTS lists the loop client as addr %s port %s local_addr %s local_port %s; want %s %d 127.0.0.1 %d",
			row["addr"], row["port"], row["local_addr"], row["local_port"], own.IP, own.Port, tp.port)
	}
	con.result(t, "KILL_CLIENT "+row["id"])
	wantViolation(t, victim, "57P01")
}
