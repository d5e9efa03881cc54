package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// iniMain is a [pgbouncer] section that validates: md5 (PgBouncer's default)
// needs an auth_file.
const iniMain = "[pgbouncer]\nauth_file = users.txt\n"

// parseINIText parses text as the file dir/pgbouncer.ini.
func parseINIText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "pgbouncer.ini")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path)
}

// mustINI parses text and fails the test on an error.
func mustINI(t *testing.T, text string) *Config {
	t.Helper()
	c, err := parseINIText(t, text)
	if err != nil {
		t.Fatalf("ParseINI(%q): %v", text, err)
	}
	return c
}

// iniErr parses text and returns its error, failing the test if there is none.
func iniErr(t *testing.T, text string) string {
	t.Helper()
	c, err := parseINIText(t, text)
	if err == nil {
		t.Fatalf("ParseINI(%q) succeeded, want an error", text)
	}
	if c != nil {
		t.Errorf("ParseINI returned a config with its error")
	}
	return err.Error()
}

func TestINISyntax(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		check      func(*Config) bool
	}{
		{"comments with ; and #, indented", "  ; a comment\n\t# another\n" + iniMain + "  listen_port = 7000\n",
			func(c *Config) bool { return c.Pooler.ListenPort == 7000 }},
		{"; and # later in a line belong to the value", iniMain + "server_reset_query = SELECT 1; -- # not a comment\n",
			func(c *Config) bool { return c.Pooler.ServerResetQuery == "SELECT 1; -- # not a comment" }},
		{"comments need not be UTF-8", "; caf\xe9\n[pgbouncer] # \xff\nauth_file = u\n", func(c *Config) bool { return strings.HasSuffix(c.Pooler.AuthFile, "/u") }},
		{"comment after a section header", "[pgbouncer] ; main\nauth_file = u\n[databases] # dbs\napp = host=h\n",
			func(c *Config) bool { return c.Databases["app"].Host == "h" }},
		{"blank space around = and the value", iniMain + "pool_mode\t=\t transaction  \r\n",
			func(c *Config) bool { return c.Pooler.PoolMode == "transaction" }},
		{"quoted key", iniMain + "[databases]\n'my db' = host=h dbname=x\n",
			func(c *Config) bool { return c.Databases["my db"].DBName == "x" }},
		{"later value wins", iniMain + "listen_port = 1\nlisten_port = 2\n",
			func(c *Config) bool { return c.Pooler.ListenPort == 2 }},
		{"no newline at the end", iniMain + "listen_port = 7001",
			func(c *Config) bool { return c.Pooler.ListenPort == 7001 }},
		{"empty value", iniMain + "server_reset_query =\n",
			func(c *Config) bool { return c.Pooler.ServerResetQuery == "" }},
		{"quotes are part of a value", iniMain + "application_name_add_host = 0\nserver_check_query = 'select 1'\n",
			func(c *Config) bool { return c.Pooler.ServerCheckQuery == "'select 1'" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c := mustINI(t, tc.text); !tc.check(c) {
				t.Errorf("%q: unexpected result %+v %+v", tc.text, c.Pooler, c.Databases)
			}
		})
	}
}

func TestINIErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"section without ]", "[pgbouncer\n", "pgbouncer.ini:1: syntax error: a section name in [ ] has no closing ]"},
		{"key without =", iniMain + "listen_port 6432\n", `pgbouncer.ini:3: syntax error: expected = after "listen_port"`},
		{"bare word", iniMain + "\n\nconffile\n", `pgbouncer.ini:5: syntax error: expected = after "conffile"`},
		{"= without key", iniMain + "= 1\n", "pgbouncer.ini:3: syntax error: a line starts with = and has no key"},
		{"unclosed quoted key", iniMain + "[databases]\n'x = host=h\n", "pgbouncer.ini:4: syntax error: a key in ' ' has no closing '"},
		{"key before any section", "listen_port = 1\n" + iniMain, `pgbouncer.ini:1: "listen_port" is not in a section`},
		{"unknown section", iniMain + "[pgpooler]\n", "pgbouncer.ini:3: unknown section [pgpooler]"},
		{"no [pgbouncer]", "[databases]\napp = host=h\n", "pgbouncer.ini: no [pgbouncer] section"},
		{"unknown key, suggestion", iniMain + "listen_prot = 1\n", `pgbouncer.ini:3: unknown key "listen_prot" in [pgbouncer] (did you mean "listen_port"?)`},
		{"bad integer", iniMain + "listen_port = 64x\n", `pgbouncer.ini:3: listen_port: "64x" is not an integer`},
		{"bad boolean", iniMain + "log_connections = maybe\n", `pgbouncer.ini:3: log_connections: "maybe" is not 0, 1, yes, no, on, off, true or false`},
		{"a unit on a time", iniMain + "server_lifetime = 1h\n", `pgbouncer.ini:3: server_lifetime: "1h": a time in pgbouncer.ini is a number of seconds without a unit`},
		{"validation names the line", iniMain + "\npool_mode = sessoin\n", `pgbouncer.ini:4: pool_mode: "sessoin" is not one of session, transaction, statement`},
		{"validation of a database names its line", iniMain + "[databases]\napp = pool_size=0\n", `pgbouncer.ini:4: database "app": pool_size: 0 is less than 1`},
		{"PgBouncer's default md5 needs secrets", "[pgbouncer]\n", `pgbouncer.ini: auth_type: "md5" checks passwords, but there is no auth_file`},
		{"reserved database name", iniMain + "[databases]\npgbouncer = host=h\n", `pgbouncer.ini:4: database name "pgbouncer" is reserved`},
		{"a value that is not UTF-8", iniMain + "[databases]\n0 = host=/tmp connect_query='0\x9d0'\n", "pgbouncer.ini:4: the line is not UTF-8 text"},
		{"a section name that is not UTF-8", iniMain + "[data\xffbases]\n", "pgbouncer.ini:3: the section name is not UTF-8 text"},
		{"peers", iniMain + "[peers]\n1 = host=h\n", "pgbouncer.ini:4: [peers]: peering is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := iniErr(t, tc.text); !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
	// Every problem is reported at once, in the file's order.
	got := iniErr(t, iniMain+"listen_port = x\nverbose = y\n")
	if !strings.Contains(got, "pgbouncer.ini:3: listen_port") || !strings.Contains(got, "pgbouncer.ini:4: verbose") {
		t.Errorf("want both problems, got:\n%s", got)
	}
}

// TestINIPoolerKeys sets every [pooler] key of pgpooler in a [pgbouncer]
// section, in PgBouncer's value syntax, and checks the field it lands in.
// A key added to Pooler without a case here fails the test.
func TestINIPoolerKeys(t *testing.T) {
	// value written -> the value Pooler must then hold, for every key
	cases := map[string]struct {
		ini  string
		want any
	}{
		"listen_addr":               {"127.0.0.1, ::1", "127.0.0.1, ::1"},
		"listen_port":               {"7432", 7432},
		"unix_socket_dir":           {"", ""},
		"pool_mode":                 {"Transaction", "transaction"},
		"default_pool_size":         {"0x20", 32},
		"min_pool_size":             {"010", 8},
		"reserve_pool_size":         {"3", 3},
		"reserve_pool_timeout":      {"2.5", Duration(2500 * time.Millisecond)},
		"max_client_conn":           {"1000", 1000},
		"max_db_connections":        {"50", 50},
		"max_user_connections":      {"40", 40},
		"server_reset_query":        {"DEALLOCATE ALL", "DEALLOCATE ALL"},
		"server_reset_query_always": {"1", true},
		"server_check_query":        {"<empty>", "select 1"},
		"server_check_delay":        {"0", Duration(0)},
		"server_connect_timeout":    {"3", Duration(3 * time.Second)},
		"server_login_retry":        {"1.5", Duration(1500 * time.Millisecond)},
		"server_idle_timeout":       {"60", Duration(time.Minute)},
		"server_lifetime":           {"1e3", Duration(1000 * time.Second)},
		"client_login_timeout":      {"10", Duration(10 * time.Second)},
		"client_idle_timeout":       {"300", Duration(300 * time.Second)},
		"idle_transaction_timeout":  {"20", Duration(20 * time.Second)},
		"query_timeout":             {"0.25", Duration(250 * time.Millisecond)},
		"query_wait_timeout":        {"0", Duration(0)},
		"cancel_wait_timeout":       {"4", Duration(4 * time.Second)},
		"shutdown_timeout":          {"9", Duration(9 * time.Second)},
		"auth_type":                 {"SCRAM-SHA-256", "scram-sha-256"},
		"auth_file":                 {"/etc/pgbouncer/userlist.txt", "/etc/pgbouncer/userlist.txt"},
		"auth_hba_file":             {"/etc/pgbouncer/hba.conf", "/etc/pgbouncer/hba.conf"},
		"auth_user":                 {"pgbouncer_auth", "pgbouncer_auth"},
		"auth_query":                {"SELECT usename, passwd FROM pg_shadow WHERE usename=$1", "SELECT usename, passwd FROM pg_shadow WHERE usename=$1"},
		"auth_dbname":               {"postgres", "postgres"},
		"auth_plain_without_tls":    {"yes", true},
		"client_tls_sslmode":        {"Disable", "disable"},
		"client_tls_key_file":       {"/k.pem", "/k.pem"},
		"client_tls_cert_file":      {"/c.pem", "/c.pem"},
		"client_tls_ca_file":        {"/ca.pem", "/ca.pem"},
		"client_tls_protocols":      {"tlsv1.2,tlsv1.3", "tlsv1.2,tlsv1.3"},
		"client_tls_ciphers":        {"HIGH:!aNULL", "HIGH:!aNULL"},
		"server_tls_sslmode":        {"REQUIRE", "require"},
		"server_tls_ca_file":        {"/sca.pem", "/sca.pem"},
		"server_tls_cert_file":      {"/sc.pem", "/sc.pem"},
		"server_tls_key_file":       {"/sk.pem", "/sk.pem"},
		"server_tls_protocols":      {"all", "all"},
		"server_tls_ciphers":        {"fast", "fast"},
		"max_packet_size":           {"1048576", 1048576},
		"tcp_keepalive":             {"0", false},
		"tcp_keepcnt":               {"9", 9},
		"tcp_keepidle":              {"7200", Duration(7200 * time.Second)},
		"tcp_keepintvl":             {"75", Duration(75 * time.Second)},
		"tcp_user_timeout":          {"30000", 30000},
		"log_connections":           {"off", false},
		"log_disconnections":        {"false", false},
		"max_prepared_statements":   {"0", 0},
		"reject_session_features":   {"on", true},
		"event_loops":               {"true", true},
		"event_loop_count":          {"2", 2},
		"admin_users":               {"user2 someadmin,otheradmin", "user2, someadmin, otheradmin"},
		"stats_users":               {"stats, root", "stats, root"},
		"stats_period":              {"30", Duration(30 * time.Second)},
		"metrics_addr":              {"127.0.0.1:9127", "127.0.0.1:9127"},
		"debug_pprof":               {"1", true},
		"verbose":                   {"2", 2},
	}
	for key := range tomlFields(reflect.TypeFor[Pooler]()) {
		tc, ok := cases[key]
		if !ok {
			t.Errorf("no case for [pooler] key %q: add it here and to docs/pgbouncer-ini.md", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
			text := "[pgbouncer]\nauth_file = /u\nmetrics_addr = 127.0.0.1:1\n" + key + " = " + tc.ini + "\n"
			text += map[string]string{ // what the key needs to validate
				"unix_socket_dir":      "listen_addr = 127.0.0.1\n",
				"server_tls_cert_file": "server_tls_key_file = /sk.pem\n",
				"server_tls_key_file":  "server_tls_cert_file = /sc.pem\n",
				"auth_dbname":          "[databases]\npostgres = host=h\n",
			}[key]
			c := mustINI(t, text)
			if got := poolerField(c, key); got != tc.want {
				t.Errorf("%s = %s: got %#v, want %#v", key, tc.ini, got, tc.want)
			}
			if len(c.Warnings) > 0 {
				t.Errorf("warnings: %q", c.Warnings)
			}
		})
	}
}

// TestINIDefaults: keys left out have PgBouncer's defaults, not pgpooler's.
func TestINIDefaults(t *testing.T) {
	c := mustINI(t, iniMain)
	pl := c.Pooler
	if pl.ListenAddr != "" || pl.UnixSocketDir != "/tmp" || pl.AuthType != AuthTypeMD5 {
		t.Errorf("listen_addr %q, unix_socket_dir %q, auth_type %q; want PgBouncer's \"\", /tmp, md5", pl.ListenAddr, pl.UnixSocketDir, pl.AuthType)
	}
	want := iniDefault().Pooler
	want.AuthFile = filepath.Join(filepath.Dir(c.Path), "users.txt")
	if pl != want {
		t.Errorf("defaults differ:\n got %+v\nwant %+v", pl, want)
	}
	// A second [pgbouncer] section starts again from the defaults, as in PgBouncer.
	c = mustINI(t, iniMain+"listen_port = 7000\n[databases]\n[pgbouncer]\nauth_file = /u\n")
	if c.Pooler.ListenPort != 6432 || len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0], "pgbouncer.ini:5: a second [pgbouncer] section") {
		t.Errorf("second section: listen_port %d, warnings %q", c.Pooler.ListenPort, c.Warnings)
	}
}

// TestINIUnsupportedKeys: each PgBouncer key pgpooler lacks is silent at
// PgBouncer's default, and otherwise a warning (harmless) or an error, with
// file:line and the reason.
func TestINIUnsupportedKeys(t *testing.T) {
	for key, u := range iniUnsupported {
		t.Run(key, func(t *testing.T) {
			c := mustINI(t, iniMain+key+" = "+u.def+"\n")
			if len(c.Warnings) != 0 {
				t.Errorf("%s at its default %q: warnings %q", key, u.def, c.Warnings)
			}
			text := iniMain + key + " = 17\n"
			if u.def == "17" {
				t.Fatalf("pick another value for %s", key)
			}
			want := "pgbouncer.ini:3: " + key
			if u.harmless {
				c := mustINI(t, text)
				if len(c.Warnings) != 1 || !strings.HasSuffix(c.Warnings[0], want+" is ignored: "+u.why) {
					t.Errorf("warnings %q, want one ending %q", c.Warnings, want+" is ignored: "+u.why)
				}
				return
			}
			if got := iniErr(t, text); !strings.HasSuffix(got, want+": "+u.why) {
				t.Errorf("error %q, want %q", got, want+": "+u.why)
			}
		})
	}
}

func TestINIValues(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"20", 20, true}, {"-3", -3, true}, {"+4", 4, true}, {"0x1F", 31, true},
		{"0777", 511, true}, {" 5", 5, true}, {"08", 0, false}, {"5 ", 0, false}, {"", 0, false},
		{"1_000", 0, false}, {"0b1", 0, false}, {"99999999999999999999", 0, false}, {"--1", 0, false},
	} {
		got, err := iniInt(tc.s)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("iniInt(%q) = %d, %v; want %d, ok %v", tc.s, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		s        string
		want, ok bool
	}{
		{"1", true, true}, {"0", false, true}, {"2", true, true}, {"Yes", true, true}, {"no", false, true},
		{"ON", true, true}, {"off", false, true}, {"true", true, true}, {"False", false, true}, {"", false, false}, {"y", false, false},
	} {
		got, err := iniBool(tc.s)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("iniBool(%q) = %v, %v; want %v, ok %v", tc.s, got, err, tc.want, tc.ok)
		}
	}
	for _, tc := range []struct {
		s    string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true}, {"15", 15 * time.Second, true}, {"0.5", 500 * time.Millisecond, true}, {"2e1", 20 * time.Second, true},
		{".25", 250 * time.Millisecond, true}, {"-1", 0, false}, {"15s", 0, false}, {"inf", 0, false}, {"nan", 0, false},
		{"0x10", 0, false}, {"", 0, false}, {"1e300", 0, false},
	} {
		got, err := iniSeconds(tc.s)
		if (err == nil) != tc.ok || got.D() != tc.want {
			t.Errorf("iniSeconds(%q) = %v, %v; want %v, ok %v", tc.s, got, err, tc.want, tc.ok)
		}
	}
	if got := iniList(" a,b  c,, d\t"); got != "a, b, c, d" {
		t.Errorf("iniList = %q", got)
	}
}

// poolerField returns the value of the [pooler] key of c.
func poolerField(c *Config, key string) any {
	return reflect.ValueOf(c.Pooler).Field(tomlFields(reflect.TypeFor[Pooler]())[key]).Interface()
}
