package tests

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// throttle paces reads from one direction of a connection, so that a test plays a slow reader: open
// (reads pass as they come), slow (each read returns at most slowChunk bytes, then pauses slowPause),
// or stopped (reads block until the throttle is opened or closed). It counts the bytes read through it.
type throttle struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change of state
	state   int
	credit  int // bytes a slow throttle lets through before its next pause
	read    atomic.Int64
}

const (
	throttleOpen = iota
	throttleSlow
	throttleStopped
	throttleClosed
)

// slowChunk and slowPause make a slow reader: 64 KiB per 5 ms, about 13 MB/s.
const (
	slowChunk = 64 << 10
	slowPause = 5 * time.Millisecond
)

func newThrottle() *throttle { return &throttle{changed: make(chan struct{})} }

// set moves the throttle to state (throttleOpen, throttleSlow, throttleStopped or throttleClosed: open
// for good, so that blocked reads end).
func (th *throttle) set(state int) {
	th.mu.Lock()
	defer th.mu.Unlock()
	if th.state == throttleClosed {
		return
	}
	th.state = state
	close(th.changed)
	th.changed = make(chan struct{})
}

// wait blocks while the throttle is stopped, and while it is slow pauses slowPause per slowChunk bytes
// read; it returns how many bytes the next read may take (0: any).
func (th *throttle) wait() int {
	for {
		th.mu.Lock()
		state, changed := th.state, th.changed
		if state == throttleSlow && th.credit > 0 {
			n := th.credit
			th.mu.Unlock()
			return n
		}
		th.mu.Unlock()
		switch state {
		case throttleSlow:
			time.Sleep(slowPause)
			th.mu.Lock()
			th.credit = slowChunk
			th.mu.Unlock()
		case throttleStopped:
			<-changed
		default:
			return 0
		}
	}
}

// reader reads from r through the throttle.
func (th *throttle) reader(r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if n := th.wait(); n > 0 && len(p) > n {
			p = p[:n]
		}
		n, err := r.Read(p)
		th.read.Add(int64(n))
		th.mu.Lock()
		th.credit = max(th.credit-n, 0)
		th.mu.Unlock()
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// meteredConn is a client's connection whose reads go through a throttle and whose completed writes are
// counted (bytes), so that a test can see the client's writes block.
type meteredConn struct {
	net.Conn
	in      *throttle
	r       io.Reader
	written atomic.Int64
}

func newMeteredConn(c net.Conn, in *throttle) *meteredConn {
	return &meteredConn{Conn: c, in: in, r: in.reader(c)}
}

func (m *meteredConn) Read(p []byte) (int, error) { return m.r.Read(p) }

func (m *meteredConn) Write(p []byte) (int, error) {
	n, err := m.Conn.Write(p)
	m.written.Add(int64(n))
	return n, err
}

func (m *meteredConn) Close() error {
	m.in.set(throttleClosed)
	return m.Conn.Close()
}

// slowServerProxy is a TCP proxy on loopback in front of PostgreSQL whose reads of what goes to
// PostgreSQL (the pooler's messages) pass through one throttle for all its connections: a slow server,
// as the pooler sees it. PostgreSQL's answers pass unthrottled.
type slowServerProxy struct {
	ln    net.Listener
	up    *throttle
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

// startSlowServerProxy starts the proxy in front of the shared PostgreSQL, open; it stops at the test's end.
func startSlowServerProxy(t testing.TB) *slowServerProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &slowServerProxy{ln: ln, up: newThrottle()}
	target := net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port))
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.DialTimeout("tcp", target, 5*time.Second)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{up})
				_ = c.Close()
			}()
			go func() {
				defer p.wg.Done()
				_, _ = io.Copy(struct{ io.Writer }{up}, p.up.reader(c))
				_ = up.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		p.up.set(throttleClosed)
		_ = ln.Close()
		p.mu.Lock()
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *slowServerProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }
