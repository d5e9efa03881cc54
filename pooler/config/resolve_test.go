package config

import (
	"errors"
	"testing"
)

const resolveText = `
[pooler]
pool_mode = "session"
default_pool_size = 20
min_pool_size = 2
reserve_pool_size = 1
max_db_connections = 100
max_user_connections = 50

[databases.app]
host = "db.internal"
port = 5433
dbname = "app_prod"
pool_mode = "transaction"
pool_size = 10
min_pool_size = 3
reserve_pool_size = 4
max_db_connections = 30
connect_query = "SET search_path = app"
application_name = "app-via-pgpooler"
client_encoding = "LATIN1"
datestyle = "SQL, DMY"
timezone = "UTC"

[databases.forced]
user = "owner"
password = "pw"

[databases."*"]
host = "/var/run/postgresql"

[users.alice]
pool_mode = "statement"
pool_size = 5
max_user_connections = 7

[users.bob]
pool_size = 1
`

func resolveConfig(t *testing.T) *Config {
	t.Helper()
	c, err := Parse([]byte(resolveText), "resolve.toml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPoolConfigPrecedence(t *testing.T) {
	c := resolveConfig(t)
	for _, tc := range []struct {
		db, user string
		want     PoolConfig
	}{
		{"app", "carol", PoolConfig{ // database over [pooler]; no user table
			Database: "app", User: "carol", Host: "db.internal", Port: 5433, DBName: "app_prod",
			ServerUser: "carol", PoolMode: "transaction", PoolSize: 10, MinPoolSize: 3,
			ReservePoolSize: 4, MaxDBConnections: 30, MaxUserConnections: 50,
			ConnectQuery: "SET search_path = app", ApplicationName: "app-via-pgpooler",
			ClientEncoding: "LATIN1", DateStyle: "SQL, DMY", TimeZone: "UTC",
			AuthQuery: DefaultAuthQuery, AuthDBName: "app",
		}},
		{"app", "alice", PoolConfig{ // user over database
			Database: "app", User: "alice", Host: "db.internal", Port: 5433, DBName: "app_prod",
			ServerUser: "alice", PoolMode: "statement", PoolSize: 5, MinPoolSize: 3,
			ReservePoolSize: 4, MaxDBConnections: 30, MaxUserConnections: 7,
			ConnectQuery: "SET search_path = app", ApplicationName: "app-via-pgpooler",
			ClientEncoding: "LATIN1", DateStyle: "SQL, DMY", TimeZone: "UTC",
			AuthQuery: DefaultAuthQuery, AuthDBName: "app",
		}},
		{"app", "bob", PoolConfig{ // user pool_size under the database's min: min capped
			Database: "app", User: "bob", Host: "db.internal", Port: 5433, DBName: "app_prod",
			ServerUser: "bob", PoolMode: "transaction", PoolSize: 1, MinPoolSize: 1,
			ReservePoolSize: 4, MaxDBConnections: 30, MaxUserConnections: 50,
			ConnectQuery: "SET search_path = app", ApplicationName: "app-via-pgpooler",
			ClientEncoding: "LATIN1", DateStyle: "SQL, DMY", TimeZone: "UTC",
			AuthQuery: DefaultAuthQuery, AuthDBName: "app",
		}},
		{"forced", "alice", PoolConfig{ // forced server user; [pooler] where the database is silent
			Database: "forced", User: "alice", Host: "127.0.0.1", Port: 5432, DBName: "forced",
			ServerUser: "owner", Password: "pw", PoolMode: "statement", PoolSize: 5, MinPoolSize: 2,
			ReservePoolSize: 1, MaxDBConnections: 100, MaxUserConnections: 7,
			AuthQuery: DefaultAuthQuery, AuthDBName: "forced",
		}},
		{"anything", "carol", PoolConfig{ // "*" fallback, dbname = the client's
			Database: "anything", User: "carol", Host: "/var/run/postgresql", Port: 5432,
			DBName: "anything", ServerUser: "carol", PoolMode: "session", PoolSize: 20,
			MinPoolSize: 2, ReservePoolSize: 1, MaxDBConnections: 100, MaxUserConnections: 50,
			AuthQuery: DefaultAuthQuery, AuthDBName: "anything",
		}},
	} {
		got, err := c.PoolConfig(tc.db, tc.user)
		if err != nil {
			t.Errorf("PoolConfig(%q, %q): %v", tc.db, tc.user, err)
			continue
		}
		if got != tc.want {
			t.Errorf("PoolConfig(%q, %q):\n got %+v\nwant %+v", tc.db, tc.user, got, tc.want)
		}
	}
}

func TestPoolConfigUnknownDatabase(t *testing.T) {
	c := resolveConfig(t)
	delete(c.Databases, "*")
	_, err := c.PoolConfig("missing", "carol")
	if !errors.Is(err, ErrUnknownDatabase) {
		t.Fatalf("PoolConfig(missing) error %v, want ErrUnknownDatabase", err)
	}
	const want = `no such database: "missing" (no [databases] table of that name and no "*" fallback)`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if _, err := c.PoolConfig("app", "carol"); err != nil {
		t.Errorf("PoolConfig(app) without fallback: %v", err)
	}
	if _, err := Default().PoolConfig("postgres", "x"); !errors.Is(err, ErrUnknownDatabase) {
		t.Errorf("Default().PoolConfig: %v, want ErrUnknownDatabase", err)
	}
}

func TestPoolConfigAuth(t *testing.T) {
	const text = `
[pooler]
auth_type = "md5"
auth_user = "lookup"
auth_query = "SELECT * FROM global_lookup($1)"
auth_dbname = "authdb"

[databases.authdb]

[databases.app]
auth_user = "app_lookup"
auth_query = "SELECT * FROM app_lookup($1)"
auth_dbname = "app"

[databases.onlyuser]
auth_user = "own_lookup"

[databases.onlydb]
auth_dbname = "app"

[databases."*"]
auth_query = "SELECT * FROM star_lookup($1)"
`
	c, err := Parse([]byte(text), "auth.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		db                      string
		user, query, authDBName string
	}{
		{"app", "app_lookup", "SELECT * FROM app_lookup($1)", "app"},            // the database's own
		{"onlyuser", "own_lookup", "SELECT * FROM global_lookup($1)", "authdb"}, // mixed
		{"onlydb", "lookup", "SELECT * FROM global_lookup($1)", "app"},
		{"authdb", "lookup", "SELECT * FROM global_lookup($1)", "authdb"}, // all [pooler]'s
		{"other", "lookup", "SELECT * FROM star_lookup($1)", "authdb"},    // via "*"
	} {
		pc, err := c.PoolConfig(tc.db, "alice")
		if err != nil {
			t.Fatalf("PoolConfig(%q): %v", tc.db, err)
		}
		if pc.AuthUser != tc.user || pc.AuthQuery != tc.query || pc.AuthDBName != tc.authDBName {
			t.Errorf("PoolConfig(%q) auth = %q, %q, %q; want %q, %q, %q", tc.db,
				pc.AuthUser, pc.AuthQuery, pc.AuthDBName, tc.user, tc.query, tc.authDBName)
		}
	}

	// No auth_dbname anywhere: the auth query runs in the database asked for.
	c.Pooler.AuthDBName = ""
	for _, db := range []string{"authdb", "other"} {
		if pc, _ := c.PoolConfig(db, "alice"); pc.AuthDBName != db {
			t.Errorf("PoolConfig(%q).AuthDBName = %q, want %q", db, pc.AuthDBName, db)
		}
	}
	// No auth_user anywhere: AuthUser is "", the query is still resolved.
	d := Default()
	d.Databases["x"] = Database{}
	pc, _ := d.PoolConfig("x", "alice")
	if pc.AuthUser != "" || pc.AuthQuery != DefaultAuthQuery || pc.AuthDBName != "x" {
		t.Errorf("default auth resolution = %q, %q, %q", pc.AuthUser, pc.AuthQuery, pc.AuthDBName)
	}
}
