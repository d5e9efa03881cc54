package tlsconfig

import (
	"crypto/tls"
	"strings"
	"testing"
)

// TestParseProtocols checks the defaulting and error wrapping around config.TLSVersions, whose own tests
// cover the syntax.
func TestParseProtocols(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in       string
		min, max uint16
		err      string
	}{
		{"", tls.VersionTLS12, tls.VersionTLS13, ""},
		{"all", tls.VersionTLS10, tls.VersionTLS13, ""},
		{"tlsv1.3", tls.VersionTLS13, tls.VersionTLS13, ""},
		{"tlsv1.0,tlsv1.2", 0, 0, "tlsv1.1"},
		{"sslv3", 0, 0, "sslv3"},
	} {
		min, max, err := parseProtocols("client_tls_protocols", tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "client_tls_protocols") {
				t.Errorf("parseProtocols(%q) error = %v, want one naming %q and the setting", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || min != tt.min || max != tt.max {
			t.Errorf("parseProtocols(%q) = %x..%x, %v; want %x..%x", tt.in, min, max, err, tt.min, tt.max)
		}
	}
}
