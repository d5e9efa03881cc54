package session

import (
	"slices"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
)

// readOnly are reported parameters that no session can set; they are never synced.
// session_authorization is not one of them: a superuser's SET SESSION AUTHORIZATION follows that client,
// and the next client of its server gets its own back (any session may return to its login user).
var readOnly = map[string]bool{
	"server_version": true, "server_version_num": true, "server_encoding": true, "integer_datetimes": true,
	"is_superuser": true, "in_hot_standby": true,
}

// ReadOnly reports whether the parameter (lower-case name) is one no session can set (server_version,
// server_encoding, is_superuser and the like, PostgreSQL docs "ParameterStatus"): never synced.
func ReadOnly(name string) bool { return readOnly[name] }

// CanonicalName returns the spelling PostgreSQL uses in ParameterStatus for a lower-case parameter name.
func CanonicalName(lower string) string {
	switch lower {
	case "datestyle":
		return "DateStyle"
	case "intervalstyle":
		return "IntervalStyle"
	case "timezone":
		return "TimeZone"
	}
	return lower
}

// StartupParams returns the session parameters a client's StartupMessage asks for, keyed by lower-case
// name: every parameter except user, database and replication, with "options" unpacked ("-c name=value"
// and "--name=value", as PostgreSQL reads them) and fallback_application_name used when application_name
// is absent (libpq's convention). Errors are *pgwire.Error (0A000 for replication or unknown options).
func StartupParams(params map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range params {
		switch k {
		case "user", "database", "fallback_application_name":
		case "replication":
			if v != "false" && v != "off" && v != "0" && v != "no" {
				return nil, pgwire.NewFatal(pgerrcode.FeatureNotSupported, "replication connections are not supported by pgpooler")
			}
		case "options":
			opts, err := parseOptions(v)
			if err != nil {
				return nil, err
			}
			for ok, ov := range opts {
				out[ok] = ov
			}
		default:
			out[strings.ToLower(k)] = v
		}
	}
	if _, ok := out["application_name"]; !ok {
		if v, ok := params["fallback_application_name"]; ok {
			out["application_name"] = v
		}
	}
	return out, nil
}

// parseOptions splits the "options" start-up parameter: whitespace separates arguments, a backslash
// escapes the next byte; "-c name=value", "-cname=value" and "--name=value" set parameters. It works
// on bytes, as PostgreSQL's pg_split_opts does, so values keep their bytes whatever their encoding.
func parseOptions(s string) (map[string]string, error) {
	var args []string
	var cur strings.Builder
	inArg, esc := false, false
	for i := 0; i < len(s); i++ {
		switch r := s[i]; {
		case esc:
			cur.WriteByte(r)
			esc, inArg = false, true
		case r == '\\':
			esc = true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if inArg {
				args = append(args, cur.String())
				cur.Reset()
				inArg = false
			}
		default:
			cur.WriteByte(r)
			inArg = true
		}
	}
	if inArg {
		args = append(args, cur.String())
	}
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		var kv string
		switch {
		case a == "-c" && i+1 < len(args):
			i++
			kv = args[i]
		case strings.HasPrefix(a, "-c"):
			kv = a[2:]
		case strings.HasPrefix(a, "--"):
			kv = a[2:]
		default:
			return nil, pgwire.NewFatal(pgerrcode.FeatureNotSupported, "unsupported startup option %q: pgpooler accepts only -c name=value and --name=value", a)
		}
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, pgwire.NewFatal(pgerrcode.SyntaxError, "-c %s requires a value", kv)
		}
		out[strings.ToLower(strings.ReplaceAll(name, "-", "_"))] = value
	}
	return out, nil
}

// SyncSQL returns the statements that make a server's session parameters equal to want (all maps keyed
// by lower-case name; params: the server's current values, absent meaning its default; reported: the
// names the server reports with ParameterStatus, which the server itself keeps current): set_config for
// each parameter whose value differs (set_config reads the value as a start-up packet would, so lists such
// as search_path work), RESET for parameters set earlier for another client and not wanted now. It also
// returns the function that records the new values in params once the statements succeeded. Empty when the
// server already matches.
func SyncSQL(params map[string]string, reported map[string]bool, want map[string]string) (string, func()) {
	if !paramsDiffer(params, reported, want) {
		return "", nil // the usual case, checked without allocating
	}
	var sets, resets []string
	keys := SortedKeys(want)
	if i := slices.Index(keys, "session_authorization"); i > 0 { // first: it resets "role", and decides what role may be set
		keys = append(append([]string{keys[i]}, keys[:i]...), keys[i+1:]...)
	}
	for _, k := range keys {
		v := want[k]
		if readOnly[k] {
			continue
		}
		if cur, ok := params[k]; ok && cur == v {
			continue
		}
		sets = append(sets, "pg_catalog.set_config("+QuoteLiteral(k)+", "+QuoteLiteral(v)+", false)")
	}
	for _, k := range SortedKeys(params) {
		if _, ok := want[k]; !ok && !reported[k] {
			resets = append(resets, "RESET "+QuoteIdent(k))
		}
	}
	if len(sets) == 0 && len(resets) == 0 {
		return "", nil
	}
	var stmts []string
	if len(sets) > 0 {
		stmts = append(stmts, "SELECT "+strings.Join(sets, ", "))
	}
	stmts = append(stmts, resets...)
	apply := func() {
		for k, v := range want {
			if !reported[k] && !readOnly[k] {
				params[k] = v
			}
		}
		for k := range params {
			if _, ok := want[k]; !ok && !reported[k] {
				delete(params, k)
			}
		}
	}
	return strings.Join(stmts, "; "), apply
}

// paramsDiffer reports whether SyncSQL has anything to do: a wanted parameter whose value on the server differs,
// or a parameter set on the server for another client that is not wanted now.
func paramsDiffer(params map[string]string, reported map[string]bool, want map[string]string) bool {
	for k, v := range want {
		if cur, ok := params[k]; !readOnly[k] && (!ok || cur != v) {
			return true
		}
	}
	for k := range params {
		if _, ok := want[k]; !ok && !reported[k] {
			return true
		}
	}
	return false
}

// ForgetSet drops from params the parameters the server does not report (reported), after a reset
// query (DISCARD ALL, RESET ALL) put them back to their defaults.
func ForgetSet(params map[string]string, reported map[string]bool) {
	for k := range params {
		if !reported[k] {
			delete(params, k)
		}
	}
}

// SortedKeys returns m's keys in increasing order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// QuoteLiteral quotes s as an escape string constant (E'...'), valid whatever standard_conforming_strings is.
func QuoteLiteral(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `'`, `''`)
	return "E'" + s + "'"
}

// QuoteIdent quotes s as an SQL identifier (double quotes, doubled inside).
func QuoteIdent(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
