package pooler

import (
	"strings"
	"testing"
)

// Fuzz targets for what the pooler decodes from clients besides the wire framing (pgwire's targets) and
// session state (package session's): the admin console's statements.

// quoteAdminWord double-quotes w for the console, "" standing for a quote.
func quoteAdminWord(w string) string { return `"` + strings.ReplaceAll(w, `"`, `""`) + `"` }

// FuzzParseAdmin parses any console query. A statement it accepts has a lower-case command word and,
// written back canonically (the argument double-quoted, a SET value single-quoted), parses to the same
// statement; a query of only blanks and semicolons is the empty statement.
func FuzzParseAdmin(f *testing.F) {
	for _, q := range []string{
		"SHOW POOLS", "show pools;", "PAUSE mydb", `PAUSE "my-db"`, `KILL "a""b"`, "KILL_CLIENT 12",
		"SET default_pool_size = 10", "set server_reset_query to 'DISCARD ALL'", `SET "x" = 'it''s'`,
		"SELECT version()", "select pg_catalog.version ( ) ;", " ; ; ", "", `"set" x`, "SHOW", "SHOW a b",
		"SET x =", "SET x = 'unterminated", `SHOW "unterminated`, "RELOAD;;", "SET x TO y z",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		st, ok := parseAdmin(q)
		if !ok {
			return
		}
		if strings.Trim(q, " \t\n\r;") == "" != st.empty {
			t.Fatalf("parseAdmin(%q): empty = %v", q, st.empty)
		}
		if st.empty || st.probe != "" {
			return
		}
		if st.cmd != strings.ToLower(st.cmd) {
			t.Fatalf("parseAdmin(%q): command %q is not lower-case", q, st.cmd)
		}
		var canon string
		if st.cmd == "set" && st.arg != "" {
			canon = "SET " + quoteAdminWord(st.arg) + " = '" + strings.ReplaceAll(st.value, "'", "''") + "'"
		} else {
			canon = quoteAdminWord(st.cmd)
			if st.arg != "" {
				canon += " " + quoteAdminWord(st.arg)
			}
		}
		again, ok := parseAdmin(canon)
		if !ok || again != st {
			t.Fatalf("parseAdmin(%q) = %+v; its canonical form %q parses to %+v, %v", q, st, canon, again, ok)
		}
	})
}
