package pools

import (
	"sync"
	"sync/atomic"
)

// Limit counts the servers open (or being opened) in every pool of one database (max_db_connections)
// or of one user (max_user_connections), and knows those pools, so that a slot freed in one of them can
// go to a client waiting in another (PgBouncer doc/config.md, max_db_connections, max_user_connections).
// The zero value is ready to use. Its lock comes after every Pool's lock.
type Limit[S any] struct {
	mu      sync.Mutex
	n       int                        // servers counted against it
	members atomic.Pointer[[]*Pool[S]] // the pools sharing it, replaced (copied) when one joins; read without mu
}

// Count returns how many servers are counted against l.
func (l *Limit[S]) Count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

func (l *Limit[S]) join(p *Pool[S]) {
	l.mu.Lock()
	var ms []*Pool[S]
	if old := l.members.Load(); old != nil {
		ms = append(ms, *old...)
	}
	ms = append(ms, p)
	l.members.Store(&ms)
	l.mu.Unlock()
}

// pools returns the pools sharing l, without a lock; the caller must not change the slice.
func (l *Limit[S]) pools() []*Pool[S] {
	if ms := l.members.Load(); ms != nil {
		return *ms
	}
	return nil
}

// belowLocked reports whether one more server fits under max (0: no limit); callers hold l.mu.
func (l *Limit[S]) belowLocked(max int) bool { return max <= 0 || l.n < max }

// take counts one more server against db and user if both have room for it under their maximums
// (0: no limit), atomically for the two: db's lock is taken before user's. db and user are distinct.
func take[S any](db, user *Limit[S], maxDB, maxUser int) bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	user.mu.Lock()
	defer user.mu.Unlock()
	if !db.belowLocked(maxDB) || !user.belowLocked(maxUser) {
		return false
	}
	db.n++
	user.n++
	return true
}

// fits is take without taking: whether one more server would fit now.
func fits[S any](db, user *Limit[S], maxDB, maxUser int) bool {
	db.mu.Lock()
	okDB := db.belowLocked(maxDB)
	db.mu.Unlock()
	user.mu.Lock()
	okUser := user.belowLocked(maxUser)
	user.mu.Unlock()
	return okDB && okUser
}

func give[S any](db, user *Limit[S]) {
	db.mu.Lock()
	db.n--
	db.mu.Unlock()
	user.mu.Lock()
	user.n--
	user.mu.Unlock()
}
