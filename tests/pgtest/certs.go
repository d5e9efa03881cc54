package pgtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Certs is a throwaway certificate authority and a server certificate it signed, as PEM files in Dir,
// for TLS tests: the pooler's client_tls_* and server_tls_* files, and PostgreSQL's own (Options.SSL).
// Keys are ECDSA P-256, PKCS #8 ("PRIVATE KEY"), mode 0600; certificates are mode 0644. Certificates
// are valid from an hour ago for 30 days.
type Certs struct {
	Dir        string // holds every file below
	CAFile     string // the CA's certificate: a root for sslrootcert, *_tls_ca_file and ssl_ca_file
	CAKeyFile  string // the CA's private key
	ServerCert string // certificate for the hosts given to NewCerts, for server authentication
	ServerKey  string // ServerCert's private key

	caCert *x509.Certificate
	caKey  crypto.Signer
}

// certValidity is how long the certificates are valid, from an hour before they are made.
const certValidity = 30 * 24 * time.Hour

// NewCerts makes dir (0700, if missing) and writes a fresh CA (ca.crt, ca.key) and a server certificate
// signed by it (server.crt, server.key) for hosts: names such as "localhost" become DNS subject
// alternative names, addresses such as "127.0.0.1" or "::1" IP ones; the first host is also the common
// name. At least one host is required.
func NewCerts(dir string, hosts ...string) (*Certs, error) {
	if len(hosts) == 0 {
		return nil, errors.New("pgtest: NewCerts needs at least one host for the server certificate")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pgtest: generating a CA key: %w", err)
	}
	caTmpl := certTemplate("pgtest CA " + rand.Text()[:8])
	caTmpl.IsCA = true
	caTmpl.BasicConstraintsValid = true
	caTmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("pgtest: making the CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	c := &Certs{
		Dir:        dir,
		CAFile:     filepath.Join(dir, "ca.crt"),
		CAKeyFile:  filepath.Join(dir, "ca.key"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
		caCert:     caCert,
		caKey:      caKey,
	}
	if err := writeCertAndKey(c.CAFile, der, c.CAKeyFile, caKey); err != nil {
		return nil, err
	}
	tmpl := certTemplate(hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	addHosts(tmpl, hosts)
	if err := c.issue(tmpl, c.ServerCert, c.ServerKey); err != nil {
		return nil, err
	}
	return c, nil
}

// Client issues a client certificate with common name cn (the user name that PostgreSQL's and the
// pooler's "cert" authentication match), signed by the CA, and returns its files in Dir
// (client-<cn>.crt and .key, with characters other than letters, digits, '.', '-' and '_' in cn
// replaced by '_'). Another call with the same cn replaces them.
func (c *Certs) Client(cn string) (certFile, keyFile string, err error) {
	tmpl := certTemplate(cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	certFile, keyFile = c.paths("client-" + fileSafe(cn))
	if err := c.issue(tmpl, certFile, keyFile); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// SelfSigned makes a certificate for host (a DNS name or an IP address, also the common name) that no CA
// signed: it is its own issuer and not a CA, for both server and client authentication. Its files are
// selfsigned-<host>.crt and .key in Dir; another call with the same host replaces them.
func (c *Certs) SelfSigned(host string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("pgtest: generating a key: %w", err)
	}
	tmpl := certTemplate(host)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	addHosts(tmpl, []string{host})
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", fmt.Errorf("pgtest: making a self-signed certificate for %s: %w", host, err)
	}
	certFile, keyFile = c.paths("selfsigned-" + fileSafe(host))
	if err := writeCertAndKey(certFile, der, keyFile, key); err != nil {
		return "", "", err
	}
	return certFile, keyFile, nil
}

// issue makes a new key and a certificate from tmpl signed by the CA, and writes both.
func (c *Certs) issue(tmpl *x509.Certificate, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pgtest: generating a key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.caCert, key.Public(), c.caKey)
	if err != nil {
		return fmt.Errorf("pgtest: signing a certificate for %s: %w", tmpl.Subject.CommonName, err)
	}
	return writeCertAndKey(certFile, der, keyFile, key)
}

func (c *Certs) paths(base string) (certFile, keyFile string) {
	return filepath.Join(c.Dir, base+".crt"), filepath.Join(c.Dir, base+".key")
}

// certTemplate returns a leaf certificate template with common name cn, a random serial number, validity
// and the digital signature key usage.
func certTemplate(cn string) *x509.Certificate {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"pgpooler tests"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// addHosts puts hosts into tmpl's subject alternative names: IP addresses as IPs, the rest as DNS names.
func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

// writeCertAndKey writes a certificate (0644) and its key (PKCS #8, 0600) as PEM.
func writeCertAndKey(certFile string, der []byte, keyFile string, key crypto.Signer) error {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pgtest: encoding a private key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	if err := writePEM(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return writePEM(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// writePEM writes data to path with exactly mode perm, also when path existed with another mode.
func writePEM(path string, data []byte, perm os.FileMode) error {
	os.Remove(path)
	if err := os.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("pgtest: %w", err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		return fmt.Errorf("pgtest: %w", err)
	}
	return nil
}

// fileSafe replaces what does not belong in a file name.
func fileSafe(s string) string {
	if s == "" {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// installSSL copies c's server certificate, key and CA into the data directory, owned by the server's
// OS user with mode 0600 (PostgreSQL refuses a key others may read), and returns settings with ssl,
// ssl_cert_file, ssl_key_file and ssl_ca_file added; settings' own values win.
func (s *Server) installSSL(c *Certs, settings map[string]string) (map[string]string, error) {
	files := [][3]string{
		{c.ServerCert, "server.crt", "ssl_cert_file"},
		{c.ServerKey, "server.key", "ssl_key_file"},
		{c.CAFile, "root.crt", "ssl_ca_file"},
	}
	merged := map[string]string{"ssl": "on"}
	for _, f := range files {
		data, err := os.ReadFile(f[0])
		if err != nil {
			return nil, fmt.Errorf("pgtest: Options.SSL: %w", err)
		}
		dst := filepath.Join(s.DataDir, f[1])
		if err := s.writeFile(dst, string(data)); err != nil {
			return nil, err
		}
		merged[f[2]] = dst
	}
	for k, v := range settings {
		merged[k] = v
	}
	return merged, nil
}
