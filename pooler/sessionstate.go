package pooler

import (
	"errors"
	"maps"
	"strings"

	"github.com/pgpooler/pgpooler/pgwire"
)

// settingsQuery reads the current and default value of the parameters named in its one argument, a
// text[] literal, from the server that ran the client's SET statements. "role" (SET ROLE) is not in
// pg_settings: current_setting reads it, and its default is "none".
const settingsQuery = "SELECT name, setting, reset_val FROM pg_catalog.pg_settings WHERE name = ANY($1::text[]) " +
	"UNION ALL SELECT 'role', pg_catalog.current_setting('role'), 'none' WHERE 'role' = ANY($1::text[])"

// sessionSettingsQuery is settingsQuery that also reads every parameter set in the session (SET,
// set_config), for a transaction that called set_config.
const sessionSettingsQuery = "SELECT name, setting, reset_val FROM pg_catalog.pg_settings WHERE name = ANY($1::text[]) OR source = 'session' " +
	"UNION ALL SELECT 'role', pg_catalog.current_setting('role'), 'none' WHERE 'role' = ANY($1::text[])"

// syncSessionState records what a transaction's SET, RESET, RESET ALL and DISCARD ALL statements left on
// server sc (transaction and statement mode), so that the client's next server gets the same values:
// it asks the server for the values of the parameters named (pg_settings), which also tells whether the
// statements took effect or were rolled back. Reported parameters are left to ParameterStatus. RESET
// restores the value the client logged in with, as PostgreSQL restores start-up values. sc is owned by
// the caller and linked to no client.
func (c *clientConn) syncSessionState(sc *serverConn, sets sessionSets) error {
	if sets.all {
		forgetSetParams(sc) // the server is back to its defaults
		c.mu.Lock()
		// RESET ALL keeps the session user; DISCARD ALL resets it, and the server reported that already.
		sessionUser, ok := c.params["session_authorization"]
		c.params = maps.Clone(c.baseParams)
		if ok {
			c.params["session_authorization"] = sessionUser
		}
		c.mu.Unlock()
	}
	if err := c.syncSQLPrepared(sc, sets); err != nil {
		return err
	}
	var names []string
	if (sets.all || sets.setConfig) && !sets.names["role"] {
		names = append(names, "role") // RESET ALL leaves the role as it was; DISCARD ALL resets it
	}
	query := settingsQuery
	if sets.setConfig {
		query = sessionSettingsQuery
		for name := range sc.params { // set before, perhaps reset now
			if _, listed := sets.names[name]; !listed && !sc.reported[name] && name != "role" {
				names = append(names, name)
			}
		}
	}
	for name := range sets.names {
		if !sc.reported[name] && !readOnlyParams[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := c.s.queryRowsBounded(sc, query, textArray(names))
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rows {
		if len(r) != 3 || r[0] == nil || r[1] == nil {
			continue
		}
		name, setting := string(r[0]), string(r[1])
		atDefault := r[2] != nil && string(r[2]) == setting
		if atDefault {
			delete(sc.params, name)
		} else {
			sc.params[name] = setting
		}
		base, hasBase := c.baseParams[name]
		switch {
		case sets.names[name] && hasBase: // RESET: back to the start-up value
			c.params[name] = base
		case atDefault && !hasBase:
			delete(c.params, name)
		default:
			c.params[name] = setting
		}
	}
	return nil
}

// textArray writes names as a PostgreSQL text[] literal, each element double-quoted.
func textArray(names []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// preparedQuery reads SQL-level prepared statements by name.
const preparedQuery = "SELECT name, statement FROM pg_catalog.pg_prepared_statements WHERE name = ANY($1::text[])"

// syncSQLPrepared records what the transaction's PREPARE and DEALLOCATE statements left on server sc, read
// back from pg_prepared_statements, so that the client's next server can be given the same statements
// (sqlPreparedSync). A statement whose text is not a single PREPARE (it came in a query string with other
// statements) is not carried: running it again would run the others too.
func (c *clientConn) syncSQLPrepared(sc *serverConn, sets sessionSets) error {
	if sets.deallocAll {
		c.mu.Lock()
		c.sqlStmts = nil
		c.mu.Unlock()
		sc.sqlStmts = nil
	}
	if len(sets.prepared) == 0 {
		return nil
	}
	names := make([]string, 0, len(sets.prepared))
	for n := range sets.prepared {
		names = append(names, n)
	}
	rows, err := c.s.queryRowsBounded(sc, preparedQuery, textArray(names))
	if err != nil {
		return err
	}
	found := map[string]string{}
	for _, r := range rows {
		if len(r) == 2 && r[0] != nil && r[1] != nil {
			found[string(r[0])] = string(r[1])
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		text, ok := found[n]
		if ok {
			if sc.sqlStmts == nil {
				sc.sqlStmts = map[string]string{}
			}
			sc.sqlStmts[n] = text
		} else {
			delete(sc.sqlStmts, n)
		}
		if ok && singlePrepare(text) {
			if c.sqlStmts == nil {
				c.sqlStmts = map[string]string{}
			}
			c.sqlStmts[n] = text
		} else {
			delete(c.sqlStmts, n)
		}
	}
	return nil
}

// singlePrepare reports whether text is one PREPARE statement.
func singlePrepare(text string) bool {
	stmts := splitStatements(text)
	n := 0
	for _, st := range stmts {
		if len(st) > 0 {
			n++
		}
	}
	return n == 1 && len(stmts[0]) > 0 && strings.EqualFold(stmts[0][0], "prepare")
}

// sqlPreparedSync gives a freshly lent server the client's SQL-level prepared statements: DEALLOCATE of
// the names it has with another text or that the client lacks, then each missing PREPARE. A PREPARE
// that fails here (a table it names is gone) is logged and skipped: the client's EXECUTE then gets
// PostgreSQL's own error. Errors returned are the server's failures other than an ERROR.
func (c *clientConn) sqlPreparedSync(sc *serverConn) error {
	c.mu.Lock()
	want := maps.Clone(c.sqlStmts)
	c.mu.Unlock()
	var stmts []string
	for name, text := range sc.sqlStmts {
		if want[name] != text {
			stmts = append(stmts, "DEALLOCATE "+quoteIdent(name))
			delete(sc.sqlStmts, name)
		}
	}
	for name, text := range want {
		if _, ok := sc.sqlStmts[name]; !ok {
			stmts = append(stmts, text)
		}
	}
	for _, q := range stmts {
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
