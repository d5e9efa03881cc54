package tests

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// cancelRequestCode is the request code of a CancelRequest (PostgreSQL protocol docs, "Message Formats").
const cancelRequestCode = 80877102

// cancelHoldProxy is a real TCP proxy on loopback in front of PostgreSQL. Ordinary connections pass
// through both ways. A connection whose first packet is a CancelRequest has that request delivered to
// PostgreSQL, which cancels the query, but the proxy never answers it: it neither writes to nor closes
// the pooler's side until the pooler closes it. To the pooler that is a cancel PostgreSQL never
// acknowledges (a stalled path, a lost FIN).
type cancelHoldProxy struct {
	ln      net.Listener
	target  string
	cancels atomic.Int64 // CancelRequests delivered to PostgreSQL
	held    atomic.Int64 // cancel connections held open now

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// startCancelHoldProxy starts the proxy in front of the shared PostgreSQL; it stops at the test's end.
func startCancelHoldProxy(t testing.TB) *cancelHoldProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cancelHoldProxy{ln: ln, target: net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// port is the proxy's listening port.
func (p *cancelHoldProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *cancelHoldProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track remembers c, for close.
func (p *cancelHoldProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *cancelHoldProxy) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *cancelHoldProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.forget(c)
			p.handle(c)
		}()
	}
}

func (p *cancelHoldProxy) handle(c net.Conn) {
	var first [8]byte
	if _, err := io.ReadFull(c, first[:]); err != nil {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.track(up)
	defer p.forget(up)
	if binary.BigEndian.Uint32(first[:4]) == 16 && binary.BigEndian.Uint32(first[4:]) == cancelRequestCode {
		var rest [8]byte
		if _, err := io.ReadFull(c, rest[:]); err != nil {
			return
		}
		if _, err := up.Write(append(first[:], rest[:]...)); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, up) // PostgreSQL has signalled the backend and closed
		p.cancels.Add(1)
		p.held.Add(1)
		defer p.held.Add(-1)
		_, _ = io.Copy(io.Discard, c) // never answer; wait for the pooler to give up
		return
	}
	if _, err := up.Write(first[:]); err != nil {
		return
	}
	// Plain copies, not splice(2): Go keeps the pipes of splice in a pool, which would blur the test's
	// file descriptor counts.
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{up})
		_ = c.Close()
		close(done)
	}()
	_, _ = io.Copy(struct{ io.Writer }{up}, struct{ io.Reader }{c})
	_ = up.Close()
	<-done
}

// fdTargets describes the open file descriptors, for failure messages.
func fdTargets() string {
	ents, _ := os.ReadDir("/proc/self/fd")
	count := map[string]int{}
	for _, e := range ents {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(target, ':'); i > 0 {
			target = target[:i] // socket:[123] → socket
		}
		count[target]++
	}
	return fmt.Sprint(count)
}

// resourcesBack waits until the goroutine and file descriptor counts are within slack of a baseline
// taken with takeResources, failing the test with both counts if they are not within the time.
func resourcesBack(t testing.TB, base [2]int, slack int, within time.Duration) {
	t.Helper()
	var g, fds int
	deadline := time.Now().Add(within)
	for {
		g, fds = runtime.NumGoroutine(), openFDs()
		if g <= base[0]+slack && fds <= base[1]+slack {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("not back to baseline within %s: goroutines %d (baseline %d), fds %d (baseline %d), slack %d\nfds: %s\n%s", within, g, base[0], fds, base[1], slack, fdTargets(), buf)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// takeResources returns the goroutine and file descriptor counts now.
func takeResources(t testing.TB) [2]int { return [2]int{runtime.NumGoroutine(), openFDs()} }

// sleepNotice is a statement that tells the client (with a NOTICE, which PostgreSQL flushes at once)
// that it is running on a server, then sleeps for a minute: a query that is certainly running when the
// notice arrives, for cancels that must not race with the query's start.
const sleepNotice = `DO $$BEGIN RAISE NOTICE 'sleeping'; PERFORM pg_sleep(60); END$$`

// noticeConn is a pgx connection through the pooler whose notices arrive on notices.
type noticeConn struct {
	*pgx.Conn
	notices chan string
}

// connectNotices opens a connection through tp to appDB that reports notices; closed at the test's end.
func connectNotices(t testing.TB, tp *testPooler) *noticeConn {
	t.Helper()
	cfg, err := pgx.ParseConfig(tp.pgxURL(appDB))
	if err != nil {
		t.Fatal(err)
	}
	nc := &noticeConn{notices: make(chan string, 16)}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		select {
		case nc.notices <- n.Message:
		default:
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if nc.Conn, err = pgx.ConnectConfig(ctx, cfg); err != nil {
		t.Fatalf("connect through pooler: %v\npooler log:\n%s", err, tp.logs.String())
	}
	t.Cleanup(func() { nc.Close(context.Background()) })
	return nc
}

// waitNotice waits for the next notice, up to within; false when none came.
func (nc *noticeConn) waitNotice(within time.Duration) bool {
	select {
	case <-nc.notices:
		return true
	case <-time.After(within):
		return false
	}
}
