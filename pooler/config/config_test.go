package config

import (
	"path/filepath"
	"reflect"
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
	"max_packet_size":           2147483647,
	"log_connections":           true,
	"log_disconnections":        true,
	"verbose":                   0,
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
auth_type = "trust"
auth_file = "/etc/pgpooler/userlist.txt"
max_packet_size = 1024
log_connections = false
log_disconnections = false
verbose = 1

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
			AuthType:        "trust", AuthFile: "/etc/pgpooler/userlist.txt",
			MaxPacketSize: 1024, LogConnections: false, LogDisconnections: false, Verbose: 1,
		},
		Databases: map[string]Database{"app": {
			Host: "/var/run/postgresql", Port: 5433, DBName: "app_prod", User: "app_owner",
			Password: "s3cret", PoolSize: ptr(10), MinPoolSize: ptr(2), ReservePoolSize: ptr(1),
			PoolMode: "transaction", MaxDBConnections: ptr(30),
			ConnectQuery: "SET search_path = app", ApplicationName: "pgpooler",
		}},
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
	// Every [pooler] value but pool_mode is the default.
	want := Default().Pooler
	want.PoolMode = PoolModeTransaction
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
