package pooler

import (
	"runtime/debug"
	"time"
)

// memReturn keeps what a burst of logins leaves behind from staying resident: during the burst the
// garbage collector runs with a lower heap goal, and once it is over the free memory goes back to the OS.
//
// Why: a login allocates far more than what the logged-in client keeps (the SCRAM exchange, the start-up
// and parameter messages, the login goroutine's stack, its Reader). After a burst, the Go heap goal
// (GOGC=100: twice the live heap) and the free spans the runtime has not scavenged stay resident, and the
// background scavenger only trims them down to about the heap goal; and the clients' objects end up
// spread over spans shared with the login garbage, which stay in use however little of them is live.
// PgBouncer, which has no garbage collector, has neither.
//
// The rule, checked every janitor tick (janitorInterval, 200 ms; so it costs no timer of its own):
//   - a tick in which at least memBurstConns connections were accepted (a login burst, 500 a second)
//     sets the GC percentage to memBurstGCPercent, unless GOGC is already that low or off; collecting more
//     often while the clients' objects are made packs them into fewer spans;
//   - the first tick with fewer than memReturnQuietConns (the burst, or any stream of logins, has ended)
//     puts the GC percentage back, and when at least memReturnMinConns connections were accepted since
//     the last return and that is at least memReturnInterval ago, calls debug.FreeOSMemory: one forced
//     collection and the release of every free page.
//
// A pooler whose clients stay connected (the steady state of pgbench, of an application's pool) accepts no
// connections, so none of this runs then and it adds nothing per transaction; pgbench -C at 20 clients
// (about 200 connections a second) is no burst and never looks quiet, and a slow stream of new
// connections triggers at most one return per memReturnMinConns of them.
//
// Measured (bench/suite, SCENARIOS=idle, 10,000 idle SCRAM clients, event_loops on, transaction mode;
// docs/architecture.md), RSS per idle client, with the rest of that work: 3,397 to 3,601 bytes without
// memReturn; with FreeOSMemory alone 2,157 to 2,347; with GC percentage 25 during the burst too 1,982 to
// 2,066 (nine runs, median 2,023); with 10, 1,925 to 2,014, but the logins' CPU grew by about a third
// (total CPU of the run: 169 to 177 ticks before, 177 and 247 with 25, 217 and 267 with 10, on a shared
// machine). One return after 10,000 logins is one garbage collection of a 20 MB heap. CPU per
// transaction (bench/looprelay/measure.sh 3 5 "10 50", event_loops on): 24.7 and 24.2 µs at 10 and 50
// clients, 26.4 and 25.4 before: unchanged within the noise.
type memReturn struct {
	lastConns  uint64    // connections accepted (nextClientID) at the last return
	tickConns  uint64    // connections accepted at the last tick
	lastReturn time.Time // when it last returned memory; zero: never
	lowered    bool      // the GC percentage is memBurstGCPercent, prevGC is to be put back
	prevGC     int       // the GC percentage before the burst
}

const (
	// memBurstConns is the least number of connections accepted in one janitor tick (200 ms) that
	// makes a burst: 500 a second.
	memBurstConns = 100
	// memBurstGCPercent is the GC percentage (GOGC) during a burst.
	memBurstGCPercent = 25
	// memReturnMinConns is how many connections must have been accepted since the last return: fewer
	// leave too little behind to be worth a forced collection.
	memReturnMinConns = 1000
	// memReturnQuietConns is the most connections accepted in one janitor tick for the logins to count
	// as ended: 50 a second.
	memReturnQuietConns = 10
	// memReturnInterval is the least time between two returns.
	memReturnInterval = time.Second
)

// tick applies the rule at now, with conns connections accepted so far; it reports whether it
// returned memory. Called by the janitor only.
func (m *memReturn) tick(now time.Time, conns uint64) bool {
	inTick := conns - m.tickConns
	m.tickConns = conns
	if inTick >= memBurstConns && !m.lowered {
		if prev := debug.SetGCPercent(memBurstGCPercent); prev < 0 || prev <= memBurstGCPercent {
			debug.SetGCPercent(prev) // GOGC off, or as low already: left alone
		} else {
			m.lowered, m.prevGC = true, prev
		}
	}
	if inTick >= memReturnQuietConns {
		return false
	}
	if m.lowered {
		debug.SetGCPercent(m.prevGC)
		m.lowered = false
	}
	if conns-m.lastConns < memReturnMinConns {
		return false
	}
	if !m.lastReturn.IsZero() && now.Sub(m.lastReturn) < memReturnInterval {
		return false
	}
	m.lastConns, m.lastReturn = conns, now
	debug.FreeOSMemory()
	return true
}
