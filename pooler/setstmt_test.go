package pooler

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
		var ss sessionSets
		scanSessionSets(tt.sql, &ss)
		if !maps.Equal(ss.names, tt.names) || ss.all != tt.all || ss.prepared != nil || ss.deallocAll != (tt.sql == "DISCARD ALL") {
			t.Errorf("scanSessionSets(%q) = %v all=%v, want %v all=%v", tt.sql, ss.names, ss.all, tt.names, tt.all)
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
		var ss sessionSets
		scanSessionSets(tt.sql, &ss)
		if !maps.Equal(ss.prepared, tt.prepared) || ss.deallocAll != tt.deallocAll {
			t.Errorf("scanSessionSets(%q): prepared %v deallocAll %v, want %v %v", tt.sql, ss.prepared, ss.deallocAll, tt.prepared, tt.deallocAll)
		}
	}
}

func FuzzScanSessionSets(f *testing.F) {
	for _, s := range []string{"SET a = 1", "SELECT $$x$$; RESET ALL", "/* /* */ */ SET b TO 'c'", `E'\\'`, "$1$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		var ss sessionSets
		scanSessionSets(sql, &ss) // must not panic or hang
		// The relay scans only texts that pass the quick test: it must not miss what the scan finds.
		if (!ss.empty() || ss.deallocAll || len(ss.prepared) > 0) && !mayChangeSession([]byte(sql)) {
			t.Fatalf("scanSessionSets(%q) finds %+v, but mayChangeSession skips it", sql, ss)
		}
		if dropsStatements(sql) && !mayChangeSession([]byte(sql)) {
			t.Fatalf("dropsStatements(%q), but mayChangeSession skips it", sql)
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
		var ss sessionSets
		scanSessionSets(sql, &ss)
		if ss.setConfig != want || ss.empty() == want {
			t.Errorf("scanSessionSets(%q): setConfig = %v, empty = %v; want setConfig %v", sql, ss.setConfig, ss.empty(), want)
		}
	}
}
