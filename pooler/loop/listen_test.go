package loop

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echo writes back what it reads.
type echo struct{}

func (echo) OnData(c *Conn, data []byte) int { _ = c.Write(data); return len(data) }
func (echo) OnDrained(*Conn)                 {}
func (echo) OnClose(*Conn, error)            {}

// echoListener enrolls every accepted socket on its loop as an echo and counts failed accepts.
type echoListener struct {
	l        *Loop
	accepted atomic.Int64
	failures atomic.Int64
	remotes  chan net.Addr
}

func (h *echoListener) Accepted(fd int, remote net.Addr) {
	h.accepted.Add(1)
	h.remotes <- remote
	if _, err := h.l.EnrollFD(fd, nil, remote, echo{}, true); err != nil {
		panic(err)
	}
}

func (h *echoListener) AcceptFailed(error) time.Duration { h.failures.Add(1); return time.Millisecond }

// TestListenAccepts: a TCP listener polled by a loop accepts every connection on the loop (its peer's
// address given), the sockets enrolled there serve their bytes, Go's listener is closed, and Close stops
// accepting.
func TestListenAccepts(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	h := &echoListener{l: l, remotes: make(chan net.Addr, 16)}
	lis, err := l.Listen(ln.(*net.TCPListener), h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Go's listener after Listen: Accept %v, want net.ErrClosed", err)
	}
	for i := 0; i < 10; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if r := <-h.remotes; r.String() != c.LocalAddr().String() {
			t.Fatalf("accepted peer %v, want %v", r, c.LocalAddr())
		}
		msg := []byte("hello")
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hello" {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.Close()
	}
	if n := h.accepted.Load(); n != 10 {
		t.Fatalf("%d accepted, want 10", n)
	}
	lis.Close()
	select {
	case <-lis.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed by Close")
	}
	onLoop(t, l, func() {}) // the close ran on the loop
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("dial after Close succeeded")
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Close: %v, want connection refused", err)
	}
}
