package pooler

import (
	"sync"
	"sync/atomic"
	"time"
)

// averagesOf computes the Averages of the interval between two Counters snapshots d apart.
func averagesOf(prev, cur Counters, d time.Duration) Averages {
	secs := d.Seconds()
	if secs <= 0 {
		return Averages{}
	}
	rate := func(a, b int64) int64 { return int64(float64(b-a) / secs) }
	mean := func(total, count int64) int64 {
		if count <= 0 {
			return 0
		}
		return total / count
	}
	return Averages{
		ServerAssignments: rate(prev.ServerAssignments, cur.ServerAssignments),
		Xacts:             rate(prev.Xacts, cur.Xacts),
		Queries:           rate(prev.Queries, cur.Queries),
		Received:          rate(prev.Received, cur.Received),
		Sent:              rate(prev.Sent, cur.Sent),
		XactTime:          mean(cur.XactTime-prev.XactTime, cur.Xacts-prev.Xacts),
		QueryTime:         mean(cur.QueryTime-prev.QueryTime, cur.Queries-prev.Queries),
		WaitTime:          mean(cur.WaitTime-prev.WaitTime, cur.ServerAssignments-prev.ServerAssignments),
		ClientParses:      rate(prev.ClientParses, cur.ClientParses),
		ServerParses:      rate(prev.ServerParses, cur.ServerParses),
		Binds:             rate(prev.Binds, cur.Binds),
	}
}

// poolCounters are a pool's Counters, updated atomically by its clients' goroutines.
type poolCounters struct {
	serverAssignments, xacts, queries, received, sent atomic.Int64
	xactTime, queryTime, waitTime                     atomic.Int64
	clientParses, serverParses, binds, logins         atomic.Int64
}

func (pc *poolCounters) load() Counters {
	return Counters{
		ServerAssignments: pc.serverAssignments.Load(),
		Xacts:             pc.xacts.Load(),
		Queries:           pc.queries.Load(),
		Received:          pc.received.Load(),
		Sent:              pc.sent.Load(),
		XactTime:          pc.xactTime.Load(),
		QueryTime:         pc.queryTime.Load(),
		WaitTime:          pc.waitTime.Load(),
		ClientParses:      pc.clientParses.Load(),
		ServerParses:      pc.serverParses.Load(),
		Binds:             pc.binds.Load(),
		Logins:            pc.logins.Load(),
	}
}

// countClientMessage counts one message of type typ and length n (as on the wire, without the type
// byte) received from a client.
func (pc *poolCounters) countClientMessage(typ byte, n int) {
	pc.received.Add(int64(n) + 1)
	switch typ {
	case 'P':
		pc.clientParses.Add(1)
		pc.serverParses.Add(1)
	case 'B':
		pc.binds.Add(1)
	}
}

// averagesStore holds the per-database Averages of the last complete stats_period.
type averagesStore struct {
	mu   sync.Mutex
	last map[string]Averages
}

func (a *averagesStore) get() map[string]Averages {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func (a *averagesStore) set(m map[string]Averages) {
	a.mu.Lock()
	a.last = m
	a.mu.Unlock()
}

// databaseCounters sums the counters of every pool per database.
func (s *Server) databaseCounters() map[string]Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := map[string]Counters{}
	for _, p := range s.pools {
		m[p.key.database] = m[p.key.database].Add(p.stats.load())
	}
	return m
}

// runStats recomputes the averages every stats_period (PgBouncer doc/config.md, stats_period) until
// Shutdown. A changed stats_period takes effect after the current period.
func (s *Server) runStats() {
	prev, prevAt := s.databaseCounters(), time.Now()
	for {
		t := time.NewTimer(s.config().Pooler.StatsPeriod.D())
		select {
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
		cur, now := s.databaseCounters(), time.Now()
		avg := make(map[string]Averages, len(cur))
		for db, c := range cur {
			avg[db] = averagesOf(prev[db], c, now.Sub(prevAt))
		}
		s.averages.set(avg)
		prev, prevAt = cur, now
	}
}
