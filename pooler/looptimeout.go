package pooler

import (
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/loop"
)

// The timeouts of a client served on a loop, as timers on its loop (loop.Timer) with the goroutine
// relay's client-visible results:
//   - client_idle_timeout and idle_transaction_timeout (PgBouncer doc/config.md): a client that owes
//     nothing and is owed nothing (no ReadyForQuery outstanding, no extended-protocol batch open, no
//     message waiting for a server) and sends nothing for that long, out of a transaction or inside one,
//     gets FATAL 57P05 idle_session_timeout or 25P03 idle_in_transaction_session_timeout and is closed;
//     its server goes back as when the client leaves (ROLLBACK, server_reset_query: OnClose).
//   - query_timeout ("Queries running longer than that are canceled"): from the message that makes the
//     server owe a ReadyForQuery, having owed none, until it owes none and no batch is open. Then the
//     server is sent a CancelRequest and closed (abortServer, in a goroutine) and the client gets FATAL
//     57014 query_canceled naming query_timeout and is closed.
//
// The timers are lazy, so that a timeout that is set costs a time.Now per event, not a timer per
// transaction: activity only records the time it happened (idleSince, queryStart), and a timer, armed
// when none is pending, checks on firing whether its deadline has moved and, if so, arms itself for the
// rest. A timeout that is unset costs nothing per transaction: no timer, no time.Now, a config read.
//
// The values are read from the configuration in force at each event and again when a timer fires: a
// RELOAD that turns a timeout off stops it at once (the pending timer finds it off and does nothing); one
// that sets or changes a timeout applies from the client's next message or ReadyForQuery, as on the
// goroutine relay, whose read deadlines are set at the same points.

// loopTimeouts holds a loop client's timers: made at the first use of a timeout that is set (an idle
// client of a pooler without timeouts holds none), the loop's alone.
type loopTimeouts struct {
	idle      *loop.Timer
	idleDue   time.Time // when idle fires; zero when it is not pending
	idleSince time.Time // when the client was last seen idle (idleState): a message, a ReadyForQuery

	query      *loop.Timer
	queryDue   time.Time // when query fires; zero when it is not pending
	queryStart time.Time // when the server began to owe a ReadyForQuery; zero when it owes none
}

// timeouts returns the client's timers, made on first use.
func (lp *loopClient) timeouts() *loopTimeouts {
	if lp.tmo == nil {
		lp.tmo = &loopTimeouts{}
	}
	return lp.tmo
}

// idleTimeout is the idle timeout that applies to a client with transaction status tx: client_idle_timeout
// outside a transaction ('I'), idle_transaction_timeout inside one; 0 when unset.
func idleTimeout(cfg *config.Pooler, tx byte) time.Duration {
	if tx == 'I' {
		return cfg.ClientIdleTimeout.D()
	}
	return cfg.IdleTransactionTimeout.D()
}

// idleTimedOut is the FATAL for a client idle past its idle timeout (transaction status tx): 57P05
// idle_session_timeout for client_idle_timeout, 25P03 idle_in_transaction_session_timeout for
// idle_transaction_timeout (PostgreSQL's SQLSTATEs for its own idle_session_timeout and
// idle_in_transaction_session_timeout).
func idleTimedOut(cfg *config.Pooler, tx byte) *pgwire.Error {
	if tx == 'I' {
		return pgwire.NewFatal(pgerrcode.IdleSessionTimeout, "client_idle_timeout: connection closed after %s idle", cfg.ClientIdleTimeout.D())
	}
	return pgwire.NewFatal(pgerrcode.IdleInTransactionSessionTimeout, "idle_transaction_timeout: connection closed after %s idle in transaction", cfg.IdleTransactionTimeout.D())
}

// queryTimedOut is the FATAL for a query canceled by query_timeout qt: 57014 query_canceled.
func queryTimedOut(qt time.Duration) *pgwire.Error {
	return pgwire.NewFatal(pgerrcode.QueryCanceled, "query_timeout: query ran longer than %s and was canceled", qt)
}

// idleState tells whether the client is idle, as the idle timeouts count it (nothing owed either way,
// no batch open, no message waiting for a server), and its transaction status.
func (lp *loopClient) idleState() (idle bool, tx byte) {
	if lp.ln == nil && (lp.w != nil || lp.lc.Paused()) {
		return false, 0 // a message waits for a server: query_wait_timeout's time, not idle time
	}
	c := lp.c
	c.mu.Lock()
	idle = c.pending == 0 && !c.openBatch
	tx = c.txStatus
	c.mu.Unlock()
	return idle, tx
}

// touchIdle notes that the client was active or became idle now (after its messages, a ReadyForQuery,
// its login): when it is idle and an idle timeout applies, it counts from now. On the loop.
func (lp *loopClient) touchIdle() {
	cfg := &lp.c.s.config().Pooler
	if cfg.ClientIdleTimeout == 0 && cfg.IdleTransactionTimeout == 0 {
		return
	}
	if lp.done || lp.lc == nil || lp.lc.Closed() {
		return
	}
	idle, tx := lp.idleState()
	d := idleTimeout(cfg, tx)
	if !idle || d <= 0 {
		return // a pending timer finds the client busy and stops; the next touch arms it again
	}
	tm := lp.timeouts()
	now := lp.l.Now()
	tm.idleSince = now
	if due := now.Add(d); tm.idleDue.IsZero() || due.Before(tm.idleDue) {
		tm.idleDue = due
		if tm.idle == nil {
			tm.idle = lp.l.AfterFunc(d, lp.idleExpired)
		} else {
			tm.idle.Reset(d)
		}
	}
}

// idleExpired: the idle timer is due. A client idle for its whole timeout since idleSince is closed
// (idleTimedOut); one active since is given the rest; a busy one, or one whose timeout is now off,
// waits for its next touch.
func (lp *loopClient) idleExpired() {
	tm := lp.tmo
	tm.idleDue = time.Time{}
	if lp.done || lp.lc.Closed() {
		return
	}
	cfg := &lp.c.s.config().Pooler
	idle, tx := lp.idleState()
	d := idleTimeout(cfg, tx)
	if !idle || d <= 0 {
		return
	}
	due := tm.idleSince.Add(d)
	if wait := due.Sub(lp.l.Now()); wait > 0 {
		tm.idleDue = due
		tm.idle.Reset(wait)
		return
	}
	lp.fail(idleTimedOut(cfg, tx))
}

// queryStarted notes that the linked server now owes a ReadyForQuery, having owed none
// (accountSentLocked): query_timeout counts from now. On the loop.
func (lp *loopClient) queryStarted() {
	qt := lp.c.s.config().Pooler.QueryTimeout.D()
	if qt <= 0 {
		return
	}
	tm := lp.timeouts()
	now := lp.l.Now()
	tm.queryStart = now
	if due := now.Add(qt); tm.queryDue.IsZero() || due.Before(tm.queryDue) {
		tm.queryDue = due
		if tm.query == nil {
			tm.query = lp.l.AfterFunc(qt, lp.queryExpired)
		} else {
			tm.query.Reset(qt)
		}
	}
}

// readyTimeouts follows a ReadyForQuery from the linked server (readyForQuery, before the link may
// end): when the server owes nothing more and no batch is open, the query is over (query_timeout) and the
// client is idle from now. On the loop.
func (lp *loopClient) readyTimeouts() {
	if tm := lp.tmo; tm != nil && !tm.queryStart.IsZero() {
		if idle, _ := lp.idleState(); idle {
			tm.queryStart = time.Time{}
		}
	}
	lp.touchIdle()
}

// queryExpired: the query timer is due. A query running for query_timeout is canceled: the server is
// unlinked, sent a CancelRequest and closed (abortServer: a goroutine, off the loop), and the client
// gets queryTimedOut and is closed, as relayFailed does on the goroutine relay (only closed when it has
// received part of a message). A query that started later is given the rest of its time.
func (lp *loopClient) queryExpired() {
	tm := lp.tmo
	tm.queryDue = time.Time{}
	ln := lp.ln
	if lp.done || ln == nil || tm.queryStart.IsZero() {
		return
	}
	qt := lp.c.s.config().Pooler.QueryTimeout.D()
	if qt <= 0 {
		return // turned off by a RELOAD since the query started
	}
	due := tm.queryStart.Add(qt)
	if wait := due.Sub(lp.l.Now()); wait > 0 {
		tm.queryDue = due
		tm.query.Reset(wait)
		return
	}
	c := lp.c
	c.mu.Lock()
	busy := c.pending > 0 || c.openBatch
	c.mu.Unlock()
	if !busy {
		return
	}
	tm.queryStart = time.Time{}
	ln.detach()
	c.s.abortServer(ln.sc, "query_timeout")
	if ln.rem > 0 { // the client has part of a message: an ErrorResponse would read as the rest of it
		lp.close(queryTimedOut(qt))
		return
	}
	lp.fail(queryTimedOut(qt))
}

// stopTimeouts stops the client's timers when it is finished, so that they do not keep it until they
// are due. On the loop.
func (lp *loopClient) stopTimeouts() {
	if lp.wt != nil {
		lp.wt.Stop() // query_wait_timeout's, disarmed after each wait (endWait)
	}
	tm := lp.tmo
	if tm == nil {
		return
	}
	if tm.idle != nil {
		tm.idle.Stop()
	}
	if tm.query != nil {
		tm.query.Stop()
	}
}
