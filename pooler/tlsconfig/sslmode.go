package tlsconfig

import (
	"fmt"
	"strings"
)

// sslMode is a client_tls_sslmode or server_tls_sslmode value, in increasing strictness.
type sslMode int

const (
	modeDisable sslMode = iota
	modeAllow
	modePrefer
	modeRequire
	modeVerifyCA
	modeVerifyFull
)

var sslModeNames = []string{"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

func (m sslMode) String() string { return sslModeNames[m] }

// verifies reports whether the mode checks the peer's certificate.
func (m sslMode) verifies() bool { return m >= modeVerifyCA }

// parseSSLMode parses the value of setting (named in errors), in any case; "" is def, the setting's
// PgBouncer default.
func parseSSLMode(setting, v string, def sslMode) (sslMode, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, nil
	}
	for i, name := range sslModeNames {
		if strings.EqualFold(v, name) {
			return sslMode(i), nil
		}
	}
	return 0, fmt.Errorf("tlsconfig: %s %q is not one of %s", setting, v, strings.Join(sslModeNames, ", "))
}
