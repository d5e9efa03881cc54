package pooler

import (
	"errors"
	"maps"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/prepare"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// syncSessionState records what a transaction's SET, RESET, RESET ALL and DISCARD ALL statements left on
// server sc (transaction and statement mode), so that the client's next server gets the same values:
// it asks the server for the values of the parameters named (pg_settings), which also tells whether the
// statements took effect or were rolled back (session.ReadBack, session.ApplySettings). Reported
// parameters are left to ParameterStatus. RESET restores the value the client logged in with, as
// PostgreSQL restores start-up values. sc is owned by the caller and linked to no client.
func (c *clientConn) syncSessionState(sc *serverConn, sets session.Sets) error {
	if sets.All {
		c.afterResetAll(sc)
	}
	if err := c.syncSQLPrepared(sc, sets); err != nil {
		return err
	}
	query, arg := session.ReadBack(&sets, sc.params, sc.reported)
	if query == "" {
		return nil
	}
	rows, err := c.s.queryRowsBounded(sc, query, arg)
	if err != nil {
		return err
	}
	c.applySettings(sc, rows, &sets)
	return nil
}

// syncSQLPrepared records what the transaction's PREPARE and DEALLOCATE statements left on server sc, read
// back from pg_prepared_statements, so that the client's next server can be given the same statements
// (sqlPreparedSync); session.ApplyPrepared says which.
func (c *clientConn) syncSQLPrepared(sc *serverConn, sets session.Sets) error {
	if sets.DeallocAll {
		c.afterDeallocAll(sc)
	}
	query, arg, names := session.PreparedReadBack(&sets)
	if names == nil {
		return nil
	}
	rows, err := c.s.queryRowsBounded(sc, query, arg)
	if err != nil {
		return err
	}
	c.applyPrepared(sc, rows, names)
	return nil
}

// sqlPreparedSync gives a freshly lent server the client's SQL-level prepared statements: DEALLOCATE of
// the names it has with another text or that the client lacks, then each missing PREPARE. A PREPARE
// that fails here (a table it names is gone) is logged and skipped: the client's EXECUTE then gets
// PostgreSQL's own error. Errors returned are the server's failures other than an ERROR.
func (c *clientConn) sqlPreparedSync(sc *serverConn) error {
	c.mu.Lock()
	want := maps.Clone(c.sqlStmts)
	c.mu.Unlock()
	for _, q := range session.CarryPrepared(want, sc.sqlStmts) {
		if err := c.s.execBounded(sc, q); err != nil && !c.carrySkipped(sc, err) {
			return err
		}
	}
	carried(sc, want)
	return nil
}

// The steps both relays take around a lending (the goroutine code above and in client.go, the loop's
// exchanges in loopsettle.go), each on a server sc owned by the caller and linked to no client.

// afterResetAll: a RESET ALL or DISCARD ALL took effect on sc, so the server is back to its defaults and
// the client's parameters back to those it logged in with.
func (c *clientConn) afterResetAll(sc *serverConn) {
	forgetSetParams(sc)
	c.mu.Lock()
	c.params, c.ownParams = session.AfterResetAll(c.params, c.baseParams), true
	c.mu.Unlock()
}

// afterDeallocAll: a DEALLOCATE ALL (or DISCARD ALL) dropped every SQL-level prepared statement, the
// client's and sc's.
func (c *clientConn) afterDeallocAll(sc *serverConn) {
	c.mu.Lock()
	c.sqlStmts = nil
	c.mu.Unlock()
	sc.sqlStmts = nil
}

// applySettings records the rows of session.ReadBack's query (pg_settings) in the client's and sc's
// parameters (session.ApplySettings).
func (c *clientConn) applySettings(sc *serverConn, rows [][][]byte, sets *session.Sets) {
	c.mu.Lock()
	session.ApplySettings(rows, sets, sc.params, c.writableParamsLocked(), c.baseParams)
	sc.paramsChanged()
	c.mu.Unlock()
}

// applyPrepared records the rows of session.PreparedReadBack's query (pg_prepared_statements) in the
// client's and sc's SQL-level prepared statements, and counts those that cannot be carried (leakreport.go).
func (c *clientConn) applyPrepared(sc *serverConn, rows [][][]byte, names []string) {
	c.mu.Lock()
	sc.sqlStmts, c.sqlStmts = session.ApplyPrepared(rows, names, sc.sqlStmts, c.sqlStmts)
	uncarried := uncarriedPrepares(names, sc.sqlStmts, c.sqlStmts)
	c.mu.Unlock()
	c.noteUncarried(uncarried)
}

// carrySkipped tells whether err, the answer to one PREPARE carried to sc, is an ordinary ERROR with the
// server idle: logged and skipped (the client's EXECUTE then gets PostgreSQL's own error). Otherwise the
// server failed.
func (c *clientConn) carrySkipped(sc *serverConn, err error) bool {
	var pe *pgwire.Error
	if errors.As(err, &pe) && pe.Severity == pgwire.SeverityError && sc.txStatus == 'I' {
		c.s.logger.Info("cannot carry a prepared statement to another server", "client", c.id, "error", pe.Message)
		return true
	}
	return false
}

// carried records on sc the client's SQL-level prepared statements it now holds (want: name → text).
func carried(sc *serverConn, want map[string]string) {
	for name, text := range want {
		if sc.sqlStmts == nil {
			sc.sqlStmts = map[string]string{}
		}
		sc.sqlStmts[name] = text
	}
}

// syncPlan is what a freshly lent server needs before its client's first message (prepareServer,
// prepareOnLoop), decided under the client's mu.
type syncPlan struct {
	sql   string                     // the parameter sync's SET statements, "" when none
	apply func()                     // records the sync's effect once sql succeeded
	evict []pgproto3.FrontendMessage // Closes of sc's statements beyond max_prepared_statements
	carry bool                       // the client's or sc's SQL-level prepared statements need carrying
}

// planSync is the syncPlan for lending sc to the client.
func (c *clientConn) planSync(sc *serverConn) syncPlan {
	c.mu.Lock()
	defer c.mu.Unlock()
	var p syncPlan
	p.sql, p.apply = c.clientSyncSQLLocked(sc)
	if c.prep {
		p.evict = sc.stmts.Evict(c.s.config().Pooler.MaxPreparedStatements)
	}
	p.carry = c.mode != modeSession && (len(c.sqlStmts) > 0 || len(sc.sqlStmts) > 0)
	return p
}

// afterResetQuery: server_reset_query q ran on sc, linked to no client: what it reset is forgotten.
func afterResetQuery(sc *serverConn, q string) {
	forgetSetParams(sc)
	if prepare.DropsStatements(q) {
		sc.stmts.Clear()
		sc.sqlStmts = nil
	}
}
