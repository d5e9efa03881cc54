package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

// loadKeyPair reads a certificate chain and its private key. The settings that name the files come first
// in errors, then the files; what the files hold never appears (crypto/tls's own messages name PEM block
// types only).
func loadKeyPair(certSetting, certFile, keySetting, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconfig: %s: %w", certSetting, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconfig: %s: %w", keySetting, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	clear(keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tlsconfig: %s %s and %s %s: %w", certSetting, certFile, keySetting, keyFile, err)
	}
	return cert, nil
}

// loadCAPool reads the PEM certificates of a CA file into a pool. A file without any certificate, or with
// a PEM block that is not a valid certificate, is an error.
func loadCAPool(setting, file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: %s: %w", setting, err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsconfig: %s %s: certificate %d: %w", setting, file, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("tlsconfig: %s %s: no PEM certificate in the file", setting, file)
	}
	return pool, nil
}
