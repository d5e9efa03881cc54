package session

import (
	"strings"
)

// Sets is what a client's SQL did to session parameters, as far as the pooler must carry them
// between servers in transaction and statement mode: SET and RESET of named parameters, and RESET ALL or
// DISCARD ALL. The values are not parsed: the pooler asks the server for them once the transaction is
// over (ReadBack), which also tells whether the statements took effect. The zero value is empty; Sets is
// owned by one caller (no lock inside).
type Sets struct {
	Names map[string]bool // lower-case parameter name → true for RESET, false for SET
	All   bool            // RESET ALL or DISCARD ALL: every parameter back to its default
	// SetConfig: a set_config call, whose parameter is a value the scan cannot read: every parameter the
	// session set is read back.
	SetConfig bool

	// SQL-level prepared statements (PREPARE, DEALLOCATE): the names touched, and whether all were
	// dropped (DEALLOCATE ALL, DISCARD ALL). Their state is read back from pg_prepared_statements.
	Prepared   map[string]bool
	DeallocAll bool
}

// Empty reports whether nothing was recorded: the transaction left no session state to read back.
func (ss *Sets) Empty() bool {
	return len(ss.Names) == 0 && !ss.All && !ss.SetConfig && len(ss.Prepared) == 0 && !ss.DeallocAll
}

// Scan records in ss the SET, RESET, RESET ALL and DISCARD ALL statements of sql (a simple
// Query's text, possibly several statements). SET LOCAL (transaction-scoped), SET TRANSACTION and SET
// CONSTRAINTS are left alone: they end with the transaction. set_config(name, value, false) anywhere in
// the text (even in a string) marks every parameter for reading back. SET ROLE is the parameter "role", and SET
// SESSION AUTHORIZATION the parameter "session_authorization", which also resets "role". Quoted strings,
// quoted identifiers, dollar-quoted strings and comments are skipped, so a "SET" inside them is not a
// statement.
func (ss *Sets) Scan(sql string) {
	if containsFold(sql, "set_config") {
		ss.SetConfig = true
	}
	for _, stmt := range splitStatements(sql) {
		words := stmt
		if len(words) == 0 {
			continue
		}
		switch strings.ToLower(words[0]) {
		case "set":
			if name := setTarget(words[1:]); name != "" {
				ss.add(name, false)
				if name == "session_authorization" {
					ss.add("role", false) // re-read: a new session user has no role set
				}
			}
		case "reset":
			if len(words) > 1 && strings.EqualFold(words[1], "all") {
				ss.All = true
				ss.Names = nil
			} else if name := resetTarget(words[1:]); name != "" {
				ss.add(name, true)
				if name == "session_authorization" {
					ss.add("role", false)
				}
			}
		case "discard":
			if len(words) > 1 && strings.EqualFold(words[1], "all") {
				ss.All = true
				ss.Names = nil
				ss.DeallocAll, ss.Prepared = true, nil
			}
		case "prepare":
			if len(words) > 1 && !strings.EqualFold(words[1], "transaction") { // PREPARE TRANSACTION is 2PC
				ss.touchPrepared(paramName(words[1]))
			}
		case "deallocate":
			w := words[1:]
			if len(w) > 0 && strings.EqualFold(w[0], "prepare") {
				w = w[1:]
			}
			switch {
			case len(w) == 0:
			case strings.EqualFold(w[0], "all"):
				ss.DeallocAll, ss.Prepared = true, nil
			default:
				ss.touchPrepared(paramName(w[0]))
			}
		}
	}
}

func (ss *Sets) touchPrepared(name string) {
	if ss.Prepared == nil {
		ss.Prepared = map[string]bool{}
	}
	ss.Prepared[name] = true
}

func (ss *Sets) add(name string, reset bool) {
	if ss.Names == nil {
		ss.Names = map[string]bool{}
	}
	ss.Names[name] = reset
}

// setTarget returns the parameter a SET statement's words (after SET) change, lower-case, or "" when it
// is not a session parameter SET the pooler carries.
func setTarget(w []string) string {
	if len(w) > 0 && strings.EqualFold(w[0], "session") {
		w = w[1:]
	}
	if len(w) == 0 {
		return ""
	}
	switch strings.ToLower(w[0]) {
	case "local", "transaction", "constraints", "characteristics":
		return ""
	case "role":
		return "role"
	case "authorization":
		return "session_authorization"
	case "time":
		if len(w) > 1 && strings.EqualFold(w[1], "zone") {
			return "timezone"
		}
	case "names":
		return "client_encoding"
	case "schema":
		return "search_path"
	case "xml":
		return "xmloption"
	}
	return paramName(w[0])
}

// resetTarget is setTarget for RESET.
func resetTarget(w []string) string {
	if len(w) == 0 {
		return ""
	}
	switch strings.ToLower(w[0]) {
	case "session":
		if len(w) > 1 && strings.EqualFold(w[1], "authorization") {
			return "session_authorization"
		}
		return ""
	case "time":
		return "timezone"
	}
	return paramName(w[0])
}

// MayChange is a quick test, without allocating, for Query texts worth scanning: those that
// contain "set", "discard", "deallocate" or "prepare" in any case.
func MayChange(text []byte) bool {
	for i := 0; i+3 <= len(text); i++ {
		switch text[i] | 0x20 {
		case 's':
			if text[i+1]|0x20 == 'e' && text[i+2]|0x20 == 't' {
				return true
			}
		case 'd':
			if hasWordPrefix(text[i:], "discard") || hasWordPrefix(text[i:], "deallocate") {
				return true
			}
		case 'p':
			if hasWordPrefix(text[i:], "prepare") {
				return true
			}
		}
	}
	return false
}

// hasWordPrefix reports whether text starts with lower, an ASCII lower-case keyword, in any letter case:
// an ASCII fold, as PostgreSQL folds keywords (ASCII letters only; PostgreSQL docs, "Identifiers and Key
// Words"), cheaper than bytes.EqualFold's Unicode folding.
func hasWordPrefix(text []byte, lower string) bool {
	if len(text) < len(lower) {
		return false
	}
	for i := 0; i < len(lower); i++ {
		if text[i]|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// MaxScannedQuery is the longest Query text scanned for SET statements, in bytes; longer queries are
// forwarded unread (no session parameter statement is that long).
const MaxScannedQuery = 64 * 1024

// DropsStatements reports whether a query's text holds DEALLOCATE ALL or DISCARD ALL, or a DEALLOCATE
// of a statement whose name starts with prefix (the pooler's own server-side statements, "pgpooler_N",
// which a client has no business dropping, but can). PostgreSQL docs: DEALLOCATE, DISCARD.
func DropsStatements(sql, prefix string) bool {
	for _, stmt := range splitStatements(sql) {
		if len(stmt) >= 2 && (strings.EqualFold(stmt[0], "deallocate") || strings.EqualFold(stmt[0], "discard")) {
			w := stmt[1]
			if strings.EqualFold(w, "prepare") && len(stmt) >= 3 {
				w = stmt[2]
			}
			if strings.EqualFold(w, "all") ||
				strings.EqualFold(stmt[0], "deallocate") && strings.HasPrefix(paramName(w), prefix) {
				return true
			}
		}
	}
	return false
}
