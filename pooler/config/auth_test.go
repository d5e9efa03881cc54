package config

import (
	"strings"
	"testing"
)

func TestParseAuthErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"hba without file", "[pooler]\nauth_type = \"hba\"\n", []string{
			`config.toml: pooler.auth_hba_file: is empty, but pooler.auth_type is "hba", which reads its rules from it`,
		}},
		{"md5 without secrets", "[pooler]\nauth_type = \"md5\"\n", []string{
			`config.toml: pooler.auth_type: "md5" checks passwords, but there is no pooler.auth_file and no auth_user in [pooler] or any [databases] table: no user could ever log in`,
		}},
		{"scram without secrets", "[pooler]\nauth_type = \"scram-sha-256\"\n[databases.app]\n", []string{
			`config.toml: pooler.auth_type: "scram-sha-256" checks passwords, but there is no pooler.auth_file and no auth_user in [pooler] or any [databases] table: no user could ever log in`,
		}},
		{"plain without secrets", "[pooler]\nauth_type = \"plain\"\nauth_plain_without_tls = true\n", []string{
			`config.toml: pooler.auth_type: "plain" checks passwords, but there is no pooler.auth_file and no auth_user in [pooler] or any [databases] table: no user could ever log in`,
		}},
		{"cert without TLS", "[pooler]\nauth_type = \"cert\"\n", []string{
			`config.toml: pooler.auth_type: "cert" needs pooler.client_tls_sslmode "verify-ca" or "verify-full" to check client certificates, not "disable"`,
		}},
		{"cert with require", "[pooler]\nauth_type = \"cert\"\nclient_tls_sslmode = \"require\"\nclient_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\n", []string{
			`config.toml: pooler.auth_type: "cert" needs pooler.client_tls_sslmode "verify-ca" or "verify-full" to check client certificates, not "require"`,
		}},
		{"cert with verify-ca, no CA", "[pooler]\nauth_type = \"cert\"\nclient_tls_sslmode = \"verify-ca\"\nclient_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\n", []string{
			`config.toml: pooler.client_tls_ca_file: is empty, but pooler.client_tls_sslmode is "verify-ca", which checks client certificates against it`,
		}},
		{"auth_user without auth_query", "[pooler]\nauth_user = \"lookup\"\nauth_query = \"\"\n", []string{
			`config.toml: pooler.auth_query: is empty, but pooler.auth_user is set`,
		}},
		{"database auth_user without any auth_query", "[pooler]\nauth_query = \"\"\n[databases.app]\nauth_user = \"lookup\"\n", []string{
			`config.toml: databases.app.auth_query: is empty and so is pooler.auth_query, but databases.app.auth_user is set`,
		}},
		{"auth_dbname unknown", "[pooler]\nauth_dbname = \"authdb\"\n[databases.app]\n", []string{
			`config.toml: pooler.auth_dbname: "authdb" is not a [databases] table and there is no [databases."*"] fallback`,
		}},
		{"database auth_dbname unknown", "[databases.app]\nauth_dbname = \"nope\"\n", []string{
			`config.toml: databases.app.auth_dbname: "nope" is not a [databases] table and there is no [databases."*"] fallback`,
		}},
		{"auth_user wrong type", "[databases.app]\nauth_user = 5\n", []string{
			`config.toml: databases.app.auth_user: expected a string, got an integer`,
		}},
		{"auth_plain_without_tls wrong type", "[pooler]\nauth_plain_without_tls = \"yes\"\n", []string{
			`config.toml: pooler.auth_plain_without_tls: expected true or false, got a string`,
		}},
		{"users have no auth_user", "[users.bob]\nauth_user = \"x\"\n", []string{
			`config.toml: unknown key "users.bob.auth_user"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseErrors(t, tc.text)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestParseAuthValid(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"trust needs nothing", "[pooler]\nauth_type = \"trust\"\n"},
		{"md5 with auth_file", "[pooler]\nauth_type = \"md5\"\nauth_file = \"userlist.txt\"\n"},
		{"scram with global auth_user", "[pooler]\nauth_type = \"scram-sha-256\"\nauth_user = \"lookup\"\n"},
		{"md5 with a database's auth_user", "[pooler]\nauth_type = \"md5\"\n[databases.app]\nauth_user = \"lookup\"\n"},
		{"plain with auth_file", "[pooler]\nauth_type = \"plain\"\nauth_file = \"userlist.txt\"\n"},
		{"hba with file", "[pooler]\nauth_type = \"hba\"\nauth_hba_file = \"hba.conf\"\n"},
		{"hba needs no secrets here", "[pooler]\nauth_type = \"hba\"\nauth_hba_file = \"/etc/pgpooler/hba.conf\"\n"},
		{"cert with verify-full", "[pooler]\nauth_type = \"cert\"\nclient_tls_sslmode = \"verify-full\"\n" +
			"client_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\nclient_tls_ca_file = \"ca\"\n"},
		{"cert with verify-ca", "[pooler]\nauth_type = \"cert\"\nclient_tls_sslmode = \"verify-ca\"\n" +
			"client_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\nclient_tls_ca_file = \"ca\"\n"},
		{"auth_dbname names a database", "[pooler]\nauth_dbname = \"authdb\"\n[databases.authdb]\n[databases.app]\nauth_dbname = \"authdb\"\n"},
		{"auth_dbname covered by *", "[pooler]\nauth_dbname = \"authdb\"\n[databases.\"*\"]\n"},
		{"database auth_query covers an empty global one", "[pooler]\nauth_query = \"\"\n[databases.app]\nauth_user = \"u\"\nauth_query = \"SELECT 1\"\n"},
		{"empty auth_query without auth_user", "[pooler]\nauth_query = \"\"\n"},
		{"auth_hba_file ignored without hba", "[pooler]\nauth_hba_file = \"hba.conf\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.text), "config.toml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

// TestValidateAuthBuiltInCode: a Config built in code is checked the same
// way, including the secrets source that a database may supply.
func TestValidateAuthBuiltInCode(t *testing.T) {
	c := Default()
	c.Pooler.AuthType = AuthTypeMD5
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "no user could ever log in") {
		t.Errorf("md5 with no secrets: %v", err)
	}
	c.Databases["app"] = Database{AuthUser: "lookup"}
	if err := c.Validate(); err != nil {
		t.Errorf("md5 with a database's auth_user: %v", err)
	}
}
