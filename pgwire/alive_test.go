//go:build linux

package pgwire

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection, closed when the test ends.
func tcpPair(t *testing.T) (local, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			c = nil
		}
		accepted <- c
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := <-accepted
	if p == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); p.Close() })
	return c.(*net.TCPConn), p.(*net.TCPConn)
}

// eventuallyDead polls Alive for up to 5 s: a FIN or RST reaches the other end asynchronously.
func eventuallyDead(t *testing.T, c net.Conn, what string) {
	t.Helper()
	eventuallyFalse(t, func() bool { return Alive(c) }, what)
}

// eventuallyFalse polls alive, a liveness check, until it says false, for up to 5 s.
func eventuallyFalse(t *testing.T, alive func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive() {
		if time.Now().After(deadline) {
			t.Fatalf("still alive 5 s after %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAliveOpenIdleConn(t *testing.T) {
	local, peer := tcpPair(t)
	for range 3 {
		if !Alive(local) {
			t.Fatal("Alive = false for an open idle connection")
		}
	}
	// Still usable both ways afterwards.
	if _, err := peer.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = local.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	if _, err := io.ReadFull(local, b[:]); err != nil || b[0] != 'x' {
		t.Fatalf("read after Alive: %q, %v", b, err)
	}
	if !Alive(local) {
		t.Fatal("Alive = false once the pending byte was read")
	}
}

func TestAlivePeerClosed(t *testing.T) {
	local, peer := tcpPair(t)
	peer.Close()
	eventuallyDead(t, local, "the peer closed")
}

func TestAlivePeerReset(t *testing.T) {
	local, peer := tcpPair(t)
	_ = peer.SetLinger(0) // close with RST
	peer.Close()
	eventuallyDead(t, local, "the peer reset the connection")
}

func TestAlivePeerSentBytes(t *testing.T) {
	local, peer := tcpPair(t)
	msg := []byte("E\x00\x00\x00\x04")
	if _, err := peer.Write(msg); err != nil {
		t.Fatal(err)
	}
	eventuallyDead(t, local, "the peer sent bytes")
	// Alive peeks: the bytes are still there to read.
	_ = local.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(local, got); err != nil || string(got) != string(msg) {
		t.Fatalf("read after Alive: %q, %v; want %q (Alive must not consume)", got, err, msg)
	}
}

func TestAliveLocalClosed(t *testing.T) {
	local, _ := tcpPair(t)
	local.Close()
	if Alive(local) {
		t.Fatal("Alive = true for a connection closed on this side")
	}
}

func TestAliveTLSConnLooksAtSocket(t *testing.T) {
	local, peer := tcpPair(t)
	tc := tls.Client(local, &tls.Config{InsecureSkipVerify: true})
	if !Alive(tc) {
		t.Fatal("Alive = false for a TLS connection over an open idle socket")
	}
	peer.Close()
	eventuallyDead(t, tc, "the peer of a TLS connection closed")
}

func TestAliveUninspectableConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	b.Close()
	if !Alive(a) {
		t.Fatal("Alive = false for a connection it cannot inspect; documented to assume alive")
	}
}

// TestLivenessReused: one Liveness checks its connection again and again without allocating, and sees
// the peer's close like Alive does.
func TestLivenessReused(t *testing.T) {
	local, peer := tcpPair(t)
	l := NewLiveness(local)
	if n := testing.AllocsPerRun(100, func() {
		if !l.Alive() {
			t.Fatal("Alive = false for an open idle connection")
		}
	}); n != 0 {
		t.Errorf("Liveness.Alive: %v allocations per check, want 0", n)
	}
	peer.Close()
	eventuallyFalse(t, l.Alive, "the peer closed")
}
