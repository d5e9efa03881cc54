package pools

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Settings are the limits a Pool runs with (PgBouncer doc/config.md): pool_size, reserve_pool_size, and
// the maximums of the Limits it shares, max_db_connections and max_user_connections (0: no maximum).
type Settings struct {
	Size, Reserve  int
	MaxDB, MaxUser int
}

// Grant is what a waiter gets: an idle server to lend, or (Connect) a slot counted for it in which it
// opens a new server.
type Grant[S any] struct {
	Server  S
	Connect bool
}

// Waiter is a client's place in a Pool's line, with the timers of its wait. Waiters are reused
// (Pool.Done): once a pool has seen its longest line, waiting allocates nothing.
type Waiter[S any] struct {
	ch               chan Grant[S] // buffered 1: receives at most one grant per wait
	timeout, reserve *time.Timer   // created on first use, stopped by Done
	tag              any           // the event loop of a Receiver's client (AcquireOn); nil otherwise
	recv             Receiver[S]   // told of its grant (AcquireOn); nil: the waiter blocks on ch
	skips            int           // times a younger waiter overtook it at the head of the line (PutOn)
}

// Receiver is a waiter that does not block on its channel: a client served by an event loop, which
// learns of its grant from Wake (on any goroutine) or is given it by Take (on its loop).
type Receiver[S any] interface {
	// Wake is called, under the pool's lock, once a grant is in the waiter's channel (Waiter.Take
	// gets it). It must not call the Pool and must not block.
	Wake()
	// Take is given a grant by PutOn, on the caller's goroutine (the receiver's event loop, the tag
	// both passed), after the pool's lock is released; the waiter is out of line and owns the grant.
	Take(g Grant[S])
}

// MaxOvertakes is how many times a waiter at the head of the line may be overtaken by a younger waiter
// of the event loop that releases a server (PutOn) before it is served first: a loop's own waiters
// are preferred (the server stays on its loop) while the oldest waiter's extra wait stays bounded.
const MaxOvertakes = 8

// maxLookAhead bounds how far down the line PutOn looks for a waiter of the releasing loop, so that a
// long line of other waiters costs a release no more than this.
const maxLookAhead = 64

// Take returns the waiter's grant if one is in its channel (for a Receiver told by Wake).
func (w *Waiter[S]) Take() (g Grant[S], ok bool) {
	select {
	case g = <-w.ch:
		return g, true
	default:
		return g, false
	}
}

// Granted returns the channel on which the waiter's grant arrives.
func (w *Waiter[S]) Granted() <-chan Grant[S] { return w.ch }

// Timeout returns a channel that receives once d from now (query_wait_timeout); nil (never) when d is
// not positive.
func (w *Waiter[S]) Timeout(d time.Duration) <-chan time.Time { return arm(&w.timeout, d) }

// ReserveTimeout is Timeout for a second deadline (reserve_pool_timeout).
func (w *Waiter[S]) ReserveTimeout(d time.Duration) <-chan time.Time { return arm(&w.reserve, d) }

// arm starts *t to fire in d, creating it the first time. A stopped timer's channel holds no stale
// value once it is reset (Go 1.23 timers).
func arm(t **time.Timer, d time.Duration) <-chan time.Time {
	if d <= 0 {
		return nil
	}
	if *t == nil {
		*t = time.NewTimer(d)
	} else {
		(*t).Reset(d)
	}
	return (*t).C
}

// Kind says what Acquire found.
type Kind uint8

const (
	Busy    Kind = iota // no server without waiting (TryAcquire), nothing changed
	Idle                // Result.Server is an idle server, out of the idle list and lent to the caller
	Connect             // a slot is counted for the caller: it opens a new server in it (or calls Drop)
	Queued              // the caller is in line: Result.Waiter gets its grant
	Paused              // the pool is paused (SetPaused): the caller waits for it to resume
)

// Result is Acquire's answer.
type Result[S any] struct {
	Kind   Kind
	Server S          // Idle
	Waiter *Waiter[S] // Queued
}

// Put says what became of a released server.
type Put uint8

const (
	Kept        Put = iota // in the idle list
	Handed                 // given to the oldest waiter
	CloseExcess            // the pool holds more than pool_size + reserve_pool_size and nobody waits: close it
	CloseShared            // another pool of the database or user waits for a shared slot: close it
	CloseClosed            // the pool is closed (Close): close it
)

// Pool is the servers of one (database, user) pair: idle ones (last in, first out), clients waiting for
// one (first in, first out), and the slots counted against its pool_size and the Limits it shares. All
// its state is guarded by its own lock; see the package doc for the lock order. S is the server type;
// its zero value means "none".
type Pool[S any] struct {
	db, user *Limit[S]
	onPaused func() // called without locks after a server of a paused pool is kept idle or dropped
	set      atomic.Pointer[Settings]

	mu      sync.Mutex
	spare   []*Waiter[S]    // waiters Done gave back, for queueLocked (at most maxSpareWaiters): no allocation per wait
	idle    []idleServer[S] // oldest first: released servers are appended, lent ones taken from the end
	waiters queue[*Waiter[S]]
	total   int // servers open or being opened, idle or lent (the pool's slots in use)
	paused  bool
	closed  bool

	// Mirrors for other pools' lock-free looks (Put, Evict): written under mu.
	nwait  atomic.Int32 // waiters.len()
	ntotal atomic.Int32 // total
}

type idleServer[S any] struct {
	s     S
	since time.Time
}

// New returns an empty Pool with settings set that counts its servers against db (the database's
// max_db_connections) and user (the user's max_user_connections), two distinct Limits. onPaused, if not
// nil, is called after a server of the pool goes back idle or is dropped while the pool is paused: a
// PAUSE waits for that.
func New[S any](set Settings, db, user *Limit[S], onPaused func()) *Pool[S] {
	p := &Pool[S]{db: db, user: user, onPaused: onPaused}
	p.set.Store(&set)
	db.join(p)
	user.join(p)
	return p
}

// Settings returns the settings in force.
func (p *Pool[S]) Settings() Settings { return *p.set.Load() }

// SetSettings changes the settings (a reload). It returns the idle servers beyond the new pool_size +
// reserve_pool_size, newest first, out of the idle list for the caller to close (and Drop), and serves
// waiters that the new settings let in.
func (p *Pool[S]) SetSettings(set Settings) []S {
	p.mu.Lock()
	p.set.Store(&set)
	var excess []S
	for n := p.total - set.Size - set.Reserve; n > 0 && len(p.idle) > 0; n-- {
		excess = append(excess, p.popIdleLocked())
	}
	p.grantLocked()
	p.mu.Unlock()
	return excess
}

// Acquire lends a server without waiting when one is to be had: the most recently used idle one, else a
// slot for a new one (below pool_size, max_db_connections and max_user_connections), but only when
// nobody waits already. Otherwise, when queue is set, the caller joins the line (Queued): it then
// calls Evict, waits on Result.Waiter, and gives the waiter back with Done; when queue is not set it
// gets Busy. A paused pool answers Paused (Busy when queue is not set).
func (p *Pool[S]) Acquire(queue bool) Result[S] {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		if queue {
			return Result[S]{Kind: Paused}
		}
		return Result[S]{Kind: Busy}
	}
	if p.waiters.len() == 0 {
		if len(p.idle) > 0 {
			return Result[S]{Kind: Idle, Server: p.popIdleLocked()}
		}
		if p.openLocked(false) {
			return Result[S]{Kind: Connect}
		}
	}
	if !queue {
		return Result[S]{Kind: Busy}
	}
	return Result[S]{Kind: Queued, Waiter: p.queueLocked(nil, nil)}
}

// AcquireOn is Acquire(true) for a client of event loop tag (not nil) that waits without blocking:
// when it joins the line (Queued), its grant is announced to recv (Receiver.Wake), or given to it by a
// release on the same loop (PutOn, Receiver.Take). The caller leaves the line with Abandon, and gives
// the waiter back with Done once its grant is taken.
func (p *Pool[S]) AcquireOn(tag any, recv Receiver[S]) Result[S] {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return Result[S]{Kind: Paused}
	}
	if p.waiters.len() == 0 {
		if len(p.idle) > 0 {
			return Result[S]{Kind: Idle, Server: p.popIdleLocked()}
		}
		if p.openLocked(false) {
			return Result[S]{Kind: Connect}
		}
	}
	return Result[S]{Kind: Queued, Waiter: p.queueLocked(tag, recv)}
}

// queueLocked puts a waiter in line.
func (p *Pool[S]) queueLocked(tag any, recv Receiver[S]) *Waiter[S] {
	var w *Waiter[S]
	if n := len(p.spare); n > 0 {
		w = p.spare[n-1]
		p.spare[n-1] = nil
		p.spare = p.spare[:n-1]
	} else {
		w = &Waiter[S]{ch: make(chan Grant[S], 1)}
	}
	w.tag, w.recv = tag, recv
	p.waiters.push(w)
	p.nwait.Store(int32(p.waiters.len()))
	return w
}

// AcquireIdle lends the most recently used idle server for which match is true, but only when nobody
// waits and the pool is not paused; ok is false otherwise, and nothing changed. For callers that prefer
// some servers (an event loop's own, which it lends with no syscall). match is called under the pool's
// lock and must not call the Pool.
func (p *Pool[S]) AcquireIdle(match func(S) bool) (s S, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused || p.waiters.len() > 0 {
		return s, false
	}
	for i := len(p.idle) - 1; i >= 0; i-- {
		if match(p.idle[i].s) {
			s = p.idle[i].s
			p.idle = slices.Delete(p.idle, i, i+1) // zeroes the vacated slot
			return s, true
		}
	}
	return s, false
}

// Done gives back a waiter whose wait is over: its grant received, or Abandon'd; it stops its timers.
func (p *Pool[S]) Done(w *Waiter[S]) {
	for _, t := range [2]*time.Timer{w.timeout, w.reserve} {
		if t != nil {
			t.Stop()
		}
	}
	w.tag, w.recv, w.skips = nil, nil, 0
	p.mu.Lock()
	if len(p.spare) < maxSpareWaiters {
		p.spare = append(p.spare, w)
	}
	p.mu.Unlock()
}

// maxSpareWaiters bounds the waiters a Pool keeps for reuse (Done): a free list of its own rather than a
// sync.Pool, which drops what it holds at every garbage collection (and, under the race detector, a
// quarter of what it is given), so that waiting in line allocates nothing in the steady state.
const maxSpareWaiters = 64

// Abandon takes w out of line. When a grant reached w first, it returns that grant (ok): the caller owns
// what it grants.
func (p *Pool[S]) Abandon(w *Waiter[S]) (g Grant[S], ok bool) {
	p.mu.Lock()
	removed := p.removeWaiterLocked(w)
	p.mu.Unlock()
	if removed {
		return g, false
	}
	return <-w.ch, true
}

// Reserve is for a waiter whose reserve_pool_timeout passed: if it is still in line and the pool is
// below pool_size + reserve_pool_size (and the shared limits), it leaves the line with a slot counted for
// it (true); otherwise it keeps its place at the head of the line (false).
func (p *Pool[S]) Reserve(w *Waiter[S]) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.removeWaiterLocked(w) {
		return false // granted meanwhile: the grant is in w's channel
	}
	if p.openLocked(true) {
		return true
	}
	p.waiters.pushFront(w)
	p.nwait.Store(int32(p.waiters.len()))
	return false
}

// Put takes back a released server s, idle since now: to the oldest waiter, unless the pool is paused;
// else into the idle list; or it tells the caller to close s (and then Drop its slot).
func (p *Pool[S]) Put(s S, now time.Time) Put { return p.PutOn(s, now, nil) }

// PutOn is Put for a caller on event loop tag (nil: none). A waiter of that loop (AcquireOn with the same
// tag) is preferred to older waiters of other loops and goroutine waiters, unless the oldest waiter has
// been overtaken MaxOvertakes times already; the server then goes to it by Receiver.Take, called on the
// caller's goroutine once the pool's lock is released (Handed).
func (p *Pool[S]) PutOn(s S, now time.Time, tag any) Put {
	p.mu.Lock()
	set := p.set.Load()
	var r Put
	var local *Waiter[S]
	switch {
	case p.closed:
		r = CloseClosed
	case p.total > set.Size+set.Reserve && p.waiters.len() == 0:
		r = CloseExcess
	case p.waiters.len() > 0 && !p.paused:
		w := p.chooseWaiterLocked(tag)
		if tag != nil && w.tag == tag {
			local = w
		} else {
			p.grantToLocked(w, Grant[S]{Server: s})
		}
		r = Handed
	case p.sharingWaits():
		r = CloseShared
	default:
		p.idle = append(p.idle, idleServer[S]{s, now})
		r = Kept
	}
	paused := p.paused
	p.mu.Unlock()
	if local != nil {
		local.recv.Take(Grant[S]{Server: s})
	}
	if r == Kept && paused && p.onPaused != nil {
		p.onPaused()
	}
	return r
}

// chooseWaiterLocked takes out of line the waiter a server released on loop tag goes to: the oldest
// waiter of that loop among the first maxLookAhead, unless the oldest of all has been overtaken
// MaxOvertakes times; else the oldest.
func (p *Pool[S]) chooseWaiterLocked(tag any) *Waiter[S] {
	head := p.waiters.items[p.waiters.head]
	if tag == nil || head.tag == tag || head.skips >= MaxOvertakes {
		return p.popWaiterLocked()
	}
	line := p.waiters.items[p.waiters.head+1:]
	for _, w := range line[:min(len(line), maxLookAhead)] {
		if w.tag == tag {
			head.skips++
			p.removeWaiterLocked(w)
			return w
		}
	}
	return p.popWaiterLocked()
}

// grantToLocked sends g to w, a waiter out of line, and tells its Receiver.
func (p *Pool[S]) grantToLocked(w *Waiter[S], g Grant[S]) {
	recv := w.recv // read first: a blocking waiter may take the grant and reuse w at once
	w.ch <- g
	if recv != nil {
		recv.Wake()
	}
}

// Drop frees the slot of a server that has been closed, or that was never opened, and hands the slot
// to the waiters it may let in: this pool's first, then those of pools sharing its database or user.
func (p *Pool[S]) Drop() {
	p.mu.Lock()
	p.total--
	p.ntotal.Store(int32(p.total))
	give(p.db, p.user)
	p.grantLocked()
	paused := p.paused
	p.mu.Unlock()
	// One pool's lock at a time. Each pool is looked at under its lock, not by its waiter count: a
	// client that found the shared limit full joins the line under that lock, so it is either seen here
	// or saw the slot freed above.
	for _, l := range [2]*Limit[S]{p.db, p.user} {
		for _, q := range l.pools() {
			if q != p {
				q.mu.Lock()
				q.grantLocked()
				q.mu.Unlock()
			}
		}
	}
	if paused && p.onPaused != nil {
		p.onPaused()
	}
}

// Open counts a slot for a new server if the pool is below pool_size and the shared limits allow it;
// the caller opens a server in it or calls Drop. For logins in the background.
func (p *Pool[S]) Open() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.openLocked(false)
}

// Fill is Open for min_pool_size: only while the pool counts fewer than min servers and nobody waits.
func (p *Pool[S]) Fill(min int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total < min && p.waiters.len() == 0 && p.openLocked(false)
}

// Evict is for a caller that has just joined the line (Queued) of a pool held back by a shared limit
// (below pool_size, but max_db_connections or max_user_connections reached): it takes the longest-idle
// server of another pool of the same database or user out of its idle list, for the caller to close
// and Drop, whose slot then goes to this pool's first waiter (PgBouncer evicts the same way). ok is
// false when there is none or the pool is not held back so.
func (p *Pool[S]) Evict() (victim S, ok bool) {
	if !p.sharedLimited() {
		return victim, false
	}
	var from *Pool[S]
	var oldest time.Time
	for _, l := range [2]*Limit[S]{p.db, p.user} {
		for _, q := range l.pools() {
			if q == p {
				continue
			}
			q.mu.Lock()
			if len(q.idle) > 0 && (from == nil || q.idle[0].since.Before(oldest)) {
				from, oldest = q, q.idle[0].since
			}
			q.mu.Unlock()
		}
	}
	if from == nil {
		return victim, false
	}
	from.mu.Lock()
	defer from.mu.Unlock()
	if len(from.idle) == 0 { // lent meanwhile
		return victim, false
	}
	victim = from.idle[0].s
	from.idle[0] = idleServer[S]{}
	from.idle = slices.Delete(from.idle, 0, 1)
	return victim, true
}

// SetPaused pauses the pool (waiters stay in line, released servers go idle, Acquire answers Paused) or
// resumes it, serving the waiters.
func (p *Pool[S]) SetPaused(paused bool) {
	p.mu.Lock()
	p.paused = paused
	if !paused {
		p.grantLocked()
	}
	p.mu.Unlock()
}

// IsPaused reports whether the pool is paused.
func (p *Pool[S]) IsPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Released reports whether every server of the pool is idle: none lent, none being opened.
func (p *Pool[S]) Released() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total == len(p.idle)
}

// TakeIdle takes every idle server out of the idle list, oldest first, for the caller to close (and
// Drop).
func (p *Pool[S]) TakeIdle() []S {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeIdleLocked()
}

// Close is TakeIdle for good: servers released afterwards get CloseClosed.
func (p *Pool[S]) Close() []S {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	return p.takeIdleLocked()
}

// Sweep takes out of the idle list, oldest first, the servers for which drop returns true, for the
// caller to close (and Drop). drop is called under the pool's lock with the number of servers the pool
// counts less those already taken by this sweep; it must not call the Pool.
func (p *Pool[S]) Sweep(drop func(s S, total int) bool) []S {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []S
	kept := p.idle[:0]
	for _, e := range p.idle {
		if drop(e.s, p.total-len(out)) {
			out = append(out, e.s)
		} else {
			kept = append(kept, e)
		}
	}
	clear(p.idle[len(kept):])
	p.idle = kept
	return out
}

// Stats are a Pool's counts at one moment.
type Stats struct {
	Total   int // servers open or being opened
	Idle    int
	Waiting int
	DB      int // servers counted against the database's Limit
	User    int // servers counted against the user's Limit
}

// Inspect calls each (if not nil) for every idle server, oldest first, under the pool's lock (so the
// servers stay idle meanwhile; each must not call the Pool), and returns the pool's counts.
func (p *Pool[S]) Inspect(each func(s S)) Stats {
	p.mu.Lock()
	st := Stats{Total: p.total, Idle: len(p.idle), Waiting: p.waiters.len()}
	if each != nil {
		for _, e := range p.idle {
			each(e.s)
		}
	}
	p.mu.Unlock()
	st.DB, st.User = p.db.Count(), p.user.Count()
	return st
}

// Limited names what keeps the pool from opening a server now, for error messages.
type Limited uint8

const (
	ByPoolSize Limited = iota // pool_size
	ByDB                      // max_db_connections
	ByUser                    // max_user_connections
)

// LimitedBy tells which limit holds the pool back: pool_size when it is full, else the shared limit
// that is reached, else pool_size.
func (p *Pool[S]) LimitedBy() Limited {
	set := p.set.Load()
	p.mu.Lock()
	total := p.total
	p.mu.Unlock()
	switch {
	case total >= set.Size:
		return ByPoolSize
	case set.MaxDB > 0 && p.db.Count() >= set.MaxDB:
		return ByDB
	case set.MaxUser > 0 && p.user.Count() >= set.MaxUser:
		return ByUser
	}
	return ByPoolSize
}

// openLocked counts one more server if the pool is below pool_size (plus reserve_pool_size when reserve
// is set) and the shared limits allow it.
func (p *Pool[S]) openLocked(reserve bool) bool {
	set := p.set.Load()
	limit := set.Size
	if reserve {
		limit += set.Reserve
	}
	if p.total >= limit || !take(p.db, p.user, set.MaxDB, set.MaxUser) {
		return false
	}
	p.total++
	p.ntotal.Store(int32(p.total))
	return true
}

// grantLocked serves the waiters in order while idle servers or free slots remain, unless paused.
func (p *Pool[S]) grantLocked() {
	if p.paused {
		return
	}
	for p.waiters.len() > 0 {
		var g Grant[S]
		if len(p.idle) > 0 {
			g.Server = p.popIdleLocked()
		} else if p.openLocked(false) {
			g.Connect = true
		} else {
			return
		}
		p.grantToLocked(p.popWaiterLocked(), g)
	}
}

// sharedLimited reports whether the pool is below its pool_size but held back by max_db_connections or
// max_user_connections. It reads the pool's counts without its lock.
func (p *Pool[S]) sharedLimited() bool {
	set := p.set.Load()
	return int(p.ntotal.Load()) < set.Size && !fits(p.db, p.user, set.MaxDB, set.MaxUser)
}

// sharingWaits reports whether another pool of the database or user has clients waiting because of a
// shared limit: a server this pool no longer needs closes then to make room for them. It takes no other
// pool's lock: a client that joins another line meanwhile looks for idle servers here (Evict) after it
// has joined, so either it finds this pool's server or this look finds it waiting.
func (p *Pool[S]) sharingWaits() bool {
	for _, l := range [2]*Limit[S]{p.db, p.user} {
		for _, q := range l.pools() {
			if q != p && q.nwait.Load() > 0 && q.sharedLimited() {
				return true
			}
		}
	}
	return false
}

func (p *Pool[S]) popIdleLocked() S {
	n := len(p.idle)
	s := p.idle[n-1].s
	p.idle[n-1] = idleServer[S]{}
	p.idle = p.idle[:n-1]
	return s
}

func (p *Pool[S]) takeIdleLocked() []S {
	out := make([]S, len(p.idle))
	for i, e := range p.idle {
		out[i] = e.s
	}
	clear(p.idle)
	p.idle = p.idle[:0]
	return out
}

func (p *Pool[S]) popWaiterLocked() *Waiter[S] {
	w := p.waiters.pop()
	p.nwait.Store(int32(p.waiters.len()))
	return w
}

func (p *Pool[S]) removeWaiterLocked(w *Waiter[S]) bool {
	if !p.waiters.remove(w) {
		return false
	}
	p.nwait.Store(int32(p.waiters.len()))
	return true
}
