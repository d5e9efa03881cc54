package pools

import (
	"testing"
	"time"
)

// BenchmarkAcquirePut lends an idle server and takes it back: the pool's part of one transaction.
func BenchmarkAcquirePut(b *testing.B) {
	p := New(Settings{Size: 1}, &Limit[int]{}, &Limit[int]{}, nil)
	p.Open()
	p.Put(1, time.Now())
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r := p.Acquire(true)
		p.Put(r.Server, now)
	}
}

// BenchmarkAcquirePutParallel is BenchmarkAcquirePut from GOMAXPROCS goroutines, on pools of their own
// that share the database and user Limits (no lock of one pool is taken for another's transactions).
func BenchmarkAcquirePutParallel(b *testing.B) {
	db, user := &Limit[int]{}, &Limit[int]{}
	set := Settings{Size: 1, MaxDB: 100, MaxUser: 100}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		p := New(set, db, user, nil)
		p.Open()
		now := time.Now()
		p.Put(1, now)
		for pb.Next() {
			r := p.Acquire(true)
			p.Put(r.Server, now)
		}
	})
}

// BenchmarkWaitHandoff has two goroutines share one server of one pool: most acquires wait in line
// and get the server from the other's Put (a reused waiter, its timer armed).
func BenchmarkWaitHandoff(b *testing.B) {
	p := New(Settings{Size: 1}, &Limit[int]{}, &Limit[int]{}, nil)
	p.Open()
	p.Put(1, time.Now())
	b.ReportAllocs()
	b.SetParallelism(1)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := p.Acquire(true)
			s := r.Server
			if r.Kind == Queued {
				timeout := r.Waiter.Timeout(time.Minute)
				select {
				case g := <-r.Waiter.Granted():
					s = g.Server
				case <-timeout:
					b.Error("no grant within a minute")
					return
				}
				p.Done(r.Waiter)
			}
			p.Put(s, time.Now())
		}
	})
}
