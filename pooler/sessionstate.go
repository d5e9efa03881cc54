package pooler

import (
	"maps"
	"strings"
)

// settingsQuery reads the current and default value of the parameters named in its one argument, a
// text[] literal, from the server that ran the client's SET statements.
const settingsQuery = "SELECT name, setting, reset_val FROM pg_catalog.pg_settings WHERE name = ANY($1::text[])"

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
		c.params = maps.Clone(c.baseParams)
		c.mu.Unlock()
	}
	var names []string
	for name := range sets.names {
		if !sc.reported[name] && !readOnlyParams[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	rows, err := c.s.queryRowsBounded(sc, settingsQuery, textArray(names))
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
