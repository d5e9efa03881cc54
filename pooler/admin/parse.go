package admin

import (
	"regexp"
	"strings"
)

// stmt is one admin console statement, as PgBouncer's console reads it (src/admin.c): a command
// word with at most one argument (`SHOW POOLS`, `PAUSE mydb`, `KILL_CLIENT 12`), or `SET key = value`.
// Words are letters, digits and underscores, or double-quoted (`PAUSE "my-db"`, "" for a quote); a SET
// value may also be single-quoted (a doubled quote stands for one). Case does not matter in command
// words; a trailing ';' is allowed; one statement per query.
type stmt struct {
	empty bool   // only blanks and semicolons: EmptyQueryResponse
	cmd   string // lower-case command word: "show", "select", "pause", "set", ...
	arg   string // the argument, unquoted; "" for none. SET: the key
	value string // SET: the value, unquoted
	probe string // a client probe that is not a console command: "version" for SELECT version()
}

// probeVersion matches `SELECT version()`, which tools send to find out what they talk to.
var probeVersion = regexp.MustCompile(`(?i)^\s*select\s+(pg_catalog\s*\.\s*)?version\s*\(\s*\)\s*(;\s*)?$`)

// parse reads one console query. ok is false for a query that is not a statement of the console's
// grammar (the caller answers "invalid command").
func parse(q string) (st stmt, ok bool) {
	if strings.Trim(q, " \t\n\r;") == "" {
		return stmt{empty: true}, true
	}
	if probeVersion.MatchString(q) {
		return stmt{cmd: "select", probe: "version"}, true
	}
	lx := lexer{s: q}
	lx.skipSpace()
	word, quoted, ok := lx.word()
	if !ok {
		return st, false
	}
	st.cmd = strings.ToLower(word)
	if st.cmd == "set" && !quoted {
		return lx.set()
	}
	if lx.space() && !lx.atEnd() {
		if st.arg, _, ok = lx.word(); !ok {
			return st, false
		}
	}
	return st, lx.end()
}

// lexer scans a console query.
type lexer struct {
	s string
	i int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isWordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// skipSpace skips blanks and reports whether there were any.
func (lx *lexer) skipSpace() bool {
	start := lx.i
	for lx.i < len(lx.s) && isSpace(lx.s[lx.i]) {
		lx.i++
	}
	return lx.i > start
}

// space skips blanks and reports whether there were any or the statement ends here.
func (lx *lexer) space() bool { return lx.skipSpace() || lx.atEnd() }

// atEnd reports whether only an optional ';' and blanks remain.
func (lx *lexer) atEnd() bool {
	j := lx.i
	if j < len(lx.s) && lx.s[j] == ';' {
		j++
	}
	for j < len(lx.s) && isSpace(lx.s[j]) {
		j++
	}
	return j == len(lx.s)
}

// end consumes blanks, an optional ';' and blanks, and reports whether that was all.
func (lx *lexer) end() bool {
	lx.skipSpace()
	return lx.atEnd()
}

// word reads a bare word (letters, digits, underscores) or a double-quoted one.
func (lx *lexer) word() (w string, quoted, ok bool) {
	if lx.i < len(lx.s) && lx.s[lx.i] == '"' {
		w, ok = lx.quoted('"')
		return w, true, ok
	}
	start := lx.i
	for lx.i < len(lx.s) && isWordChar(lx.s[lx.i]) {
		lx.i++
	}
	return lx.s[start:lx.i], false, lx.i > start
}

// quoted reads a string quoted with q, in which qq stands for q.
func (lx *lexer) quoted(q byte) (string, bool) {
	var b strings.Builder
	for j := lx.i + 1; j < len(lx.s); j++ {
		if lx.s[j] != q {
			b.WriteByte(lx.s[j])
			continue
		}
		if j+1 < len(lx.s) && lx.s[j+1] == q {
			b.WriteByte(q)
			j++
			continue
		}
		lx.i = j + 1
		return b.String(), true
	}
	return "", false
}

// set reads the rest of `SET key = value` or `SET key TO value`.
func (lx *lexer) set() (stmt, bool) {
	st := stmt{cmd: "set"}
	if !lx.skipSpace() {
		return st, false
	}
	key, _, ok := lx.word()
	if !ok || key == "" {
		return st, false
	}
	st.arg = key
	lx.skipSpace()
	switch {
	case strings.HasPrefix(lx.s[lx.i:], "="):
		lx.i++
	case len(lx.s)-lx.i >= 2 && strings.EqualFold(lx.s[lx.i:lx.i+2], "to"):
		lx.i += 2
	default:
		return st, false
	}
	lx.skipSpace()
	if lx.i < len(lx.s) && lx.s[lx.i] == '\'' {
		st.value, ok = lx.quoted('\'')
	} else {
		st.value, _, ok = lx.word()
	}
	if !ok {
		return st, false
	}
	return st, lx.end()
}
