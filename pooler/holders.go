package pooler

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pgpooler/pgpooler/pooler/status"
)

// The leak report, second half (pgpooler's own; issue 12): when a pool has clients waiting for a server,
// which clients hold its servers and for how long, idle in transaction first (the application that
// opened a transaction and does nothing with it is the usual reason a pool runs dry). The janitor logs it
// at most once per holdersLogEvery per pool; SHOW HOLDERS (package admin) and
// pgpooler_pools_longest_hold_seconds show the same from a Snapshot (status.Snapshot.Holders). Nothing
// here shows query text.

const (
	holdersLogEvery = 10 * time.Second // at most one holders line per pool per interval
	holdersLogged   = 10               // holders named in one line; the rest are counted
)

// holdingLocked returns what c does with its linked server (ClientInfo.Holding) and since when it has
// held it (its transaction's start, else its connection's, in session mode between transactions);
// c.mu is held and c.sc is not nil.
func (c *clientConn) holdingLocked() (string, time.Time) {
	since := c.xactStart
	if since.IsZero() {
		since = time.Unix(0, c.connectTime)
	}
	switch {
	case c.pending > 0 || c.openBatch || c.copyIn:
		return "active", since
	case c.txStatus == 'T':
		return "idle in transaction", since
	case c.txStatus == 'E':
		return "idle in transaction (aborted)", since
	}
	return "idle", since
}

// logHolders is the janitor's round of the holders report: for each pool with clients waiting in line
// for a server and no holders line within holdersLogEvery, one line naming the clients that hold its
// servers. A pool without waiters costs a look at its waiter count; the Snapshot is taken only when a
// line is due.
func (s *Server) logHolders(now time.Time) {
	var due []*pool
	s.mu.Lock()
	for _, p := range s.pools {
		if p.q.Inspect(nil).Waiting > 0 && now.UnixNano()-p.holdersLogged >= int64(holdersLogEvery) {
			p.holdersLogged = now.UnixNano() // the janitor's alone
			due = append(due, p)
		}
	}
	s.mu.Unlock()
	if len(due) == 0 {
		return
	}
	snap := s.Snapshot()
	holders := snap.Holders()
	for _, p := range due {
		waiting := 0
		for i := range snap.Pools {
			if pi := &snap.Pools[i]; pi.Database == p.key.database && pi.User == p.key.user {
				waiting = pi.ClWaiting
			}
		}
		var b strings.Builder
		n, idleInTx := 0, 0
		for i := range holders {
			h := &holders[i]
			if h.Database != p.key.database || h.User != p.key.user {
				continue
			}
			if status.IdleInTransaction(h.Holding) {
				idleInTx++
			}
			if n++; n > holdersLogged {
				continue
			}
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			fmt.Fprintf(&b, "client %d application_name=%q addr=%s state=%q hold=%s", h.ID, h.ApplicationName,
				holderAddr(h.Addr, h.Port), h.Holding, h.Hold.Round(time.Millisecond))
		}
		if n > holdersLogged {
			fmt.Fprintf(&b, "; and %d more", n-holdersLogged)
		}
		s.leaks.holdersLog.log(s.logger, slog.LevelWarn, "pool has clients waiting for a server; its servers are held by",
			"database", p.key.database, "user", p.key.user, "cl_waiting", waiting, "holders", n,
			"idle_in_transaction", idleInTx, "list", b.String())
	}
}

// holderAddr is a client's address as the holders line shows it: host:port, or "unix".
func holderAddr(addr string, port int) string {
	if port == 0 {
		return addr
	}
	return fmt.Sprintf("%s:%d", addr, port)
}
