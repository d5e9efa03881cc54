package pooler

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// maxAuthMessage is the largest password or SASL message accepted from a client, in bytes including the
// header (PostgreSQL caps SASL messages at a few KB as well).
const maxAuthMessage = 8192

// authenticate checks the client as auth_type (or, with auth_type hba, its auth_hba_file rule) says,
// and fills c.identity and c.ls.learned (what its login taught about logging in to servers as this user).
// Errors are FATAL ErrorResponses with PostgreSQL's codes and messages: 28P01 "password authentication
// failed" for a wrong password and an unknown user alike, 28000 for rules and certificates, 08P01 for a
// malformed exchange. The log says which.
func (c *clientConn) authenticate(cfg *config.Config) error {
	method := cfg.Pooler.AuthType
	if method == "hba" {
		rule, err := c.hbaRule()
		if err != nil {
			return err
		}
		method = rule.Method
	}
	c.identity = Identity{User: c.user, Database: c.database, TLS: c.tls != nil}
	if c.tls != nil && len(c.tls.VerifiedChains) > 0 {
		c.identity.CertCN = c.tls.PeerCertificates[0].Subject.CommonName
	}
	var err error
	switch method {
	case "trust":
		// As in PgBouncer, with auth_file set the user must still be listed in it.
		if ul := c.s.users.Load(); ul != nil {
			if _, ok := ul.Lookup(c.user); !ok {
				c.logRefused("user not in auth_file")
				return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "user %q is not allowed to connect (not in auth_file)", c.user)
			}
		}
	case "reject":
		c.logRefused("hba rule rejects")
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "pg_hba.conf rejects connection for host %q, user %q, database %q, %s", c.hostLabel(), c.user, c.database, c.tlsLabel())
	case "cert":
		err = c.authCert()
	case "peer": // hba rules only (peercred.go)
		err = c.authPeer()
	case "md5", "scram-sha-256":
		err = c.authPassword(cfg, method)
	case "plain", "password":
		method = "password"
		err = c.authCleartext(cfg)
	default:
		err = pgwire.NewFatal(pgerrcode.FeatureNotSupported, "authentication method %q is not supported", method)
	}
	if err != nil {
		return err
	}
	if c.identity.Method == "" {
		c.identity.Method = method
	}
	return nil
}

// errPasswordFailed is the one answer to a wrong password, an unknown user and a user without a usable
// secret, as PostgreSQL gives it, so that a client cannot tell them apart.
func (c *clientConn) errPasswordFailed() error {
	return pgwire.NewFatal(pgerrcode.InvalidPassword, "password authentication failed for user %q", c.user)
}

// logRefused logs why a login was refused; the client only sees the uniform error. Any peer can cause
// these lines, so they are rate-limited (lograte.go).
func (c *clientConn) logRefused(reason string) {
	c.s.loginRefusedLog.log(c.s.logger, slog.LevelInfo, "login refused", "client", c.id, "addr", c.remote, "database", c.database, "user", c.user, "reason", reason)
}

func (c *clientConn) hostLabel() string {
	if c.isUnix() {
		return "[local]"
	}
	if host, _, err := net.SplitHostPort(c.remote); err == nil {
		return host
	}
	return c.remote
}

func (c *clientConn) tlsLabel() string {
	if c.tls != nil {
		return "SSL encryption"
	}
	return "no encryption"
}

// hbaRule finds the auth_hba_file rule for this connection; none is FATAL 28000 as in PostgreSQL.
func (c *clientConn) hbaRule() (*auth.HBARule, error) {
	h := c.s.hba.Load()
	req := auth.HBARequest{Local: c.isUnix(), TLS: c.tls != nil, Database: c.database, User: c.user}
	if !req.Local {
		if ap, err := netip.ParseAddrPort(c.remote); err == nil {
			req.Addr = ap.Addr()
		}
	}
	if h != nil {
		member := func(user, role string) bool {
			c.offLoop() // a query on a server (auth_query's auth_user)
			return c.s.isMember(c.ls.ctx, c.authQuerySettings(c.s.config()), user, role)
		}
		if rule, ok := h.Match(req, member); ok {
			return rule, nil
		}
	}
	c.logRefused("no auth_hba_file rule matches")
	return nil, pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "no pg_hba.conf entry for host %q, user %q, database %q, %s", c.hostLabel(), c.user, c.database, c.tlsLabel())
}

// authCert accepts a client whose verified TLS certificate's common name is its user name (PostgreSQL
// "Certificate Authentication"; PgBouncer auth_type cert).
func (c *clientConn) authCert() error {
	if c.identity.CertCN == "" {
		c.logRefused("no verified client certificate")
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "connection requires a valid client certificate")
	}
	if c.identity.CertCN != c.user {
		c.logRefused(fmt.Sprintf("certificate common name %q is not the user name", c.identity.CertCN))
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "certificate authentication failed for user %q", c.user)
	}
	return nil
}

// authPassword runs md5 or SCRAM-SHA-256 authentication against the user's secret. As in PgBouncer,
// auth_type md5 asks a user whose secret is SCRAM for SCRAM; scram-sha-256 cannot use an md5 secret.
// An unknown user gets the same exchange as a known one with a made-up secret, and the same failure.
func (c *clientConn) authPassword(cfg *config.Config, method string) error {
	sec, found, err := c.lookupSecret(cfg)
	if err != nil {
		return err
	}
	switch {
	case !found:
		c.logRefused("unknown user or no password")
		if method == "md5" {
			return c.md5Exchange(nil)
		}
		return c.scramExchange(nil)
	case sec.Kind == auth.SecretSCRAM:
		return c.scramExchange(sec.SCRAM)
	case method == "md5":
		return c.md5Exchange(&sec)
	case sec.Kind == auth.SecretPlain: // scram-sha-256 with a plain password: a secret made for this login
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		err := c.scramExchange(auth.SCRAMSecretFromPassword(sec.Plain, salt, 4096))
		if err == nil {
			c.ls.learned = serverCreds{password: sec.Plain}
		}
		return err
	default: // scram-sha-256 and an md5 secret: no way to check a SCRAM proof against it
		c.logRefused("auth_type scram-sha-256 and the user's secret is md5")
		return c.scramExchange(nil)
	}
}

// readAuthMessage reads the client's next message, which must be a PasswordMessage-type ('p') message
// of at most maxAuthMessage bytes, and returns its body.
func (c *clientConn) readAuthMessage() ([]byte, error) {
	typ, n, err := c.rd.Next()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errQuiet // psql closes and asks the user for a password
		}
		return nil, err
	}
	if typ != 'p' {
		return nil, pgwire.ProtocolViolation("expected password response, got message type %q", typ)
	}
	if n > maxAuthMessage {
		return nil, pgwire.ProtocolViolation("password or SASL message too long: %d bytes", n)
	}
	msg, err := c.rd.ReadMsg()
	if err != nil {
		return nil, err
	}
	return msg[pgwire.HeaderSize:], nil
}

// readPassword reads a PasswordMessage and returns the password (or md5 response) it carries.
func (c *clientConn) readPassword() (string, error) {
	body, err := c.readAuthMessage()
	if err != nil {
		return "", err
	}
	var pm pgproto3.PasswordMessage
	if err := pm.Decode(body); err != nil {
		return "", pgwire.ProtocolViolation("malformed password message")
	}
	return pm.Password, nil
}

// sendAuth writes one authentication request to the client.
func (c *clientConn) sendAuth(m pgproto3.BackendMessage) error {
	buf, err := m.Encode(nil)
	if err != nil {
		return err
	}
	_, err = c.stream.Write(buf)
	return err
}

// md5Exchange runs AuthenticationMD5Password against sec (plain or md5; nil for an unknown user, which
// always fails) and, on success, remembers the md5 secret so servers that ask for md5 can be logged in to.
func (c *clientConn) md5Exchange(sec *auth.Secret) error {
	salt := make([]byte, 4)
	_, _ = rand.Read(salt)
	if err := c.sendAuth(&pgproto3.AuthenticationMD5Password{Salt: [4]byte(salt)}); err != nil {
		return err
	}
	password, err := c.readPassword()
	if err != nil {
		return err
	}
	stored := "md5" + "00000000000000000000000000000000" // unknown user: nothing matches it
	if sec != nil {
		switch sec.Kind {
		case auth.SecretMD5:
			stored = sec.MD5
		case auth.SecretPlain:
			stored = sec.Plain
		}
	}
	want := md5Response(c.user, stored, salt)
	if sec == nil || subtle.ConstantTimeCompare([]byte(want), []byte(password)) != 1 {
		if sec != nil {
			c.logRefused("wrong password (md5)")
		}
		return c.errPasswordFailed()
	}
	c.identity.Method = "md5"
	c.ls.learned = serverCreds{password: stored}
	return nil
}

// scramExchange runs SCRAM-SHA-256 (or -PLUS over TLS) against secret (nil: a mock exchange for an unknown
// user, which always fails) and, on success, keeps ClientKey for SCRAM passthrough to servers
// (PostgreSQL protocol docs "SASL Authentication"; RFC 5802, 7677).
func (c *clientConn) scramExchange(secret *auth.SCRAMSecret) error {
	var endPoint []byte
	if c.tls != nil {
		endPoint = c.ls.tlsEndPoint
	}
	var srv *auth.SCRAMServer
	if secret != nil {
		srv = auth.NewSCRAMServer(secret, endPoint)
	} else {
		srv = auth.NewSCRAMMock(c.user, c.s.mockKey, endPoint)
	}
	if err := c.sendAuth(&pgproto3.AuthenticationSASL{AuthMechanisms: srv.Mechanisms()}); err != nil {
		return err
	}
	body, err := c.readAuthMessage()
	if err != nil {
		return err
	}
	var first pgproto3.SASLInitialResponse
	if err := first.Decode(body); err != nil {
		return pgwire.ProtocolViolation("malformed SASLInitialResponse")
	}
	serverFirst, err := srv.Start(first.AuthMechanism, first.Data)
	if err != nil {
		return c.scramError(err, secret != nil)
	}
	if err := c.sendAuth(&pgproto3.AuthenticationSASLContinue{Data: serverFirst}); err != nil {
		return err
	}
	if body, err = c.readAuthMessage(); err != nil {
		return err
	}
	serverFinal, err := srv.Finish(body) // SASLResponse's body is the data itself
	if err != nil {
		return c.scramError(err, secret != nil)
	}
	if c.ls.holdAuthFinal { // written with the welcome (loginState.holdAuthFinal)
		c.ls.authFinal, _ = (&pgproto3.AuthenticationSASLFinal{Data: serverFinal}).Encode(nil)
	} else if err := c.sendAuth(&pgproto3.AuthenticationSASLFinal{Data: serverFinal}); err != nil {
		return err
	}
	c.identity.Method = "scram-sha-256"
	c.identity.ChannelBound = srv.ChannelBound()
	if c.ls.learned.password == "" {
		c.ls.learned = serverCreds{scram: &scramKeys{clientKey: srv.ClientKey(), secret: secret}}
	}
	return nil
}

// scramError maps a failed SCRAM step to what the client sees: 08P01 for a malformed or inconsistent
// exchange, the uniform 28P01 for a wrong proof.
func (c *clientConn) scramError(err error, known bool) error {
	if errors.Is(err, auth.ErrSCRAMChannelBinding) {
		c.logRefused("SCRAM channel binding check failed: the client bound its login to another TLS connection (a man in the middle?)")
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "SCRAM channel binding check failed")
	}
	if errors.Is(err, auth.ErrSCRAMProtocol) {
		c.logRefused("malformed SCRAM exchange: " + err.Error())
		return pgwire.ProtocolViolation("malformed SCRAM message")
	}
	if known {
		c.logRefused("wrong password (SCRAM)")
	}
	return c.errPasswordFailed()
}

// authCleartext runs AuthenticationCleartextPassword (auth_type plain, hba method password). The
// password crosses the network as sent, so a TCP client without TLS is refused before it is asked,
// unless auth_plain_without_tls is set.
func (c *clientConn) authCleartext(cfg *config.Config) error {
	if c.tls == nil && !c.isUnix() && !cfg.Pooler.AuthPlainWithoutTLS {
		c.logRefused("cleartext password authentication without TLS")
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "password authentication needs a TLS connection here: connect with sslmode=require (or set auth_plain_without_tls)")
	}
	sec, found, err := c.lookupSecret(cfg)
	if err != nil {
		return err
	}
	if err := c.sendAuth(&pgproto3.AuthenticationCleartextPassword{}); err != nil {
		return err
	}
	password, err := c.readPassword()
	if err != nil {
		return err
	}
	if !found {
		c.logRefused("unknown user or no password")
		return c.errPasswordFailed()
	}
	if sec.Kind == auth.SecretSCRAM && sec.SCRAM.Iterations > auth.MaxSCRAMIterations {
		c.logRefused(fmt.Sprintf("the user's SCRAM secret has %d iterations, more than the limit of %d (auth.MaxSCRAMIterations)", sec.SCRAM.Iterations, auth.MaxSCRAMIterations))
		return c.errPasswordFailed()
	}
	if !passwordMatches(c.user, password, sec) {
		c.logRefused("wrong password (cleartext)")
		return c.errPasswordFailed()
	}
	c.ls.learned = serverCreds{password: password}
	return nil
}

// passwordMatches checks a cleartext password against a plain, md5 or SCRAM secret in constant time. A
// SCRAM secret of more than auth.MaxSCRAMIterations iterations never matches: its PBKDF2 is not computed.
func passwordMatches(user, password string, sec auth.Secret) bool {
	switch sec.Kind {
	case auth.SecretPlain:
		return subtle.ConstantTimeCompare([]byte(password), []byte(sec.Plain)) == 1
	case auth.SecretMD5:
		return subtle.ConstantTimeCompare([]byte(md5Secret(user, password)), []byte(sec.MD5)) == 1
	case auth.SecretSCRAM:
		s := sec.SCRAM
		if s.Iterations > auth.MaxSCRAMIterations { // from auth_query or auth_file: not computed, as for a server
			return false
		}
		derived := auth.SCRAMSecretFromPassword(password, s.Salt, s.Iterations)
		return hmac.Equal(derived.StoredKey, s.StoredKey) && hmac.Equal(derived.ServerKey, s.ServerKey)
	}
	return false
}

// lookupSecret finds the client's secret: auth_file first, then auth_query through auth_user when one
// is configured for the database (PgBouncer doc/config.md, auth_user and auth_query). found is false
// for an unknown user and for one without a usable password; err is for a failed auth_query.
func (c *clientConn) lookupSecret(cfg *config.Config) (auth.Secret, bool, error) {
	if sec, ok := c.s.users.Load().Lookup(c.user); ok {
		return sec, true, nil
	}
	aq := c.authQuerySettings(cfg)
	if aq.user == "" {
		return auth.Secret{}, false, nil
	}
	c.offLoop() // auth_query runs on a server
	return c.s.authQuery(c.ls.ctx, aq, c.user)
}

// authQuerySettings resolves auth_user, auth_query and auth_dbname for this client's database: the
// [databases] entry's, else [pooler]'s; auth_dbname "" is the database the client asked for.
func (c *clientConn) authQuerySettings(cfg *config.Config) authQuerySettings {
	aq := authQuerySettings{user: cfg.Pooler.AuthUser, query: cfg.Pooler.AuthQuery, dbname: cfg.Pooler.AuthDBName}
	if pc, err := cfg.PoolConfig(c.database, c.user); err == nil {
		aq = authQuerySettings{user: pc.AuthUser, query: pc.AuthQuery, dbname: pc.AuthDBName}
	}
	if aq.dbname == "" {
		aq.dbname = c.database
	}
	return aq
}
