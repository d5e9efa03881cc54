package tlsconfig

import (
	"crypto/tls"
	"fmt"
)

// alpn is the ALPN protocol PostgreSQL 17 negotiates (and requires on direct TLS connections).
const alpn = "postgresql"

// ClientSide are the client_tls_* settings: TLS between clients and pgpooler, where pgpooler is the TLS
// server (PgBouncer doc/config.md: client_tls_sslmode, client_tls_key_file, client_tls_cert_file,
// client_tls_ca_file, client_tls_protocols, client_tls_ciphers).
type ClientSide struct {
	// SSLMode is client_tls_sslmode: disable (also ""), allow, prefer, require, verify-ca or
	// verify-full. Whether a client without TLS is turned away is the caller's business; here the mode
	// decides whether pgpooler configures TLS at all and how it treats client certificates.
	SSLMode string
	// KeyFile and CertFile are client_tls_key_file and client_tls_cert_file: the PEM private key and
	// certificate (chain) pgpooler presents to clients. Both are required unless SSLMode is disable.
	KeyFile, CertFile string
	// CAFile is client_tls_ca_file: the PEM root certificates client certificates are checked against.
	// Required by verify-ca and verify-full.
	CAFile string
	// Protocols is client_tls_protocols, e.g. "secure" (also "") or "tlsv1.2,tlsv1.3".
	Protocols string
	// Ciphers is client_tls_ciphers, e.g. "default" (also ""); see [Ciphers].
	Ciphers string
}

// ForClients loads the certificate files of s and returns the *tls.Config pgpooler serves clients with;
// nil, nil when SSLMode is disable.
//
// The configuration offers ALPN "postgresql" (PostgreSQL 17), takes MinVersion and MaxVersion from
// Protocols and CipherSuites from Ciphers ([Ciphers]). Client certificates, as in PgBouncer's
// sbuf_tls_setup:
//
//   - verify-ca and verify-full: a client must present a certificate that CAFile's roots signed
//     (tls.RequireAndVerifyClientCert). As in PgBouncer, verify-full checks no more than verify-ca: a
//     client has no host name to match; auth_type cert or an hba "cert" rule matches the certificate's
//     common name to the user.
//   - allow, prefer, require: with CAFile, a certificate is asked for but optional, and checked if given
//     (tls.VerifyClientCertIfGiven), so that auth_type cert and hba "cert" rules can use it; a certificate
//     CAFile's roots did not sign fails the handshake, as with OpenSSL's SSL_VERIFY_PEER in PgBouncer.
//     Without CAFile none is asked for.
//
// Errors name the setting and the file (never what the files hold): an unknown mode, a missing key or
// certificate setting, a verify mode without CAFile, unreadable or invalid files, a key that does not
// match the certificate, and bad Protocols or Ciphers values.
func ForClients(s ClientSide) (*tls.Config, error) {
	mode, err := parseSSLMode("client_tls_sslmode", s.SSLMode, modeDisable)
	if err != nil || mode == modeDisable {
		return nil, err
	}
	if s.KeyFile == "" || s.CertFile == "" {
		return nil, fmt.Errorf("tlsconfig: client_tls_sslmode %s needs client_tls_key_file and client_tls_cert_file", mode)
	}
	if mode.verifies() && s.CAFile == "" {
		return nil, fmt.Errorf("tlsconfig: client_tls_sslmode %s needs client_tls_ca_file to check client certificates against", mode)
	}
	cfg := &tls.Config{NextProtos: []string{alpn}}
	if err := setVersionsAndCiphers(cfg, "client_tls", s.Protocols, s.Ciphers); err != nil {
		return nil, err
	}
	cert, err := loadKeyPair("client_tls_cert_file", s.CertFile, "client_tls_key_file", s.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	if s.CAFile != "" {
		if cfg.ClientCAs, err = loadCAPool("client_tls_ca_file", s.CAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if mode.verifies() {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// setVersionsAndCiphers sets MinVersion, MaxVersion and CipherSuites from the <prefix>_protocols and
// <prefix>_ciphers settings.
func setVersionsAndCiphers(cfg *tls.Config, prefix, protocols, ciphers string) error {
	var err error
	if cfg.MinVersion, cfg.MaxVersion, err = parseProtocols(prefix+"_protocols", protocols); err != nil {
		return err
	}
	if cfg.CipherSuites, err = parseCiphers(ciphers); err != nil {
		return fmt.Errorf("tlsconfig: %s_ciphers: %w", prefix, err)
	}
	return nil
}
