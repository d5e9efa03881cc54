package tlsconfig

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// testCerts are two unrelated CAs with server certificates for localhost and 127.0.0.1, client
// certificates, and a self-signed certificate.
type testCerts struct {
	ca, otherCA           *pgtest.Certs
	clientCert, clientKey string // CN "app", signed by ca
	otherCert, otherKey   string // CN "app", signed by otherCA
	selfCert, selfKey     string // localhost, self-signed
}

func newTestCerts(t *testing.T) *testCerts {
	t.Helper()
	var tc testCerts
	var err error
	if tc.ca, err = pgtest.NewCerts(filepath.Join(t.TempDir(), "ca"), "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if tc.otherCA, err = pgtest.NewCerts(filepath.Join(t.TempDir(), "other"), "localhost", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if tc.clientCert, tc.clientKey, err = tc.ca.Client("app"); err != nil {
		t.Fatal(err)
	}
	if tc.otherCert, tc.otherKey, err = tc.otherCA.Client("app"); err != nil {
		t.Fatal(err)
	}
	if tc.selfCert, tc.selfKey, err = tc.ca.SelfSigned("localhost"); err != nil {
		t.Fatal(err)
	}
	return &tc
}

// handshake runs a TLS handshake between pgpooler serving a client (server config) and pgpooler
// connecting to a server (client config) over loopback TCP (net.Pipe has no buffer: a side that fails
// while the other is still writing could not send its alert). It returns the connection state as the
// server side sees it, and the error of the client side if it failed, else that of the server side.
func handshake(t *testing.T, server, client *tls.Config) (tls.ConnectionState, error) {
	t.Helper()
	sc, cc := tcpPair(t)
	deadline := time.Now().Add(10 * time.Second)
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	ts, tc := tls.Server(sc, server), tls.Client(cc, client)
	serverErr := make(chan error, 1)
	go func() {
		err := ts.Handshake()
		if err != nil {
			sc.Close()
		}
		serverErr <- err
	}()
	clientErr := tc.Handshake()
	if clientErr != nil {
		cc.Close()
	} else {
		// In TLS 1.3 the client finishes before the server has checked its certificate: a read
		// reports the server's verdict.
		go func() { tc.Read(make([]byte, 1)) }()
	}
	sErr := <-serverErr
	sc.Close()
	cc.Close()
	if clientErr != nil {
		return tls.ConnectionState{}, clientErr
	}
	if sErr != nil {
		return tls.ConnectionState{}, sErr
	}
	return ts.ConnectionState(), nil
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		client.Close()
		t.Fatal("accept failed")
	}
	return server, client
}

func forClients(t *testing.T, s ClientSide) *tls.Config {
	t.Helper()
	cfg, err := ForClients(s)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func forServers(t *testing.T, s ServerSide, host string) *tls.Config {
	t.Helper()
	f, err := ForServers(s)
	if err != nil {
		t.Fatal(err)
	}
	return f(host)
}

func TestHandshakes(t *testing.T) {
	t.Parallel()
	c := newTestCerts(t)
	ca := c.ca
	serveRequire := ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey}
	serveRequireCA := ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.CAFile}
	serveSelfSigned := ClientSide{SSLMode: "require", CertFile: c.selfCert, KeyFile: c.selfKey}
	serveVerifyCA := ClientSide{SSLMode: "verify-ca", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.CAFile}
	serveVerifyFull := ClientSide{SSLMode: "verify-full", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.CAFile}

	tests := []struct {
		name    string
		serve   ClientSide
		connect ServerSide
		host    string
		wantErr string // a substring of the handshake error; "" for success
		peerCN  string // the client certificate's CN the server side sees, if any
	}{
		{"require, self-signed", serveSelfSigned, ServerSide{SSLMode: "require"}, "db.example.com", "", ""},
		{"prefer, self-signed", serveSelfSigned, ServerSide{SSLMode: "prefer"}, "localhost", "", ""},
		{"default server mode is prefer", serveSelfSigned, ServerSide{}, "localhost", "", ""},
		{"allow, self-signed", serveSelfSigned, ServerSide{SSLMode: "allow"}, "localhost", "", ""},

		{"verify-full, DNS name", serveRequire, ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile}, "localhost", "", ""},
		{"verify-full, IP", serveRequire, ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile}, "127.0.0.1", "", ""},
		{"verify-full, wrong name", serveRequire, ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile}, "db.example.com", "not db.example.com", ""},
		{"verify-full, IP not in the certificate", serveRequire, ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile}, "[::1]", "not ::1", ""},
		{"verify-full, wrong CA", serveRequire, ServerSide{SSLMode: "verify-full", CAFile: c.otherCA.CAFile}, "localhost", "unknown authority", ""},
		{"verify-full, self-signed", serveSelfSigned, ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile}, "localhost", "unknown authority", ""},

		{"verify-ca, any name", serveRequire, ServerSide{SSLMode: "verify-ca", CAFile: ca.CAFile}, "db.example.com", "", ""},
		{"verify-ca, wrong CA", serveRequire, ServerSide{SSLMode: "verify-ca", CAFile: c.otherCA.CAFile}, "localhost", "unknown authority", ""},
		{"verify-ca, self-signed", serveSelfSigned, ServerSide{SSLMode: "verify-ca", CAFile: ca.CAFile}, "localhost", "unknown authority", ""},

		{"client cert required and given", serveVerifyCA,
			ServerSide{SSLMode: "require", CertFile: c.clientCert, KeyFile: c.clientKey}, "localhost", "", "app"},
		{"client cert required, verify-full", serveVerifyFull,
			ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile, CertFile: c.clientCert, KeyFile: c.clientKey}, "localhost", "", "app"},
		{"client cert required, missing", serveVerifyCA, ServerSide{SSLMode: "require"}, "localhost", "didn't provide a certificate", ""},
		{"client cert required, missing, verify-full", serveVerifyFull, ServerSide{SSLMode: "require"}, "localhost", "didn't provide a certificate", ""},
		{"client cert required, wrong CA", serveVerifyCA,
			ServerSide{SSLMode: "require", CertFile: c.otherCert, KeyFile: c.otherKey}, "localhost", "unknown authority", ""},
		{"client cert optional, missing", serveRequireCA, ServerSide{SSLMode: "require"}, "localhost", "", ""},
		{"client cert optional, given", serveRequireCA,
			ServerSide{SSLMode: "require", CertFile: c.clientCert, KeyFile: c.clientKey}, "localhost", "", "app"},
		{"client cert optional, wrong CA", serveRequireCA,
			ServerSide{SSLMode: "require", CertFile: c.otherCert, KeyFile: c.otherKey}, "localhost", "unknown authority", ""},
		{"client cert not asked for without CA file", serveRequire,
			ServerSide{SSLMode: "require", CertFile: c.clientCert, KeyFile: c.clientKey}, "localhost", "", ""},

		{"tlsv1.3 server, tlsv1.2 client", ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: "tlsv1.3"},
			ServerSide{SSLMode: "require", Protocols: "tlsv1.2"}, "localhost", "protocol version not supported", ""},
		{"tlsv1.0 only on both sides", ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: "tlsv1.0"},
			ServerSide{SSLMode: "require", Protocols: "tlsv1.0"}, "localhost", "", ""},
		{"tlsv1.0 client, secure server", serveRequire, ServerSide{SSLMode: "require", Protocols: "tlsv1.0,tlsv1.1"}, "localhost", "protocol version not supported", ""},
		{"no common TLS 1.2 suite",
			ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: "tlsv1.2", Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256"},
			ServerSide{SSLMode: "require", Ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305"}, "localhost", "handshake failure", ""},
		{"TLS 1.3 ignores cipher lists",
			ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256"},
			ServerSide{SSLMode: "require", Ciphers: "ECDHE-ECDSA-CHACHA20-POLY1305"}, "localhost", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := handshake(t, forClients(t, tt.serve), forServers(t, tt.connect, tt.host))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("handshake failed: %v", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("handshake succeeded, want an error with %q", tt.wantErr)
			case tt.wantErr != "":
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("handshake error %q, want one with %q", err, tt.wantErr)
				}
				return
			}
			if st.NegotiatedProtocol != "postgresql" {
				t.Errorf("ALPN protocol = %q", st.NegotiatedProtocol)
			}
			cn := ""
			if len(st.PeerCertificates) > 0 {
				cn = st.PeerCertificates[0].Subject.CommonName
			}
			if cn != tt.peerCN {
				t.Errorf("client certificate CN = %q, want %q", cn, tt.peerCN)
			}
		})
	}
}

func TestVersionsAndSuitesNegotiated(t *testing.T) {
	t.Parallel()
	ca := newTestCerts(t).ca
	serve := func(protocols, ciphers string) ClientSide {
		return ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: protocols, Ciphers: ciphers}
	}
	for _, tt := range []struct {
		serve       ClientSide
		connect     ServerSide
		version     uint16
		cipherSuite uint16 // 0: any
	}{
		{serve("", ""), ServerSide{}, tls.VersionTLS13, 0},
		{serve("secure", "default"), ServerSide{Protocols: "tlsv1.2"}, tls.VersionTLS12, 0},
		{serve("all", ""), ServerSide{Protocols: "all"}, tls.VersionTLS13, 0},
		{serve("tlsv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305"),
			ServerSide{Ciphers: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"}, tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		{serve("tlsv1.1", ""), ServerSide{Protocols: "legacy"}, tls.VersionTLS11, 0},
	} {
		st, err := handshake(t, forClients(t, tt.serve), forServers(t, tt.connect, "localhost"))
		if err != nil {
			t.Errorf("%+v / %+v: %v", tt.serve, tt.connect, err)
			continue
		}
		if st.Version != tt.version {
			t.Errorf("%+v / %+v: version %s, want %s", tt.serve, tt.connect, tls.VersionName(st.Version), tls.VersionName(tt.version))
		}
		if tt.cipherSuite != 0 && st.CipherSuite != tt.cipherSuite {
			t.Errorf("%+v / %+v: cipher suite %s, want %s", tt.serve, tt.connect, tls.CipherSuiteName(st.CipherSuite), tls.CipherSuiteName(tt.cipherSuite))
		}
	}
}

func TestConfigShape(t *testing.T) {
	t.Parallel()
	c := newTestCerts(t)
	ca := c.ca
	for _, mode := range []string{"disable", "DISABLE", ""} {
		if cfg, err := ForClients(ClientSide{SSLMode: mode, CertFile: "/nonexistent"}); cfg != nil || err != nil {
			t.Errorf("ForClients(SSLMode %q) = %v, %v; want nil, nil", mode, cfg, err)
		}
	}
	if f, err := ForServers(ServerSide{SSLMode: "disable", CAFile: "/nonexistent"}); f != nil || err != nil {
		t.Errorf("ForServers(disable) = %v, %v; want nil, nil", f != nil, err)
	}

	cfg := forClients(t, ClientSide{SSLMode: "prefer", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: "tlsv1.1:tlsv1.2", Ciphers: "compat"})
	if cfg.MinVersion != tls.VersionTLS11 || cfg.MaxVersion != tls.VersionTLS12 {
		t.Errorf("versions %x..%x", cfg.MinVersion, cfg.MaxVersion)
	}
	if cfg.ClientAuth != tls.NoClientCert || cfg.ClientCAs != nil {
		t.Errorf("prefer without CA file: ClientAuth %v, ClientCAs %v", cfg.ClientAuth, cfg.ClientCAs)
	}
	if len(cfg.CipherSuites) == 0 || len(cfg.Certificates) != 1 || len(cfg.NextProtos) != 1 || cfg.NextProtos[0] != "postgresql" {
		t.Errorf("config %+v", cfg)
	}
	cfg = forClients(t, ClientSide{SSLMode: "allow", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.CAFile})
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven || cfg.ClientCAs == nil {
		t.Errorf("allow with CA file: ClientAuth %v", cfg.ClientAuth)
	}
	if cfg.MinVersion != tls.VersionTLS12 || cfg.MaxVersion != tls.VersionTLS13 || cfg.CipherSuites != nil {
		t.Errorf("defaults: versions %x..%x, suites %v", cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites)
	}
	cfg = forClients(t, ClientSide{SSLMode: "Verify-Full", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.CAFile})
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("verify-full: ClientAuth %v", cfg.ClientAuth)
	}

	f, err := ForServers(ServerSide{SSLMode: "verify-full", CAFile: ca.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	a, b := f("localhost"), f("[::1]")
	if a == b || a.ServerName != "localhost" || b.ServerName != "::1" || a.InsecureSkipVerify || a.RootCAs == nil {
		t.Errorf("verify-full configs: %q %q %v", a.ServerName, b.ServerName, a.InsecureSkipVerify)
	}
	for _, mode := range []string{"allow", "prefer", "require", "verify-ca"} {
		cfg := forServers(t, ServerSide{SSLMode: mode, CAFile: ca.CAFile}, "localhost")
		if !cfg.InsecureSkipVerify || cfg.NextProtos[0] != "postgresql" {
			t.Errorf("%s: InsecureSkipVerify %v", mode, cfg.InsecureSkipVerify)
		}
		if (cfg.VerifyConnection != nil) != (mode == "verify-ca") {
			t.Errorf("%s: VerifyConnection set: %v", mode, cfg.VerifyConnection != nil)
		}
	}
	// A CA file is not read by the modes that do not verify.
	forServers(t, ServerSide{SSLMode: "require", CAFile: "/nonexistent"}, "localhost")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	c := newTestCerts(t)
	ca := c.ca
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("nothing here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(ca.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	keyBody := strings.Split(string(keyPEM), "\n")[1] // a line of the key's base64

	clientTests := []struct {
		s    ClientSide
		want []string // substrings of the error
	}{
		{ClientSide{SSLMode: "on"}, []string{"client_tls_sslmode", `"on"`, "verify-full"}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert}, []string{"client_tls_key_file"}},
		{ClientSide{SSLMode: "require", KeyFile: ca.ServerKey}, []string{"client_tls_cert_file"}},
		{ClientSide{SSLMode: "verify-ca", CertFile: ca.ServerCert, KeyFile: ca.ServerKey}, []string{"client_tls_ca_file", "verify-ca"}},
		{ClientSide{SSLMode: "require", CertFile: "/nonexistent/cert.pem", KeyFile: ca.ServerKey}, []string{"client_tls_cert_file", "/nonexistent/cert.pem"}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: "/nonexistent/key.pem"}, []string{"client_tls_key_file", "/nonexistent/key.pem"}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: c.clientKey}, []string{"client_tls_cert_file", "client_tls_key_file", c.clientKey, "does not match"}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerKey, KeyFile: ca.ServerKey}, []string{"client_tls_cert_file", ca.ServerKey}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerCert}, []string{"client_tls_key_file", ca.ServerCert}},
		{ClientSide{SSLMode: "verify-ca", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: empty}, []string{"client_tls_ca_file", empty, "no PEM certificate"}},
		{ClientSide{SSLMode: "verify-ca", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, CAFile: ca.ServerKey}, []string{"client_tls_ca_file", ca.ServerKey}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Protocols: "tlsv1.0,tlsv1.2"}, []string{"client_tls_protocols", "tlsv1.1"}},
		{ClientSide{SSLMode: "require", CertFile: ca.ServerCert, KeyFile: ca.ServerKey, Ciphers: "HIGH:!aNULL"}, []string{"client_tls_ciphers", `"HIGH"`, "not supported"}},
	}
	for _, tt := range clientTests {
		_, err := ForClients(tt.s)
		checkErr(t, tt.s, err, tt.want, keyBody)
	}

	serverTests := []struct {
		s    ServerSide
		want []string
	}{
		{ServerSide{SSLMode: "verify"}, []string{"server_tls_sslmode", `"verify"`}},
		{ServerSide{SSLMode: "verify-full"}, []string{"server_tls_ca_file", "verify-full"}},
		{ServerSide{SSLMode: "verify-ca", CAFile: "/nonexistent/ca.pem"}, []string{"server_tls_ca_file", "/nonexistent/ca.pem"}},
		{ServerSide{SSLMode: "verify-ca", CAFile: empty}, []string{"server_tls_ca_file", empty}},
		{ServerSide{SSLMode: "require", CertFile: c.clientCert}, []string{"server_tls_key_file"}},
		{ServerSide{SSLMode: "require", KeyFile: c.clientKey}, []string{"server_tls_cert_file"}},
		{ServerSide{SSLMode: "require", CertFile: c.clientCert, KeyFile: ca.ServerKey}, []string{"server_tls_cert_file", "server_tls_key_file", "does not match"}},
		{ServerSide{SSLMode: "require", Protocols: "sslv3"}, []string{"server_tls_protocols", "sslv3"}},
		{ServerSide{SSLMode: "require", Ciphers: "DHE-RSA-AES128-GCM-SHA256"}, []string{"server_tls_ciphers", "DHE-RSA-AES128-GCM-SHA256", "not supported"}},
	}
	for _, tt := range serverTests {
		_, err := ForServers(tt.s)
		checkErr(t, tt.s, err, tt.want, keyBody)
	}
}

func checkErr(t *testing.T, s any, err error, want []string, secret string) {
	t.Helper()
	if err == nil {
		t.Errorf("%+v: no error", s)
		return
	}
	msg := err.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("%+v: error %q lacks %q", s, msg, w)
		}
	}
	if !strings.HasPrefix(msg, "tlsconfig: ") {
		t.Errorf("error %q lacks the package prefix", msg)
	}
	if strings.Contains(msg, secret) || strings.Contains(msg, "BEGIN") {
		t.Errorf("error %q shows file contents", msg)
	}
}

// TestVerifyChainNoCertificate checks verify-ca's errors: no certificate, and the type crypto/tls uses.
func TestVerifyChainNoCertificate(t *testing.T) {
	t.Parallel()
	err := verifyChain(tls.ConnectionState{}, nil)
	if err == nil || !strings.Contains(err.Error(), "no certificate") {
		t.Errorf("verifyChain without certificates: %v", err)
	}
	var ve *tls.CertificateVerificationError
	c := newTestCerts(t)
	_, err = handshake(t, forClients(t, ClientSide{SSLMode: "require", CertFile: c.selfCert, KeyFile: c.selfKey}),
		forServers(t, ServerSide{SSLMode: "verify-ca", CAFile: c.ca.CAFile}, "localhost"))
	if !errors.As(err, &ve) {
		t.Errorf("verify-ca of a self-signed certificate: %v (%T), want a *tls.CertificateVerificationError", err, err)
	}
}
