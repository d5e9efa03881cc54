package tlsconfig

import (
	"crypto/tls"
	"slices"
	"strings"
	"testing"
)

func TestCiphers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []uint16
	}{
		{"", nil},
		{"default", nil},
		{"Secure", nil},
		{"normal", nil},
		{" fast ", nil},
		{"ECDHE-RSA-AES128-GCM-SHA256", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{"ecdhe-rsa-aes128-gcm-sha256", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}},
		{"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305",
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"ECDHE-ECDSA-AES256-GCM-SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305 ECDHE-ECDSA-AES256-GCM-SHA384",
			[]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}},
		{"TLS_AES_128_GCM_SHA256:ECDHE-RSA-AES256-SHA", []uint16{tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA}},
		{"AES128-GCM-SHA256:DES-CBC3-SHA:RC4-SHA",
			[]uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA, tls.TLS_RSA_WITH_RC4_128_SHA}},
		{"ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256:AES128-SHA256:AES256-SHA:AES128-SHA",
			[]uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
				tls.TLS_RSA_WITH_AES_128_CBC_SHA256, tls.TLS_RSA_WITH_AES_256_CBC_SHA, tls.TLS_RSA_WITH_AES_128_CBC_SHA}},
	} {
		got, err := Ciphers(tt.in)
		if err != nil || !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("Ciphers(%q) = %v, %v; want %v", tt.in, names(got), err, names(tt.want))
		}
	}
}

func TestCiphersShortcuts(t *testing.T) {
	t.Parallel()
	compat, err := Ciphers("compat")
	if err != nil {
		t.Fatal(err)
	}
	if legacy, _ := Ciphers("LEGACY"); !slices.Equal(compat, legacy) {
		t.Errorf("legacy %v != compat %v", names(legacy), names(compat))
	}
	all, err := Ciphers("all")
	if err != nil {
		t.Fatal(err)
	}
	if insecure, _ := Ciphers("insecure"); !slices.Equal(all, insecure) {
		t.Errorf("insecure %v != all %v", names(insecure), names(all))
	}
	// compat: every suite Go calls secure for TLS 1.2 and older, then RSA key exchange and 3DES.
	for _, cs := range tls.CipherSuites() {
		if want := !tls13Only(cs); slices.Contains(compat, cs.ID) != want {
			t.Errorf("compat has %s: %v, want %v", cs.Name, !want, want)
		}
	}
	for _, id := range []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA} {
		if !slices.Contains(compat, id) {
			t.Errorf("compat lacks %s", tls.CipherSuiteName(id))
		}
	}
	if slices.Contains(compat, tls.TLS_RSA_WITH_RC4_128_SHA) || slices.Contains(compat, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256) {
		t.Errorf("compat has RC4 or CBC-SHA256: %v", names(compat))
	}
	// all: every suite crypto/tls implements for TLS 1.2 and older, once.
	n := 0
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if !tls13Only(cs) {
				n++
				if !slices.Contains(all, cs.ID) {
					t.Errorf("all lacks %s", cs.Name)
				}
			}
		}
	}
	if len(all) != n {
		t.Errorf("all has %d suites, want %d", len(all), n)
	}
	// Callers may change what they get.
	compat[0] = 0
	if again, _ := Ciphers("compat"); again[0] == 0 {
		t.Error("Ciphers returns a shared slice")
	}
}

func TestCiphersErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, want string
	}{
		{"HIGH", `"HIGH" is not supported`},
		{"HIGH:!aNULL", `"HIGH" is not supported`},
		{"ECDHE-RSA-AES128-GCM-SHA256:!RC4", `"!RC4" is not supported`},
		{"ECDHE+AESGCM", `"ECDHE+AESGCM" is not supported`},
		{"-3DES", `"-3DES" is not supported`},
		{"@STRENGTH", `"@STRENGTH" is not supported`},
		{"ALL:!aNULL", `"ALL" is not supported`},
		{"DEFAULT:ECDHE-RSA-AES128-SHA", `"DEFAULT" is not supported`},
		{"DHE-RSA-AES128-GCM-SHA256", `cipher suite "DHE-RSA-AES128-GCM-SHA256" is not supported`},
		{"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", `"TLS_DHE_RSA_WITH_AES_128_GCM_SHA256" is not supported`},
		{"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-CCM", `"ECDHE-RSA-AES128-CCM" is not supported`},
		{"TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256", "only TLS 1.3 suites"},
		{"::", "empty"},
	} {
		got, err := Ciphers(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "tlsconfig: ") {
			t.Errorf("Ciphers(%q) = %v, %v; want an error with %q", tt.in, names(got), err, tt.want)
		}
	}
}

// TestOpenSSLNames checks the OpenSSL names against the IANA ones they stand for: the OpenSSL name of
// TLS_<kx>_WITH_<cipher>_<mac> is derived by OpenSSL's rules for the suites Go implements.
func TestOpenSSLNames(t *testing.T) {
	t.Parallel()
	for name, id := range opensslNames {
		iana := tls.CipherSuiteName(id)
		if derived := opensslName(iana); derived != name {
			t.Errorf("%s: OpenSSL name %s, derived %s", iana, name, derived)
		}
	}
	if len(opensslNames) != len(allSuites) {
		t.Errorf("%d OpenSSL names for %d suites", len(opensslNames), len(allSuites))
	}
}

// opensslName derives OpenSSL's name of a TLS 1.2-and-older IANA suite name (for the suites Go has).
func opensslName(iana string) string {
	kx, rest, _ := strings.Cut(strings.TrimPrefix(iana, "TLS_"), "_WITH_")
	var parts []string
	switch kx {
	case "ECDHE_RSA":
		parts = append(parts, "ECDHE-RSA")
	case "ECDHE_ECDSA":
		parts = append(parts, "ECDHE-ECDSA")
	}
	switch {
	case strings.HasPrefix(rest, "CHACHA20_POLY1305"):
		return strings.Join(append(parts, "CHACHA20-POLY1305"), "-")
	case strings.HasPrefix(rest, "RC4_128_"):
		parts = append(parts, "RC4")
	case strings.HasPrefix(rest, "3DES_EDE_CBC_"):
		parts = append(parts, "DES-CBC3")
	case strings.HasPrefix(rest, "AES_128_GCM_"):
		parts = append(parts, "AES128-GCM")
	case strings.HasPrefix(rest, "AES_256_GCM_"):
		parts = append(parts, "AES256-GCM")
	case strings.HasPrefix(rest, "AES_128_CBC_"):
		parts = append(parts, "AES128")
	case strings.HasPrefix(rest, "AES_256_CBC_"):
		parts = append(parts, "AES256")
	}
	return strings.Join(append(parts, rest[strings.LastIndexByte(rest, '_')+1:]), "-")
}

func names(ids []uint16) []string {
	var s []string
	for _, id := range ids {
		s = append(s, tls.CipherSuiteName(id))
	}
	return s
}
