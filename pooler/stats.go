package pooler

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counters are the cumulative statistics of a pool, or of a database when summed over its pools, as
// PgBouncer's SHOW STATS reports them (its doc/usage.md, "SHOW STATS"): counts, bytes and microseconds.
type Counters struct {
	ServerAssignments int64 // times a server was lent to a client of the pool
	Xacts             int64 // transactions: a ReadyForQuery 'I' ending work on a server
	Queries           int64 // queries: every ReadyForQuery the pool's servers sent to clients
	Received          int64 // bytes received from clients
	Sent              int64 // bytes sent to clients by servers
	XactTime          int64 // microseconds spent in transactions (first query to ReadyForQuery 'I')
	QueryTime         int64 // microseconds spent in queries (message sent to ReadyForQuery)
	WaitTime          int64 // microseconds clients waited for a server
	ClientParses      int64 // Parse messages from clients
	ServerParses      int64 // Parse messages sent to servers (all of the clients' ones in this version)
	Binds             int64 // Bind messages from clients
	Logins            int64 // client logins into the pool
}

// Add returns c + o, field by field.
func (c Counters) Add(o Counters) Counters {
	return Counters{
		ServerAssignments: c.ServerAssignments + o.ServerAssignments,
		Xacts:             c.Xacts + o.Xacts,
		Queries:           c.Queries + o.Queries,
		Received:          c.Received + o.Received,
		Sent:              c.Sent + o.Sent,
		XactTime:          c.XactTime + o.XactTime,
		QueryTime:         c.QueryTime + o.QueryTime,
		WaitTime:          c.WaitTime + o.WaitTime,
		ClientParses:      c.ClientParses + o.ClientParses,
		ServerParses:      c.ServerParses + o.ServerParses,
		Binds:             c.Binds + o.Binds,
		Logins:            c.Logins + o.Logins,
	}
}

// Averages are the rates and mean times of one stats_period, as PgBouncer's avg_* columns: the counts
// and bytes per second, and the times as mean microseconds per transaction, per query and per server
// assignment (for WaitTime).
type Averages struct {
	ServerAssignments, Xacts, Queries, Received, Sent int64 // per second
	XactTime, QueryTime, WaitTime                     int64 // microseconds, mean
	ClientParses, ServerParses, Binds                 int64 // per second
}

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
