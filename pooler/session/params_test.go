package session

import (
	"errors"
	"maps"
	"testing"

	"github.com/pgpooler/pgpooler/pgwire"
)

func TestParseOptions(t *testing.T) {
	got, err := parseOptions(`-c search_path=a,b  -cstatement_timeout=5s --DateStyle=iso -c app=x\ y`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"search_path": "a,b", "statement_timeout": "5s", "datestyle": "iso", "app": "x y"}
	if !maps.Equal(got, want) {
		t.Fatalf("parseOptions = %v, want %v", got, want)
	}
	for _, bad := range []string{"-d 5", "-c novalue", "--=x"} {
		_, err := parseOptions(bad)
		var pe *pgwire.Error
		if !errors.As(err, &pe) {
			t.Errorf("parseOptions(%q) = %v, want a *pgwire.Error", bad, err)
		}
	}
}

func TestStartupParams(t *testing.T) {
	got, err := StartupParams(map[string]string{
		"user": "u", "database": "d", "fallback_application_name": "psql",
		"TimeZone": "UTC", "options": "-c search_path=s", "replication": "false",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"timezone": "UTC", "search_path": "s", "application_name": "psql"}
	if !maps.Equal(got, want) {
		t.Fatalf("StartupParams = %v, want %v", got, want)
	}
	if _, err := StartupParams(map[string]string{"replication": "database"}); err == nil {
		t.Fatal("replication=database accepted; want 0A000")
	}
}

func TestSyncSQL(t *testing.T) {
	params := map[string]string{"datestyle": "ISO, MDY", "search_path": "old", "server_version": "15"}
	reported := map[string]bool{"datestyle": true, "server_version": true}
	sql, apply := SyncSQL(params, reported, map[string]string{"datestyle": "ISO, MDY", "timezone": "it's", "server_version": "16"})
	wantSQL := `SELECT pg_catalog.set_config(E'timezone', E'it''s', false); RESET "search_path"`
	if sql != wantSQL {
		t.Fatalf("SyncSQL =\n%s\nwant\n%s", sql, wantSQL)
	}
	apply()
	if params["timezone"] != "it's" || params["search_path"] != "" || len(params) != 3 {
		t.Fatalf("after apply params = %v", params)
	}
	if sql, _ := SyncSQL(params, reported, map[string]string{"datestyle": "ISO, MDY", "timezone": "it's"}); sql != "" {
		t.Fatalf("in-sync server: SyncSQL = %q, want empty", sql)
	}
}

func TestQuoteLiteral(t *testing.T) {
	if got := QuoteLiteral(`a'b\c`); got != `E'a''b\\c'` {
		t.Fatalf("QuoteLiteral = %s", got)
	}
	if got := QuoteIdent(`a"b`); got != `"a""b"` {
		t.Fatalf("QuoteIdent = %s", got)
	}
}
