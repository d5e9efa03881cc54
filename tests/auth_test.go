package tests

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// Roles of the authentication tests, in the shared PostgreSQL. md5User's password is stored as md5 and
// pg_hba.conf asks it for md5 (see TestMain); every other role is SCRAM-only.
const (
	md5User     = "auth_md5"
	md5Password = "md5-secret-pw"
	authUser    = "pgpooler_auth" // auth_user: logs in over the Unix socket (local trust), no password
)

// authSetup creates the roles and the SECURITY DEFINER lookup function of the authentication tests once.
var authSetup sync.Once

func setupAuthRoles(t testing.TB) {
	t.Helper()
	authSetup.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		super := superConn(t, pg)
		for _, sql := range []string{
			"SET password_encryption = 'md5'",
			fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", md5User, md5Password),
			"RESET password_encryption",
			fmt.Sprintf("GRANT CONNECT ON DATABASE %s TO %s", appDB, md5User),
			fmt.Sprintf("CREATE ROLE %s LOGIN", authUser),
			// PgBouncer's recommended set-up: a non-superuser auth_user calling a SECURITY DEFINER function.
			`CREATE FUNCTION public.pgpooler_lookup(uname text, OUT usename name, OUT passwd text) RETURNS record
			   LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS
			   $$ SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END
			      FROM pg_authid WHERE rolname = uname AND rolcanlogin $$`,
			"REVOKE ALL ON FUNCTION public.pgpooler_lookup(text) FROM public",
			fmt.Sprintf("GRANT EXECUTE ON FUNCTION public.pgpooler_lookup(text) TO %s", authUser),
		} {
			if _, err := super.Exec(ctx, sql); err != nil && !strings.Contains(err.Error(), "already exists") {
				t.Fatalf("%s: %v", sql, err)
			}
		}
	})
}

// storedSecret returns role's pg_authid.rolpassword, as an operator would copy it into auth_file.
func storedSecret(t testing.TB, role string) string {
	t.Helper()
	var s string
	if err := superConn(t, pg).QueryRow(context.Background(), "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeUserlist writes an auth_file with the given "user" "secret" pairs and returns its path.
func writeUserlist(t testing.TB, pairs ...string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(&b, "%q %q\n", pairs[i], pairs[i+1])
	}
	path := filepath.Join(t.TempDir(), "userlist.txt")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noPasswords routes every database to the shared PostgreSQL without a configured password: server
// logins must use what the clients' logins taught the pooler.
func noPasswords(c *config.Config) {
	c.Databases = map[string]config.Database{"*": {Host: pg.Host, Port: pg.Port}}
}

// urlAs is a libpq URL to the pooler as user with password pw (sslmode=disable) plus extra options.
func urlAs(tp *testPooler, user, pw, db, extra string) string {
	u := fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=disable", user, pw, tp.addr(), db)
	if extra != "" {
		u += "&" + extra
	}
	return u
}

// queryWorks connects to url, runs a query twice through the pool and closes.
func queryWorks(t testing.TB, url string) {
	t.Helper()
	conn, err := tryConnect(url)
	if err != nil {
		t.Fatalf("connect %s: %v", redactURL(url), err)
	}
	defer conn.Close(context.Background())
	for i := 0; i < 2; i++ {
		var user string
		if err := conn.QueryRow(context.Background(), "SELECT current_user").Scan(&user); err != nil {
			t.Fatalf("query: %v", err)
		}
	}
}

func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.Index(u[i:], "@"); j >= 0 {
			return u[:i+3] + "…" + u[i+j:]
		}
	}
	return u
}

// TestAuthTypes logs in through each auth_type with pgx, psql and pgbench, against a PostgreSQL that
// itself requires scram-sha-256 (and md5 for md5User), with an auth_file of SCRAM and md5 secrets
// copied from pg_authid: no plaintext password in the pooler's files. Wrong passwords fail with 28P01.
func TestAuthTypes(t *testing.T) {
	setupAuthRoles(t)
	userlist := writeUserlist(t, appUser, storedSecret(t, appUser), md5User, storedSecret(t, md5User))
	data, _ := os.ReadFile(userlist)
	if strings.Contains(string(data), appPassword) || strings.Contains(string(data), md5Password) {
		t.Fatal("the auth_file holds a plaintext password")
	}
	for _, authType := range []string{"md5", "scram-sha-256", "plain"} {
		t.Run(authType, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				noPasswords(c)
				c.Pooler.AuthType = authType
				c.Pooler.AuthFile = userlist
				c.Pooler.AuthPlainWithoutTLS = true
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.DefaultPoolSize = 2
			})
			// md5User's secret is md5: auth_type scram-sha-256 cannot check a SCRAM proof against it.
			users := [][2]string{{appUser, appPassword}, {md5User, md5Password}}
			if authType == "scram-sha-256" {
				users = users[:1]
			}
			for _, u := range users {
				queryWorks(t, urlAs(tp, u[0], u[1], appDB, "default_query_exec_mode=exec"))
				_, err := tryConnect(urlAs(tp, u[0], u[1]+"x", appDB, ""))
				wantPgError(t, err, "wrong password", "28P01", "password authentication failed")
			}
			out := runCommand(t, []string{"PGPASSWORD=" + appPassword}, "psql", "-X", "-v", "ON_ERROR_STOP=1", "-At",
				"-h", "127.0.0.1", "-p", fmt.Sprint(tp.port), "-U", appUser, "-d", appDB, "-c", "SELECT current_user")
			if strings.TrimSpace(out) != appUser {
				t.Fatalf("psql printed %q, want %q", out, appUser)
			}
			runCommand(t, []string{"PGPASSWORD=" + appPassword}, "pgbench", "-n", "-c", "4", "-j", "2", "-t", "20",
				"-f", "-", "-h", "127.0.0.1", "-p", fmt.Sprint(tp.port), "-U", appUser, appDB)
			assertNoSecretsLogged(t, tp)
		})
	}
}

// runCommand runs a client program with extra environment, stdin "SELECT 1;", and returns its output.
func runCommand(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader("SELECT 1;\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
	return string(out)
}

// TestSCRAMPassthrough: with only SCRAM secrets (no password in the configuration), clients log in with
// SCRAM, and the pooler logs in to PostgreSQL with the ClientKey it recovered, opening several servers
// in transaction mode as clients share them.
func TestSCRAMPassthrough(t *testing.T) {
	setupAuthRoles(t)
	db := isolatedDB(t, "pooler_auth")
	tp := startPooler(t, func(c *config.Config) {
		noPasswords(c)
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 3
	})
	conns := openClients(t, urlAs(tp, appUser, appPassword, db, "default_query_exec_mode=exec"), 6)
	runHeld(t, conns)
	super := superConn(t, pg)
	if n := backendCount(t, super, db, ""); n != 3 {
		t.Fatalf("%d server connections, want 3 (pool size), all logged in by passthrough", n)
	}
	assertNoSecretsLogged(t, tp)
}

// runHeld runs a transaction on every connection at once, so that the pool opens all its servers.
func runHeld(t testing.TB, conns []*pgx.Conn) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(conns))
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Exec(context.Background(), "SELECT pg_sleep(0.2)")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("query through passthrough login: %v", err)
		}
	}
}

// TestAuthQuery: no auth_file at all; secrets come from auth_query, run as auth_user (which logs in over
// the Unix socket without a password) through a SECURITY DEFINER function. A SCRAM role logs in by
// passthrough, an md5 role with md5, an unknown user and a wrong password fail alike.
func TestAuthQuery(t *testing.T) {
	setupAuthRoles(t)
	for _, authType := range []string{"md5", "scram-sha-256"} {
		t.Run(authType, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				noPasswords(c)
				c.Databases["authdb"] = config.Database{Host: pg.SocketDir, Port: pg.Port, DBName: "postgres"}
				c.Pooler.AuthType = authType
				c.Pooler.AuthUser = authUser
				c.Pooler.AuthDBName = "authdb"
				c.Pooler.AuthQuery = "SELECT usename, passwd FROM public.pgpooler_lookup($1)"
				c.Pooler.PoolMode = config.PoolModeTransaction
			})
			queryWorks(t, urlAs(tp, appUser, appPassword, appDB, "default_query_exec_mode=exec"))
			if authType == "md5" {
				queryWorks(t, urlAs(tp, md5User, md5Password, appDB, "default_query_exec_mode=exec"))
			}
			_, errWrong := tryConnect(urlAs(tp, appUser, "wrong", appDB, ""))
			pe := wantPgError(t, errWrong, "wrong password", "28P01")
			_, errUnknown := tryConnect(urlAs(tp, "nobody_here", "wrong", appDB, ""))
			pu := wantPgError(t, errUnknown, "unknown user", "28P01")
			if strings.ReplaceAll(pe.Message, appUser, "U") != strings.ReplaceAll(pu.Message, "nobody_here", "U") {
				t.Fatalf("unknown user and wrong password differ: %q vs %q", pu.Message, pe.Message)
			}
			logs := tp.logs.String()
			if !strings.Contains(logs, "unknown user") || !strings.Contains(logs, "wrong password") {
				t.Fatalf("the log does not tell the unknown user from the wrong password:\n%s", logs)
			}
			assertNoSecretsLogged(t, tp)
		})
	}
}

// TestUnknownUserLooksLikeWrongPassword: over SCRAM, an unknown user gets the same exchange (an
// AuthenticationSASL, a server-first-message of the same shape) and the same error as a wrong password.
func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
	})
	shape := func(user string) string {
		conn, fe := dialStartup(t, tp, user)
		defer conn.Close()
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		sasl, ok := msg.(*pgproto3.AuthenticationSASL)
		if !ok {
			t.Fatalf("%s: got %T, want AuthenticationSASL", user, msg)
		}
		fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abcdefghijklmnopqrstuvwx")})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		msg, err = fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		cont, ok := msg.(*pgproto3.AuthenticationSASLContinue)
		if !ok {
			t.Fatalf("%s: got %T, want AuthenticationSASLContinue", user, msg)
		}
		parts := strings.Split(string(cont.Data), ",")
		if len(parts) != 3 {
			t.Fatalf("%s: server-first-message %q", user, cont.Data)
		}
		salt, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(parts[1], "s="))
		return fmt.Sprintf("%v r=%d salt=%d %s", sasl.AuthMechanisms, len(parts[0]), len(salt), parts[2])
	}
	known, unknown := shape(appUser), shape("nobody_here")
	if known != unknown {
		t.Fatalf("exchange shape differs: known user %s, unknown user %s", known, unknown)
	}
}

// dialStartup connects to the pooler and sends a StartupMessage for user on appDB.
func dialStartup(t testing.TB, tp *testPooler, user string) (net.Conn, *pgproto3.Frontend) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": user, "database": appDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	return conn, fe
}

// TestMalformedSASL: broken SCRAM exchanges get 08P01 or 28P01 and a closed connection, never a hang.
func TestMalformedSASL(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
	})
	cases := []struct {
		name  string
		first pgproto3.FrontendMessage
		final []byte // sent as a SASLResponse after the server-first-message, when not nil
		code  string
	}{
		{"unknown mechanism", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-1", Data: []byte("n,,n=,r=abc")}, nil, "08P01"},
		{"PLUS without TLS", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256-PLUS", Data: []byte("p=tls-server-end-point,,n=,r=abc")}, nil, "08P01"},
		{"garbage first", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("\x00\xff garbage")}, nil, "08P01"},
		{"empty first", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256"}, nil, "08P01"},
		{"not a SASL message", &pgproto3.Query{String: "SELECT 1"}, nil, "08P01"},
		{"nonce mismatch", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abcdefgh")}, []byte("c=biws,r=otherNonce,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "08P01"},
		{"truncated final", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abcdefgh")}, []byte("c=biws"), "08P01"},
		{"wrong proof", &pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte("n,,n=,r=abcdefgh")}, []byte("c=biws,r=NONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), "28P01"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, fe := dialStartup(t, tp, appUser)
			defer conn.Close()
			if _, err := fe.Receive(); err != nil { // AuthenticationSASL
				t.Fatal(err)
			}
			fe.Send(tc.first)
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			if tc.final != nil {
				msg, err := fe.Receive()
				if err != nil {
					t.Fatal(err)
				}
				cont, ok := msg.(*pgproto3.AuthenticationSASLContinue)
				if !ok {
					t.Fatalf("got %T, want AuthenticationSASLContinue", msg)
				}
				nonce := strings.TrimPrefix(strings.Split(string(cont.Data), ",")[0], "r=")
				fe.Send(&pgproto3.SASLResponse{Data: []byte(strings.Replace(string(tc.final), "NONCE", nonce, 1))})
				if err := fe.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			msg, err := fe.Receive()
			if err != nil {
				t.Fatalf("want ErrorResponse %s, got %v", tc.code, err)
			}
			er, ok := msg.(*pgproto3.ErrorResponse)
			if !ok || er.Code != tc.code {
				t.Fatalf("got %#v, want ErrorResponse %s", msg, tc.code)
			}
			if _, err := fe.Receive(); err == nil {
				t.Fatal("connection still open after the authentication error")
			}
		})
	}
}

// TestStalledLogins: a flood of clients that stop in the middle of a SCRAM exchange (slowloris) is cut
// off by client_login_timeout, opens no server connection, and does not keep others from logging in.
func TestStalledLogins(t *testing.T) {
	db := isolatedDB(t, "pooler_auth_stall")
	const timeout = time.Second
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
		c.Pooler.ClientLoginTimeout = config.Duration(timeout)
	})
	var stalled []net.Conn
	for i := 0; i < 40; i++ {
		conn, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fe := pgproto3.NewFrontend(conn, conn)
		fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": appUser, "database": db}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		stalled = append(stalled, conn) // never answers AuthenticationSASL
	}
	queryWorks(t, urlAs(tp, appUser, appPassword, db, ""))
	start := time.Now()
	for _, c := range stalled {
		awaitPeerClose(t, c, start, timeout+5*time.Second)
	}
	if n := backendCount(t, superConn(t, pg), db, ""); n > 1 {
		t.Fatalf("%d server connections after stalled logins, want at most the one real client's", n)
	}
}

// assertNoSecretsLogged fails the test when the pooler's log holds a password or a secret's key.
func assertNoSecretsLogged(t testing.TB, tp *testPooler) {
	t.Helper()
	logs := tp.logs.String()
	needles := []string{appPassword, md5Password}
	for _, role := range []string{appUser, md5User} {
		sec := storedSecret(t, role)
		needles = append(needles, sec)
		if s, err := auth.ParseSCRAMSecret(sec); err == nil {
			needles = append(needles, base64.StdEncoding.EncodeToString(s.StoredKey), base64.StdEncoding.EncodeToString(s.ServerKey))
		} else if strings.HasPrefix(sec, "md5") {
			needles = append(needles, sec[3:])
		}
	}
	for _, n := range needles {
		if strings.Contains(logs, n) {
			t.Fatalf("the pooler's log contains a secret")
		}
	}
}

// TestHBARoleMembership: an auth_hba_file "+role" entry matches members of the role, asked of
// PostgreSQL through auth_user; a user outside the role falls through to the next rule.
func TestHBARoleMembership(t *testing.T) {
	setupAuthRoles(t)
	super := superConn(t, pg)
	for _, sql := range []string{"CREATE ROLE hba_group NOLOGIN", "GRANT hba_group TO " + appUser} {
		if _, err := super.Exec(context.Background(), sql); err != nil && !strings.Contains(err.Error(), "already") {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	hba := filepath.Join(t.TempDir(), "pg_hba.conf")
	rules := "host all +hba_group 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n"
	if err := os.WriteFile(hba, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	tp := startPooler(t, func(c *config.Config) {
		c.Databases["authdb"] = config.Database{Host: pg.SocketDir, Port: pg.Port, DBName: "postgres"}
		c.Databases["*"] = config.Database{Host: pg.Host, Port: pg.Port, Password: appPassword}
		c.Pooler.AuthType = "hba"
		c.Pooler.AuthHBAFile = hba
		c.Pooler.AuthUser = authUser
		c.Pooler.AuthDBName = "authdb"
		c.Pooler.AuthQuery = "SELECT usename, passwd FROM public.pgpooler_lookup($1)"
	})
	queryWorks(t, urlAs(tp, appUser, "not-even-asked", appDB, "")) // trust: member of hba_group
	_, err := tryConnect(urlAs(tp, md5User, md5Password, appDB, ""))
	wantPgError(t, err, "user outside +hba_group", "28000", "pg_hba.conf rejects connection")
}
