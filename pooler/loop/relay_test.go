package loop

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestRelayEcho: clients relayed through the loops to an echo server get back
// exactly what they sent; each client and its server share a loop.
func TestRelayEcho(t *testing.T) {
	g := startGroup(t, Config{Loops: 2})
	addr := echoServer(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			app, relayEnd := tcpPair(t)
			srv, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			enrollPair(t, g.Next(), relayEnd, srv)
			msg := make([]byte, 256<<10)
			rand.Read(msg)
			go app.Write(msg)
			got := make([]byte, len(msg))
			app.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(app, got); err != nil {
				t.Error(err)
				return
			}
			if !bytes.Equal(got, msg) {
				t.Error("echo differs from what was sent")
			}
		}()
	}
	wg.Wait()
}

// chunker consumes only whole 10-byte records and echoes them to its own conn.
type chunker struct{ closed chan struct{} }

func (h *chunker) OnData(c *Conn, data []byte) int {
	n := len(data) / 10 * 10
	c.Write(data[:n])
	return n
}
func (h *chunker) OnDrained(*Conn)      {}
func (h *chunker) OnClose(*Conn, error) { close(h.closed) }

// TestPartialConsume: bytes OnData leaves are offered again with the next ones.
func TestPartialConsume(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	app, end := tcpPair(t)
	h := &chunker{closed: make(chan struct{})}
	if _, err := g.Loop(0).Enroll(end, h); err != nil {
		t.Fatal(err)
	}
	want := []byte("0123456789abcdefghij0123456789")
	for i := 0; i < len(want); i += 7 { // pieces that straddle records
		j := min(i+7, len(want))
		if _, err := app.Write(want[i:j]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // separate segments, not synchronisation
	}
	got := make([]byte, len(want))
	app.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(app, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	app.Close()
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called after the peer closed")
	}
}
