package session

import (
	"maps"
	"strings"
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

// AfterResetAll returns the client's parameters after RESET ALL or DISCARD ALL (Sets.All): the values it
// logged in with (base), as PostgreSQL restores start-up values, but for session_authorization, which
// RESET ALL keeps (DISCARD ALL resets it, and the server reports that by ParameterStatus). client and
// base are keyed by lower-case name and left unchanged.
func AfterResetAll(client, base map[string]string) map[string]string {
	sessionUser, ok := client["session_authorization"]
	out := maps.Clone(base)
	if ok {
		out["session_authorization"] = sessionUser
	}
	return out
}

// ReadBack returns the query that reads what a transaction's SET, RESET, RESET ALL and DISCARD ALL
// statements (sets) left on its server, and the query's one argument, a text[] literal of parameter
// names; query is "" when nothing needs reading. params and reported are the server's values and the
// names it reports with ParameterStatus (those are left to ParameterStatus, and read-only parameters are
// never read). The query's rows (name, setting, reset_val) go to ApplySettings.
func ReadBack(sets *Sets, params map[string]string, reported map[string]bool) (query, arg string) {
	var names []string
	if (sets.All || sets.SetConfig) && !sets.Names["role"] {
		names = append(names, "role") // RESET ALL leaves the role as it was; DISCARD ALL resets it
	}
	query = settingsQuery
	if sets.SetConfig {
		query = sessionSettingsQuery
		for name := range params { // set before, perhaps reset now
			if _, listed := sets.Names[name]; !listed && !reported[name] && name != "role" {
				names = append(names, name)
			}
		}
	}
	for name := range sets.Names {
		if !reported[name] && !readOnly[name] {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return "", ""
	}
	return query, textArray(names)
}

// ApplySettings records the rows of ReadBack's query (name, setting, reset_val; NULLs as nil) in the
// server's values (server: a parameter at its default is removed) and the client's (client): a RESET
// parameter gets back the value the client logged in with (base), a parameter at its default that the
// client did not log in with is removed, any other takes the server's setting. Malformed rows are
// skipped.
func ApplySettings(rows [][][]byte, sets *Sets, server, client, base map[string]string) {
	for _, r := range rows {
		if len(r) != 3 || r[0] == nil || r[1] == nil {
			continue
		}
		name, setting := string(r[0]), string(r[1])
		atDefault := r[2] != nil && string(r[2]) == setting
		if atDefault {
			delete(server, name)
		} else {
			server[name] = setting
		}
		baseValue, hasBase := base[name]
		switch {
		case sets.Names[name] && hasBase: // RESET: back to the start-up value
			client[name] = baseValue
		case atDefault && !hasBase:
			delete(client, name)
		default:
			client[name] = setting
		}
	}
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

// PreparedReadBack returns the query that reads back the SQL-level prepared statements (PREPARE,
// DEALLOCATE) a transaction touched (sets.Prepared), its one argument (a text[] literal) and the names;
// names is nil when none was touched. The query's rows (name, statement) go to ApplyPrepared.
func PreparedReadBack(sets *Sets) (query, arg string, names []string) {
	if len(sets.Prepared) == 0 {
		return "", "", nil
	}
	names = make([]string, 0, len(sets.Prepared))
	for n := range sets.Prepared {
		names = append(names, n)
	}
	return preparedQuery, textArray(names), names
}

// ApplyPrepared records what PreparedReadBack's rows say of each of names: the statement's text on the
// server (server) and, when the text is a single PREPARE, for the client to carry to its next server
// (client); a name without a row is gone from both. A statement that came in a query string with other
// statements is not carried: running it again would run the others too. It returns both maps, made when
// nil and needed.
func ApplyPrepared(rows [][][]byte, names []string, server, client map[string]string) (map[string]string, map[string]string) {
	found := map[string]string{}
	for _, r := range rows {
		if len(r) == 2 && r[0] != nil && r[1] != nil {
			found[string(r[0])] = string(r[1])
		}
	}
	for _, n := range names {
		text, ok := found[n]
		if ok {
			if server == nil {
				server = map[string]string{}
			}
			server[n] = text
		} else {
			delete(server, n)
		}
		if ok && singlePrepare(text) {
			if client == nil {
				client = map[string]string{}
			}
			client[n] = text
		} else {
			delete(client, n)
		}
	}
	return server, client
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

// CarryPrepared returns the statements that give a server whose SQL-level prepared statements are have
// (name → PREPARE text) the client's (want): DEALLOCATE of the names it has with another text or that
// the client lacks (deleted from have), then each PREPARE it lacks. After running them the caller
// records want's statements in have.
func CarryPrepared(want, have map[string]string) []string {
	var stmts []string
	for name, text := range have {
		if want[name] != text {
			stmts = append(stmts, "DEALLOCATE "+QuoteIdent(name))
			delete(have, name)
		}
	}
	for name, text := range want {
		if _, ok := have[name]; !ok {
			stmts = append(stmts, text)
		}
	}
	return stmts
}
