package loop

import (
	"testing"
	"time"
)

// gate holds a conn's bytes (paused) until it is opened, then takes one delivery and closes again.
type gate struct {
	open   bool
	paused chan struct{}
	got    chan string
}

func (g *gate) OnData(c *Conn, data []byte) int {
	if !g.open {
		c.Pause()
		g.paused <- struct{}{}
		return 0
	}
	g.open = false
	g.got <- string(data)
	return len(data)
}
func (g *gate) OnDrained(*Conn)      {}
func (g *gate) OnClose(*Conn, error) {}

// opener opens a gate and resumes its conn from its own OnData: another conn's callback.
type opener struct {
	g  *gate
	gc *Conn
}

func (o *opener) OnData(_ *Conn, data []byte) int {
	o.g.open = true
	o.gc.Resume()
	return len(data)
}
func (o *opener) OnDrained(*Conn)      {}
func (o *opener) OnClose(*Conn, error) {}

// TestResumeFromCallbackNoWakeup: a conn paused with bytes unconsumed and resumed from another conn's
// callback gets its bytes right after that callback, without a write to the loop's wake socket (which
// a Loop.Run per Resume cost).
func TestResumeFromCallbackNoWakeup(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	aNear, aFar := tcpPair(t)
	bNear, bFar := tcpPair(t)
	gt := &gate{paused: make(chan struct{}, 1), got: make(chan string, 1)}
	op := &opener{g: gt}
	onLoop(t, l, func() {
		ac, err := l.Enroll(aNear, gt)
		if err != nil {
			t.Error(err)
			return
		}
		op.gc = ac
		if _, err := l.Enroll(bNear, op); err != nil {
			t.Error(err)
		}
	})
	const cycles = 20
	before := l.wakes.Load()
	for i := range cycles {
		want := string(rune('a' + i))
		if _, err := aFar.Write([]byte(want)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-gt.paused:
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: the gated conn did not see its byte", i)
		}
		if _, err := bFar.Write([]byte{'!'}); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-gt.got:
			if got != want {
				t.Fatalf("cycle %d: delivered %q after Resume, want %q", i, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("cycle %d: the resumed conn did not get its byte", i)
		}
	}
	if n := l.wakes.Load() - before; n > 2 {
		t.Errorf("%d Pause/Resume cycles wrote the wake socket %d times; want none", cycles, n)
	}
}
