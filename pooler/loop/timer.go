package loop

import "time"

// Timer is a function due on a loop; see Loop.AfterFunc. Its methods must be
// called on the loop.
type Timer struct {
	l       *Loop
	t       *time.Timer // made by the first arming, then Reset: no allocation per arming
	f       func()
	fire    func() // fired, made once: what the timer's goroutine queues to the loop
	due     time.Time
	stopped bool
}

// AfterFunc runs f on the loop after d, unless the returned Timer is stopped
// first. A timeout that is never set costs nothing. Call it on the loop (the
// Timer is the loop's).
func (l *Loop) AfterFunc(d time.Duration, f func()) *Timer {
	t := &Timer{l: l, f: f}
	t.fire = t.fired
	t.arm(d)
	return t
}

// arm makes the timer due d from now. A firing of an earlier arming that was
// already under way (queued to the loop) finds the timer stopped, or not yet
// due, and does nothing (fired); the time.Timer is reused, so a Reset per
// transaction (query_wait_timeout of every wait in line) allocates nothing.
func (t *Timer) arm(d time.Duration) {
	t.due = time.Now().Add(d)
	if t.t == nil {
		t.t = time.AfterFunc(d, func() { _ = t.l.Run(t.fire) })
		return
	}
	t.t.Reset(d)
}

// fired runs on the loop when the time.Timer has fired: f, if the timer is
// armed and due (not a firing of an arming that Stop or Reset replaced).
func (t *Timer) fired() {
	if t.stopped || time.Now().Before(t.due) {
		return
	}
	t.stopped = true
	t.l.safeRun(t.f)
}

// Stop cancels the timer: f will not run, even if it was already due and queued.
// It reports whether the timer was pending.
func (t *Timer) Stop() bool {
	was := !t.stopped
	t.stopped = true
	t.t.Stop()
	return was
}

// Reset makes the timer due d from now, whether or not it had run or been stopped.
func (t *Timer) Reset(d time.Duration) {
	t.stopped = false
	t.arm(d)
}
