package loop

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// recorder counts the callbacks it gets.
type recorder struct {
	data   chan []byte
	closed chan error
}

func (r *recorder) OnData(_ *Conn, data []byte) int {
	r.data <- append([]byte(nil), data...)
	return len(data)
}
func (r *recorder) OnDrained(*Conn)            {}
func (r *recorder) OnClose(_ *Conn, err error) { r.closed <- err }

// TestDetach: a detached conn's socket works as a plain net.Conn, the loop no longer serves it (no
// OnData for what the peer sends afterwards, no OnClose when it hangs up), and it can be enrolled again.
func TestDetach(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Detach needs epoll")
	}
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	near, far := tcpPair(t)
	defer far.Close()
	rec := &recorder{data: make(chan []byte, 16), closed: make(chan error, 1)}
	var c *Conn
	onLoop(t, l, func() {
		var err error
		if c, err = l.Enroll(near, rec); err != nil {
			t.Error(err)
		}
	})
	if _, err := far.Write([]byte("on the loop")); err != nil {
		t.Fatal(err)
	}
	if got := string(<-rec.data); got != "on the loop" {
		t.Fatalf("OnData got %q", got)
	}
	var nc net.Conn
	var derr error
	onLoop(t, l, func() { nc, derr = c.Detach() })
	if derr != nil {
		t.Fatalf("Detach: %v", derr)
	}
	defer nc.Close()
	if n := l.Conns(); n != 0 {
		t.Fatalf("loop counts %d conns after Detach, want 0", n)
	}
	if _, err := far.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("detached read: %q, %v", buf, err)
	}
	if _, err := nc.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	_ = far.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(far, buf); err != nil || string(buf) != "pong" {
		t.Fatalf("peer read: %q, %v", buf, err)
	}
	// Enrolled again, it is served by the loop again; the old registration raises nothing.
	rec2 := &recorder{data: make(chan []byte, 16), closed: make(chan error, 1)}
	onLoop(t, l, func() {
		if _, err := l.Enroll(nc, rec2); err != nil {
			t.Error(err)
		}
	})
	if _, err := far.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if got := string(<-rec2.data); got != "again" {
		t.Fatalf("re-enrolled OnData got %q", got)
	}
	far.Close()
	select {
	case <-rec2.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose for the re-enrolled conn after the peer hung up")
	}
	onLoop(t, l, func() {}) // anything queued for the old handler has run
	select {
	case d := <-rec.data:
		t.Fatalf("the detached handler got OnData %q", d)
	case err := <-rec.closed:
		t.Fatalf("the detached handler got OnClose %v", err)
	default:
	}
}
