package status

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

// CancelCounters are the CancelRequests the pooler got since it started (PostgreSQL protocol docs,
// "Canceling Requests in Progress"). Received counts every one; of those, Forwarded reached the server of
// the client whose key it carried, UnknownKey matched no client (forged, or the client had left), and
// Failed could not be delivered within the bound (cancel_wait_timeout); the rest found their client with
// nothing running and were dropped, as PostgreSQL drops them.
type CancelCounters struct {
	Received, Forwarded, UnknownKey, Failed int64
}
