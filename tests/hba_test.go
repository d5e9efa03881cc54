package tests

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// writeHBA writes an auth_hba_file and returns its path.
func writeHBA(t testing.TB, rules string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hba.conf")
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// connectFrom connects with url from the local address ip (any of 127.0.0.0/8 on Linux).
func connectFrom(ip, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	cfg.DialFunc = d.DialContext
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return pgx.ConnectConfig(ctx, cfg)
}

// hbaCase is one login attempt against the rules of TestHBA.
type hbaCase struct {
	name     string
	from     string // client address
	tls      bool
	db, user string
	password string
	extra    []string // more URL parameters, as key, value pairs
	code     string   // SQLSTATE wanted; "" means the login and a query work
	parts    []string // the error message holds these
}

// TestHBA: auth_type hba. The rules choose per connection by TLS or not, client address, database and
// user, the first that matches winning: reject rules refuse with 28000 "pg_hba.conf rejects connection",
// a connection no rule matches gets 28000 "no pg_hba.conf entry", trust lets a client in with any
// password and without being asked for one, md5 asks for md5 (28P01 for a wrong password), scram-sha-256
// for SCRAM, cert for a client certificate. Clients dial from 127.0.0.1 to 127.0.0.4.
func TestHBA(t *testing.T) {
	setupAuthRoles(t)
	certs := newTLSCerts(t)
	appCert, appKey, err := certs.Client(appUser)
	if err != nil {
		t.Fatal(err)
	}
	const trustDB = "pooler_hba"
	isolatedDB(t, trustDB)
	hba := writeHBA(t, `# pgpooler TestHBA: the first matching rule decides
hostssl   pooler_hba      app           127.0.0.1/32  cert
hostssl   all             all           127.0.0.1/32  scram-sha-256
host      all             app           127.0.0.2/32  reject
host      all             other         127.0.0.1/32  reject
hostnossl app             auth_md5      127.0.0.1/32  md5
hostnossl pooler_hba      app           127.0.0.1/32  trust
host      app,pooler_hba  app,auth_md5  127.0.0.3/32  reject
host      all             all           127.0.0.3/32  scram-sha-256
hostnossl app             app           127.0.0.1/32  scram-sha-256
`)
	tp := startPooler(t, func(c *config.Config) {
		noPasswords(c) // server logins use what client logins taught (SCRAM passthrough, md5 secret)
		// trust and cert logins teach nothing: that database's servers log in with a configured password.
		c.Databases[trustDB] = config.Database{Host: pg.Host, Port: pg.Port, Password: appPassword}
		c.Pooler.AuthType = config.AuthTypeHBA
		c.Pooler.AuthHBAFile = hba
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser), md5User, storedSecret(t, md5User))
		clientTLS(c, certs, config.SSLModePrefer)
		c.Pooler.ClientTLSCAFile = certs.CAFile // client certificates are checked when given
	})
	cert := []string{"sslcert", appCert, "sslkey", appKey}
	cases := []hbaCase{
		// Line 2: every TLS client from 127.0.0.1 is asked for SCRAM, before the reject rule of line 4.
		{name: "hostssl scram", from: "127.0.0.1", tls: true, db: appDB, user: appUser, password: appPassword, extra: []string{"require_auth", "scram-sha-256"}},
		{name: "hostssl scram wrong password", from: "127.0.0.1", tls: true, db: appDB, user: appUser, password: "wrong", code: "28P01", parts: []string{"password authentication failed"}},
		{name: "hostssl comes before reject", from: "127.0.0.1", tls: true, db: appDB, user: "other", password: "x", code: "28P01", parts: []string{"password authentication failed"}},
		{name: "hostssl scram md5 secret", from: "127.0.0.1", tls: true, db: appDB, user: md5User, password: md5Password, code: "28P01"},
		// Line 4: the same user without TLS is rejected.
		{name: "reject user", from: "127.0.0.1", db: appDB, user: "other", password: "x", code: "28000",
			parts: []string{"pg_hba.conf rejects connection", `host "127.0.0.1"`, `user "other"`, "no encryption"}},
		// Line 3: app from 127.0.0.2 is rejected, with TLS or without; from 127.0.0.1 (line 9) it passes.
		{name: "reject address", from: "127.0.0.2", db: appDB, user: appUser, password: appPassword, code: "28000",
			parts: []string{"pg_hba.conf rejects connection", `host "127.0.0.2"`, `user "app"`, `database "app"`}},
		{name: "reject address with TLS", from: "127.0.0.2", tls: true, db: appDB, user: appUser, password: appPassword, code: "28000",
			parts: []string{"pg_hba.conf rejects connection", "SSL encryption"}},
		{name: "other address passes", from: "127.0.0.1", db: appDB, user: appUser, password: appPassword, extra: []string{"require_auth", "scram-sha-256"}},
		{name: "reject is for its user only", from: "127.0.0.2", db: appDB, user: md5User, password: md5Password, code: "28000",
			parts: []string{"no pg_hba.conf entry", `host "127.0.0.2"`, `user "auth_md5"`}},
		// Line 5: md5, and only md5, for auth_md5 on app without TLS.
		{name: "md5", from: "127.0.0.1", db: appDB, user: md5User, password: md5Password, extra: []string{"require_auth", "md5"}},
		{name: "md5 wrong password", from: "127.0.0.1", db: appDB, user: md5User, password: "wrong", code: "28P01", parts: []string{"password authentication failed"}},
		{name: "md5 rule is for database app", from: "127.0.0.1", db: trustDB, user: md5User, password: md5Password, code: "28000",
			parts: []string{"no pg_hba.conf entry", `database "pooler_hba"`}},
		// Line 6: trust without TLS; line 1: a client certificate with TLS.
		{name: "trust", from: "127.0.0.1", db: trustDB, user: appUser, password: "wrong", extra: []string{"require_auth", "none"}},
		{name: "cert", from: "127.0.0.1", tls: true, db: trustDB, user: appUser, password: "wrong", extra: append([]string{"require_auth", "none"}, cert...)},
		{name: "cert without certificate", from: "127.0.0.1", tls: true, db: trustDB, user: appUser, password: appPassword, code: "28000",
			parts: []string{"certificate"}},
		// Lines 7 and 8: lists of databases and users from 127.0.0.3; names not listed fall through.
		{name: "lists reject app on app", from: "127.0.0.3", db: appDB, user: appUser, password: appPassword, code: "28000", parts: []string{"rejects"}},
		{name: "lists reject auth_md5 on pooler_hba", from: "127.0.0.3", db: trustDB, user: md5User, password: md5Password, code: "28000", parts: []string{"rejects"}},
		{name: "lists reject with TLS", from: "127.0.0.3", tls: true, db: trustDB, user: appUser, password: appPassword, code: "28000", parts: []string{"rejects"}},
		{name: "database not in list", from: "127.0.0.3", db: "postgres", user: appUser, password: appPassword, extra: []string{"require_auth", "scram-sha-256"}},
		{name: "user not in list", from: "127.0.0.3", db: appDB, user: "other", password: "x", code: "28P01"},
		// No rule: another database on line 9, another address.
		{name: "no entry database", from: "127.0.0.1", db: "postgres", user: appUser, password: appPassword, code: "28000",
			parts: []string{"no pg_hba.conf entry", `host "127.0.0.1"`, `database "postgres"`, "no encryption"}},
		{name: "no entry address", from: "127.0.0.4", db: appDB, user: appUser, password: appPassword, code: "28000",
			parts: []string{"no pg_hba.conf entry", `host "127.0.0.4"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sslmode := "disable"
			if tc.tls {
				sslmode = "require"
			}
			url := poolerURLAt(tp, "127.0.0.1", tc.user, tc.password, tc.db, append([]string{"sslmode", sslmode}, tc.extra...)...)
			conn, err := connectFrom(tc.from, url)
			if tc.code != "" {
				if err == nil {
					conn.Close(context.Background())
				}
				wantPgError(t, err, fmt.Sprintf("%s from %s", tc.name, tc.from), tc.code, tc.parts...)
				return
			}
			if err != nil {
				t.Fatalf("login from %s: %v", tc.from, err)
			}
			defer conn.Close(context.Background())
			if _, isTLS := conn.PgConn().Conn().(*tls.Conn); isTLS != tc.tls {
				t.Fatalf("TLS %v, want %v", isTLS, tc.tls)
			}
			var user string
			if err := conn.QueryRow(context.Background(), "SELECT current_user").Scan(&user); err != nil {
				t.Fatalf("query: %v", err)
			}
			if user != tc.user {
				t.Fatalf("logged in as %q, want %q", user, tc.user)
			}
		})
	}
	t.Run("psql trust", func(t *testing.T) {
		// -w: psql fails rather than ask for a password; trust asks for none.
		out := runCommand(t, []string{"PGSSLMODE=disable", "PGPASSWORD="}, "psql", "-X", "-w", "-At", "-h", "127.0.0.1",
			"-p", fmt.Sprint(tp.port), "-U", appUser, "-d", trustDB, "-c", "SELECT current_user")
		if strings.TrimSpace(out) != appUser {
			t.Fatalf("psql printed %q", out)
		}
	})
	t.Run("psql reject", func(t *testing.T) {
		out := runCommandFails(t, []string{"PGSSLMODE=disable", "PGPASSWORD=x"}, "psql", "-X", "-w", "-At", "-h", "127.0.0.1",
			"-p", fmt.Sprint(tp.port), "-U", "other", "-d", appDB, "-c", "SELECT 1")
		if !strings.Contains(out, "pg_hba.conf rejects connection") {
			t.Fatalf("psql printed:\n%s", out)
		}
	})
}

// TestHBAReload: a reload reads auth_hba_file again; a rule change applies to the next login.
func TestHBAReload(t *testing.T) {
	hba := writeHBA(t, "host all all 127.0.0.1/32 reject\n")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = config.AuthTypeHBA
		c.Pooler.AuthHBAFile = hba
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
	})
	_, err := tryConnect(tp.url(appDB))
	wantPgError(t, err, "before the reload", "28000", "rejects")
	if err := os.WriteFile(hba, []byte("host all all 127.0.0.1/32 scram-sha-256\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := *tp.cfg
	if err := tp.srv.Reload(&cfg); err != nil {
		t.Fatal(err)
	}
	queryWorks(t, tp.url(appDB)+"&require_auth=scram-sha-256")
}

// TestHBAUnixSocket: local rules apply to clients on the Unix socket and host rules to TCP clients only;
// socket clients are not refused for lack of TLS under client_tls_sslmode require. The test serves a
// Unix listener of its own on the pooler beside the harness's TCP one.
func TestHBAUnixSocket(t *testing.T) {
	certs := newTLSCerts(t)
	dir := t.TempDir()
	hba := writeHBA(t, `local app app scram-sha-256
local all all reject
host  all all 127.0.0.1/32 reject
`)
	tp := startPooler(t, func(c *config.Config) {
		noPasswords(c)
		c.Pooler.UnixSocketDir = dir
		c.Pooler.AuthType = config.AuthTypeHBA
		c.Pooler.AuthHBAFile = hba
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
		clientTLS(c, certs, config.SSLModeRequire)
	})
	ln, err := net.Listen("unix", filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", tp.cfg.Pooler.ListenPort)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- tp.srv.Serve(ln) }()
	t.Cleanup(func() { ln.Close(); <-served }) // before the harness's Shutdown
	socketURL := func(db, pw string) string {
		return fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%d&sslmode=disable", appUser, pw, db, dir, tp.cfg.Pooler.ListenPort)
	}

	queryWorks(t, socketURL(appDB, appPassword)+"&require_auth=scram-sha-256")
	_, err = tryConnect(socketURL(appDB, "wrong"))
	wantPgError(t, err, "socket, wrong password", "28P01")
	_, err = tryConnect(socketURL("postgres", appPassword))
	wantPgError(t, err, "socket, other database", "28000", "pg_hba.conf rejects connection", `host "[local]"`)
	_, err = tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require"))
	wantPgError(t, err, "TCP with TLS", "28000", "pg_hba.conf rejects connection", `host "127.0.0.1"`)

	out := runCommand(t, []string{"PGPASSWORD=" + appPassword}, "psql", "-X", "-w", "-At", "-h", dir,
		"-p", fmt.Sprint(tp.cfg.Pooler.ListenPort), "-U", appUser, "-d", appDB, "-c", "SELECT current_user")
	if strings.TrimSpace(out) != appUser {
		t.Fatalf("psql over the socket printed %q", out)
	}
}
