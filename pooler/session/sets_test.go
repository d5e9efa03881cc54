package session

import (
	"maps"
	"testing"
)

func TestScanSessionSets(t *testing.T) {
	for _, tt := range []struct {
		sql   string
		names map[string]bool
		all   bool
	}{
		{"SET search_path TO app, public", map[string]bool{"search_path": false}, false},
		{"set statement_timeout = '5s';", map[string]bool{"statement_timeout": false}, false},
		{"SET SESSION work_mem = 1024", map[string]bool{"work_mem": false}, false},
		{"SET LOCAL search_path = x", nil, false},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", nil, false},
		{"SET ROLE admin", map[string]bool{"role": false}, false},
		{"SET SESSION ROLE admin", map[string]bool{"role": false}, false},
		{"SET LOCAL ROLE admin", nil, false},
		{"RESET ROLE", map[string]bool{"role": true}, false},
		{"SET SESSION AUTHORIZATION bob", map[string]bool{"session_authorization": false, "role": false}, false},
		{"RESET SESSION AUTHORIZATION", map[string]bool{"session_authorization": true, "role": false}, false},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", nil, false},
		{"SET TIME ZONE 'UTC'", map[string]bool{"timezone": false}, false},
		{"SET SCHEMA 'app'", map[string]bool{"search_path": false}, false},
		{`SET "MyApp.Tenant" = 'a'`, map[string]bool{"myapp.tenant": false}, false},
		{"SET myapp.tenant = 'a'", map[string]bool{"myapp.tenant": false}, false},
		{"RESET search_path", map[string]bool{"search_path": true}, false},
		{"SET search_path = x; RESET search_path", map[string]bool{"search_path": true}, false},
		{"RESET ALL", nil, true},
		{"DISCARD ALL", nil, true},
		{"SELECT 'SET search_path = x'", nil, false},
		{"SELECT $$; SET search_path = x$$", nil, false},
		{"SELECT $tag$ ; SET x = 1 $tag$; SET y = 2", map[string]bool{"y": false}, false},
		{"/* SET a = 1; */ SELECT 1", nil, false},
		{"-- SET a = 1\nSELECT 1", nil, false},
		{`SELECT E'\'; SET a = 1'`, nil, false},
		{`SELECT 'a\'; SET b = 1`, map[string]bool{"b": false}, false},
		{"BEGIN; SET search_path = x; COMMIT", map[string]bool{"search_path": false}, false},
		{"SELECT 1", nil, false},
		{"", nil, false},
		{"SET", nil, false},
		{"RESET", nil, false},
	} {
		var ss Sets
		ss.Scan(tt.sql)
		if !maps.Equal(ss.Names, tt.names) || ss.All != tt.all || ss.Prepared != nil || ss.DeallocAll != (tt.sql == "DISCARD ALL") {
			t.Errorf("Scan(%q) = %v all=%v, want %v all=%v", tt.sql, ss.Names, ss.All, tt.names, tt.all)
		}
	}
}

func TestScanPrepared(t *testing.T) {
	for _, tt := range []struct {
		sql        string
		prepared   map[string]bool
		deallocAll bool
	}{
		{"PREPARE plan(int) AS SELECT $1", map[string]bool{"plan": true}, false},
		{`PREPARE "Plan" AS SELECT 1`, map[string]bool{"plan": true}, false},
		{"DEALLOCATE plan", map[string]bool{"plan": true}, false},
		{"DEALLOCATE PREPARE plan", map[string]bool{"plan": true}, false},
		{"DEALLOCATE ALL", nil, true},
		{"PREPARE TRANSACTION 'x'", nil, false},
		{"EXECUTE plan(1)", nil, false},
	} {
		var ss Sets
		ss.Scan(tt.sql)
		if !maps.Equal(ss.Prepared, tt.prepared) || ss.DeallocAll != tt.deallocAll {
			t.Errorf("Scan(%q): prepared %v deallocAll %v, want %v %v", tt.sql, ss.Prepared, ss.DeallocAll, tt.prepared, tt.deallocAll)
		}
	}
}

func FuzzScanSessionSets(f *testing.F) {
	for _, s := range []string{"SET a = 1", "SELECT $$x$$; RESET ALL", "/* /* */ */ SET b TO 'c'", `E'\\'`, "$1$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		var ss Sets
		ss.Scan(sql) // must not panic or hang
		// The relay scans only texts that pass the quick test: it must not miss what the scan finds.
		if (!ss.Empty() || ss.DeallocAll || len(ss.Prepared) > 0) && !MayChange([]byte(sql)) {
			t.Fatalf("Scan(%q) finds %+v, but MayChange skips it", sql, ss)
		}
		if DropsStatements(sql, "pgpooler_") && !MayChange([]byte(sql)) {
			t.Fatalf("DropsStatements(%q), but MayChange skips it", sql)
		}
	})
}

// TestScanSetConfig: a set_config call in any case marks the transaction for reading every parameter
// back; other texts do not.
func TestScanSetConfig(t *testing.T) {
	for sql, want := range map[string]bool{
		"SELECT set_config('search_path', 'x', false)":             true,
		"SELECT PG_CATALOG.SET_CONFIG('role', 'r', false), 1":      true,
		"SELECT current_setting('search_path') OFFSET 0":           false,
		"SELECT 1 FROM settings_config WHERE reset = 'set config'": false,
	} {
		var ss Sets
		ss.Scan(sql)
		if ss.SetConfig != want || ss.Empty() == want {
			t.Errorf("Scan(%q): setConfig = %v, empty = %v; want setConfig %v", sql, ss.SetConfig, ss.Empty(), want)
		}
	}
}

func TestDropsStatements(t *testing.T) {
	for sql, want := range map[string]bool{
		"DEALLOCATE ALL":                   true,
		"deallocate prepare all;":          true,
		"DISCARD ALL":                      true,
		"DEALLOCATE s1":                    false,
		"DISCARD PLANS":                    false,
		"SELECT 'DEALLOCATE ALL'":          false,
		"BEGIN; DISCARD ALL":               true,
		"DEALLOCATE pgpooler_3":            true,
		`DEALLOCATE PREPARE "pgpooler_12"`: true,
		"DEALLOCATE pgpooler":              false,
	} {
		if got := DropsStatements(sql, "pgpooler_"); got != want {
			t.Errorf("DropsStatements(%q) = %v, want %v", sql, got, want)
		}
	}
}
