package session

import (
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pgwire"
)

// Fuzz targets for what the pooler decodes from clients' session state: the "options" start-up
// parameter and the session-feature scan (FuzzScanSessionSets is in sets_test.go).

// escapeOption escapes s for the "options" start-up parameter: a backslash before each blank and
// backslash, as libpq's users write them.
func escapeOption(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\n', '\r', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// encodeOptions writes m as "-c name=value" arguments, escaped.
func encodeOptions(m map[string]string) string {
	var args []string
	for _, k := range SortedKeys(m) {
		args = append(args, "-c "+escapeOption(k+"="+m[k]))
	}
	return strings.Join(args, " ")
}

// FuzzStartupOptions parses any "options" value, and one built from a name and a value. It checks that
// errors are FATAL *pgwire.Error 42601 or 0A000, that accepted names are lower-case, non-empty and
// without "-", that what is accepted re-encodes to the same parameters, and that a value survives
// escaping and parsing byte for byte (whatever its encoding).
func FuzzStartupOptions(f *testing.F) {
	for _, s := range []struct{ opts, name, value string }{
		{"-c search_path=app", "search_path", "app"},
		{"-csearch_path=a,b --work-mem=1MB", "work_mem", "64kB"},
		{`-c application_name=with\ space\\`, "application_name", "with space\\"},
		{"-c=", "x", ""},
		{"-c", "a", "="},
		{"--=", "TimeZone", "Europe/Paris"},
		{"-x", "a b", "c\td"},
		{"-c a=b \\", "a", "\xff\xfe"},
		{"", "", ""},
	} {
		f.Add(s.opts, s.name, s.value)
	}
	f.Fuzz(func(t *testing.T, opts, name, value string) {
		got, err := parseOptions(opts)
		if err != nil {
			var pe *pgwire.Error
			if !errors.As(err, &pe) || pe.Severity != pgwire.SeverityFatal || (pe.Code != "42601" && pe.Code != "0A000") {
				t.Fatalf("parseOptions(%q): %v, want a FATAL 42601 or 0A000", opts, err)
			}
			if got != nil {
				t.Fatal("both a result and an error")
			}
		} else {
			for k := range got {
				if k == "" || k != strings.ToLower(k) || strings.Contains(k, "-") {
					t.Fatalf("parseOptions(%q) sets parameter %q", opts, k)
				}
			}
			again, err := parseOptions(encodeOptions(got))
			if err != nil || !maps.Equal(again, got) {
				t.Fatalf("parseOptions(%q) = %q, re-encoded %q parses to %q, %v", opts, got, encodeOptions(got), again, err)
			}
		}
		if name == "" || strings.Contains(name, "=") {
			return
		}
		one, err := parseOptions("-c " + escapeOption(name+"="+value))
		key := strings.ToLower(strings.ReplaceAll(name, "-", "_"))
		if err != nil || len(one) != 1 || one[key] != value {
			t.Fatalf("-c %q=%q parses to %q, %v; want %q = %q", name, value, one, err, key, value)
		}
	})
}

// FuzzSessionFeature scans any query text for session-only features (reject_session_features). The
// quick test the relay applies first must pass every text in which the scan finds one, and the scan
// must not panic on any text.
func FuzzSessionFeature(f *testing.F) {
	for _, q := range []string{
		"LISTEN x", "select pg_advisory_lock(1)", "SELECT pg_catalog.\"pg_try_advisory_lock_shared\"(1)",
		"CREATE TEMP TABLE t (a int)", "create temporary table t() on commit drop", "SELECT 1 INTO TEMP t",
		"DECLARE c CURSOR WITH HOLD FOR SELECT 1", "LOAD 'auto_explain'", "SELECT 'LISTEN x'",
		"/* LISTEN */ SELECT 1", "SELECT $$LISTEN$$", "CREATE FUNCTION f() AS $$ LISTEN x $$", "",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		if feat := FindFeature(q); feat != FeatureNone && !MayUseFeature([]byte(q)) {
			t.Fatalf("FindFeature(%q) = %d, but MayUseFeature skips it", q, feat)
		}
	})
}
