package pooler

import (
	"bytes"
	"strings"
)

// sessionSets is what a client's SQL did to session parameters, as far as the pooler must carry them
// between servers in transaction and statement mode: SET and RESET of named parameters, and RESET ALL or
// DISCARD ALL. The values are not parsed: the pooler asks the server for them once the transaction is
// over (syncSessionState), which also tells whether the statements took effect.
type sessionSets struct {
	names map[string]bool // lower-case parameter name → true for RESET, false for SET
	all   bool            // RESET ALL or DISCARD ALL: every parameter back to its default
	// setConfig: a set_config call, whose parameter is a value the scan cannot read: every parameter the
	// session set is read back.
	setConfig bool

	// SQL-level prepared statements (PREPARE, DEALLOCATE): the names touched, and whether all were
	// dropped (DEALLOCATE ALL, DISCARD ALL). Their state is read back from pg_prepared_statements.
	prepared   map[string]bool
	deallocAll bool
}

func (ss *sessionSets) empty() bool {
	return len(ss.names) == 0 && !ss.all && !ss.setConfig && len(ss.prepared) == 0 && !ss.deallocAll
}

// scanSessionSets records in ss the SET, RESET, RESET ALL and DISCARD ALL statements of sql (a simple
// Query's text, possibly several statements). SET LOCAL (transaction-scoped), SET TRANSACTION and SET
// CONSTRAINTS are left alone: they end with the transaction. set_config(name, value, false) anywhere in
// the text (even in a string) marks every parameter for reading back. SET ROLE is the parameter "role", and SET
// SESSION AUTHORIZATION the parameter "session_authorization", which also resets "role". Quoted strings,
// quoted identifiers, dollar-quoted strings and comments are skipped, so a "SET" inside them is not a
// statement.
func scanSessionSets(sql string, ss *sessionSets) {
	if containsFold(sql, "set_config") {
		ss.setConfig = true
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
				ss.all = true
				ss.names = nil
			} else if name := resetTarget(words[1:]); name != "" {
				ss.add(name, true)
				if name == "session_authorization" {
					ss.add("role", false)
				}
			}
		case "discard":
			if len(words) > 1 && strings.EqualFold(words[1], "all") {
				ss.all = true
				ss.names = nil
				ss.deallocAll, ss.prepared = true, nil
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
				ss.deallocAll, ss.prepared = true, nil
			default:
				ss.touchPrepared(paramName(w[0]))
			}
		}
	}
}

func (ss *sessionSets) touchPrepared(name string) {
	if ss.prepared == nil {
		ss.prepared = map[string]bool{}
	}
	ss.prepared[name] = true
}

func (ss *sessionSets) add(name string, reset bool) {
	if ss.names == nil {
		ss.names = map[string]bool{}
	}
	ss.names[name] = reset
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

// paramName turns an identifier word (possibly dotted, possibly double-quoted) into a lower-case
// parameter name.
func paramName(word string) string {
	return strings.ToLower(strings.ReplaceAll(word, `"`, "")) // parameter names are case-insensitive
}

// containsFold reports whether s contains sub (lower-case ASCII) in any case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// mayChangeSession is a quick test, without allocating, for Query texts worth scanning: those that
// contain "set", "discard", "deallocate" or "prepare" in any case.
func mayChangeSession(text []byte) bool {
	for i := 0; i+3 <= len(text); i++ {
		switch text[i] | 0x20 {
		case 's':
			if text[i+1]|0x20 == 'e' && text[i+2]|0x20 == 't' {
				return true
			}
		case 'd':
			if i+7 <= len(text) && bytes.EqualFold(text[i:i+7], []byte("discard")) ||
				i+10 <= len(text) && bytes.EqualFold(text[i:i+10], []byte("deallocate")) {
				return true
			}
		case 'p':
			if i+7 <= len(text) && bytes.EqualFold(text[i:i+7], []byte("prepare")) {
				return true
			}
		}
	}
	return false
}

// maxScannedQuery is the longest Query text scanned for SET statements, in bytes; longer queries are
// forwarded unread (no session parameter statement is that long).
const maxScannedQuery = 64 * 1024

// splitStatements splits sql at top-level semicolons into statements, each as its first 4 words
// (identifiers, keywords, double-quoted identifiers kept with their quotes); string literals and dollar
// quotes count as one word ("'" and "$"), comments are skipped.
func splitStatements(sql string) [][]string { return splitStatementsN(sql, 4) }

// splitStatementsN is splitStatements keeping up to maxWords words of each statement.
func splitStatementsN(sql string, maxWords int) [][]string {
	var out [][]string
	var cur []string
	word := strings.Builder{}
	flush := func() {
		if word.Len() > 0 {
			if len(cur) < maxWords {
				cur = append(cur, word.String())
			}
			word.Reset()
		}
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == ';':
			flush()
			out = append(out, cur)
			cur = nil
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			flush()
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			flush()
			depth := 0
			for ; i+1 < len(sql); i++ {
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i++
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
		case c == '\'':
			escapes := word.String() == "E" || word.String() == "e" // E'...': backslash escapes
			flush()
			for i++; i < len(sql); i++ {
				if escapes && sql[i] == '\\' {
					i++
					continue
				}
				if sql[i] == '\'' {
					if i+1 < len(sql) && sql[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
			if len(cur) < maxWords {
				cur = append(cur, "'")
			}
		case c == '"':
			start := i
			for i++; i < len(sql) && sql[i] != '"'; i++ {
			}
			word.WriteString(sql[start:min(i+1, len(sql))])
		case c == '$' && word.Len() == 0:
			end := strings.IndexByte(sql[i+1:], '$')
			tag := ""
			if end >= 0 {
				tag = sql[i : i+end+2]
			}
			if tag == "" || !validDollarTag(tag) {
				word.WriteByte(c)
				continue
			}
			flush()
			close := strings.Index(sql[i+len(tag):], tag)
			if close < 0 {
				i = len(sql)
			} else {
				i += len(tag) + close + len(tag) - 1
			}
			if len(cur) < maxWords {
				cur = append(cur, "$")
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '=' || c == ',' || c == '(' || c == ')':
			flush()
		default:
			word.WriteByte(c)
		}
	}
	flush()
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// validDollarTag reports whether tag ("$$" or "$name$") opens a dollar-quoted string.
func validDollarTag(tag string) bool {
	for _, r := range tag[1 : len(tag)-1] {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80) {
			return false
		}
	}
	return tag[1] < '0' || tag[1] > '9'
}
