package pooler

import (
	"time"

	"github.com/pgpooler/pgpooler/pooler/pools"
)

// A loop client that must wait for a server waits on its loop, with no goroutine: it joins its pool's
// line as a pools.Receiver tagged with its loop (pools.Pool.AcquireOn), its message held (the client
// paused), and query_wait_timeout is a timer on the loop. A server released on a loop goes preferably
// to a waiter of that loop, given to it right there (Take: no Run, no detach); the oldest waiter of the
// pool is overtaken so at most pools.MaxOvertakes times, after which it is served first whatever its
// loop (its server then moves to its loop). A grant from elsewhere (another loop's release, a freed
// slot, RESUME) is announced by Wake and taken on the loop (granted). A parameter sync or
// server_check_query runs on the loop too (settleResident); a new server's login and a server of
// another loop go on in a goroutine as before (connect, acquire). A paused database, and pools with a reserve_pool_size, keep the
// goroutine wait (acquireOn).

// waitOnLoop gets the client a server from its pool without a goroutine when it can: at once, or by
// waiting in line on the loop. False when the goroutine wait is needed instead (nothing changed).
func (lp *loopClient) waitOnLoop() bool {
	c, s := lp.c, lp.c.s
	if s.pause.any.Load() || c.pool.settings().ReservePoolSize > 0 {
		return false
	}
	if lp.grantFn == nil {
		lp.grantFn = lp.granted
	}
	r := c.pool.q.AcquireOn(lp.l, lp)
	switch r.Kind {
	case pools.Paused:
		return false
	case pools.Idle:
		lp.use(pools.Grant[*serverConn]{Server: r.Server}, 0)
	case pools.Connect:
		lp.use(pools.Grant[*serverConn]{Connect: true}, 0)
	case pools.Queued:
		lp.w, lp.waiting = r.Waiter, true
		c.mu.Lock()
		c.waitSince = lp.l.Now()
		c.mu.Unlock()
		if d := s.config().Pooler.QueryWaitTimeout.D(); d > 0 {
			if lp.wt == nil {
				lp.wt = lp.l.AfterFunc(d, lp.waitExpired)
			} else {
				lp.wt.Reset(d)
			}
		}
		if victim, ok := c.pool.q.Evict(); ok { // its slot goes to this pool's first waiter
			s.closeServer(victim, "evicted for a pool of the same database or user (max_db_connections, max_user_connections)")
		}
	}
	return true
}

// Wake tells the loop that the client's grant is in its waiter (pools.Receiver); from any goroutine,
// under the pool's lock.
func (lp *loopClient) Wake() { _ = lp.l.Run(lp.grantFn) }

// Take is a server released on the client's loop, given to it there (pools.Receiver).
func (lp *loopClient) Take(g pools.Grant[*serverConn]) { lp.use(g, lp.endWait()) }

// granted takes the grant Wake announced, on the loop; nothing when the wait already ended (the timer
// or the client's close took the grant with Abandon).
func (lp *loopClient) granted() {
	if lp.w == nil {
		return
	}
	g, ok := lp.w.Take()
	if !ok {
		return
	}
	lp.use(g, lp.endWait())
}

// endWait ends the client's wait in line (its waiter out of line, its grant taken): it returns how
// long it waited.
func (lp *loopClient) endWait() time.Duration {
	c := lp.c
	if lp.wt != nil {
		lp.wt.Disarm() // the next wait re-arms it with no timer operation; finish stops it
	}
	c.pool.q.Done(lp.w)
	lp.w, lp.waiting = nil, false
	c.mu.Lock()
	since := c.waitSince
	c.waitSince = time.Time{}
	c.mu.Unlock()
	return lp.l.Now().Sub(since)
}

// waitExpired: query_wait_timeout passed while the client waited in line. A grant that came first is
// used; a paused database makes it wait for RESUME in a goroutine (time paused does not count); else the
// client gets 53300, as acquire's wait does.
func (lp *loopClient) waitExpired() {
	if lp.w == nil {
		return
	}
	c := lp.c
	g, got := c.pool.q.Abandon(lp.w)
	waited := lp.endWait()
	switch {
	case got:
		lp.use(g, waited)
	case c.pool.q.IsPaused():
		lp.waiting = true
		go lp.acquire(nil, false)
	default:
		lp.fail(c.pool.waitTimedOut(c.s.config()))
	}
}

// leaveLine takes a client that goes away out of line; what was granted to it meanwhile goes back.
func (lp *loopClient) leaveLine() {
	if lp.w == nil {
		return
	}
	c := lp.c
	g, got := c.pool.q.Abandon(lp.w)
	lp.endWait()
	switch {
	case !got:
	case g.Connect:
		c.s.dropServer(c.pool)
	default:
		c.s.releaseOn(g.Server, lp.l)
	}
}

// use lends the client what its pool granted, on the loop: a server resident on its loop is linked at
// once when it needs no internal query, after them on the loop otherwise (settleResident: a parameter
// sync, server_check_query); a slot (Connect) and a server of another loop or of goroutine code are
// finished in a goroutine (connect, acquire).
func (lp *loopClient) use(g pools.Grant[*serverConn], waited time.Duration) {
	c := lp.c
	c.pool.stats.waitTime.Add(waited.Microseconds())
	c.pool.obs.Wait(waited)
	sc := g.Server
	switch {
	case g.Connect:
		lp.waiting = true
		go lp.connect()
	case sc.res != nil && sc.res.l == lp.l:
		switch ready, closed := lp.vetResident(sc); {
		case ready:
			c.pool.stats.serverAssignments.Add(1)
			c.learnTentative(sc)
			lp.attach(sc)
		case closed:
			lp.lend()
		default:
			lp.settleResident(sc, true) // loopsettle.go
		}
	default:
		lp.waiting = true
		go lp.acquire(sc, true)
	}
}

// connect runs in a goroutine: it logs in a new server in the slot granted to the client and hands it
// to the loop (prepared).
func (lp *loopClient) connect() {
	c := lp.c
	ctx := c.context()
	sc, err := c.s.openServer(ctx, c.pool)
	if err != nil && ctx.Err() != nil {
		err = ctxEnded(ctx, err)
	}
	lp.prepared(sc, err)
}
