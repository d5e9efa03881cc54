package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/BurntSushi/toml"
)

// TLS modes: the values of client_tls_sslmode and server_tls_sslmode, in
// increasing strictness. PgBouncer doc/config.md keys client_tls_sslmode and
// server_tls_sslmode; see [Pooler.ClientTLSSSLMode] and
// [Pooler.ServerTLSSSLMode] for what each means on either side.
const (
	SSLModeDisable    = "disable"
	SSLModeAllow      = "allow"
	SSLModePrefer     = "prefer"
	SSLModeRequire    = "require"
	SSLModeVerifyCA   = "verify-ca"
	SSLModeVerifyFull = "verify-full"
)

// sslModes are the values of client_tls_sslmode and server_tls_sslmode.
var sslModes = []string{SSLModeDisable, SSLModeAllow, SSLModePrefer, SSLModeRequire, SSLModeVerifyCA, SSLModeVerifyFull}

// tlsVersions are the TLS versions client_tls_protocols and
// server_tls_protocols may name, oldest first.
var tlsVersions = []struct {
	name    string
	version uint16
}{
	{"tlsv1.0", tls.VersionTLS10},
	{"tlsv1.1", tls.VersionTLS11},
	{"tlsv1.2", tls.VersionTLS12},
	{"tlsv1.3", tls.VersionTLS13},
}

// tlsProtocolNames maps each name a protocols list may hold, lower case, to
// the set of versions it stands for: bit i is tlsVersions[i].
var tlsProtocolNames = map[string]uint8{
	"tlsv1.0": 1 << 0,
	"tlsv1.1": 1 << 1,
	"tlsv1.2": 1 << 2,
	"tlsv1.3": 1 << 3,
	"all":     0b1111,
	"legacy":  0b1111,
	"secure":  0b1100,
	"default": 0b1100, // PgBouncer's parser takes it as "secure"
}

// allowedTLSProtocols lists the names a protocols list may hold, for error
// messages.
const allowedTLSProtocols = "tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, all, secure, legacy"

// TLSVersions returns the oldest and newest TLS versions (crypto/tls
// constants such as tls.VersionTLS12, for tls.Config's MinVersion and
// MaxVersion) that a client_tls_protocols or server_tls_protocols value
// allows.
//
// The value is a list of names separated by commas, colons or white space,
// in any case: "tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3", and the shortcuts
// "all" and "legacy" (every version) and "secure" or "default" (tlsv1.2 and
// tlsv1.3). As in PgBouncer, a name after "!" takes its versions out again,
// and a list that starts by taking out starts from "all": "all,!tlsv1.0"
// and "!tlsv1.0" both mean tlsv1.1 to tlsv1.3.
//
// Go's crypto/tls can only allow a range of versions, so a list that leaves
// out a version between two it allows ("tlsv1.0,tlsv1.2") is an error that
// names the missing version, as are an unknown name and a list that allows
// no version.
func TLSVersions(protocols string) (min, max uint16, err error) {
	names := strings.FieldsFunc(protocols, func(r rune) bool {
		return r == ',' || r == ':' || unicode.IsSpace(r)
	})
	if len(names) == 0 {
		return 0, 0, fmt.Errorf("%q names no TLS version (allowed: %s)", protocols, allowedTLSProtocols)
	}
	var set uint8
	for _, name := range names {
		without, negate := strings.CutPrefix(name, "!")
		bits, ok := tlsProtocolNames[strings.ToLower(without)]
		if !ok {
			return 0, 0, fmt.Errorf("%q is not a TLS version (allowed: %s)", without, allowedTLSProtocols)
		}
		if negate {
			if set == 0 {
				set = tlsProtocolNames["all"]
			}
			set &^= bits
		} else {
			set |= bits
		}
	}
	lo, hi := -1, -1
	for i := range tlsVersions {
		if set&(1<<i) != 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo < 0 {
		return 0, 0, fmt.Errorf("%q allows no TLS version", protocols)
	}
	for i := lo + 1; i < hi; i++ {
		if set&(1<<i) == 0 {
			return 0, 0, fmt.Errorf("%q leaves out %s between %s and %s: Go's crypto/tls can only allow a range of versions without gaps",
				protocols, tlsVersions[i].name, tlsVersions[lo].name, tlsVersions[hi].name)
		}
	}
	return tlsVersions[lo].version, tlsVersions[hi].version, nil
}

// checkTLS checks the client_tls_* and server_tls_* keys of [pooler].
func (c *Config) checkTLS(p *problems) {
	pl := &c.Pooler
	key := func(name string) toml.Key { return toml.Key{"pooler", name} }

	// Client side: the pooler is the TLS server.
	if checkSSLMode(p, key("client_tls_sslmode"), pl.ClientTLSSSLMode) && pl.ClientTLSSSLMode != SSLModeDisable {
		for _, f := range []struct{ name, value string }{
			{"client_tls_key_file", pl.ClientTLSKeyFile},
			{"client_tls_cert_file", pl.ClientTLSCertFile},
		} {
			if f.value == "" {
				p.add(key(f.name), "is empty, but pooler.client_tls_sslmode is %q, which needs a key and a certificate to accept TLS clients", pl.ClientTLSSSLMode)
			}
		}
	}
	if isVerifyMode(pl.ClientTLSSSLMode) && pl.ClientTLSCAFile == "" {
		p.add(key("client_tls_ca_file"), "is empty, but pooler.client_tls_sslmode is %q, which checks client certificates against it", pl.ClientTLSSSLMode)
	}
	checkTLSProtocols(p, key("client_tls_protocols"), pl.ClientTLSProtocols)
	checkTLSCiphers(p, key("client_tls_ciphers"), pl.ClientTLSCiphers)

	// Server side: the pooler is the TLS client.
	checkSSLMode(p, key("server_tls_sslmode"), pl.ServerTLSSSLMode)
	if isVerifyMode(pl.ServerTLSSSLMode) && pl.ServerTLSCAFile == "" {
		p.add(key("server_tls_ca_file"), "is empty, but pooler.server_tls_sslmode is %q, which checks server certificates against it", pl.ServerTLSSSLMode)
	}
	switch {
	case pl.ServerTLSCertFile != "" && pl.ServerTLSKeyFile == "":
		p.add(key("server_tls_key_file"), "is empty, but pooler.server_tls_cert_file is set (give both or neither)")
	case pl.ServerTLSKeyFile != "" && pl.ServerTLSCertFile == "":
		p.add(key("server_tls_cert_file"), "is empty, but pooler.server_tls_key_file is set (give both or neither)")
	}
	checkTLSProtocols(p, key("server_tls_protocols"), pl.ServerTLSProtocols)
	checkTLSCiphers(p, key("server_tls_ciphers"), pl.ServerTLSCiphers)
}

// checkSSLMode checks a client_tls_sslmode or server_tls_sslmode value and
// reports whether it is valid.
func checkSSLMode(p *problems, key toml.Key, v string) bool {
	if slices.Contains(sslModes, v) {
		return true
	}
	p.add(key, "%q is not one of %s", v, strings.Join(sslModes, ", "))
	return false
}

// isVerifyMode reports whether a TLS mode checks the peer's certificate.
func isVerifyMode(mode string) bool {
	return mode == SSLModeVerifyCA || mode == SSLModeVerifyFull
}

// checkTLSProtocols checks a client_tls_protocols or server_tls_protocols
// value with TLSVersions.
func checkTLSProtocols(p *problems, key toml.Key, v string) {
	if _, _, err := TLSVersions(v); err != nil {
		p.add(key, "%v", err)
	}
}

// checkTLSCiphers checks a client_tls_ciphers or server_tls_ciphers value:
// only that it is there; the TLS code parses it.
func checkTLSCiphers(p *problems, key toml.Key, v string) {
	if strings.TrimSpace(v) == "" {
		p.add(key, `must not be empty (write "default" for Go's default cipher suites)`)
	}
}
