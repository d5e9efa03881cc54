package config

import (
	"crypto/tls"
	"strings"
	"testing"
)

func TestTLSVersions(t *testing.T) {
	const (
		v10 = tls.VersionTLS10
		v11 = tls.VersionTLS11
		v12 = tls.VersionTLS12
		v13 = tls.VersionTLS13
	)
	for _, tc := range []struct {
		in       string
		min, max uint16
	}{
		{"secure", v12, v13},
		{"default", v12, v13},
		{"all", v10, v13},
		{"legacy", v10, v13},
		{"ALL", v10, v13},
		{"Secure", v12, v13},
		{"tlsv1.0", v10, v10},
		{"tlsv1.1", v11, v11},
		{"tlsv1.2", v12, v12},
		{"tlsv1.3", v13, v13},
		{"TLSv1.3", v13, v13},
		{"tlsv1.2,tlsv1.3", v12, v13},
		{"tlsv1.3,tlsv1.2", v12, v13},
		{"tlsv1.2, tlsv1.3", v12, v13},
		{"tlsv1.2 tlsv1.3", v12, v13},
		{"tlsv1.2:tlsv1.3", v12, v13},
		{" tlsv1.0,tlsv1.1,tlsv1.2 ", v10, v12},
		{"tlsv1.1,secure", v11, v13},
		{"tlsv1.2,tlsv1.2", v12, v12},
		{"all,!tlsv1.0", v11, v13},
		{"!tlsv1.0", v11, v13}, // as in PgBouncer: starting with "!" starts from all
		{"!tlsv1.3", v10, v12},
		{"legacy,!secure", v10, v11},
	} {
		min, max, err := TLSVersions(tc.in)
		if err != nil || min != tc.min || max != tc.max {
			t.Errorf("TLSVersions(%q) = %#x, %#x, %v; want %#x, %#x", tc.in, min, max, err, tc.min, tc.max)
		}
	}
}

func TestTLSVersionsErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `"" names no TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{" , ", `" , " names no TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{"tlsv1.4", `"tlsv1.4" is not a TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{"tlsv1.2,sslv3", `"sslv3" is not a TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{"tls1.2", `"tls1.2" is not a TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{"!bogus", `"bogus" is not a TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`},
		{"tlsv1.0,tlsv1.2", `"tlsv1.0,tlsv1.2" leaves out tlsv1.1 between tlsv1.0 and tlsv1.2: Go's crypto/tls can only allow a range of versions without gaps`},
		{"tlsv1.0,tlsv1.3", `"tlsv1.0,tlsv1.3" leaves out tlsv1.1 between tlsv1.0 and tlsv1.3: Go's crypto/tls can only allow a range of versions without gaps`},
		{"tlsv1.1,tlsv1.3", `"tlsv1.1,tlsv1.3" leaves out tlsv1.2 between tlsv1.1 and tlsv1.3: Go's crypto/tls can only allow a range of versions without gaps`},
		{"all,!tlsv1.2", `"all,!tlsv1.2" leaves out tlsv1.2 between tlsv1.0 and tlsv1.3: Go's crypto/tls can only allow a range of versions without gaps`},
		{"all,!all", `"all,!all" allows no TLS version`},
		{"tlsv1.2,!tlsv1.2", `"tlsv1.2,!tlsv1.2" allows no TLS version`},
	} {
		min, max, err := TLSVersions(tc.in)
		if err == nil {
			t.Errorf("TLSVersions(%q) = %#x, %#x; want an error", tc.in, min, max)
			continue
		}
		if err.Error() != tc.want || min != 0 || max != 0 {
			t.Errorf("TLSVersions(%q) = %#x, %#x, %q\nwant error %q", tc.in, min, max, err, tc.want)
		}
	}
}

func TestParseTLSErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"client sslmode", "[pooler]\nclient_tls_sslmode = \"on\"\n", []string{
			`config.toml: pooler.client_tls_sslmode: "on" is not one of disable, allow, prefer, require, verify-ca, verify-full`,
		}},
		{"server sslmode", "[pooler]\nserver_tls_sslmode = \"Prefer\"\n", []string{
			`config.toml: pooler.server_tls_sslmode: "Prefer" is not one of disable, allow, prefer, require, verify-ca, verify-full`,
		}},
		{"client TLS without key and cert", "[pooler]\nclient_tls_sslmode = \"require\"\n", []string{
			`config.toml: pooler.client_tls_key_file: is empty, but pooler.client_tls_sslmode is "require", which needs a key and a certificate to accept TLS clients`,
			`config.toml: pooler.client_tls_cert_file: is empty, but pooler.client_tls_sslmode is "require", which needs a key and a certificate to accept TLS clients`,
		}},
		{"client TLS allow without cert", "[pooler]\nclient_tls_sslmode = \"allow\"\nclient_tls_key_file = \"k\"\n", []string{
			`config.toml: pooler.client_tls_cert_file: is empty, but pooler.client_tls_sslmode is "allow", which needs a key and a certificate to accept TLS clients`,
		}},
		{"client TLS prefer without key", "[pooler]\nclient_tls_sslmode = \"prefer\"\nclient_tls_cert_file = \"c\"\n", []string{
			`config.toml: pooler.client_tls_key_file: is empty, but pooler.client_tls_sslmode is "prefer", which needs a key and a certificate to accept TLS clients`,
		}},
		{"client verify-full without anything", "[pooler]\nclient_tls_sslmode = \"verify-full\"\n", []string{
			`config.toml: pooler.client_tls_key_file: is empty, but pooler.client_tls_sslmode is "verify-full", which needs a key and a certificate to accept TLS clients`,
			`config.toml: pooler.client_tls_cert_file: is empty, but pooler.client_tls_sslmode is "verify-full", which needs a key and a certificate to accept TLS clients`,
			`config.toml: pooler.client_tls_ca_file: is empty, but pooler.client_tls_sslmode is "verify-full", which checks client certificates against it`,
		}},
		{"client verify-ca without CA", "[pooler]\nclient_tls_sslmode = \"verify-ca\"\nclient_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\n", []string{
			`config.toml: pooler.client_tls_ca_file: is empty, but pooler.client_tls_sslmode is "verify-ca", which checks client certificates against it`,
		}},
		{"server verify-ca without CA", "[pooler]\nserver_tls_sslmode = \"verify-ca\"\n", []string{
			`config.toml: pooler.server_tls_ca_file: is empty, but pooler.server_tls_sslmode is "verify-ca", which checks server certificates against it`,
		}},
		{"server verify-full without CA", "[pooler]\nserver_tls_sslmode = \"verify-full\"\n", []string{
			`config.toml: pooler.server_tls_ca_file: is empty, but pooler.server_tls_sslmode is "verify-full", which checks server certificates against it`,
		}},
		{"server cert without key", "[pooler]\nserver_tls_cert_file = \"c\"\n", []string{
			`config.toml: pooler.server_tls_key_file: is empty, but pooler.server_tls_cert_file is set (give both or neither)`,
		}},
		{"server key without cert", "[pooler]\nserver_tls_key_file = \"k\"\n", []string{
			`config.toml: pooler.server_tls_cert_file: is empty, but pooler.server_tls_key_file is set (give both or neither)`,
		}},
		{"client protocols gap", "[pooler]\nclient_tls_protocols = \"tlsv1.0,tlsv1.2\"\n", []string{
			`config.toml: pooler.client_tls_protocols: "tlsv1.0,tlsv1.2" leaves out tlsv1.1 between tlsv1.0 and tlsv1.2: Go's crypto/tls can only allow a range of versions without gaps`,
		}},
		{"server protocols bad name", "[pooler]\nserver_tls_protocols = \"tlsv1.4\"\n", []string{
			`config.toml: pooler.server_tls_protocols: "tlsv1.4" is not a TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`,
		}},
		{"empty protocols", "[pooler]\nclient_tls_protocols = \"\"\n", []string{
			`config.toml: pooler.client_tls_protocols: "" names no TLS version (allowed: tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy)`,
		}},
		{"empty ciphers", "[pooler]\nclient_tls_ciphers = \"\"\nserver_tls_ciphers = \" \"\n", []string{
			`config.toml: pooler.client_tls_ciphers: must not be empty (write "default" for Go's default cipher suites)`,
			`config.toml: pooler.server_tls_ciphers: must not be empty (write "default" for Go's default cipher suites)`,
		}},
		{"sslmode wrong type", "[pooler]\nclient_tls_sslmode = true\n", []string{
			`config.toml: pooler.client_tls_sslmode: expected a string, got a boolean`,
		}},
		{"unsupported PgBouncer TLS key", "[pooler]\nclient_tls13_ciphers = \"TLS_AES_128_GCM_SHA256\"\n", []string{
			`config.toml: unknown key "pooler.client_tls13_ciphers" (did you mean "client_tls_ciphers"?)`,
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

func TestParseTLSValid(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"defaults", ""},
		{"client disable ignores files", "[pooler]\nclient_tls_sslmode = \"disable\"\nclient_tls_key_file = \"k\"\n"},
		{"client require", "[pooler]\nclient_tls_sslmode = \"require\"\nclient_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\n"},
		{"client verify-ca", "[pooler]\nclient_tls_sslmode = \"verify-ca\"\nclient_tls_key_file = \"k\"\nclient_tls_cert_file = \"c\"\nclient_tls_ca_file = \"ca\"\n"},
		{"server disable", "[pooler]\nserver_tls_sslmode = \"disable\"\n"},
		{"server allow", "[pooler]\nserver_tls_sslmode = \"allow\"\n"},
		{"server require", "[pooler]\nserver_tls_sslmode = \"require\"\n"},
		{"server verify-full", "[pooler]\nserver_tls_sslmode = \"verify-full\"\nserver_tls_ca_file = \"ca\"\n"},
		{"server client certificate", "[pooler]\nserver_tls_cert_file = \"c\"\nserver_tls_key_file = \"k\"\n"},
		{"protocols", "[pooler]\nclient_tls_protocols = \"legacy\"\nserver_tls_protocols = \"TLSv1.2,TLSv1.3\"\n"},
		{"ciphers", "[pooler]\nclient_tls_ciphers = \"all\"\nserver_tls_ciphers = \"HIGH:!aNULL\"\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.text), "config.toml"); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}
