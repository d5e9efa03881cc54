package tlsconfig

import (
	"fmt"
	"strings"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// parseProtocols returns the oldest and newest TLS version a client_tls_protocols or
// server_tls_protocols value (setting names it in errors) allows, as crypto/tls constants. The syntax is
// config.TLSVersions'; "" means "secure" (tlsv1.2,tlsv1.3), PgBouncer's default.
func parseProtocols(setting, value string) (min, max uint16, err error) {
	if strings.TrimSpace(value) == "" {
		value = "secure"
	}
	if min, max, err = config.TLSVersions(value); err != nil {
		return 0, 0, fmt.Errorf("tlsconfig: %s: %w", setting, err)
	}
	return min, max, nil
}
