package status

import (
	"sort"
	"strings"
	"time"
)

// SessionFeatureCount is how often a pool's clients used one session-only feature in transaction or
// statement mode (pgpooler's own: SHOW SESSION_FEATURES; the features are package session's).
type SessionFeatureCount struct {
	Feature string // "listen", "advisory_lock", "temp_table", "hold_cursor", "load"
	Seen    uint64 // statements using it sent by the pool's clients
	Refused uint64 // of them, refused by reject_session_features (the rest were passed to the server)
	Clients uint64 // distinct clients that used it
}

// Holder is a client holding a server of its pool (pgpooler's own: SHOW HOLDERS).
type Holder struct {
	ClientInfo
	Hold time.Duration // how long it has held the server (Taken - HeldSince)
}

// Holders returns the clients holding a server, by database and user, then idle in transaction first
// (the clients that keep a server while doing nothing on it), then the longest hold first.
func (s *Snapshot) Holders() []Holder {
	var hs []Holder
	for _, c := range s.Clients {
		if c.Holding != "" {
			hs = append(hs, Holder{ClientInfo: c, Hold: max(0, s.Taken.Sub(c.HeldSince))})
		}
	}
	sort.SliceStable(hs, func(i, j int) bool {
		a, b := &hs[i], &hs[j]
		if a.Database != b.Database || a.User != b.User {
			return a.Database < b.Database || a.Database == b.Database && a.User < b.User
		}
		if ai, bi := IdleInTransaction(a.Holding), IdleInTransaction(b.Holding); ai != bi {
			return ai
		}
		return a.Hold > b.Hold
	})
	return hs
}

// IdleInTransaction reports whether a Holding state is "idle in transaction", aborted or not.
func IdleInTransaction(holding string) bool { return strings.HasPrefix(holding, "idle in transaction") }
