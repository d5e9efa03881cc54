package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// parseErrors parses text as config.toml and returns the error's lines; it
// fails the test if Parse succeeds or returns a config with its error.
func parseErrors(t *testing.T, text string) []string {
	t.Helper()
	c, err := Parse([]byte(text), "config.toml")
	if err == nil {
		t.Fatalf("Parse(%q) succeeded, want an error", text)
	}
	if c != nil {
		t.Errorf("Parse returned a config with its error: %+v", c)
	}
	return strings.Split(err.Error(), "\n")
}

func TestParseErrorMessages(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		// unknown keys
		{"unknown pooler key", "[pooler]\nlisten_prot = 1\n",
			`config.toml: unknown key "pooler.listen_prot" (did you mean "listen_port"?)`},
		{"unknown key, no suggestion", "[pooler]\nlogfile = \"x\"\n",
			`config.toml: unknown key "pooler.logfile"`},
		{"unknown section", "[databse.x]\n",
			`config.toml: unknown key "databse" (did you mean "databases"?)`},
		{"pgbouncer section", "[pgbouncer]\nlisten_port = 1\n",
			`config.toml: pgbouncer: unknown section: PgBouncer's [pgbouncer] settings go in [pooler]`},
		{"unknown database key", "[databases.\"*\"]\nhots = \"x\"\n",
			`config.toml: unknown key 'databases."*".hots' (did you mean "host"?)`},
		{"unknown user key", "[users.bob]\npool_sise = 1\n",
			`config.toml: unknown key "users.bob.pool_sise" (did you mean "pool_size"?)`},
		{"nested table under a key", "[pooler.listen]\nport = 1\n",
			`config.toml: unknown key "pooler.listen"`},
		{"keys match case exactly", "[pooler]\nListen_Port = 1\n",
			`config.toml: unknown key "pooler.Listen_Port" (did you mean "listen_port"?)`},

		// wrong types
		{"string for int", "[pooler]\nlisten_port = \"6432\"\n",
			`config.toml: pooler.listen_port: expected an integer, got a string`},
		{"float for int", "[pooler]\ndefault_pool_size = 20.0\n",
			`config.toml: pooler.default_pool_size: expected an integer, got a float`},
		{"int for bool", "[pooler]\nlog_connections = 1\n",
			`config.toml: pooler.log_connections: expected true or false, got an integer`},
		{"int for string", "[pooler]\npool_mode = 1\n",
			`config.toml: pooler.pool_mode: expected a string, got an integer`},
		{"string for *int", "[databases.app]\npool_size = \"10\"\n",
			`config.toml: databases.app.pool_size: expected an integer, got a string`},
		{"pooler not a table", "pooler = 5\n",
			`config.toml: pooler: expected a table, got an integer`},
		{"database not a table", "[databases]\napp = \"host=x\"\n",
			`config.toml: databases.app: expected a table, got a string`},
		{"array of tables", "[[users.bob]]\npool_size = 1\n",
			`config.toml: users.bob: expected a table, got an array of tables`},
		{"bool for duration", "[pooler]\nquery_timeout = true\n",
			`config.toml: pooler.query_timeout: expected a duration such as "15s" or a number of seconds, got a boolean`},

		// bad durations
		{"unparsable duration", "[pooler]\nquery_timeout = \"abc\"\n",
			`config.toml: pooler.query_timeout: "abc" is not a duration (write it like "15s", "10m", "1h30m", "250ms", or as a number of seconds)`},
		{"negative seconds", "[pooler]\nserver_lifetime = -5\n",
			`config.toml: pooler.server_lifetime: must not be negative`},
		{"negative duration", "[pooler]\nserver_lifetime = \"-1m\"\n",
			`config.toml: pooler.server_lifetime: must not be negative`},

		// bad values
		{"pool_mode", "[pooler]\npool_mode = \"sessoin\"\n",
			`config.toml: pooler.pool_mode: "sessoin" is not one of session, transaction, statement`},
		{"database pool_mode", "[databases.app]\npool_mode = \"txn\"\n",
			`config.toml: databases.app.pool_mode: "txn" is not one of session, transaction, statement`},
		{"user pool_mode", "[users.bob]\npool_mode = \"Session\"\n",
			`config.toml: users.bob.pool_mode: "Session" is not one of session, transaction, statement`},
		{"listen_port 0", "[pooler]\nlisten_port = 0\n",
			`config.toml: pooler.listen_port: 0 is outside 1..65535`},
		{"listen_port too big", "[pooler]\nlisten_port = 65536\n",
			`config.toml: pooler.listen_port: 65536 is outside 1..65535`},
		{"database port", "[databases.app]\nport = -1\n",
			`config.toml: databases.app.port: -1 is outside 1..65535`},
		{"negative pool size", "[pooler]\ndefault_pool_size = -1\n",
			`config.toml: pooler.default_pool_size: -1 is less than 1`},
		{"negative min_pool_size", "[pooler]\nmin_pool_size = -1\n",
			`config.toml: pooler.min_pool_size: -1 is less than 0`},
		{"negative reserve", "[pooler]\nreserve_pool_size = -2\n",
			`config.toml: pooler.reserve_pool_size: -2 is less than 0`},
		{"zero max_client_conn", "[pooler]\nmax_client_conn = 0\n",
			`config.toml: pooler.max_client_conn: 0 is less than 1`},
		{"negative max_db_connections", "[pooler]\nmax_db_connections = -1\n",
			`config.toml: pooler.max_db_connections: -1 is less than 0`},
		{"negative max_user_connections", "[users.bob]\nmax_user_connections = -1\n",
			`config.toml: users.bob.max_user_connections: -1 is less than 0`},
		{"negative event_loop_count", "[pooler]\nevent_loop_count = -1\n",
			`config.toml: pooler.event_loop_count: -1 is less than 0`},
		{"event_loop_count over its bound", "[pooler]\nevent_loop_count = 1025\n",
			`config.toml: pooler.event_loop_count: 1025 is more than 1024`},
		{"zero database pool_size", "[databases.app]\npool_size = 0\n",
			`config.toml: databases.app.pool_size: 0 is less than 1`},
		{"zero user pool_size", "[users.bob]\npool_size = 0\n",
			`config.toml: users.bob.pool_size: 0 is less than 1`},
		{"min_pool_size over default", "[pooler]\nmin_pool_size = 21\n",
			`config.toml: pooler.min_pool_size: 21 is more than pooler.default_pool_size 20`},
		{"database min over its size", "[databases.app]\npool_size = 2\nmin_pool_size = 5\n",
			`config.toml: databases.app.min_pool_size: 5 is more than the pool size 2 (databases.app.pool_size)`},
		{"database min over default", "[databases.app]\nmin_pool_size = 25\n",
			`config.toml: databases.app.min_pool_size: 25 is more than the pool size 20 (pooler.default_pool_size)`},
		{"database size under global min", "[pooler]\nmin_pool_size = 5\n[databases.app]\npool_size = 2\n",
			`config.toml: databases.app.pool_size: 2 is less than pooler.min_pool_size 5`},
		{"max_packet_size", "[pooler]\nmax_packet_size = 1023\n",
			`config.toml: pooler.max_packet_size: 1023 is outside 1024..2147483647`},
		{"verbose", "[pooler]\nverbose = -1\n",
			`config.toml: pooler.verbose: -1 is less than 0`},
		{"auth_type not supported", "[pooler]\nauth_type = \"pam\"\n",
			`config.toml: pooler.auth_type: "pam" is not supported (supported: trust, md5, scram-sha-256, plain, cert, hba)`},
		{"auth_type unknown", "[pooler]\nauth_type = \"password\"\n",
			`config.toml: pooler.auth_type: "password" is not one of trust, md5, scram-sha-256, plain, cert, hba`},
		{"listen_addr with port", "[pooler]\nlisten_addr = \"127.0.0.1:6432\"\n",
			`config.toml: pooler.listen_addr: "127.0.0.1:6432" is not an IP address, a host name or *; give the port in pooler.listen_port`},
		{"listen_addr junk", "[pooler]\nlisten_addr = \"local host\"\n",
			`config.toml: pooler.listen_addr: "local host" is not an IP address, a host name or *`},
		{"listen_addr empty entry", "[pooler]\nlisten_addr = \"127.0.0.1,\"\n",
			`config.toml: pooler.listen_addr: "127.0.0.1," has an empty entry`},
		{"nothing to listen on", "[pooler]\nlisten_addr = \"\"\n",
			`config.toml: pooler.listen_addr: is empty and so is pooler.unix_socket_dir: nothing to listen on`},
		{"empty database name", "[databases.\"\"]\n",
			`config.toml: databases."": a database name must not be empty`},
		{"empty user name", "[users.\"\"]\n",
			`config.toml: users."": a user name must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lines := parseErrors(t, tc.text)
			if len(lines) != 1 || lines[0] != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", strings.Join(lines, "\n"), tc.want)
			}
		})
	}
}

func TestParseValidListenAddrs(t *testing.T) {
	for _, addr := range []string{"*", "127.0.0.1", "::1", "0.0.0.0", "localhost", "db-1.example.com", "127.0.0.1, ::1", ""} {
		text := "[pooler]\nunix_socket_dir = \"/tmp\"\nlisten_addr = \"" + addr + "\"\n"
		if _, err := Parse([]byte(text), "config.toml"); err != nil {
			t.Errorf("listen_addr %q: %v", addr, err)
		}
	}
}

// TestParseReportsEveryProblem checks that decoding and validation problems
// are all reported at once, in the file's order, and never a config.
func TestParseReportsEveryProblem(t *testing.T) {
	const text = `
[pooler]
verbose = "loud"
listen_prot = 5
pool_mode = "sessoin"
query_timeout = "abc"

[databases.app]
port = 70000
hots = "x"
`
	got := parseErrors(t, text)
	want := []string{
		// decoding problems, in the file's order
		`config.toml: pooler.verbose: expected an integer, got a string`,
		`config.toml: unknown key "pooler.listen_prot" (did you mean "listen_port"?)`,
		`config.toml: pooler.query_timeout: "abc" is not a duration (write it like "15s", "10m", "1h30m", "250ms", or as a number of seconds)`,
		`config.toml: unknown key "databases.app.hots" (did you mean "host"?)`,
		// then validation problems
		`config.toml: pooler.pool_mode: "sessoin" is not one of session, transaction, statement`,
		`config.toml: databases.app.port: 70000 is outside 1..65535`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseSyntaxError(t *testing.T) {
	_, err := Parse([]byte("[pooler]\nlisten_port = = 5\n"), "config.toml")
	if err == nil {
		t.Fatal("want a syntax error")
	}
	const want = "config.toml: line 2, column 15: expected value but found '=' instead"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	var pe toml.ParseError
	if !errors.As(err, &pe) || pe.Position.Line != 2 {
		t.Errorf("error does not wrap a toml.ParseError at line 2: %#v", err)
	}
}

// TestParseNeverPrintsPasswords checks that a badly typed password is not
// echoed in the error.
func TestParseNeverPrintsPasswords(t *testing.T) {
	for _, text := range []string{
		"[databases.app]\npassword = 987654321\n",
		"[databases.app]\npassword = [\"hunter2hunter2\"]\n",
	} {
		lines := parseErrors(t, text)
		for _, l := range lines {
			if strings.Contains(l, "987654321") || strings.Contains(l, "hunter2") {
				t.Errorf("error prints the password: %s", l)
			}
		}
	}
}

func TestParseWithoutPath(t *testing.T) {
	_, err := Parse([]byte("[pooler]\nlisten_port = 0\n"), "")
	if err == nil || err.Error() != "pooler.listen_port: 0 is outside 1..65535" {
		t.Errorf("error %v, want one without a file name", err)
	}
}

func TestValidateBuiltInCode(t *testing.T) {
	c := Default()
	c.Pooler.QueryTimeout = -1
	c.Pooler.PoolMode = "bogus"
	c.Databases["app"] = Database{PoolSize: ptr(-1), DateStyle: "ISO\x00", TimeZone: "UTC"}
	c.Users["bob"] = User{MaxUserConnections: ptr(-3)}
	err := c.Validate()
	want := strings.Join([]string{
		`pooler.pool_mode: "bogus" is not one of session, transaction, statement`,
		`pooler.query_timeout: must not be negative: -1ns`,
		`databases.app.pool_size: -1 is less than 1`,
		`databases.app.datestyle: "ISO\x00" holds a NUL byte, which a StartupMessage cannot carry`,
		`users.bob.max_user_connections: -3 is less than 0`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, want)
	}
	c.Path = "/etc/pgpooler.toml"
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "/etc/pgpooler.toml: pooler.pool_mode") {
		t.Errorf("Validate with Path: %v", err)
	}
}
