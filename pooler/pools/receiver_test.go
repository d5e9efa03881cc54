package pools

import (
	"testing"
	"time"
)

// recv is a Receiver that records what it is told.
type recv struct {
	wakes int
	taken []Grant[*srv]
}

func (r *recv) Wake()              { r.wakes++ }
func (r *recv) Take(g Grant[*srv]) { r.taken = append(r.taken, g) }

// A server released on a loop goes to that loop's waiter, given with Take, though an older waiter of
// another loop is in line; once the oldest has been overtaken MaxOvertakes times it is served first,
// told by Wake with its grant in its channel.
func TestPutOnPrefersSameLoopBounded(t *testing.T) {
	p := newPool(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	s := open(t, p, 1)
	loopA, loopB := new(int), new(int)
	var ra, rb recv
	wb := p.AcquireOn(loopB, &rb) // the oldest, of loop B
	if wb.Kind != Queued {
		t.Fatalf("AcquireOn of a full pool: %v, want Queued", wb.Kind)
	}
	now := time.Now()
	for i := range MaxOvertakes {
		wa := p.AcquireOn(loopA, &ra)
		if wa.Kind != Queued {
			t.Fatalf("AcquireOn %d: %v, want Queued", i, wa.Kind)
		}
		if got := p.PutOn(s, now, loopA); got != Handed {
			t.Fatalf("PutOn %d: %v, want Handed", i, got)
		}
		if len(ra.taken) != i+1 || ra.taken[i].Server != s || rb.wakes != 0 {
			t.Fatalf("release %d on loop A: A took %d, B woken %d times; want A to take it", i, len(ra.taken), rb.wakes)
		}
		p.Done(wa.Waiter)
	}
	wa := p.AcquireOn(loopA, &ra)
	if got := p.PutOn(s, now, loopA); got != Handed {
		t.Fatalf("PutOn: %v, want Handed", got)
	}
	if len(ra.taken) != MaxOvertakes || rb.wakes != 1 {
		t.Fatalf("after %d overtakes: A took %d, B woken %d times; want B served", MaxOvertakes, len(ra.taken), rb.wakes)
	}
	if g, ok := wb.Waiter.Take(); !ok || g.Server != s {
		t.Fatalf("B's grant: %+v %v, want server 1", g, ok)
	}
	// A goroutine waiter (no tag) and a release on no loop: plain FIFO, the loop waiter woken.
	if got := p.Put(s, now); got != Handed || ra.wakes != 1 {
		t.Fatalf("Put: %v, A woken %d times; want A's waiter served by Wake", got, ra.wakes)
	}
	if _, ok := wa.Waiter.Take(); !ok {
		t.Fatal("A's grant is not in its channel")
	}
	if _, ok := wa.Waiter.Take(); ok {
		t.Fatal("a second grant in A's channel")
	}
}

// A loop waiter that leaves the line gets nothing; one granted before it left gets its grant back.
func TestReceiverAbandon(t *testing.T) {
	p := newPool(Settings{Size: 1}, &Limit[*srv]{}, &Limit[*srv]{})
	s := open(t, p, 1)
	var r recv
	w := p.AcquireOn(new(int), &r)
	if _, ok := p.Abandon(w.Waiter); ok {
		t.Fatal("Abandon before any grant returned one")
	}
	p.Done(w.Waiter)
	if got := p.Put(s, time.Now()); got != Kept || r.wakes != 0 {
		t.Fatalf("Put after the waiter left: %v, woken %d; want Kept, not woken", got, r.wakes)
	}
	if r := p.Acquire(true); r.Kind != Idle {
		t.Fatalf("acquire: %v, want Idle", r.Kind)
	}
	w = p.AcquireOn(new(int), &r)
	p.Drop() // the slot goes to the waiter
	if g, ok := p.Abandon(w.Waiter); !ok || !g.Connect || r.wakes != 1 {
		t.Fatalf("Abandon after a slot was granted: %+v %v, woken %d; want the slot", g, ok, r.wakes)
	}
}
