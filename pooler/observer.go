package pooler

import "time"

// Observer receives timings as they happen, for histograms that the counters of SHOW STATS cannot give
// (the metrics endpoint's). Set it with Server.SetObserver before serving. Pool is called once per pool,
// when the pool is created; the PoolObserver's methods are called on the hot path, concurrently, and must
// be fast and must not block.
type Observer interface {
	Pool(database, user string) PoolObserver
}

// PoolObserver receives the timings of one (database, user) pool.
type PoolObserver interface {
	Wait(d time.Duration)    // a client waited d for a server (one per server assignment)
	Xact(d time.Duration)    // a transaction took d, first query to ReadyForQuery 'I'
	Query(d time.Duration)   // a query took d, first message to ReadyForQuery
	Connect(d time.Duration) // a server connection and login took d (failed ones too)
}

// SetObserver makes o receive the timings of every pool created from now on; call it before serving.
func (s *Server) SetObserver(o Observer) { s.observer = o }

// noObserver is the PoolObserver of pools when no Observer is set.
type noObserver struct{}

func (noObserver) Wait(time.Duration)    {}
func (noObserver) Xact(time.Duration)    {}
func (noObserver) Query(time.Duration)   {}
func (noObserver) Connect(time.Duration) {}

// poolObserver returns the PoolObserver for a new pool.
func (s *Server) poolObserver(database, user string) PoolObserver {
	if s.observer == nil {
		return noObserver{}
	}
	return s.observer.Pool(database, user)
}
