package loop

import (
	"testing"
	"time"
)

// TestTimerStaleFiring: a timer that fired while the loop was busy (its firing queued) and was then reset
// to later does not run at the stale firing, only at the new time; one that was stopped after such a firing
// never runs.
func TestTimerStaleFiring(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	fired := make(chan string, 4)
	onLoop(t, l, func() {
		reset := l.AfterFunc(time.Millisecond, func() { fired <- "reset" })
		stopped := l.AfterFunc(time.Millisecond, func() { fired <- "stopped" })
		// Keep the loop busy past both timers' time: their firings are queued behind this callback.
		for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
		}
		reset.Reset(200 * time.Millisecond)
		stopped.Stop()
		l.AfterFunc(100*time.Millisecond, func() { fired <- "between" })
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
	if got[0] != "between" || got[1] != "reset" {
		t.Fatalf("timers fired in the order %v, want between (100 ms), then reset (200 ms): the stale firing ran the reset timer", got)
	}
	onLoop(t, l, func() { l.AfterFunc(50*time.Millisecond, func() { fired <- "last" }) })
	if s := <-fired; s != "last" {
		t.Fatalf("after the others fired %q, want last: the stopped timer ran", s)
	}
}

// BenchmarkTimerReset: re-arming a loop timer (query_wait_timeout at every wait in line) allocates
// nothing.
func BenchmarkTimerReset(b *testing.B) {
	g, err := Start(Config{Loops: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Stop()
	l := g.Loop(0)
	done := make(chan struct{})
	b.ReportAllocs()
	_ = l.Run(func() {
		tm := l.AfterFunc(time.Hour, func() {})
		b.ResetTimer()
		for range b.N {
			tm.Reset(time.Hour)
			tm.Stop()
		}
		close(done)
	})
	<-done
}

// TestTimerLazyReset: a timer reset to a later time while its time.Timer is pending (which it leaves
// alone) runs at the later time, once, not at the first; one disarmed and reset again runs at its new
// time; one disarmed never runs.
func TestTimerLazyReset(t *testing.T) {
	g := startGroup(t, Config{Loops: 1})
	l := g.Loop(0)
	type firing struct {
		name string
		at   time.Time
	}
	fired := make(chan firing, 8)
	var later, again *Timer
	var resetAt time.Time
	onLoop(t, l, func() {
		later = l.AfterFunc(30*time.Millisecond, func() { fired <- firing{"later", time.Now()} })
		again = l.AfterFunc(30*time.Millisecond, func() { fired <- firing{"again", time.Now()} })
		gone := l.AfterFunc(30*time.Millisecond, func() { fired <- firing{"disarmed", time.Now()} })
		gone.Disarm()
		again.Disarm()
	})
	onLoop(t, l, func() {
		resetAt = time.Now()
		later.Reset(300 * time.Millisecond)
		again.Reset(150 * time.Millisecond)
	})
	want := []struct {
		name string
		min  time.Duration
	}{{"again", 140 * time.Millisecond}, {"later", 290 * time.Millisecond}}
	for _, w := range want {
		select {
		case f := <-fired:
			if f.name != w.name {
				t.Fatalf("timer %q fired, want %q next", f.name, w.name)
			}
			if d := f.at.Sub(resetAt); d < w.min {
				t.Fatalf("timer %q fired %v after its Reset, want at least %v: it ran at an earlier arming", f.name, d, w.min)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("timer %q did not fire", w.name)
		}
	}
	onLoop(t, l, func() { l.AfterFunc(50*time.Millisecond, func() { fired <- firing{"last", time.Now()} }) })
	if f := <-fired; f.name != "last" {
		t.Fatalf("after the others, timer %q fired, want last: a timer ran twice or a disarmed one ran", f.name)
	}
}
