package pooler

import (
	"errors"
	"maps"

	"github.com/pgpooler/pgpooler/pgwire"
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
		forgetSetParams(sc) // the server is back to its defaults
		c.mu.Lock()
		c.params, c.ownParams = session.AfterResetAll(c.params, c.baseParams), true
		c.mu.Unlock()
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
	c.mu.Lock()
	defer c.mu.Unlock()
	session.ApplySettings(rows, &sets, sc.params, c.writableParamsLocked(), c.baseParams)
	sc.paramsChanged()
	return nil
}

// syncSQLPrepared records what the transaction's PREPARE and DEALLOCATE statements left on server sc, read
// back from pg_prepared_statements, so that the client's next server can be given the same statements
// (sqlPreparedSync); session.ApplyPrepared says which.
func (c *clientConn) syncSQLPrepared(sc *serverConn, sets session.Sets) error {
	if sets.DeallocAll {
		c.mu.Lock()
		c.sqlStmts = nil
		c.mu.Unlock()
		sc.sqlStmts = nil
	}
	query, arg, names := session.PreparedReadBack(&sets)
	if names == nil {
		return nil
	}
	rows, err := c.s.queryRowsBounded(sc, query, arg)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sc.sqlStmts, c.sqlStmts = session.ApplyPrepared(rows, names, sc.sqlStmts, c.sqlStmts)
	uncarried := uncarriedPrepares(names, sc.sqlStmts, c.sqlStmts)
	c.mu.Unlock()
	c.noteUncarried(uncarried) // leakreport.go
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
		err := c.s.execBounded(sc, q)
		var pe *pgwire.Error
		if errors.As(err, &pe) && pe.Severity == pgwire.SeverityError && sc.txStatus == 'I' {
			c.s.logger.Info("cannot carry a prepared statement to another server", "client", c.id, "error", pe.Message)
			continue
		}
		if err != nil {
			return err
		}
	}
	for name, text := range want {
		if sc.sqlStmts == nil {
			sc.sqlStmts = map[string]string{}
		}
		sc.sqlStmts[name] = text
	}
	return nil
}
