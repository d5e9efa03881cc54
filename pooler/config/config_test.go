package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// pgbouncerDefaults is each [pooler] key's default as PgBouncer's
// doc/config.md gives it, with pgpooler's deliberate differences marked.
var pgbouncerDefaults = map[string]any{
	"listen_addr":               "127.0.0.1", // PgBouncer: not set (Unix socket only)
	"listen_port":               6432,
	"unix_socket_dir":           "", // PgBouncer: /tmp
	"pool_mode":                 "session",
	"default_pool_size":         20,
	"min_pool_size":             0,
	"reserve_pool_size":         0,
	"reserve_pool_timeout":      5 * time.Second,
	"max_client_conn":           100,
	"max_db_connections":        0,
	"max_user_connections":      0,
	"server_reset_query":        "DISCARD ALL",
	"server_reset_query_always": false,
	"server_check_query":        "select 1",
	"server_check_delay":        30 * time.Second,
	"server_connect_timeout":    15 * time.Second,
	"server_login_retry":        15 * time.Second,
	"server_idle_timeout":       600 * time.Second,
	"server_lifetime":           3600 * time.Second,
	"client_login_timeout":      60 * time.Second,
	"client_idle_timeout":       time.Duration(0),
	"idle_transaction_timeout":  time.Duration(0),
	"query_timeout":             time.Duration(0),
	"query_wait_timeout":        120 * time.Second,
	"cancel_wait_timeout":       10 * time.Second,
	"shutdown_timeout":          30 * time.Second, // pgpooler's own key
	"auth_type":                 "trust",          // PgBouncer: md5
	"auth_file":                 "",
	"auth_hba_file":             "",
	"auth_user":                 "",
	"auth_query":                "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND rolcanlogin",
	"auth_dbname":               "",
	"auth_plain_without_tls":    false, // pgpooler's own key
	"client_tls_sslmode":        "disable",
	"client_tls_key_file":       "",
	"client_tls_cert_file":      "",
	"client_tls_ca_file":        "",
	"client_tls_protocols":      "secure",
	"client_tls_ciphers":        "default",
	"server_tls_sslmode":        "prefer", // PgBouncer 1.21 and later
	"server_tls_ca_file":        "",
	"server_tls_cert_file":      "",
	"server_tls_key_file":       "",
	"server_tls_protocols":      "secure",
	"server_tls_ciphers":        "default",
	"max_packet_size":           2147483647,
	"tcp_keepalive":             true,
	"tcp_keepcnt":               0,
	"tcp_keepidle":              time.Duration(0),
	"tcp_keepintvl":             time.Duration(0),
	"tcp_user_timeout":          0,
	"log_connections":           true,
	"log_disconnections":        true,
	"verbose":                   0,
	"admin_users":               "",
	"stats_users":               "",
	"stats_period":              60 * time.Second,
	"max_prepared_statements":   200,
	"metrics_addr":              "",    // pgpooler's own key (off)
	"debug_pprof":               false, // pgpooler's own key (off)
	"reject_session_features":   false, // pgpooler's own key
	"event_loops":               true,  // pgpooler's own key
	"event_loop_count":          0,     // pgpooler's own key: half of GOMAXPROCS
}

func TestDefaultMatchesPgBouncer(t *testing.T) {
	c := Default()
	rv := reflect.ValueOf(c.Pooler)
	fields := tomlFields(rv.Type())
	if len(fields) != len(pgbouncerDefaults) {
		t.Errorf("[pooler] has %d keys, the test knows %d", len(fields), len(pgbouncerDefaults))
	}
	for key, want := range pgbouncerDefaults {
		i, ok := fields[key]
		if !ok {
			t.Errorf("no [pooler] key %s", key)
			continue
		}
		got := rv.Field(i).Interface()
		if d, ok := got.(Duration); ok {
			got = d.D()
		}
		if got != want {
			t.Errorf("default %s = %v, want %v", key, got, want)
		}
	}
	if len(c.Databases) != 0 || len(c.Users) != 0 || c.Databases == nil || c.Users == nil {
		t.Errorf("Default() databases %v users %v, want empty non-nil maps", c.Databases, c.Users)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	c, err := Parse(nil, "empty.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Path = "empty.toml"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse(empty) = %+v, want %+v", c, want)
	}
}

func TestParseEveryKey(t *testing.T) {
	const text = `
[pooler]
listen_addr = "*"
listen_port = 7000
unix_socket_dir = "/run/pgpooler"
pool_mode = "statement"
default_pool_size = 50
min_pool_size = 5
reserve_pool_size = 3
reserve_pool_timeout = "2s"
max_client_conn = 1000
max_db_connections = 80
max_user_connections = 90
server_reset_query = "DEALLOCATE ALL"
server_reset_query_always = true
server_check_query = ""
server_check_delay = 0
server_connect_timeout = "3s"
server_login_retry = 1
server_idle_timeout = "1m"
server_lifetime = "2h"
client_login_timeout = "10s"
client_idle_timeout = "1h"
idle_transaction_timeout = "30s"
query_timeout = "5m"
query_wait_timeout = "0"
cancel_wait_timeout = "1.5"
shutdown_timeout = "45s"
auth_type = "hba"
auth_file = "/etc/pgpooler/userlist.txt"
auth_hba_file = "/etc/pgpooler/hba.conf"
auth_user = "pgpooler_auth"
auth_query = "SELECT usename, passwd FROM pgpooler.user_lookup($1)"
auth_dbname = "authdb"
auth_plain_without_tls = true
client_tls_sslmode = "verify-full"
client_tls_key_file = "/etc/pgpooler/server.key"
client_tls_cert_file = "/etc/pgpooler/server.crt"
client_tls_ca_file = "/etc/pgpooler/clients-ca.crt"
client_tls_protocols = "TLSv1.3"
client_tls_ciphers = "HIGH:!aNULL"
server_tls_sslmode = "verify-ca"
server_tls_ca_file = "/etc/pgpooler/postgres-ca.crt"
server_tls_cert_file = "/etc/pgpooler/pooler.crt"
server_tls_key_file = "/etc/pgpooler/pooler.key"
server_tls_protocols = "tlsv1.2, tlsv1.3"
server_tls_ciphers = "ECDHE-RSA-AES256-GCM-SHA384"
max_packet_size = 1024
tcp_keepalive = false
tcp_keepcnt = 3
tcp_keepidle = 30
tcp_keepintvl = "5s"
tcp_user_timeout = 2500
log_connections = false
log_disconnections = false
verbose = 1
admin_users = "admin, ops"
stats_users = "monitor"
stats_period = "15s"
max_prepared_statements = 50
metrics_addr = "127.0.0.1:9127"
debug_pprof = true
event_loops = false

[databases.app]
host = "/var/run/postgresql"
port = 5433
dbname = "app_prod"
user = "app_owner"
password = "s3cret"
pool_size = 10
min_pool_size = 2
reserve_pool_size = 1
pool_mode = "transaction"
max_db_connections = 30
connect_query = "SET search_path = app"
application_name = "pgpooler"
client_encoding = "LATIN1"
datestyle = "SQL, DMY"
timezone = "Europe/Berlin"
auth_user = "app_auth"
auth_query = "SELECT usename, passwd FROM app.user_lookup($1)"
auth_dbname = "app"

[databases.authdb]

[users.alice]
pool_mode = "session"
pool_size = 4
max_user_connections = 8
`
	c, err := Parse([]byte(text), "full.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path: "full.toml",
		Pooler: Pooler{
			ListenAddr: "*", ListenPort: 7000, UnixSocketDir: "/run/pgpooler",
			PoolMode: "statement", DefaultPoolSize: 50, MinPoolSize: 5, ReservePoolSize: 3,
			ReservePoolTimeout: Duration(2 * time.Second), MaxClientConn: 1000,
			MaxDBConnections: 80, MaxUserConnections: 90,
			ServerResetQuery: "DEALLOCATE ALL", ServerResetQueryAlways: true,
			ServerCheckQuery: "", ServerCheckDelay: 0,
			ServerConnectTimeout: Duration(3 * time.Second), ServerLoginRetry: Duration(time.Second),
			ServerIdleTimeout: Duration(time.Minute), ServerLifetime: Duration(2 * time.Hour),
			ClientLoginTimeout: Duration(10 * time.Second), ClientIdleTimeout: Duration(time.Hour),
			IdleTransactionTimeout: Duration(30 * time.Second), QueryTimeout: Duration(5 * time.Minute),
			QueryWaitTimeout: 0, CancelWaitTimeout: Duration(1500 * time.Millisecond),
			ShutdownTimeout: Duration(45 * time.Second),
			AuthType:        "hba", AuthFile: "/etc/pgpooler/userlist.txt",
			AuthHBAFile: "/etc/pgpooler/hba.conf", AuthUser: "pgpooler_auth",
			AuthQuery:  "SELECT usename, passwd FROM pgpooler.user_lookup($1)",
			AuthDBName: "authdb", AuthPlainWithoutTLS: true,
			ClientTLSSSLMode: "verify-full", ClientTLSKeyFile: "/etc/pgpooler/server.key",
			ClientTLSCertFile: "/etc/pgpooler/server.crt", ClientTLSCAFile: "/etc/pgpooler/clients-ca.crt",
			ClientTLSProtocols: "TLSv1.3", ClientTLSCiphers: "HIGH:!aNULL",
			ServerTLSSSLMode: "verify-ca", ServerTLSCAFile: "/etc/pgpooler/postgres-ca.crt",
			ServerTLSCertFile: "/etc/pgpooler/pooler.crt", ServerTLSKeyFile: "/etc/pgpooler/pooler.key",
			ServerTLSProtocols: "tlsv1.2, tlsv1.3", ServerTLSCiphers: "ECDHE-RSA-AES256-GCM-SHA384",
			MaxPacketSize: 1024, TCPKeepalive: false, TCPKeepcnt: 3, TCPKeepidle: Duration(30 * time.Second),
			TCPKeepintvl: Duration(5 * time.Second), TCPUserTimeout: 2500, LogConnections: false, LogDisconnections: false, Verbose: 1,
			AdminUsers: "admin, ops", StatsUsers: "monitor", StatsPeriod: Duration(15 * time.Second), MaxPreparedStatements: 50,
			MetricsAddr: "127.0.0.1:9127", DebugPprof: true,
		},
		Databases: map[string]Database{"app": {
			Host: "/var/run/postgresql", Port: 5433, DBName: "app_prod", User: "app_owner",
			Password: "s3cret", PoolSize: ptr(10), MinPoolSize: ptr(2), ReservePoolSize: ptr(1),
			PoolMode: "transaction", MaxDBConnections: ptr(30),
			ConnectQuery: "SET search_path = app", ApplicationName: "pgpooler",
			ClientEncoding: "LATIN1", DateStyle: "SQL, DMY", TimeZone: "Europe/Berlin",
			AuthUser: "app_auth", AuthQuery: "SELECT usename, passwd FROM app.user_lookup($1)",
			AuthDBName: "app",
		}, "authdb": {}},
		Users: map[string]User{"alice": {PoolMode: "session", PoolSize: ptr(4), MaxUserConnections: ptr(8)}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", c, want)
	}
}

func TestAuthFileRelativeToConfig(t *testing.T) {
	for _, tc := range []struct{ path, authFile, want string }{
		{"/etc/pgpooler/config.toml", "userlist.txt", "/etc/pgpooler/userlist.txt"},
		{"/etc/pgpooler/config.toml", "/srv/users.txt", "/srv/users.txt"},
		{"conf/config.toml", "../users.txt", "users.txt"},
		{"", "userlist.txt", "userlist.txt"},
		{"/etc/pgpooler/config.toml", "", ""},
	} {
		c, err := Parse([]byte("[pooler]\nauth_file = \""+tc.authFile+"\"\n"), tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if c.Pooler.AuthFile != tc.want {
			t.Errorf("auth_file %q in %q = %q, want %q", tc.authFile, tc.path, c.Pooler.AuthFile, tc.want)
		}
	}
}

// TestFilePathsRelativeToConfig: every file path key is taken relative to
// the configuration file's directory, as auth_file is.
func TestFilePathsRelativeToConfig(t *testing.T) {
	keys := map[string]func(*Pooler) string{
		"auth_file":            func(p *Pooler) string { return p.AuthFile },
		"auth_hba_file":        func(p *Pooler) string { return p.AuthHBAFile },
		"client_tls_key_file":  func(p *Pooler) string { return p.ClientTLSKeyFile },
		"client_tls_cert_file": func(p *Pooler) string { return p.ClientTLSCertFile },
		"client_tls_ca_file":   func(p *Pooler) string { return p.ClientTLSCAFile },
		"server_tls_ca_file":   func(p *Pooler) string { return p.ServerTLSCAFile },
		"server_tls_cert_file": func(p *Pooler) string { return p.ServerTLSCertFile },
		"server_tls_key_file":  func(p *Pooler) string { return p.ServerTLSKeyFile },
	}
	for _, tc := range []struct{ path, file, want string }{
		{"/etc/pgpooler/config.toml", "f.pem", "/etc/pgpooler/f.pem"},
		{"/etc/pgpooler/config.toml", "tls/f.pem", "/etc/pgpooler/tls/f.pem"},
		{"/etc/pgpooler/config.toml", "/srv/f.pem", "/srv/f.pem"},
		{"conf/config.toml", "../f.pem", "f.pem"},
		{"config.toml", "f.pem", "f.pem"},
		{"", "f.pem", "f.pem"},
	} {
		var text strings.Builder
		text.WriteString("[pooler]\n")
		for key := range keys {
			fmt.Fprintf(&text, "%s = %q\n", key, tc.file)
		}
		c, err := Parse([]byte(text.String()), tc.path)
		if err != nil {
			t.Fatal(err)
		}
		for key, get := range keys {
			if got := get(&c.Pooler); got != tc.want {
				t.Errorf("%s %q in %q = %q, want %q", key, tc.file, tc.path, got, tc.want)
			}
		}
	}
	// Unset paths stay unset.
	c, err := Parse([]byte("[pooler]\n"), "/etc/pgpooler/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	for key, get := range keys {
		if got := get(&c.Pooler); got != "" {
			t.Errorf("unset %s = %q, want \"\"", key, got)
		}
	}
}

// TestMetricsAddr: metrics_addr is "" or host:port with a port in 1..65535.
func TestMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"", true}, {":9127", true}, {"127.0.0.1:9127", true}, {"[::1]:9127", true},
		{"localhost:9127", true}, {"metrics.example.com:80", true},
		{"9127", false}, {"127.0.0.1", false}, {"127.0.0.1:0", false}, {":65536", false},
		{":http", false}, {"bad_host:9127", false}, {"::1:9127", false},
	} {
		_, err := Parse([]byte("[pooler]\nmetrics_addr = \""+tc.addr+"\"\n"), "config.toml")
		if (err == nil) != tc.ok {
			t.Errorf("metrics_addr %q: error %v, want ok=%v", tc.addr, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "pooler.metrics_addr") {
			t.Errorf("metrics_addr %q: error %q does not name the key", tc.addr, err)
		}
	}
}

// TestDebugPprof: debug_pprof needs metrics_addr, and neither changes while running (SET refuses it).
func TestDebugPprof(t *testing.T) {
	if _, err := Parse([]byte("[pooler]\ndebug_pprof = true\n"), "config.toml"); err == nil || !strings.Contains(err.Error(), "pooler.debug_pprof") {
		t.Errorf("debug_pprof without metrics_addr: error %v, want one naming pooler.debug_pprof", err)
	}
	c, err := Parse([]byte("[pooler]\ndebug_pprof = true\nmetrics_addr = \"127.0.0.1:9127\"\n"), "config.toml")
	if err != nil || !c.Pooler.DebugPprof {
		t.Fatalf("debug_pprof with metrics_addr: %+v, %v", c, err)
	}
	for _, key := range []string{"debug_pprof", "metrics_addr"} {
		if _, err := c.With(key, "false"); !errors.Is(err, ErrNotChangeable) {
			t.Errorf("SET %s: %v, want ErrNotChangeable", key, err)
		}
	}
}

// TestTCPKeys: tcp_keepidle and tcp_keepintvl are 0 or whole seconds up to 32767, tcp_keepcnt is 0..127,
// tcp_user_timeout an integer of milliseconds (as in PgBouncer); errors name the key.
func TestTCPKeys(t *testing.T) {
	for _, tc := range []struct {
		line, key string
		ok        bool
	}{
		{"tcp_keepalive = false", "", true}, {"tcp_keepalive = 1", "tcp_keepalive", false},
		{"tcp_keepidle = 0", "", true}, {"tcp_keepidle = 1", "", true}, {`tcp_keepidle = "32767s"`, "", true},
		{`tcp_keepidle = "32768s"`, "tcp_keepidle", false}, {`tcp_keepidle = "1500ms"`, "tcp_keepidle", false},
		{"tcp_keepidle = -1", "tcp_keepidle", false},
		{`tcp_keepintvl = "2s"`, "", true}, {"tcp_keepintvl = 0.5", "tcp_keepintvl", false},
		{"tcp_keepcnt = 127", "", true}, {"tcp_keepcnt = 128", "tcp_keepcnt", false}, {"tcp_keepcnt = -1", "tcp_keepcnt", false},
		{"tcp_user_timeout = 1000", "", true}, {"tcp_user_timeout = 2147483647", "", true},
		{"tcp_user_timeout = 2147483648", "tcp_user_timeout", false}, {"tcp_user_timeout = -1", "tcp_user_timeout", false},
		{`tcp_user_timeout = "1s"`, "tcp_user_timeout", false},
	} {
		c, err := Parse([]byte("[pooler]\n"+tc.line+"\n"), "config.toml")
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.line, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "pooler."+tc.key) {
			t.Errorf("%s: error %q does not name pooler.%s", tc.line, err, tc.key)
		}
		if tc.line == "tcp_user_timeout = 1000" && c.Pooler.TCPUserTimeout != 1000 {
			t.Errorf("%s: %d", tc.line, c.Pooler.TCPUserTimeout)
		}
	}
}

// TestExampleConfig loads the documented example at the repository root.
func TestExampleConfig(t *testing.T) {
	path := filepath.Join("..", "..", "config.toml")
	c, err := Load(path)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if c.Path != path {
		t.Errorf("Path = %q, want %q", c.Path, path)
	}
	// Every [pooler] value but pool_mode and unix_socket_dir (for the console out of the box, issue 12)
	// is the default.
	want := Default().Pooler
	want.PoolMode = PoolModeTransaction
	want.UnixSocketDir = "/tmp"
	if c.Pooler != want {
		t.Errorf("example [pooler] = %+v, want defaults %+v", c.Pooler, want)
	}
	pc, err := c.PoolConfig("postgres", "someone")
	if err != nil {
		t.Fatal(err)
	}
	if pc.Host != "127.0.0.1" || pc.Port != 5432 || pc.DBName != "postgres" || pc.ServerUser != "someone" {
		t.Errorf("example postgres pool = %+v", pc)
	}
}

func TestLoadMissingFile(t *testing.T) {
	c, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	if err == nil || c != nil {
		t.Fatalf("Load(missing) = %v, %v; want nil, error", c, err)
	}
}

func ptr(n int) *int { return &n }

// TestDockerConfig: the configuration baked into the Docker image loads, routes any database to the
// compose service "postgres" and listens on all addresses.
func TestDockerConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "docker", "config.toml"))
	if err != nil {
		t.Fatalf("docker/config.toml: %v", err)
	}
	pc, err := c.PoolConfig("anydb", "postgres")
	if err != nil || pc.Host != "postgres" || pc.Port != 5432 || c.Pooler.ListenAddr != "*" {
		t.Fatalf("docker/config.toml routes anydb to %s:%d (%v), listen_addr %q; want postgres:5432 and *", pc.Host, pc.Port, err, c.Pooler.ListenAddr)
	}
}

func TestInList(t *testing.T) {
	for _, tt := range []struct {
		list, name string
		want       bool
	}{
		{"admin, ops", "ops", true},
		{"admin,ops", "admin", true},
		{"admin, ops", "op", false},
		{"", "", false},
		{" , ", "", false},
	} {
		if got := InList(tt.list, tt.name); got != tt.want {
			t.Errorf("InList(%q, %q) = %v, want %v", tt.list, tt.name, got, tt.want)
		}
	}
}
