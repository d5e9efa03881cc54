package pgtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// readCert parses the first certificate of a PEM file.
func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(file, file[:len(file)-len(".crt")]+".key")
	if err != nil {
		t.Fatal(err)
	}
	return pair.Leaf
}

func TestNewCerts(t *testing.T) {
	t.Parallel()
	c, err := NewCerts(t.TempDir()+"/certs", "localhost", "127.0.0.1", "::1")
	if err != nil {
		t.Fatal(err)
	}
	for file, mode := range map[string]os.FileMode{
		c.CAFile: 0o644, c.CAKeyFile: 0o600, c.ServerCert: 0o644, c.ServerKey: 0o600,
	} {
		fi, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %v, want %v", file, fi.Mode().Perm(), mode)
		}
	}
	roots := x509.NewCertPool()
	roots.AddCert(readCert(t, c.CAFile))

	server := readCert(t, c.ServerCert)
	for _, host := range []string{"localhost", "127.0.0.1", "::1"} {
		if _, err := server.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
			t.Errorf("server certificate for %s: %v", host, err)
		}
	}
	if _, err := server.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots}); err == nil {
		t.Error("server certificate verified for example.com")
	}

	certFile, keyFile, err := c.Client("app/user")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client key %s: %v, %v", keyFile, fi, err)
	}
	client := readCert(t, certFile)
	if client.Subject.CommonName != "app/user" {
		t.Errorf("client certificate CN = %q", client.Subject.CommonName)
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}

	certFile, _, err = c.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	self := readCert(t, certFile)
	if _, err := self.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: roots}); err == nil {
		t.Error("self-signed certificate verified against the CA")
	}
	own := x509.NewCertPool()
	own.AddCert(self)
	if _, err := self.Verify(x509.VerifyOptions{DNSName: "localhost", Roots: own}); err != nil {
		t.Errorf("self-signed certificate against itself: %v", err)
	}

	if _, err := NewCerts(t.TempDir()); err == nil {
		t.Error("NewCerts without hosts succeeded")
	}
}

// sslConnString is s.ConnString with sslmode and more TLS parameters instead of sslmode=disable.
func sslConnString(s *Server, user, password string, params map[string]string) string {
	u, err := url.Parse(s.ConnString(user, password, "postgres"))
	if err != nil {
		panic(err)
	}
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func TestOptionsSSL(t *testing.T) {
	if _, err := FindBinDir(); err != nil {
		t.Skip(err)
	}
	t.Parallel()
	certs, err := NewCerts(t.TempDir(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	s := StartT(t, Options{SSL: certs, HBA: "hostssl all certuser 127.0.0.1/32 cert"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conn := connect(t, sslConnString(s, s.SuperUser, s.Password, map[string]string{
		"sslmode": "verify-full", "sslrootcert": certs.CAFile,
	}))
	if got := queryString(t, conn, "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); got != "true" {
		t.Errorf("pg_stat_ssl.ssl = %s", got)
	}
	if got := queryString(t, conn, "SHOW ssl"); got != "on" {
		t.Errorf("ssl = %s", got)
	}

	// ssl_ca_file is the CA: a client certificate it signed logs in by hba "cert".
	if err := s.CreateRole(ctx, "certuser", "unused"); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, err := certs.Client("certuser")
	if err != nil {
		t.Fatal(err)
	}
	cc := connect(t, sslConnString(s, "certuser", "", map[string]string{
		"sslmode": "verify-full", "sslrootcert": certs.CAFile, "sslcert": certFile, "sslkey": keyFile,
	}))
	if got := queryString(t, cc, "SELECT current_user"); got != "certuser" {
		t.Errorf("current_user = %q", got)
	}

	// Another CA does not vouch for the server.
	other, err := NewCerts(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := pgx.Connect(ctx, sslConnString(s, s.SuperUser, s.Password, map[string]string{
		"sslmode": "verify-full", "sslrootcert": other.CAFile,
	})); err == nil {
		c.Close(ctx)
		t.Error("verify-full against another CA succeeded")
	}
}
