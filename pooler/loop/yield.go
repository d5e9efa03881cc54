package loop

import (
	"runtime"
	"time"
)

// yieldEvery is how often a busy loop goroutine yields to the Go scheduler (yieldSometimes): below
// sysmon's 10 ms long-runner limit with room for a callback that runs long, and 8 rather than 5 ms to
// spend fewer context switches on it (docs/architecture.md).
const yieldEvery = 8 * time.Millisecond

// yieldSometimes lets the loop goroutine pass through the Go scheduler once per yieldEvery. A loop
// goroutine never parks: it runs nbio's poller, blocking in epoll_wait. The runtime's sysmon takes a
// goroutine that has run on one scheduling tick for 10 ms as a long runner: it preempts it and, since
// it is then usually in epoll_wait, takes its P away (handoffp), and goes back to waking every 20 µs
// (runtime/proc.go sysmon, retake). Every busy loop then costs a context switch or more per
// transaction: sysmon's nanosleeps, the P's handoff and the loop thread's futex sleep when epoll_wait
// returns without a P. A Gosched starts a new scheduling tick, so sysmon sees a goroutine that keeps
// yielding, leaves its P alone, and backs off to 10 ms.
//
// It also reads the clock for the event about to be handled (Now): one read per event, shared.
func (l *Loop) yieldSometimes() {
	now := time.Now()
	l.now = now
	if now.Sub(l.lastYield) < yieldEvery {
		return
	}
	l.lastYield = now
	runtime.Gosched()
	l.now = time.Now()
}

// Now is the time of the event the loop is handling: read once when its callback began (yieldSometimes),
// so it lags the clock by that callback's run time, microseconds. For what is timed on the loop
// (timeouts, waits, query and transaction start times), in place of a time.Now per message. On the loop.
func (l *Loop) Now() time.Time {
	if l.now.IsZero() {
		return time.Now()
	}
	return l.now
}
