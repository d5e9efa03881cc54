package tlsconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Ciphers parses a client_tls_ciphers or server_tls_ciphers value: the cipher suites of TLS 1.2 and
// older that a connection may use. crypto/tls always enables its TLS 1.3 suites and lets no
// configuration change them, so this list never affects a TLS 1.3 connection (PgBouncer's *_tls_ciphers
// does not either: it has separate *_tls13_ciphers settings, which pgpooler does not take).
//
// A nil list with a nil error means crypto/tls's default suites (tls.Config.CipherSuites nil). The value
// is either one of PgBouncer's shortcuts, in any case, or a list of suite names.
//
// Shortcuts (PgBouncer doc/config.md; the lists libusual's tls_config_set_ciphers used before PgBouncer
// 1.21 made the first four mean the TLS library's default):
//
//   - "default", "secure", "normal", "fast" and "": nil, crypto/tls's default suites. These follow Go's
//     security policy as it changes (Go 1.26: ECDHE key exchange with AES-GCM, ChaCha20-Poly1305 or
//     AES-CBC-SHA) and FIPS 140 mode, as PgBouncer's follow OpenSSL's system-wide default.
//   - "compat", "legacy": the suites tls.CipherSuites lists for TLS 1.2 and older (those Go considers
//     secure; today its defaults), then RSA key exchange (AES-GCM, AES-CBC-SHA) and 3DES, for old peers
//     without ECDHE (libusual's compat list was "HIGH:+3DES:!aNULL").
//   - "all", "insecure": every suite crypto/tls implements for TLS 1.2 and older, including the broken
//     RC4 and the CBC-SHA256 suites (tls.CipherSuites and tls.InsecureCipherSuites). Not recommended.
//
// Otherwise the value lists suite names separated by colons, commas or white space, each either in
// OpenSSL's form ("ECDHE-RSA-AES128-GCM-SHA256") or in IANA/Go form
// ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"; also Go's older constant names such as
// "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"), in any case. TLS 1.3 suite names (TLS_AES_128_GCM_SHA256, ...)
// are accepted and skipped, since Go always enables them; a list of nothing else is an error. The result
// keeps the order of the list without duplicates; crypto/tls orders suites by its own preference anyway.
//
// OpenSSL's cipher expressions beyond the shortcuts ("HIGH:!aNULL", "ECDHE+AESGCM", "!RC4", "@STRENGTH")
// are an error "not supported" that names the token, as is a suite crypto/tls does not implement (the
// DHE, CCM, ARIA and CAMELLIA suites, for example).
func Ciphers(list string) ([]uint16, error) {
	ids, err := parseCiphers(list)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %w", err)
	}
	return ids, nil
}

// opensslNames maps OpenSSL's names of the suites crypto/tls implements for TLS 1.2 and older to their
// IDs (OpenSSL's ciphers(1) manual, "TLS v1.2 cipher suites" and older).
var opensslNames = map[string]uint16{
	"RC4-SHA":                       tls.TLS_RSA_WITH_RC4_128_SHA,
	"DES-CBC3-SHA":                  tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
	"AES128-SHA256":                 tls.TLS_RSA_WITH_AES_128_CBC_SHA256,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-RC4-SHA":           tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-RC4-SHA":             tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA,
	"ECDHE-RSA-DES-CBC3-SHA":        tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"ECDHE-ECDSA-AES128-SHA256":     tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-RSA-AES128-SHA256":       tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

// goAliases are Go's older constant names of suites whose IANA name differs.
var goAliases = map[string]uint16{
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

var (
	// suiteNames maps every accepted name, upper case, to its suite.
	suiteNames = map[string]*tls.CipherSuite{}
	// compatSuites and allSuites are the "compat" and "all" shortcuts.
	compatSuites, allSuites []uint16
)

func init() {
	byID := map[uint16]*tls.CipherSuite{}
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			byID[cs.ID] = cs
			suiteNames[cs.Name] = cs
			if !tls13Only(cs) {
				allSuites = append(allSuites, cs.ID)
			}
		}
	}
	for _, names := range []map[string]uint16{opensslNames, goAliases} {
		for name, id := range names {
			if byID[id] == nil {
				panic("tlsconfig: crypto/tls lacks suite " + name)
			}
			suiteNames[name] = byID[id]
		}
	}
	for _, cs := range tls.CipherSuites() {
		if !tls13Only(cs) {
			compatSuites = append(compatSuites, cs.ID)
		}
	}
	compatSuites = append(compatSuites,
		tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_RSA_WITH_AES_128_CBC_SHA,
		tls.TLS_RSA_WITH_AES_256_CBC_SHA,
		tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA,
		tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA,
	)
}

// tls13Only reports whether a suite is a TLS 1.3 one, which configuration cannot change.
func tls13Only(cs *tls.CipherSuite) bool {
	return !slices.ContainsFunc(cs.SupportedVersions, func(v uint16) bool { return v < tls.VersionTLS13 })
}

// parseCiphers is Ciphers without the package prefix on errors.
func parseCiphers(list string) ([]uint16, error) {
	switch strings.ToLower(strings.TrimSpace(list)) {
	case "", "default", "secure", "normal", "fast":
		return nil, nil
	case "compat", "legacy":
		return slices.Clone(compatSuites), nil
	case "all", "insecure":
		return slices.Clone(allSuites), nil
	}
	tokens := strings.FieldsFunc(list, func(r rune) bool {
		return r == ':' || r == ',' || unicode.IsSpace(r)
	})
	var ids []uint16
	onlyTLS13 := false
	for _, tok := range tokens {
		cs := suiteNames[strings.ToUpper(tok)]
		switch {
		case cs == nil && isExpression(tok):
			return nil, fmt.Errorf("OpenSSL cipher expression %q is not supported: "+
				"use a shortcut (default, compat, all) or list suite names such as ECDHE-RSA-AES128-GCM-SHA256", tok)
		case cs == nil:
			return nil, fmt.Errorf("cipher suite %q is not supported: crypto/tls does not implement it "+
				"(names such as ECDHE-RSA-AES128-GCM-SHA256 or TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 are)", tok)
		case tls13Only(cs):
			onlyTLS13 = true
		case !slices.Contains(ids, cs.ID):
			ids = append(ids, cs.ID)
		}
	}
	if len(ids) == 0 {
		if onlyTLS13 {
			return nil, fmt.Errorf("%q names only TLS 1.3 suites, which Go always enables and this setting does not affect; "+
				"name TLS 1.2 suites or use \"default\"", list)
		}
		return nil, errors.New("the cipher list is empty")
	}
	return ids, nil
}

// isExpression reports whether a token of a cipher list is OpenSSL expression syntax rather than a suite
// name: an operator ("!RC4", "-3DES", "+SHA256", "@STRENGTH", "ECDHE+AESGCM") or a keyword ("HIGH",
// "aNULL", "kRSA", "SSLv3"), which has neither the dashes of OpenSSL's names nor the underscores of IANA's.
func isExpression(tok string) bool {
	return strings.ContainsAny(tok, "!+@=") || strings.HasPrefix(tok, "-") || !strings.ContainsAny(tok, "-_")
}
