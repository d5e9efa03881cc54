package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// backpressureBound is how much the pooler's RSS may grow above its baseline while one client's link is
// backed up (bytes). The pooler holds well under 256 KiB per link (docs/reliability.md, "Back-pressure");
// the rest is slack for the Go runtime.
const backpressureBound = 16 << 20

// backpressureSlowPart is how much the slow side takes slowly (bytes) before it stops taking anything.
const backpressureSlowPart = 8 << 20

// rssWatch keeps the largest RSS seen of a process, and fails the test as soon as it has grown by
// backpressureBound or more above its baseline; state describes the link at that moment.
type rssWatch struct {
	t        testing.TB
	pid      int
	base, hi int64
	state    func() string
}

func watchRSS(t testing.TB, pid int, state func() string) *rssWatch {
	base := rssOf(t, pid)
	return &rssWatch{t: t, pid: pid, base: base, hi: base, state: state}
}

// sample reads the RSS and returns the largest growth seen above the baseline (bytes).
func (w *rssWatch) sample() int64 {
	w.t.Helper()
	w.hi = max(w.hi, rssOf(w.t, w.pid))
	if g := w.hi - w.base; g >= backpressureBound {
		w.t.Fatalf("the pooler's RSS grew by %.1f MiB above %.1f MiB (%s); want under %d MiB",
			mib(g), mib(w.base), w.state(), backpressureBound>>20)
	}
	return w.hi - w.base
}

// readOver returns how many bytes process pid read (rchar) over 200 ms.
func readOver(t testing.TB, pid int) int64 {
	before := bytesReadBy(t, pid)
	time.Sleep(200 * time.Millisecond)
	return bytesReadBy(t, pid) - before
}

// connectMetered opens a pgconn connection to the pooler whose socket is a meteredConn reading through in.
func connectMetered(t *testing.T, tp *testPooler, in *throttle) (*pgconn.PgConn, *meteredConn) {
	t.Helper()
	cfg, err := pgconn.ParseConfig(tp.url(appDB))
	if err != nil {
		t.Fatal(err)
	}
	var mc *meteredConn
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		mc = newMeteredConn(c, in)
		return mc, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect through the pooler: %v", err)
	}
	t.Cleanup(func() {
		in.set(throttleClosed)
		_ = conn.Close(context.Background())
	})
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		t.Fatalf("first query: %v", err)
	}
	return conn, mc
}

func longBackpressure() bool { return os.Getenv("PGPOOLER_LONG") == "1" }

// TestBackpressureSlowClient (issue 11, back-pressure): a client that reads a large result slowly, then
// not at all, makes the pooler stop reading its server instead of buffering the result. The pooler
// binary runs in a process of its own; the client reads backpressureSlowPart in 64 KiB pieces every 5 ms,
// then stops. While it has stopped, PostgreSQL's backend waits on ClientWrite with most of the result
// unsent, the pooler's socket to it holds unread bytes, the pooler reads next to nothing over a second,
// and its RSS has grown by less than backpressureBound. Then the client reads the rest: every row, each
// all 'x'. Two results: 256 Ki rows of 1,000 bytes (265 MB of DataRows), and one row of 64 MiB (a single
// DataRow, which the pooler streams); with PGPOOLER_LONG=1, 1 Mi rows (1.06 GB) and a row of 512 MiB, the
// slow part 128 MiB.
func TestBackpressureSlowClient(t *testing.T) {
	slowPart, rows, bigRow := int64(backpressureSlowPart), 256<<10, 64<<20
	if longBackpressure() {
		slowPart, rows, bigRow = 128<<20, 1<<20, 512<<20
	}
	began := time.Now()
	bp := startBinaryPooler(t, `pool_mode = "session"`, pg.Host, pg.Port)
	started := time.Since(began)
	super := superConn(t, pg)
	for _, tc := range []struct {
		name           string
		rows, rowBytes int
	}{
		{fmt.Sprintf("%d rows of 1000 bytes", rows), rows, 1000},
		{fmt.Sprintf("one row of %d MiB", bigRow>>20), 1, bigRow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			slowClient(t, bp, super, tc.rows, tc.rowBytes, slowPart, started)
		})
	}
}

// slowClient runs one case of TestBackpressureSlowClient: rows rows of rowBytes 'x' each, slowPart bytes
// read slowly.
func slowClient(t *testing.T, bp *binaryPooler, super *pgx.Conn, rows, rowBytes int, slowPart int64, started time.Duration) {
	wire := int64(rows) * int64(rowBytes+11) // DataRow: type, length, column count, column length, value
	in := newThrottle()
	conn, mc := connectMetered(t, &bp.testPooler, in)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	read0 := bytesReadBy(t, bp.pid)
	rss := watchRSS(t, bp.pid, func() string {
		return fmt.Sprintf("it read %.1f MiB of its sockets, its client %.1f MiB of %.1f MiB", mib(bytesReadBy(t, bp.pid)-read0), mib(in.read.Load()), mib(wire))
	})
	in.set(throttleSlow)
	began := time.Now()
	type outcome struct {
		rows, bad int
		tag       string
		err       error
	}
	done, finished := make(chan outcome, 1), make(chan struct{})
	t.Cleanup(func() { _ = mc.Close(); <-finished }) // a failed test ends the query before pgconn closes
	sql := fmt.Sprintf("SELECT repeat('x', %d) /* backpressure-slow-client */ FROM generate_series(1, %d)", rowBytes, rows)
	go func() {
		var o outcome
		rr := conn.ExecParams(ctx, sql, nil, nil, nil, nil)
		for rr.NextRow() {
			v := rr.Values()[0]
			if len(v) != rowBytes || len(bytes.Trim(v, "x")) != 0 {
				o.bad++
			}
			o.rows++
		}
		tag, err := rr.Close()
		o.tag, o.err = tag.String(), err
		done <- o
		close(finished)
	}()

	// The slow part, then the client stops reading.
	eventually(t, 60*time.Second, "the client reads its slow part", func() bool {
		rss.sample()
		return in.read.Load() >= slowPart
	})
	in.set(throttleStopped)
	slowEnd := time.Now()
	var pid, port int
	var wait string
	var unread int64
	eventually(t, 30*time.Second, "PostgreSQL's backend blocked on ClientWrite, the pooler reading nothing", func() bool {
		rss.sample()
		err := super.QueryRow(ctx, "SELECT pid, client_port, coalesce(wait_event, '') FROM pg_stat_activity WHERE query = $1 AND state = 'active'", sql).Scan(&pid, &port, &wait)
		if err != nil || wait != "ClientWrite" {
			return false
		}
		_, unread = tcpQueues(t, port, pg.Port)
		return unread > 0 && readOver(t, bp.pid) < 64<<10
	})
	// Still backed up a second later: the pooler does not read on (the kernel may let a few KiB through
	// as it packs its socket buffers).
	var trickle int64
	for i := 0; i < 5; i++ {
		rss.sample()
		trickle += readOver(t, bp.pid)
	}
	if trickle > 1<<20 {
		t.Errorf("the pooler read %.1f MiB of its sockets over a second while its client read nothing", mib(trickle))
	}
	rss.sample()
	taken := bytesReadBy(t, bp.pid) - read0
	clientRead := in.read.Load()
	if left := wire - taken; left < 2*backpressureBound {
		t.Errorf("PostgreSQL had only %.1f MiB left to send when the pooler stopped reading; the test shows nothing", mib(left))
	}

	stopEnd := time.Now()
	in.set(throttleOpen)
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatal("the result did not arrive once the client read on")
	}
	if o.err != nil || o.rows != rows || o.bad != 0 || o.tag != fmt.Sprintf("SELECT %d", rows) {
		t.Fatalf("result: %d rows (%d not %d 'x'), tag %q, error %v; want %d rows", o.rows, o.bad, rowBytes, o.tag, o.err, rows)
	}
	t.Logf("reliability: a client reading a %.0f MB result (%d rows of %d bytes) slowly, then not at all: PostgreSQL blocked on %s with %.0f MB unsent (pooler's socket to it: %d bytes unread); the pooler had read %.1f MiB, the client %.1f MiB; pooler read %d bytes over the next second; pooler RSS grew by at most %.1f MiB above %.1f MiB (limit %d MiB); then all rows arrived whole (build and start %s, slow part %s, stopped %s, the rest %s)",
		float64(wire)/1e6, rows, rowBytes, wait, float64(wire-taken)/1e6, unread, mib(taken), mib(clientRead), trickle, mib(rss.hi-rss.base), mib(rss.base), backpressureBound>>20,
		roundTime(started), roundTime(slowEnd.Sub(began)), roundTime(stopEnd.Sub(slowEnd)), roundTime(time.Since(stopEnd)))
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// copyRows is an io.Reader of COPY text rows "i\t<pad>\n", i from 1 to n.
type copyRows struct {
	n, i int
	pad  string
	line []byte
}

func (c *copyRows) Read(p []byte) (int, error) {
	total := 0
	for len(p) > 0 {
		if len(c.line) == 0 {
			if c.i == c.n {
				break
			}
			c.i++
			c.line = fmt.Appendf(c.line[:0], "%d\t%s\n", c.i, c.pad)
		}
		k := copy(p, c.line)
		c.line, p, total = c.line[k:], p[k:], total+k
	}
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}

// TestBackpressureSlowServerCopy (issue 11, back-pressure): a COPY FROM STDIN towards a server that
// reads slowly, then not at all, makes the pooler stop reading its client instead of buffering the data.
// A proxy between the pooler (the binary, in a process of its own) and PostgreSQL reads the pooler's
// messages 64 KiB every 5 ms for backpressureSlowPart, then stops. Then the client's writes block with most of the
// COPY unsent, the pooler's socket from the client holds unread bytes, the pooler reads nothing for
// 200 ms, and its RSS has grown by less than backpressureBound. Then the proxy reads on and the COPY
// ends with every row in the table. 128 Ki rows of about 1,000 bytes (132 MB); 1 Mi rows (1.06 GB) with PGPOOLER_LONG=1.
func TestBackpressureSlowServerCopy(t *testing.T) {
	rows := 128 << 10
	if longBackpressure() {
		rows = 1 << 20
	}
	pad := strings.Repeat("y", 1000)
	t.Cleanup(func() { // after the proxy has closed its connections (cleanups run last first), ending the COPY
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgconn.Connect(ctx, pg.SuperConnString(appDB)); err == nil {
			_, _ = c.Exec(ctx, "DROP TABLE IF EXISTS backpressure_copy").ReadAll()
			_ = c.Close(ctx)
		}
	})
	began := time.Now()
	proxy := startSlowServerProxy(t)
	bp := startBinaryPooler(t, `pool_mode = "session"`, "127.0.0.1", proxy.port())
	started := time.Now()
	conn, mc := connectMetered(t, &bp.testPooler, newThrottle())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := conn.Exec(ctx, "DROP TABLE IF EXISTS backpressure_copy; CREATE UNLOGGED TABLE backpressure_copy (id int, pad text)").ReadAll(); err != nil {
		t.Fatal(err)
	}
	total := int64(0)
	for i := 1; i <= rows; i++ {
		total += int64(len(fmt.Sprint(i)) + 2 + len(pad))
	}

	read0 := bytesReadBy(t, bp.pid)
	sent0, proxied0 := mc.written.Load(), proxy.up.read.Load()
	rss := watchRSS(t, bp.pid, func() string {
		return fmt.Sprintf("it read %.1f MiB of its sockets, its server %.1f MiB, the client wrote %.1f MiB of %.1f MiB",
			mib(bytesReadBy(t, bp.pid)-read0), mib(proxy.up.read.Load()-proxied0), mib(mc.written.Load()-sent0), mib(total))
	})
	proxy.up.set(throttleSlow)
	type outcome struct {
		tag string
		err error
	}
	done, finished := make(chan outcome, 1), make(chan struct{})
	t.Cleanup(func() { _ = mc.Close(); <-finished }) // a failed test ends the COPY before pgconn closes
	go func() {
		tag, err := conn.CopyFrom(ctx, &copyRows{n: rows, pad: pad}, "COPY backpressure_copy FROM STDIN")
		done <- outcome{tag.String(), err}
		close(finished)
	}()

	eventually(t, 60*time.Second, "the server reads its slow part", func() bool {
		rss.sample()
		return proxy.up.read.Load()-proxied0 >= backpressureSlowPart
	})
	proxy.up.set(throttleStopped)
	slowEnd := time.Now()
	clientPort := mc.LocalAddr().(*net.TCPAddr).Port
	var unread, sent int64
	eventually(t, 30*time.Second, "the client's writes blocked, the pooler reading nothing", func() bool {
		rss.sample()
		sent = mc.written.Load()
		_, unread = tcpQueues(t, bp.port, clientPort)
		return unread > 0 && readOver(t, bp.pid) < 64<<10 && mc.written.Load()-sent < 64<<10
	})
	var trickle int64
	for i := 0; i < 5; i++ {
		rss.sample()
		trickle += readOver(t, bp.pid)
	}
	if wrote := mc.written.Load() - sent; trickle > 1<<20 || wrote > 1<<20 {
		t.Errorf("over a second while its server read nothing, the pooler read %.1f MiB of its sockets and the client wrote %.1f MiB", mib(trickle), mib(wrote))
	}
	rss.sample()
	taken := bytesReadBy(t, bp.pid) - read0
	proxied := proxy.up.read.Load() - proxied0
	if left := total - (sent - sent0); left < 2*backpressureBound {
		t.Errorf("the client had only %.1f MiB left to send when its writes blocked; the test shows nothing", mib(left))
	}

	stopEnd := time.Now()
	proxy.up.set(throttleOpen)
	var o outcome
	select {
	case o = <-done:
	case <-ctx.Done():
		t.Fatal("the COPY did not end once the server read on")
	}
	if o.err != nil || o.tag != fmt.Sprintf("COPY %d", rows) {
		t.Fatalf("COPY: tag %q, error %v; want COPY %d", o.tag, o.err, rows)
	}
	res, err := conn.Exec(ctx, "SELECT count(*), count(DISTINCT id), sum(length(pad)) FROM backpressure_copy").ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%s %s %s", res[0].Rows[0][0], res[0].Rows[0][1], res[0].Rows[0][2])
	if want := fmt.Sprintf("%d %d %d", rows, rows, rows*len(pad)); got != want {
		t.Fatalf("table holds count, distinct ids, pad bytes %s; want %s", got, want)
	}
	t.Logf("reliability: a %.0f MB COPY FROM STDIN towards a server reading slowly, then not at all: the client's writes blocked with %.0f MB unsent (pooler's socket from it: %d bytes unread); the pooler had read %.1f MiB, the server %.1f MiB; pooler read %d bytes over the next second; pooler RSS grew by at most %.1f MiB above %.1f MiB (limit %d MiB); then all %d rows arrived (build and start %s, slow part %s, stopped %s, the rest %s)",
		float64(total)/1e6, float64(total-(sent-sent0))/1e6, unread, mib(taken), mib(proxied), trickle, mib(rss.hi-rss.base), mib(rss.base), backpressureBound>>20, rows,
		roundTime(started.Sub(began)), roundTime(slowEnd.Sub(started)), roundTime(stopEnd.Sub(slowEnd)), roundTime(time.Since(stopEnd)))
}
