package pooler

import (
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pgpooler/pgpooler/pooler/session"
)

// The leak report, first half (pgpooler's own; issue 12): the session-only features (package session's
// FindFeature: LISTEN, session advisory locks, temporary tables that outlive the transaction, WITH HOLD
// cursors, LOAD; and SQL-level PREPAREs the pooler could not carry, session.FeatureUncarriedPrepare)
// that clients use in transaction and statement mode, where what they leave in the session stays behind
// on a server other clients get. Each use is counted per pool (SHOW
// SESSION_FEATURES, pgpooler_session_features_total) and per client (SHOW HOLDERS session_features), as
// refused (reject_session_features) or passed to the server, and the first use per client and feature is
// logged, rate-limited, with the client's application_name, user, database and address: never the query
// text. The texts looked at are those the relays already scan for SET (forwardScanned, sendPrepared,
// loopreject.go); MayUseFeature's quick test, which allocates nothing, keeps the rest of the cost to the
// statements that mention a feature's keyword.

// poolFeatures counts the session-only features of one pool's clients, indexed by session.Feature.
type poolFeatures struct {
	seen    [session.NumFeatures]atomic.Uint64 // statements using it
	refused [session.NumFeatures]atomic.Uint64 // of them, refused by reject_session_features
	clients [session.NumFeatures]atomic.Uint64 // distinct clients that used it
}

// load returns the counts of the features seen at least once, in the features' order; nil when none.
func (pf *poolFeatures) load() []SessionFeatureCount {
	var out []SessionFeatureCount
	for f := 1; f < session.NumFeatures; f++ {
		if seen := pf.seen[f].Load(); seen > 0 {
			out = append(out, SessionFeatureCount{
				Feature: session.Feature(f).String(), Seen: seen,
				Refused: pf.refused[f].Load(), Clients: pf.clients[f].Load(),
			})
		}
	}
	return out
}

// clientFeatures is one client's count per feature.
type clientFeatures [session.NumFeatures]uint32

// leakReport is the Server's part of the leak report: the per-client counts, kept only for clients that
// used a feature (an idle client holds nothing here: its clientConn.features bits, in padding, say
// whether it has an entry), and the rate limits of the report's log lines.
type leakReport struct {
	mu      sync.Mutex
	clients map[*clientConn]*clientFeatures // allocated on the first feature seen; bounded by max_client_conn

	featureLog logLimiter // first use of a feature by a client
	holdersLog logLimiter // holders of a pool with waiting clients (holders.go)
}

// count adds one use of f to c's counts.
func (lr *leakReport) count(c *clientConn, f session.Feature) {
	lr.mu.Lock()
	if lr.clients == nil {
		lr.clients = map[*clientConn]*clientFeatures{}
	}
	cf := lr.clients[c]
	if cf == nil {
		cf = new(clientFeatures)
		lr.clients[c] = cf
	}
	cf[f]++
	lr.mu.Unlock()
}

// describeLocked returns c's counts as "listen=2,temp_table=1"; c.mu is held.
func (lr *leakReport) describeLocked(c *clientConn) string {
	if c.features == 0 {
		return ""
	}
	lr.mu.Lock()
	defer lr.mu.Unlock()
	cf := lr.clients[c]
	if cf == nil {
		return ""
	}
	var b strings.Builder
	for f := 1; f < session.NumFeatures; f++ {
		if cf[f] > 0 {
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(session.Feature(f).String() + "=" + strconv.FormatUint(uint64(cf[f]), 10))
		}
	}
	return b.String()
}

// forget drops the counts of c, which has ended (finish).
func (lr *leakReport) forget(c *clientConn) {
	c.mu.Lock()
	used := c.features != 0
	if used {
		lr.mu.Lock()
		delete(lr.clients, c)
		lr.mu.Unlock()
	}
	c.mu.Unlock()
}

// forgetAfterPanic is forget for a client whose goroutine panicked (abandon), without c.mu, which the
// panic may have left locked.
func (lr *leakReport) forgetAfterPanic(c *clientConn) {
	if lockAfterPanic(&lr.mu) {
		delete(lr.clients, c)
		lr.mu.Unlock()
	}
}

// sessionFeature looks at a Query's or Parse's text that the client sends in transaction or statement
// mode for a session-only feature: one it finds is counted (noteFeature), and returned when
// reject_session_features refuses it (the caller sends the sentinel in its place); else FeatureNone.
// The caller holds no lock.
func (c *clientConn) sessionFeature(text []byte) session.Feature {
	if c.mode == modeSession || c.pool == nil || !session.MayUseFeature(text) {
		return session.FeatureNone
	}
	f := session.FindFeature(string(text))
	if f == session.FeatureNone {
		return f
	}
	refuse := c.s.config().Pooler.RejectSessionFeatures
	c.noteFeature(f, refuse)
	if !refuse {
		return session.FeatureNone
	}
	return f
}

// noteFeature counts one use of f by c, refused or passed, and logs the client's first use of it.
func (c *clientConn) noteFeature(f session.Feature, refused bool) {
	pf := &c.pool.features
	pf.seen[f].Add(1)
	if refused {
		pf.refused[f].Add(1)
	}
	bit := uint8(1) << f
	c.mu.Lock()
	first := c.features&bit == 0
	c.features |= bit
	c.s.leaks.count(c, f) // under c.mu: forget cannot run in between
	app := c.params["application_name"]
	c.mu.Unlock()
	if !first {
		return
	}
	pf.clients[f].Add(1)
	action := "passed"
	if refused {
		action = "refused"
	}
	c.s.leaks.featureLog.log(c.s.logger, slog.LevelWarn,
		"session feature used in "+c.mode+" pooling mode: its effect outlives the transaction",
		"feature", f.String(), "action", action, "client", c.id, "database", c.database, "user", c.user,
		"application_name", app, "addr", c.remote)
}

// uncarriedPrepares counts the names of SQL-level prepared statements that are on the server (server)
// but that the client does not carry to its next one (client): each was PREPAREd in one query string
// with other statements (session.ApplyPrepared).
func uncarriedPrepares(names []string, server, client map[string]string) int {
	n := 0
	for _, name := range names {
		if _, on := server[name]; on {
			if _, carried := client[name]; !carried {
				n++
			}
		}
	}
	return n
}

// noteUncarried counts n prepared statements the client left behind on its server (the feature
// session.FeatureUncarriedPrepare, passed: reject_session_features does not refuse it). The caller
// holds no lock.
func (c *clientConn) noteUncarried(n int) {
	if c.mode == modeSession || c.pool == nil {
		return
	}
	for range n {
		c.noteFeature(session.FeatureUncarriedPrepare, false)
	}
}
