package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// ServerSide are the server_tls_* settings: TLS between pgpooler and PostgreSQL, where pgpooler is the
// TLS client (PgBouncer doc/config.md: server_tls_sslmode, server_tls_ca_file, server_tls_cert_file,
// server_tls_key_file, server_tls_protocols, server_tls_ciphers).
type ServerSide struct {
	// SSLMode is server_tls_sslmode: disable, allow, prefer (also "", PgBouncer's default), require,
	// verify-ca or verify-full. Whether TLS is requested and whether a server that refuses it is
	// accepted is the caller's business; here the mode decides how the server's certificate is checked.
	SSLMode string
	// CAFile is server_tls_ca_file: the PEM root certificates server certificates are checked against.
	// Required by verify-ca and verify-full; not read by the other modes.
	CAFile string
	// CertFile and KeyFile are server_tls_cert_file and server_tls_key_file: a PEM client certificate
	// (chain) and its key that pgpooler presents to servers that ask (PostgreSQL's clientcert and "cert"
	// authentication). Both or neither.
	CertFile, KeyFile string
	// Protocols is server_tls_protocols, e.g. "secure" (also "") or "tlsv1.2,tlsv1.3".
	Protocols string
	// Ciphers is server_tls_ciphers, e.g. "default" (also ""); see [Ciphers].
	Ciphers string
}

// ForServers loads the files of s and returns a function that makes the *tls.Config for a connection to
// one server host (a host name or an IP address, IPv6 with or without brackets); nil, nil when SSLMode is
// disable. Each call returns a new configuration the caller may change.
//
// Server certificates are checked as libpq's sslmode and PgBouncer's server_tls_sslmode describe:
//
//   - allow, prefer, require: not at all (InsecureSkipVerify), as libpq does without a root certificate
//     and PgBouncer always does in these modes; CAFile is not read.
//   - verify-ca: the chain must lead to a root in CAFile, for server authentication, but the host name
//     is not checked (a VerifyConnection function does what crypto/tls would, without the name).
//   - verify-full: the chain as in verify-ca, and the certificate must be for host (ServerName = host):
//     a DNS name must match a DNS subject alternative name, an IP address an IP one. Unlike libpq,
//     crypto/tls never falls back to the common name.
//
// The configurations offer ALPN "postgresql", as libpq 17 does, present CertFile when given (always, as
// libpq does, whatever CAs the server names in its request), and take MinVersion and MaxVersion from
// Protocols and CipherSuites from Ciphers ([Ciphers]). Errors name the setting and the file, never what
// the files hold.
func ForServers(s ServerSide) (func(host string) *tls.Config, error) {
	mode, err := parseSSLMode("server_tls_sslmode", s.SSLMode, modePrefer)
	if err != nil || mode == modeDisable {
		return nil, err
	}
	base := &tls.Config{NextProtos: []string{alpn}}
	if err := setVersionsAndCiphers(base, "server_tls", s.Protocols, s.Ciphers); err != nil {
		return nil, err
	}
	switch {
	case s.CertFile != "" && s.KeyFile != "":
		cert, err := loadKeyPair("server_tls_cert_file", s.CertFile, "server_tls_key_file", s.KeyFile)
		if err != nil {
			return nil, err
		}
		base.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		}
	case s.CertFile != "":
		return nil, errors.New("tlsconfig: server_tls_cert_file is set without server_tls_key_file (give both or neither)")
	case s.KeyFile != "":
		return nil, errors.New("tlsconfig: server_tls_key_file is set without server_tls_cert_file (give both or neither)")
	}
	if !mode.verifies() {
		base.InsecureSkipVerify = true
		return func(string) *tls.Config { return base.Clone() }, nil
	}
	if s.CAFile == "" {
		return nil, fmt.Errorf("tlsconfig: server_tls_sslmode %s needs server_tls_ca_file to check server certificates against", mode)
	}
	roots, err := loadCAPool("server_tls_ca_file", s.CAFile)
	if err != nil {
		return nil, err
	}
	if mode == modeVerifyCA {
		base.InsecureSkipVerify = true // crypto/tls would check the name too; verifyChain does the rest
		base.VerifyConnection = func(cs tls.ConnectionState) error { return verifyChain(cs, roots) }
		return func(string) *tls.Config { return base.Clone() }, nil
	}
	base.RootCAs = roots
	return func(host string) *tls.Config {
		cfg := base.Clone()
		cfg.ServerName = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		return cfg
	}, nil
}

// verifyChain checks that the server's certificate chain leads to one of roots and that the certificate
// is for server authentication: crypto/tls's own check without the host name (sslmode verify-ca).
func verifyChain(cs tls.ConnectionState, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("tlsconfig: the server sent no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}
