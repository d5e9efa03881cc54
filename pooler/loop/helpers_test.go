package loop

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"
)

func startGroup(t *testing.T, cfg Config) *Group {
	t.Helper()
	g, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Stop)
	return g
}

// tcpPair returns both ends of a real TCP connection over 127.0.0.1.
func tcpPair(t *testing.T) (near, far net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	near, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	far = <-ch
	if far == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { near.Close(); far.Close() })
	return near, far
}

// onLoop runs f on l and waits for it.
func onLoop(t *testing.T, l *Loop, f func()) {
	t.Helper()
	done := make(chan struct{})
	if err := l.Run(func() { f(); close(done) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not run within 10s")
	}
}

// relay copies to its peer with back-pressure: the way the pooler's relay will.
type relay struct {
	peer    *Conn
	maxOut  int
	closed  chan error
	onceClo sync.Once
}

func newRelay() *relay { return &relay{closed: make(chan error, 1)} }

func (r *relay) OnData(c *Conn, data []byte) int {
	if r.peer == nil {
		return 0
	}
	if err := r.peer.Write(data); err != nil {
		return len(data)
	}
	if o := r.peer.Outbound(); o > r.maxOut {
		r.maxOut = o
	}
	if r.peer.OverLimit() {
		c.Pause()
	}
	return len(data)
}

func (r *relay) OnDrained(c *Conn) {
	if r.peer != nil {
		r.peer.Resume()
	}
}

func (r *relay) OnClose(c *Conn, err error) {
	if r.peer != nil {
		r.peer.Close()
	}
	r.onceClo.Do(func() { r.closed <- err })
}

// enrollPair enrolls a and b on l, relaying to each other.
func enrollPair(t *testing.T, l *Loop, a, b net.Conn) (ra, rb *relay) {
	t.Helper()
	ra, rb = newRelay(), newRelay()
	onLoop(t, l, func() {
		ca, err := l.Enroll(a, ra)
		if err != nil {
			t.Error(err)
			return
		}
		cb, err := l.Enroll(b, rb)
		if err != nil {
			t.Error(err)
			return
		}
		ra.peer, rb.peer = cb, ca
	})
	return ra, rb
}

// echoServer serves io.Copy echo on 127.0.0.1:0 until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(buf *syncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(buf, nil)) }
