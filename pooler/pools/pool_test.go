package pools

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// srv is a stand-in server: the package does no I/O, so a number tells servers apart.
type srv struct {
	id   int
	pool *Pool[*srv] // the pool it counts in, for Drop
}

func newPool(set Settings, db, user *Limit[*srv]) *Pool[*srv] { return New(set, db, user, nil) }

// open counts a slot and returns a new server for it, failing the test if there is no slot.
func open(t *testing.T, p *Pool[*srv], id int) *srv {
	t.Helper()
	if !p.Open() {
		t.Fatalf("no slot for server %d", id)
	}
	return &srv{id: id, pool: p}
}

func TestIdleLastInFirstOut(t *testing.T) {
	p := newPool(Settings{Size: 3}, &Limit[*srv]{}, &Limit[*srv]{})
	a, b := open(t, p, 1), open(t, p, 2)
	now := time.Now()
	p.Put(a, now)
	p.Put(b, now)
	if r := p.Acquire(true); r.Kind != Idle || r.Server != b {
		t.Fatalf("first acquire: %+v, want the last released (2)", r)
	}
	if r := p.Acquire(true); r.Kind != Idle || r.Server != a {
		t.Fatalf("second acquire: %+v, want 1", r)
	}
	if r := p.Acquire(true); r.Kind != Connect {
		t.Fatalf("third acquire: %+v, want a slot for a new server", r)
	}
	if r := p.Acquire(false); r.Kind != Busy {
		t.Fatalf("acquire of a full pool without queueing: %+v, want Busy", r)
	}
}

func TestReleasedServerGoesToOldestWaiter(t *testing.T) {
	p := newPool(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	s := open(t, p, 1)
	w1, w2 := p.Acquire(true), p.Acquire(true)
	if w1.Kind != Queued || w2.Kind != Queued {
		t.Fatalf("acquires of a full pool: %v %v, want both queued", w1.Kind, w2.Kind)
	}
	if got := p.Put(s, time.Now()); got != Handed {
		t.Fatalf("Put with waiters: %v, want Handed", got)
	}
	select {
	case g := <-w1.Waiter.Granted():
		if g.Server != s {
			t.Fatalf("oldest waiter got %+v, want server 1", g)
		}
	default:
		t.Fatal("the oldest waiter got nothing")
	}
	select {
	case g := <-w2.Waiter.Granted():
		t.Fatalf("the second waiter got %+v before the first was served", g)
	default:
	}
	if st := p.Inspect(nil); st.Idle != 0 || st.Waiting != 1 || st.Total != 1 {
		t.Fatalf("stats %+v, want 0 idle, 1 waiting, 1 total", st)
	}
	// A newcomer does not overtake the waiter: the next release is the waiter's too.
	if r := p.Acquire(false); r.Kind != Busy {
		t.Fatalf("acquire while a client waits: %v, want Busy", r.Kind)
	}
	p.Put(s, time.Now())
	if g := <-w2.Waiter.Granted(); g.Server != s {
		t.Fatalf("second waiter got %+v", g)
	}
	p.Done(w1.Waiter)
	p.Done(w2.Waiter)
}

func TestDropGrantsSlot(t *testing.T) {
	p := newPool(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	open(t, p, 1)
	w := p.Acquire(true)
	p.Drop()
	if g := <-w.Waiter.Granted(); !g.Connect {
		t.Fatalf("waiter got %+v after a drop, want a slot", g)
	}
	if st := p.Inspect(nil); st.Total != 1 || st.DB != 1 || st.User != 1 {
		t.Fatalf("stats %+v, want the slot counted once in the pool and its limits", st)
	}
}

func TestSharedLimitHandsSlotToOtherPool(t *testing.T) {
	db := &Limit[*srv]{}
	a := newPool(Settings{Size: 5, MaxDB: 1}, db, &Limit[*srv]{})
	b := newPool(Settings{Size: 5, MaxDB: 1}, db, &Limit[*srv]{})
	open(t, a, 1)
	r := b.Acquire(true)
	if r.Kind != Queued {
		t.Fatalf("acquire in the second pool of a database at max_db_connections: %v, want Queued", r.Kind)
	}
	if got := b.LimitedBy(); got != ByDB {
		t.Fatalf("LimitedBy %v, want ByDB", got)
	}
	if _, ok := b.Evict(); ok {
		t.Fatal("Evict found a server though the other pool's one is lent")
	}
	a.Drop()
	if g := <-r.Waiter.Granted(); !g.Connect {
		t.Fatalf("waiter of the other pool got %+v, want the freed slot", g)
	}
	if db.Count() != 1 {
		t.Fatalf("database count %d, want 1", db.Count())
	}
}

func TestEvictAndCloseShared(t *testing.T) {
	user := &Limit[*srv]{}
	a := newPool(Settings{Size: 5, MaxUser: 2}, &Limit[*srv]{}, user)
	b := newPool(Settings{Size: 5, MaxUser: 2}, &Limit[*srv]{}, user)
	old, lent := open(t, a, 1), open(t, a, 2)
	a.Put(old, time.Now().Add(-time.Minute))
	r := b.Acquire(true)
	if r.Kind != Queued {
		t.Fatalf("acquire at max_user_connections: %v, want Queued", r.Kind)
	}
	v, ok := b.Evict()
	if !ok || v != old {
		t.Fatalf("Evict: %v %v, want the other pool's idle server 1", v, ok)
	}
	// The other pool's lent server, released while b waits on the shared limit, is to be closed.
	if got := a.Put(lent, time.Now()); got != CloseShared {
		t.Fatalf("Put while another pool waits for the shared limit: %v, want CloseShared", got)
	}
	a.Drop() // the evicted one closes
	if g := <-r.Waiter.Granted(); !g.Connect {
		t.Fatalf("waiter got %+v, want a slot", g)
	}
	b.Done(r.Waiter)
}

func TestPaused(t *testing.T) {
	var drained atomic.Int32
	p := New(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{}, func() { drained.Add(1) })
	s := open(t, p, 1)
	w := p.Acquire(true)
	p.SetPaused(true)
	if r := p.Acquire(true); r.Kind != Paused {
		t.Fatalf("acquire while paused: %v, want Paused", r.Kind)
	}
	if got := p.Put(s, time.Now()); got != Kept {
		t.Fatalf("Put while paused: %v, want Kept (waiters wait for the resume)", got)
	}
	if !p.Released() || drained.Load() != 1 {
		t.Fatalf("released %v, onPaused called %d times; want true, 1", p.Released(), drained.Load())
	}
	p.SetPaused(false)
	if g := <-w.Waiter.Granted(); g.Server != s {
		t.Fatalf("waiter after resume got %+v", g)
	}
}

func TestReserveAndAbandon(t *testing.T) {
	p := newPool(Settings{Size: 1, Reserve: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	s := open(t, p, 1)
	w1, w2 := p.Acquire(true), p.Acquire(true)
	if !p.Reserve(w1.Waiter) {
		t.Fatal("Reserve below pool_size + reserve_pool_size: false")
	}
	if p.Reserve(w2.Waiter) {
		t.Fatal("Reserve with the reserve used up: true")
	}
	if st := p.Inspect(nil); st.Waiting != 1 || st.Total != 2 {
		t.Fatalf("stats %+v, want 1 waiting (kept in line), 2 total", st)
	}
	if got := p.Put(s, time.Now()); got != Handed {
		t.Fatalf("Put: %v, want Handed", got)
	}
	if g, ok := p.Abandon(w2.Waiter); !ok || g.Server != s {
		t.Fatalf("Abandon after the grant: %+v %v, want the grant", g, ok)
	}
	if got := p.Put(s, time.Now()); got != Kept {
		t.Fatalf("Put at pool_size + reserve with nobody waiting: %v, want Kept", got)
	}
	w3 := p.Acquire(true) // idle server 1 is there: no queueing
	if w3.Kind != Idle {
		t.Fatalf("acquire: %v, want Idle", w3.Kind)
	}
	if got := p.Put(s, time.Now()); got != Kept {
		t.Fatalf("Put: %v", got)
	}
	excess := p.SetSettings(Settings{Size: 1})
	if len(excess) != 1 || excess[0] != s {
		t.Fatalf("SetSettings to a smaller pool: excess %v, want server 1", excess)
	}
}

func TestSweepAndClose(t *testing.T) {
	p := newPool(Settings{Size: 3}, &Limit[*srv]{}, &Limit[*srv]{})
	for i := 1; i <= 3; i++ {
		p.Put(open(t, p, i), time.Now())
	}
	var totals []int
	out := p.Sweep(func(s *srv, total int) bool { totals = append(totals, total); return s.id != 2 })
	if len(out) != 2 || out[0].id != 1 || out[1].id != 3 || totals[0] != 3 || totals[2] != 2 {
		t.Fatalf("Sweep: %v, totals %v", out, totals)
	}
	if idle := p.Close(); len(idle) != 1 || idle[0].id != 2 {
		t.Fatalf("Close: %v, want server 2", idle)
	}
	if got := p.Put(&srv{id: 2}, time.Now()); got != CloseClosed {
		t.Fatalf("Put after Close: %v, want CloseClosed", got)
	}
}

// TestConcurrentLimits lends and returns servers of four pools sharing database and user limits from
// many goroutines (some closing their server instead), and checks that no limit is ever exceeded and
// that no waiter is left behind.
func TestConcurrentLimits(t *testing.T) {
	dbA, dbB, u1, u2 := &Limit[*srv]{}, &Limit[*srv]{}, &Limit[*srv]{}, &Limit[*srv]{}
	set := Settings{Size: 3, MaxDB: 4, MaxUser: 4}
	ps := []*Pool[*srv]{newPool(set, dbA, u1), newPool(set, dbA, u2), newPool(set, dbB, u1), newPool(set, dbB, u2)}
	var over atomic.Int32
	check := func() {
		for _, l := range []*Limit[*srv]{dbA, dbB, u1, u2} {
			if l.Count() > 4 {
				over.Add(1)
			}
		}
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			p := ps[g%len(ps)]
			for i := range 300 {
				r := p.Acquire(true)
				var s *srv
				switch r.Kind {
				case Idle:
					s = r.Server
				case Connect:
					s = &srv{pool: p}
				case Queued:
					if v, ok := p.Evict(); ok {
						v.pool.Drop() // closed
					}
					gr := <-r.Waiter.Granted()
					p.Done(r.Waiter)
					s = gr.Server
					if gr.Connect {
						s = &srv{pool: p}
					}
				}
				if s.pool != p {
					t.Errorf("pool %d lent a server of another pool", g%len(ps))
				}
				check()
				if i%7 == 0 {
					p.Drop()
					continue
				}
				if got := p.Put(s, time.Now()); got != Kept && got != Handed {
					p.Drop()
				}
			}
		})
	}
	wg.Wait()
	if over.Load() > 0 {
		t.Fatalf("a shared limit was exceeded %d times", over.Load())
	}
	for i, p := range ps {
		if st := p.Inspect(nil); st.Waiting != 0 || st.Total != st.Idle || st.Total > set.Size {
			t.Fatalf("pool %d after the run: %+v", i, st)
		}
	}
}

// TestAcquireIdleMatch: AcquireIdle takes the newest idle server that matches, leaves the others idle,
// and takes nothing while a client waits.
func TestAcquireIdleMatch(t *testing.T) {
	p := newPool(Settings{Size: 3}, &Limit[*srv]{}, &Limit[*srv]{})
	a, b, c := open(t, p, 1), open(t, p, 2), open(t, p, 3)
	now := time.Now()
	p.Put(a, now)
	p.Put(b, now)
	p.Put(c, now)
	odd := func(s *srv) bool { return s.id%2 == 1 }
	if s, ok := p.AcquireIdle(odd); !ok || s != c {
		t.Fatalf("first: %v %v, want server 3 (newest odd)", s, ok)
	}
	if s, ok := p.AcquireIdle(odd); !ok || s != a {
		t.Fatalf("second: %v %v, want server 1", s, ok)
	}
	if s, ok := p.AcquireIdle(odd); ok {
		t.Fatalf("third: got %v, want none", s)
	}
	if st := p.Inspect(nil); st.Idle != 1 {
		t.Fatalf("idle %d, want 1 (server 2 left)", st.Idle)
	}
	if r := p.Acquire(true); r.Kind != Idle || r.Server != b {
		t.Fatalf("acquire: %+v, want server 2", r)
	}
	r := p.Acquire(true) // pool full: queued
	if r.Kind != Queued {
		t.Fatalf("acquire on a full pool: %+v, want Queued", r)
	}
	p.Put(a, now) // handed to the waiter
	if g := <-r.Waiter.Granted(); g.Server != a {
		t.Fatalf("grant %+v", g)
	}
	r2 := p.Acquire(true)
	p.Put(c, now)
	<-r2.Waiter.Granted()
	r3 := p.Acquire(true) // waits
	if s, ok := p.AcquireIdle(func(*srv) bool { return true }); ok {
		t.Fatalf("AcquireIdle with a waiter in line took %v", s)
	}
	p.Done(r.Waiter)
	p.Done(r2.Waiter)
	_, _ = p.Abandon(r3.Waiter)
	p.Done(r3.Waiter)
}

// TestWaitAllocatesNothing: a wait in line (queued, granted by a Put, Done) reuses the pool's own
// waiters (Pool.spare), so it allocates nothing once one exists.
func TestWaitAllocatesNothing(t *testing.T) {
	p := newPool(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	s := open(t, p, 1)
	wait := func() {
		r := p.Acquire(true)
		if r.Kind != Queued {
			t.Fatalf("acquire of the pool's only server, lent: %v, want Queued", r.Kind)
		}
		if got := p.Put(s, time.Time{}); got != Handed {
			t.Fatalf("Put with a waiter: %v, want Handed", got)
		}
		g := <-r.Waiter.Granted()
		p.Done(r.Waiter)
		s = g.Server
	}
	wait()
	if n := testing.AllocsPerRun(1000, wait); n > 0 {
		t.Fatalf("a wait in line allocates %.2f objects, want none", n)
	}
}
