package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseConnString(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want []connPair
		err  string
	}{
		{"", nil, ""},
		{"   ", nil, ""},
		{"host=h port=5433", []connPair{{"host", "h"}, {"port", "5433"}}, ""},
		{"  host = h\tdbname =x ", []connPair{{"host", "h"}, {"dbname", "x"}}, ""},
		{"connect_query='SELECT 1'", []connPair{{"connect_query", "SELECT 1"}}, ""},
		{"password='it''s' user=u", []connPair{{"password", "it's"}, {"user", "u"}}, ""},
		{`password=a\b`, []connPair{{"password", `a\b`}}, ""},
		{"application_name='a=b c'", []connPair{{"application_name", "a=b c"}}, ""},
		{"host", nil, `"host" has no =value`},
		{"=x", nil, "a value has no key"},
		{"host=", nil, "host has an empty value"},
		{"host=''", nil, "host has an empty value"},
		{"connect_query='SELECT 1", nil, "has no closing quote"},
		{"password='a'b", nil, "followed by"},
	} {
		got, err := parseConnString(tc.s)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseConnString(%q): error %v, want %q", tc.s, err, tc.err)
			}
		case err != nil:
			t.Errorf("parseConnString(%q): %v", tc.s, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("parseConnString(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestINIDatabases: every [databases] key pgpooler has, the "*" fallback and
// a database without host (PgBouncer's unix_socket_dir).
func TestINIDatabases(t *testing.T) {
	c := mustINI(t, iniMain+`unix_socket_dir = /var/run/postgresql
[databases]
app = host=db.example.com port=5433 dbname=app_prod user=app password='s3 cr''t' pool_size=30 min_pool_size=2 reserve_pool_size=5 max_db_connections=40 pool_mode=Transaction connect_query='SET search_path = app' application_name=web client_encoding=LATIN1 datestyle='SQL, DMY' timezone=Europe/Berlin auth_user=auth auth_query='SELECT u, p FROM f($1)' auth_dbname=app
old = reserve_pool=7
local =
* = host=10.0.0.5
[users]
report = pool_mode=session pool_size=3 max_user_connections=4
`)
	want := Database{
		Host: "db.example.com", Port: 5433, DBName: "app_prod", User: "app", Password: "s3 cr't",
		PoolSize: ptr(30), MinPoolSize: ptr(2), ReservePoolSize: ptr(5), MaxDBConnections: ptr(40),
		PoolMode: "transaction", ConnectQuery: "SET search_path = app", ApplicationName: "web",
		ClientEncoding: "LATIN1", DateStyle: "SQL, DMY", TimeZone: "Europe/Berlin",
		AuthUser: "auth", AuthQuery: "SELECT u, p FROM f($1)", AuthDBName: "app",
	}
	if got := c.Databases["app"]; !reflect.DeepEqual(got, want) {
		t.Errorf("app:\n got %+v\nwant %+v", got, want)
	}
	if got := c.Databases["old"]; got.ReservePoolSize == nil || *got.ReservePoolSize != 7 || got.Host != "/var/run/postgresql" {
		t.Errorf("old (reserve_pool, PgBouncer's older name; no host): %+v", got)
	}
	if got := c.Databases["local"]; got.Host != "/var/run/postgresql" {
		t.Errorf("local (empty: PgBouncer's Unix socket): %+v", got)
	}
	pc, err := c.PoolConfig("anything", "bob")
	if err != nil || pc.Host != "10.0.0.5" || pc.DBName != "anything" {
		t.Errorf("fallback: %+v, %v", pc, err)
	}
	if got := c.Users["report"]; !reflect.DeepEqual(got, User{PoolMode: "session", PoolSize: ptr(3), MaxUserConnections: ptr(4)}) {
		t.Errorf("user report: %+v", got)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}

	// no host and no Unix socket directory
	c = mustINI(t, iniMain+"unix_socket_dir =\nlisten_addr = *\n[databases]\nx =\n")
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], `pgbouncer.ini:6: database "x" names no host`) {
		t.Errorf("warnings %q", c.Warnings)
	}
}

// TestINIDatabaseErrors: keys pgpooler lacks, unknown keys and bad values,
// each with file:line.
func TestINIDatabaseErrors(t *testing.T) {
	for key, why := range connUnsupported {
		got := iniErr(t, iniMain+"[databases]\napp = host=h "+key+"=1\n")
		if want := `pgbouncer.ini:4: database "app": ` + key + ": " + why; !strings.Contains(got, want) {
			t.Errorf("%s: error %q, want %q", key, got, want)
		}
	}
	for key, why := range userUnsupported {
		got := iniErr(t, iniMain+"[users]\nbob = "+key+"=1\n")
		if want := `pgbouncer.ini:4: user "bob": ` + key + ": " + why; !strings.Contains(got, want) {
			t.Errorf("%s: error %q, want %q", key, got, want)
		}
	}
	for _, tc := range []struct{ text, want string }{
		{"[databases]\napp = hots=h\n", `pgbouncer.ini:4: database "app": unknown key "hots"`},
		{"[databases]\napp = port=x\n", `pgbouncer.ini:4: database "app": port: "x" is not an integer`},
		{"[databases]\napp = port=0\n", `pgbouncer.ini:4: database "app": port: "0" is not a port`},
		{"[databases]\napp = host=a,b\n", `database "app": host: several hosts ("a,b") are not supported yet`},
		{"[databases]\napp = host='x\n", `pgbouncer.ini:4: database "app": the value of host has no closing quote`},
		{"[databases]\napp = pool_mode=sessoin\n", `pgbouncer.ini:4: database "app": pool_mode: "sessoin" is not one of`},
		{"[users]\nbob = pool_size=x\n", `pgbouncer.ini:4: user "bob": pool_size: "x" is not an integer`},
		{"[users]\nbob = pool_mode\n", `pgbouncer.ini:4: user "bob": "pool_mode" has no =value`},
	} {
		if got := iniErr(t, iniMain+tc.text); !strings.Contains(got, tc.want) {
			t.Errorf("%q: error\n%s\nwant %q", tc.text, got, tc.want)
		}
	}
	c := mustINI(t, iniMain+"[databases]\napp = host=h load_balance_hosts=disable\n")
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "pgbouncer.ini:4: database \"app\": load_balance_hosts is ignored") {
		t.Errorf("warnings %q", c.Warnings)
	}
}
