package loop

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunFromGoroutines: functions queued from many goroutines all run, one at a
// time, on the loop (the counter has no lock; -race checks that).
func TestRunFromGoroutines(t *testing.T) {
	g := startGroup(t, Config{Loops: 2})
	l := g.Loop(1)
	count := 0
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				if err := l.Run(func() { count++ }); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	var got int
	onLoop(t, l, func() { got = count })
	if got != 8000 {
		t.Fatalf("ran %d functions, want 8000", got)
	}
}

// TestTimers: a timer runs on the loop after its delay; a stopped one never runs;
// a reset one runs once, later.
func TestTimers(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	fired := make(chan string, 4)
	var stopped, reset *Timer
	onLoop(t, l, func() {
		l.AfterFunc(10*time.Millisecond, func() { fired <- "plain" })
		stopped = l.AfterFunc(10*time.Millisecond, func() { fired <- "stopped" })
		reset = l.AfterFunc(time.Hour, func() { fired <- "reset" })
		if !stopped.Stop() {
			t.Error("Stop of a pending timer reported false")
		}
		reset.Reset(20 * time.Millisecond)
	})
	var got []string
	for len(got) < 2 {
		select {
		case s := <-fired:
			got = append(got, s)
		case <-time.After(10 * time.Second):
			t.Fatalf("timers fired: %v", got)
		}
	}
	// A final timer after the others: anything still due would have fired first.
	onLoop(t, l, func() { l.AfterFunc(50*time.Millisecond, func() { fired <- "last" }) })
	got = append(got, <-fired)
	if strings.Join(got, ",") != "plain,reset,last" {
		t.Fatalf("timers fired in the order %v, want plain, reset, last", got)
	}
}

// bomb echoes, but panics on "boom".
type bomb struct{ closed chan error }

func (h *bomb) OnData(c *Conn, data []byte) int {
	if strings.Contains(string(data), "boom") {
		panic("handler exploded")
	}
	c.Write(data)
	return len(data)
}
func (h *bomb) OnDrained(*Conn)            {}
func (h *bomb) OnClose(_ *Conn, err error) { h.closed <- err }

// TestPanicIsolatesConn: a panic serving one conn closes that conn, logs the
// stack, and leaves the other conn on the same loop working.
func TestPanicIsolatesConn(t *testing.T) {
	var logs syncBuffer
	g := startGroup(t, Config{Loops: 1, Logger: testLogger(&logs)})
	l := g.Loop(0)
	bad, badEnd := tcpPair(t)
	good, goodEnd := tcpPair(t)
	hb, hg := &bomb{closed: make(chan error, 1)}, &bomb{closed: make(chan error, 1)}
	if _, err := l.Enroll(badEnd, hb); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enroll(goodEnd, hg); err != nil {
		t.Fatal(err)
	}
	bad.Write([]byte("boom"))
	bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := bad.Read(make([]byte, 8)); err == nil {
		t.Fatalf("the panicking conn stayed open (read %d bytes)", n)
	}
	select {
	case <-hb.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("OnClose not called for the panicking conn")
	}
	good.Write([]byte("still here"))
	buf := make([]byte, 10)
	good.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := good.Read(buf); err != nil || string(buf) != "still here" {
		t.Fatalf("other conn: %q, %v", buf, err)
	}
	if s := logs.String(); !strings.Contains(s, "handler exploded") || !strings.Contains(s, "goroutine") {
		t.Fatalf("panic not logged with its stack: %s", s)
	}
}
