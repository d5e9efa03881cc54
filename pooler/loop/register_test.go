package loop

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEnrollPairDataWaiting: a conn whose peer's bytes are already waiting when it is enrolled, with the
// conn it relays to enrolled in the same loop callback (a client and the server lent to it). Its
// handler writes to the other conn as soon as it is read, which must not be before the other conn is
// registered with the engine (nbio cannot write a conn it has not added: before, the write panicked
// inside nbio with the conn's lock held, and the loop deadlocked closing it).
func TestEnrollPairDataWaiting(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	app, relayEnd := tcpPair(t)
	srv, srvFar := tcpPair(t)
	msg := []byte("bytes that wait for the relay")
	if _, err := app.Write(msg); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, relayEnd, len(msg))
	enrollPair(t, l, relayEnd, srv)
	got := make([]byte, len(msg))
	_ = srvFar.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(srvFar, got); err != nil {
		t.Fatalf("the relayed bytes did not arrive: %v", err)
	}
	if string(got) != string(msg) {
		t.Fatalf("relayed %q, want %q", got, msg)
	}
	// The loop is still alive: a function run on it runs.
	onLoop(t, l, func() {})
}

// waitQueued polls until c's receive queue holds at least n bytes (FIONREAD).
func waitQueued(t *testing.T, c net.Conn, n int) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		queued := 0
		_ = rc.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes queued after 10s", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
}
