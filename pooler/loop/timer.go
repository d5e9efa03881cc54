package loop

import "time"

// Timer is a function due on a loop; see Loop.AfterFunc. Its methods must be
// called on the loop.
type Timer struct {
	l       *Loop
	t       *time.Timer
	f       func()
	gen     uint64 // bumped by Stop and Reset: a firing of an older arming is ignored
	stopped bool
}

// AfterFunc runs f on the loop after d, unless the returned Timer is stopped
// first. A timeout that is never set costs nothing. Call it on the loop (the
// Timer is the loop's).
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f}
	t.arm(d)
	return t
}

func (t *Timer) arm(d time.Duration) {
	gen := t.gen
	t.t = time.AfterFunc(d, func() {
		_ = t.l.Run(func() {
			if t.stopped || t.gen != gen {
				return
			}
			t.stopped = true
			t.l.safeRun(t.f)
		})
	})
}

// Stop cancels the timer: f will not run, even if it was already due and queued.
// It reports whether the timer was pending.
func (t *Timer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	t.gen++
	t.t.Stop()
	return was
}

// Reset makes the timer due d from now, whether or not it had run or been stopped.
func (t *Timer) Reset(d time.Duration) {
	t.t.Stop()
	t.gen++
	t.stopped = false
	t.arm(d)
}
