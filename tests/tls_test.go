package tests

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// newTLSCerts makes a fresh CA and a server certificate for localhost and 127.0.0.1.
func newTLSCerts(t testing.TB) *pgtest.Certs {
	t.Helper()
	c, err := pgtest.NewCerts(t.TempDir(), "localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// clientTLS configures TLS towards clients with certs' server certificate and the given mode.
func clientTLS(c *config.Config, certs *pgtest.Certs, mode string) {
	c.Pooler.ClientTLSSSLMode = mode
	c.Pooler.ClientTLSCertFile = certs.ServerCert
	c.Pooler.ClientTLSKeyFile = certs.ServerKey
}

// poolerURLAt is a libpq URL to the pooler at host (127.0.0.1 or localhost) with query parameters kv
// (pairs of key and value, escaped here).
func poolerURLAt(tp *testPooler, host, user, pw, db string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, pw),
		Host:     net.JoinHostPort(host, strconv.Itoa(tp.port)),
		Path:     "/" + db,
		RawQuery: q.Encode(),
	}
	return u.String()
}

// tlsConnWorks connects with url, checks that the connection is TLS and that a query runs, and returns
// the TLS state the client saw.
func tlsConnWorks(t testing.TB, url string) tls.ConnectionState {
	t.Helper()
	conn, err := tryConnect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", redactURL(url), err)
	}
	defer conn.Close(context.Background())
	tc, ok := conn.PgConn().Conn().(*tls.Conn)
	if !ok {
		t.Fatalf("connection is %T, not TLS", conn.PgConn().Conn())
	}
	var user string
	if err := conn.QueryRow(context.Background(), "SELECT current_user").Scan(&user); err != nil {
		t.Fatalf("query over TLS: %v", err)
	}
	return tc.ConnectionState()
}

// runCommandFails runs a client program that must fail and returns its output.
func runCommandFails(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("%s succeeded, want a failure:\n%s", name, out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out)
}

// psqlArgs are the arguments of a psql run through the pooler at host as appUser on appDB.
func psqlArgs(tp *testPooler, host string, cmds ...string) []string {
	args := []string{"-X", "-w", "-v", "ON_ERROR_STOP=1", "-At", "-h", host, "-p", fmt.Sprint(tp.port), "-U", appUser, "-d", appDB}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	return args
}

// TestTLSClientRequire: with client_tls_sslmode require, pgx and psql log in over TLS with sslmode
// require and with verify-full against the pooler's CA (by IP address and by name); verify-full against
// another CA fails on the client; a client without TLS is refused with 28000 "SSL required".
func TestTLSClientRequire(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) { clientTLS(c, certs, config.SSLModeRequire) })

	t.Run("pgx require", func(t *testing.T) {
		st := tlsConnWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require"))
		if st.Version < tls.VersionTLS12 {
			t.Fatalf("TLS version %x, want 1.2 or later (client_tls_protocols secure)", st.Version)
		}
	})
	for _, host := range []string{"127.0.0.1", "localhost"} {
		t.Run("pgx verify-full "+host, func(t *testing.T) {
			st := tlsConnWorks(t, poolerURLAt(tp, host, appUser, appPassword, appDB, "sslmode", "verify-full", "sslrootcert", certs.CAFile))
			if len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "localhost" {
				t.Fatalf("peer certificate %v, want the pooler's (CN localhost)", st.PeerCertificates)
			}
		})
	}
	t.Run("pgx verify-full other CA", func(t *testing.T) {
		other := newTLSCerts(t)
		_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "verify-full", "sslrootcert", other.CAFile))
		if err == nil || !strings.Contains(err.Error(), "signed by unknown authority") {
			t.Fatalf("verify-full against another CA: %v, want a certificate error", err)
		}
	})
	t.Run("pgx disable refused", func(t *testing.T) {
		_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "disable"))
		wantPgError(t, err, "client without TLS", "28000", "SSL required")
	})
	t.Run("psql require", func(t *testing.T) {
		out := runCommand(t, []string{"PGPASSWORD=" + appPassword, "PGSSLMODE=require"}, "psql",
			psqlArgs(tp, "127.0.0.1", "SELECT current_user", `\conninfo`)...)
		if !strings.HasPrefix(out, appUser+"\n") || !strings.Contains(out, "SSL connection (protocol: TLSv1.") {
			t.Fatalf("psql over TLS printed:\n%s", out)
		}
	})
	t.Run("psql verify-full", func(t *testing.T) {
		out := runCommand(t, []string{"PGPASSWORD=" + appPassword, "PGSSLMODE=verify-full", "PGSSLROOTCERT=" + certs.CAFile}, "psql",
			psqlArgs(tp, "localhost", "SELECT current_user", `\conninfo`)...)
		if !strings.HasPrefix(out, appUser+"\n") || !strings.Contains(out, "SSL connection (protocol: TLSv1.") {
			t.Fatalf("psql over verified TLS printed:\n%s", out)
		}
	})
	t.Run("psql disable refused", func(t *testing.T) {
		out := runCommandFails(t, []string{"PGPASSWORD=" + appPassword, "PGSSLMODE=disable"}, "psql",
			psqlArgs(tp, "127.0.0.1", "SELECT 1")...)
		if !strings.Contains(out, "SSL required") {
			t.Fatalf("psql without TLS printed:\n%s\nwant the SSL required error", out)
		}
	})
}

// TestTLSClientNotConfigured: a pooler without client TLS answers SSLRequest with 'N': sslmode require
// fails in the client (pgx: the server refused TLS), sslmode prefer falls back to a plain connection,
// and a direct TLS connection is refused.
func TestTLSClientNotConfigured(t *testing.T) {
	tp := startPooler(t, nil)
	_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require"))
	if err == nil || !strings.Contains(err.Error(), "server refused TLS") {
		t.Fatalf("sslmode=require without TLS in the pooler: %v, want the server refusing TLS", err)
	}
	conn, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "prefer"))
	if err != nil {
		t.Fatalf("sslmode=prefer: %v", err)
	}
	defer conn.Close(context.Background())
	if _, ok := conn.PgConn().Conn().(*tls.Conn); ok {
		t.Fatal("sslmode=prefer got TLS from a pooler without TLS")
	}
	if _, err := conn.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if _, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require", "sslnegotiation", "direct")); err == nil {
		t.Fatal("direct TLS to a pooler without TLS succeeded")
	}
}

// TestTLSDirect: PostgreSQL 17 direct TLS (no SSLRequest; ALPN "postgresql") works with pgx, verified
// against the CA; a direct TLS client that does not offer ALPN "postgresql" gets FATAL 08P01 over TLS,
// as from PostgreSQL.
func TestTLSDirect(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) { clientTLS(c, certs, config.SSLModeRequire) })
	for _, mode := range []string{"require", "verify-full"} {
		t.Run(mode, func(t *testing.T) {
			st := tlsConnWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB,
				"sslmode", mode, "sslrootcert", certs.CAFile, "sslnegotiation", "direct"))
			if st.NegotiatedProtocol != "postgresql" {
				t.Fatalf("ALPN %q, want postgresql", st.NegotiatedProtocol)
			}
		})
	}
	t.Run("without ALPN", func(t *testing.T) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		conn, err := tls.DialWithDialer(d, "tcp", tp.addr(), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		fe := pgproto3.NewFrontend(conn, conn)
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("want FATAL 08P01, got %v", err)
		}
		er, ok := msg.(*pgproto3.ErrorResponse)
		if !ok || er.Code != "08P01" || !strings.Contains(er.Message, "ALPN") {
			t.Fatalf("got %#v, want ErrorResponse 08P01 about ALPN", msg)
		}
	})
}

// TestTLSChannelBinding: over TLS, auth_type scram-sha-256 offers SCRAM-SHA-256-PLUS, and pgx with
// channel_binding=require logs in (it fails unless the exchange is bound to the TLS channel), after an
// SSLRequest and with direct TLS; a wrong password still fails with 28P01. Without TLS there is no
// -PLUS and channel_binding=require fails. A TLS-terminating proxy in the middle (a man in the middle
// with its own certificate) is caught by channel binding, and only by it.
func TestTLSChannelBinding(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) {
		clientTLS(c, certs, config.SSLModePrefer)
		c.Pooler.AuthType = config.AuthTypeSCRAMSHA256
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
	})
	t.Run("SSLRequest", func(t *testing.T) {
		tlsConnWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB,
			"sslmode", "verify-full", "sslrootcert", certs.CAFile, "channel_binding", "require"))
	})
	t.Run("direct TLS", func(t *testing.T) {
		tlsConnWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB,
			"sslmode", "require", "sslnegotiation", "direct", "channel_binding", "require"))
	})
	t.Run("wrong password", func(t *testing.T) {
		_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword+"x", appDB, "sslmode", "require", "channel_binding", "require"))
		wantPgError(t, err, "wrong password with channel binding", "28P01", "password authentication failed")
	})
	t.Run("without TLS", func(t *testing.T) {
		_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "disable", "channel_binding", "require"))
		if err == nil || !strings.Contains(err.Error(), "SCRAM-SHA-256-PLUS") {
			t.Fatalf("channel_binding=require without TLS: %v, want the client refusing for lack of SCRAM-SHA-256-PLUS", err)
		}
	})
	mitm := startTLSProxy(t, tp.addr(), certs)
	mitmURL := func(cb string) string {
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=require&channel_binding=%s", appUser, appPassword, mitm, appDB, cb)
	}
	t.Run("man in the middle", func(t *testing.T) {
		// Without channel binding, the proxy's own certificate goes unnoticed (sslmode=require does not
		// verify it): the login works through the man in the middle.
		conn, err := tryConnect(mitmURL("disable"))
		if err != nil {
			t.Fatalf("through the proxy without channel binding: %v", err)
		}
		conn.Close(context.Background())
		// With it, the client binds to the proxy's certificate and the pooler sees that the binding is
		// not its own.
		_, err = tryConnect(mitmURL("prefer"))
		asPgError(t, err, "channel binding through a man in the middle")
	})
	// PostgreSQL answers a binding that is not the connection's with 28000 "SCRAM channel binding check
	// failed" (auth-scram.c, read_client_final_message); the operator needs to see it in the log too,
	// not a wrong password.
	t.Run("man in the middle error names channel binding", func(t *testing.T) {
		_, err := tryConnect(mitmURL("require"))
		pe := asPgError(t, err, "channel binding through a man in the middle")
		logged := strings.Contains(tp.logs.String(), "channel binding")
		if pe.Code != "28000" || !strings.Contains(pe.Message, "channel binding") || !logged {
			t.Fatalf("channel binding mismatch: client got %s %q, pooler log names channel binding: %v; "+
				"want 28000 \"SCRAM channel binding check failed\" as from PostgreSQL, and the cause in the log",
				pe.Code, pe.Message, logged)
		}
	})
}

// startTLSProxy runs a TLS-terminating proxy in front of the pooler at target: it answers a client's
// SSLRequest, does TLS with the client using a self-signed certificate of its own, opens its own TLS
// connection to the pooler (SSLRequest, certificate not checked) and copies bytes both ways. It returns
// the proxy's address.
func startTLSProxy(t testing.TB, target string, certs *pgtest.Certs) string {
	t.Helper()
	certFile, keyFile, err := certs.SelfSigned("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		open = append(open, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	sslRequest := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			track(client)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer client.Close()
				var req [8]byte
				if _, err := io.ReadFull(client, req[:]); err != nil || string(req[:]) != string(sslRequest) {
					return
				}
				if _, err := client.Write([]byte{'S'}); err != nil {
					return
				}
				front := tls.Server(client, &tls.Config{Certificates: []tls.Certificate{cert}})
				server, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				track(server)
				defer server.Close()
				if _, err := server.Write(sslRequest); err != nil {
					return
				}
				var answer [1]byte
				if _, err := io.ReadFull(server, answer[:]); err != nil || answer[0] != 'S' {
					return
				}
				back := tls.Client(server, &tls.Config{InsecureSkipVerify: true})
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(back, front); server.Close(); done <- struct{}{} }()
				go func() { _, _ = io.Copy(front, back); client.Close(); done <- struct{}{} }()
				<-done
				<-done
			}()
		}
	}()
	return ln.Addr().String()
}

// TestTLSCertAuth: auth_type cert with client_tls_sslmode verify-full: a client certificate the CA
// signed for CN app logs in as app with no password (pgx and psql); one for another CN gets 28000; no
// certificate, or one signed by another CA, fails the TLS handshake; no TLS gets 28000.
func TestTLSCertAuth(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) {
		clientTLS(c, certs, config.SSLModeVerifyFull)
		c.Pooler.ClientTLSCAFile = certs.CAFile
		c.Pooler.AuthType = config.AuthTypeCert
	})
	appCert, appKey, err := certs.Client(appUser)
	if err != nil {
		t.Fatal(err)
	}
	certURL := func(certFile, keyFile string) string {
		kv := []string{"sslmode", "verify-full", "sslrootcert", certs.CAFile}
		if certFile != "" {
			kv = append(kv, "sslcert", certFile, "sslkey", keyFile)
		}
		return poolerURLAt(tp, "127.0.0.1", appUser, "not-the-password", appDB, kv...)
	}
	t.Run("CN app", func(t *testing.T) {
		st := tlsConnWorks(t, certURL(appCert, appKey)+"&require_auth=none")
		if len(st.VerifiedChains) == 0 {
			t.Fatal("client did not verify the pooler's certificate")
		}
	})
	t.Run("psql CN app", func(t *testing.T) {
		out := runCommand(t, []string{"PGSSLMODE=verify-full", "PGSSLROOTCERT=" + certs.CAFile, "PGSSLCERT=" + appCert, "PGSSLKEY=" + appKey},
			"psql", psqlArgs(tp, "localhost", "SELECT current_user")...)
		if strings.TrimSpace(out) != appUser {
			t.Fatalf("psql printed %q, want %q", out, appUser)
		}
	})
	t.Run("other CN", func(t *testing.T) {
		otherCert, otherKey, err := certs.Client("someone_else")
		if err != nil {
			t.Fatal(err)
		}
		_, err = tryConnect(certURL(otherCert, otherKey))
		wantPgError(t, err, "certificate for another user", "28000", "certificate authentication failed")
	})
	t.Run("no certificate", func(t *testing.T) {
		_, err := tryConnect(certURL("", ""))
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("no client certificate: %v, want the pooler's TLS alert certificate required", err)
		}
	})
	t.Run("other CA", func(t *testing.T) {
		otherCert, otherKey, err := newTLSCerts(t).Client(appUser)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pgx.ParseConfig(certURL("", ""))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := tls.LoadX509KeyPair(otherCert, otherKey)
		if err != nil {
			t.Fatal(err)
		}
		// Present the certificate although the pooler names another CA (crypto/tls would send none).
		cfg.TLSConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(context.Background())
			t.Fatal("a client certificate of another CA was accepted")
		}
		if !strings.Contains(err.Error(), "unknown certificate authority") {
			t.Fatalf("client certificate of another CA: %v, want the pooler's TLS alert", err)
		}
	})
	t.Run("no TLS", func(t *testing.T) {
		_, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, "x", appDB, "sslmode", "disable"))
		wantPgError(t, err, "cert auth without TLS", "28000", "SSL required")
	})
}

// TestTLSReloadCertificates: Reload reads the certificate files again: after the files are replaced by
// a certificate from another CA, a new connection verifies against the new CA and no longer against the
// old one, while a connection made before the reload keeps working. A reload with a broken key fails
// and changes nothing.
func TestTLSReloadCertificates(t *testing.T) {
	oldCerts := newTLSCerts(t)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "pooler.crt"), filepath.Join(dir, "pooler.key")
	install := func(c *pgtest.Certs) {
		t.Helper()
		for _, f := range [][2]string{{c.ServerCert, certFile}, {c.ServerKey, keyFile}} {
			data, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(oldCerts)
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.ClientTLSSSLMode = config.SSLModeRequire
		c.Pooler.ClientTLSCertFile = certFile
		c.Pooler.ClientTLSKeyFile = keyFile
	})
	verifyURL := func(ca string) string {
		return poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "verify-full", "sslrootcert", ca)
	}
	tlsConnWorks(t, verifyURL(oldCerts.CAFile))
	before, err := tryConnect(verifyURL(oldCerts.CAFile))
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close(context.Background())

	newCerts := newTLSCerts(t)
	install(newCerts)
	// Not yet reloaded: still the old certificate.
	tlsConnWorks(t, verifyURL(oldCerts.CAFile))
	reload := func() error {
		cfg := *tp.cfg
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return tp.srv.Reload(&cfg)
	}
	if err := reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	tlsConnWorks(t, verifyURL(newCerts.CAFile))
	if _, err := tryConnect(verifyURL(oldCerts.CAFile)); err == nil || !strings.Contains(err.Error(), "signed by unknown authority") {
		t.Fatalf("old CA after the reload: %v, want a certificate error", err)
	}
	if _, err := before.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatalf("connection made before the reload: %v", err)
	}

	// A key that does not belong to the certificate: the reload fails and the new certificate stays.
	data, err := os.ReadFile(oldCerts.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := reload(); err == nil {
		t.Fatal("Reload with a key that does not match the certificate succeeded")
	}
	tlsConnWorks(t, verifyURL(newCerts.CAFile))
}

// TestTLSServer: server_tls_* towards a PostgreSQL with ssl = on. verify-full with the right CA works,
// and PostgreSQL's pg_stat_ssl shows the pooler's server connections encrypted; verify-full fails when
// the certificate is not for the host name the pooler dialled (which verify-ca accepts) and against
// another CA; require fails against a PostgreSQL without TLS (the shared one), and prefer falls back.
func TestTLSServer(t *testing.T) {
	pgCerts, err := pgtest.NewCerts(t.TempDir(), "127.0.0.1") // an IP address only: "localhost" does not match
	if err != nil {
		t.Fatal(err)
	}
	backend := pgtest.StartT(t, pgtest.Options{SSL: pgCerts})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := backend.CreateRole(ctx, appUser, appPassword); err != nil {
		t.Fatal(err)
	}
	if err := backend.CreateDatabase(ctx, appDB, appUser); err != nil {
		t.Fatal(err)
	}
	super := superConn(t, backend)
	serverTLS := func(mode, ca, host string) func(*config.Config) {
		return func(c *config.Config) {
			c.Pooler.ServerTLSSSLMode = mode
			c.Pooler.ServerTLSCAFile = ca
			if host != "" {
				db := c.Databases["*"]
				db.Host = host
				c.Databases["*"] = db
			}
		}
	}
	// sslCounts counts the pooler's server connections to backend, and those that use TLS.
	sslCounts := func() (encrypted, all int) {
		t.Helper()
		q := `SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
		      WHERE a.usename = $1 AND a.datname = $2`
		if err := super.QueryRow(context.Background(), q, appUser, appDB).Scan(&encrypted, &all); err != nil {
			t.Fatalf("pg_stat_ssl: %v", err)
		}
		return encrypted, all
	}

	t.Run("verify-full", func(t *testing.T) {
		tp := startPoolerFor(t, backend, serverTLS(config.SSLModeVerifyFull, pgCerts.CAFile, ""))
		conn := tp.connect(t)
		var ssl bool
		var version string
		q := "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
		if err := conn.QueryRow(context.Background(), q).Scan(&ssl, &version); err != nil {
			t.Fatal(err)
		}
		if !ssl || !strings.HasPrefix(version, "TLSv1.") {
			t.Fatalf("the server connection says ssl=%v version %q, want TLS", ssl, version)
		}
		if enc, all := sslCounts(); all == 0 || enc != all {
			t.Fatalf("%d of %d server connections of the pooler use TLS, want all (and at least one)", enc, all)
		}
	})
	// A cancel travels over TLS from the client (pgx encrypts its cancel connection like the session,
	// after an SSLRequest or with direct TLS) and reaches the query on the TLS server connection.
	for _, negotiation := range []string{"postgres", "direct"} {
		t.Run("cancel "+negotiation, func(t *testing.T) {
			clientCerts := newTLSCerts(t)
			tp := startPoolerFor(t, backend, func(c *config.Config) {
				serverTLS(config.SSLModeVerifyFull, pgCerts.CAFile, "")(c)
				clientTLS(c, clientCerts, config.SSLModeRequire)
			})
			conn, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB,
				"sslmode", "verify-full", "sslrootcert", clientCerts.CAFile, "sslnegotiation", negotiation))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(context.Background())
			done := make(chan error, 1)
			go func() {
				_, err := conn.Exec(context.Background(), "SELECT pg_sleep(30)")
				done <- err
			}()
			eventually(t, 10*time.Second, "pg_sleep running on the server", func() bool {
				var n int
				q := "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active' AND query LIKE 'SELECT pg_sleep%'"
				if err := super.QueryRow(context.Background(), q, appUser).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n == 1
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := conn.PgConn().CancelRequest(ctx); err != nil {
				t.Fatalf("CancelRequest over TLS: %v", err)
			}
			select {
			case err := <-done:
				wantPgError(t, err, "cancelled query", "57014")
			case <-time.After(10 * time.Second):
				t.Fatal("the query was not cancelled within 10s")
			}
		})
	}
	t.Run("verify-ca other host name", func(t *testing.T) {
		tp := startPoolerFor(t, backend, serverTLS(config.SSLModeVerifyCA, pgCerts.CAFile, "localhost"))
		queryWorks(t, tp.pgxURL(appDB))
	})
	t.Run("verify-full other host name", func(t *testing.T) {
		tp := startPoolerFor(t, backend, serverTLS(config.SSLModeVerifyFull, pgCerts.CAFile, "localhost"))
		_, err := tryConnect(tp.pgxURL(appDB))
		wantPgError(t, err, "verify-full, certificate for another host", "08006", "TLS handshake with server", "localhost")
	})
	t.Run("verify-full other CA", func(t *testing.T) {
		other := newTLSCerts(t)
		tp := startPoolerFor(t, backend, serverTLS(config.SSLModeVerifyFull, other.CAFile, ""))
		_, err := tryConnect(tp.pgxURL(appDB))
		wantPgError(t, err, "verify-full, another CA", "08006", "TLS handshake with server", "certificate")
	})
	t.Run("require without TLS in PostgreSQL", func(t *testing.T) {
		tp := startPooler(t, serverTLS(config.SSLModeRequire, "", ""))
		_, err := tryConnect(tp.pgxURL(appDB))
		wantPgError(t, err, "server_tls_sslmode require, server without TLS", "08006", "does not support TLS", "require")
	})
	t.Run("prefer without TLS in PostgreSQL", func(t *testing.T) {
		tp := startPooler(t, serverTLS(config.SSLModePrefer, "", ""))
		queryWorks(t, tp.pgxURL(appDB))
	})
}
