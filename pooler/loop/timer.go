package loop

import "time"

// Timer is a function due on a loop; see Loop.AfterFunc. Its methods must be
// called on the loop. It is lazy: the time.Timer under it is moved only to an
// earlier time; a Reset to a later one records the due time, and the firing
// that comes first arms it again for the rest. So a timeout re-armed per event
// (query_wait_timeout of every wait in line) costs a clock read, not a timer
// operation in the runtime, each time.
type Timer struct {
	l       *Loop
	t       *time.Timer // made by the first arming, then Reset: no allocation per arming
	f       func()
	fire    func() // fired, made once: what the timer's goroutine queues to the loop
	due     time.Time
	fireAt  time.Time // when t fires, while pending
	pending bool      // t is armed and its firing has not been handled (fired)
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

// arm makes the timer due d from now (Loop.Now). The time.Timer is reset only
// when it is not pending or fires later than that; a firing of an earlier
// arming finds the timer stopped, or not yet due, and does nothing or arms it
// for the rest (fired).
func (t *Timer) arm(d time.Duration) {
	t.due = t.l.Now().Add(d)
	switch {
	case t.t == nil:
		t.t = time.AfterFunc(d, func() { _ = t.l.Run(t.fire) })
	case t.pending && !t.due.Before(t.fireAt):
		return // it fires first, and arms again for what is left
	default:
		t.t.Reset(d)
	}
	t.pending, t.fireAt = true, t.due
}

// fired runs on the loop when the time.Timer has fired: f, if the timer is
// armed and due; armed and not due (a Reset to a later time), the time.Timer is
// armed again for the rest.
func (t *Timer) fired() {
	t.pending = false
	if t.stopped {
		return
	}
	if now := t.l.Now(); now.Before(t.due) {
		t.t.Reset(t.due.Sub(now))
		t.pending, t.fireAt = true, t.due
		return
	}
	t.stopped = true
	t.l.safeRun(t.f)
}

// Stop cancels the timer: f will not run, even if it was already due and queued,
// and the time.Timer is stopped (nothing of the timer's owner stays reachable
// from the runtime's timers). It reports whether the timer was pending.
func (t *Timer) Stop() bool {
	was := !t.stopped
	t.stopped, t.pending = true, false
	t.t.Stop()
	return was
}

// Disarm is Stop for a timer that is likely to be armed again soon: f will not
// run, but the time.Timer is left to fire (and find nothing to do), so that the
// next Reset before then costs no timer operation. Stop it for good when its
// owner goes. It reports whether the timer was pending.
func (t *Timer) Disarm() bool {
	was := !t.stopped
	t.stopped = true
	return was
}

// Reset makes the timer due d from now, whether or not it had run or been stopped.
func (t *Timer) Reset(d time.Duration) {
	t.stopped = false
	t.arm(d)
}
