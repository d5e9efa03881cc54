package loop

import (
	"runtime"
	"time"
)

// yieldEvery is how often a busy loop goroutine yields to the Go scheduler (yieldSometimes).
const yieldEvery = 5 * time.Millisecond

// yieldSometimes lets the loop goroutine pass through the Go scheduler once per yieldEvery. A loop
// goroutine never parks: it runs nbio's poller, blocking in epoll_wait. The runtime's sysmon takes a
// goroutine that has run on one scheduling tick for 10 ms as a long runner: it preempts it and, since
// it is then usually in epoll_wait, takes its P away (handoffp), and goes back to waking every 20 µs
// (runtime/proc.go sysmon, retake). Every busy loop then costs a context switch or more per
// transaction: sysmon's nanosleeps, the P's handoff and the loop thread's futex sleep when epoll_wait
// returns without a P. A Gosched starts a new scheduling tick, so sysmon sees a goroutine that keeps
// yielding, leaves its P alone, and backs off to 10 ms.
func (l *Loop) yieldSometimes() {
	now := time.Now()
	if now.Sub(l.lastYield) < yieldEvery {
		return
	}
	l.lastYield = now
	runtime.Gosched()
}
