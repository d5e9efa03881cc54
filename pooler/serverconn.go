package pooler

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/prepare"
	"github.com/xdg-go/scram"
)

// serverConn is one connection from the pooler to PostgreSQL, logged in as the pool's server user.
// Between links it is owned by its pool; while linked, the client's goroutine writes to it and the
// client's relay goroutine reads from it.
type serverConn struct {
	id      uint64
	pool    *pool
	gen     uint64           // pool generation it was opened under; older ones are closed on release
	conn    net.Conn         // TLS on raw when tls is set, else raw
	raw     net.Conn         // the socket itself: closing it aborts any read or write in progress
	alive   *pgwire.Liveness // checks raw before each lending (pool.checkIdle)
	tls     bool             // the connection uses TLS (server_tls_sslmode)
	tt      *tlsTransport    // under conn's TLS when tls is set: the socket, or its loop (looptls.go)
	rd      *pgwire.Reader
	wr      *pgwire.Writer
	network string      // "tcp" or "unix", for cancel connections
	dropped atomic.Bool // closeServer ran: its pool slot is freed (once: closeServer is idempotent)
	addr    string

	pid       uint32 // BackendKeyData from the server
	secretKey []byte

	// params holds the server's current values, keyed by lower-case name: every ParameterStatus it
	// reported, plus non-reported parameters the pooler set on it (absent = server default).
	params   map[string]string
	reported map[string]bool // names the server reports with ParameterStatus
	// inSyncWith is the shared client parameter map sc.params was last found in sync with, nil when none
	// (clientSyncSQLLocked); owned as params is.
	inSyncWith unsafe.Pointer

	created  time.Time
	idleFrom time.Time // when it last went back to the pool
	txStatus byte      // last ReadyForQuery status: 'I', 'T' or 'E'

	cancels serverCancels // cancel requests in flight for this server; release waits for them (cancel.go)

	stmts    prepare.ServerStmts // shared prepared statements on this server (prepared.go); the linked client's mu guards it
	sqlStmts map[string]string   // SQL-level prepared statements on the server: name → PREPARE text

	res *residentServer // the loop it is enrolled on (loopresident.go), nil while goroutine-owned; its owner's
}

// serverCreds is how a pool proves itself to its servers.
type serverCreds struct {
	// password is a plain password or an "md5" + 32 hex digits hash: the [databases] password, an
	// auth_file or auth_query secret, or the password a client logged in with. "" when none is known.
	password string
	// scram holds the ClientKey recovered from a client's SCRAM login (SCRAM passthrough), with the
	// secret it was verified against; nil when none.
	scram *scramKeys
}

// scramKeys lets the pooler log in to PostgreSQL as a user whose password it never saw: ClientKey and
// the user's SCRAM secret (salt, iterations, ServerKey) are all a SCRAM client needs.
type scramKeys struct {
	clientKey []byte
	secret    *auth.SCRAMSecret
}

// String and Format keep credentials out of logs and panics whatever the verb.
func (c serverCreds) String() string             { return "server credentials (redacted)" }
func (c serverCreds) Format(f fmt.State, _ rune) { fmt.Fprint(f, c.String()) }
func (k *scramKeys) String() string              { return "SCRAM keys (redacted)" }
func (k *scramKeys) Format(f fmt.State, _ rune)  { fmt.Fprint(f, k.String()) }

// equal reports whether k and o hold the same keys.
func (k *scramKeys) equal(o *scramKeys) bool {
	if k == nil || o == nil {
		return k == o
	}
	return bytes.Equal(k.clientKey, o.clientKey) && bytes.Equal(k.secret.StoredKey, o.secret.StoredKey) && bytes.Equal(k.secret.Salt, o.secret.Salt)
}

// dialServer opens a connection to the pool's PostgreSQL and logs in (PostgreSQL protocol docs,
// "Start-up"): SSLRequest and TLS as server_tls_sslmode says, StartupMessage, authentication (trust,
// cleartext, md5, SCRAM-SHA-256 with a password or with passthrough keys), ParameterStatus,
// BackendKeyData, ReadyForQuery, then connect_query. The whole exchange is bounded by
// server_connect_timeout. Errors the server sends come back as *pgwire.Error with its SQLSTATE.
// tcp sets the socket options (tcp_keepalive and the others) of a TCP connection.
func dialServer(ctx context.Context, pc poolSettings, creds serverCreds, st *tlsState, timeout time.Duration, tcp tcpOptions) (*serverConn, error) {
	network, addr := serverAddr(pc.Host, pc.Port)
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	conn, err := tcp.dialer().DialContext(ctx, network, addr)
	if err != nil {
		return nil, pgwire.NewFatal(pgerrcode.ConnectionFailure, "could not connect to server %s: %v", addr, unwrapDial(err))
	}
	dl, _ := ctx.Deadline()
	if !dl.IsZero() {
		_ = conn.SetDeadline(dl)
	}
	// ctx ending (Shutdown) interrupts the login as well as the dial.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	sc := &serverConn{
		conn: conn, raw: conn, alive: pgwire.NewLiveness(conn), rd: newServerReader(conn), wr: pgwire.NewWriter(conn),
		network: network, addr: addr,
		params: map[string]string{}, reported: map[string]bool{},
		created: time.Now(), txStatus: 'I',
	}
	if err := sc.startServerTLS(st, pc.Host, dl); err != nil {
		conn.Close()
		return nil, err
	}
	if err := sc.login(pc, creds); err != nil {
		conn.Close()
		return nil, err
	}
	if pc.ConnectQuery != "" {
		if err := sc.exec(pc.ConnectQuery); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if !stop() { // ctx ended as the login finished: the deadline may be set in the past
		conn.Close()
		return nil, pgwire.NewFatal(pgerrcode.ConnectionFailure, "server login to %s interrupted: %v", addr, context.Cause(ctx))
	}
	_ = conn.SetDeadline(time.Time{})
	return sc, nil
}

// isTimeout reports whether err is a network timeout (a deadline passed).
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// loginTimedOut is the error of a server login that ran past server_connect_timeout.
func (sc *serverConn) loginTimedOut() error {
	return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server login to %s timed out (server_connect_timeout)", sc.addr)
}

func unwrapDial(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}

// serverAddr returns the network and address for a database's host and port: a host starting with "/"
// is a Unix socket directory (PostgreSQL's .s.PGSQL.PORT file in it), as in PgBouncer.
func serverAddr(host string, port int) (string, string) {
	if port == 0 {
		port = 5432
	}
	if strings.HasPrefix(host, "/") {
		return "unix", fmt.Sprintf("%s/.s.PGSQL.%d", host, port)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	return "tcp", net.JoinHostPort(host, strconv.Itoa(port))
}

func (sc *serverConn) send(msgs ...pgproto3.FrontendMessage) error {
	var buf []byte
	for _, m := range msgs {
		var err error
		if buf, err = m.Encode(buf); err != nil {
			return err
		}
	}
	_, err := sc.conn.Write(buf)
	return err
}

// maxServerLoginMessage bounds each message a server sends during login, in bytes (the length word
// counted): authentication requests, ParameterStatus, BackendKeyData, notices and errors are all far
// smaller, and a longer one would otherwise make the pooler allocate up to 2 GiB for a message that
// never arrives. libpq refuses most message types over 30,000 bytes in the same place.
const maxServerLoginMessage = 1 << 20

func (sc *serverConn) login(pc poolSettings, creds serverCreds) error {
	sc.rd.MaxMessageSize = maxServerLoginMessage
	defer func() { sc.rd.MaxMessageSize = 0 }()
	params := map[string]string{"user": pc.ServerUser, "database": pc.DBName}
	if pc.ApplicationName != "" {
		params["application_name"] = pc.ApplicationName
	}
	addDatabaseParams(params, &pc)
	if err := sc.send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params}); err != nil {
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "could not send startup packet to server %s: %v", sc.addr, err)
	}
	var sasl saslClient
	for {
		msg, err := sc.rd.ReadMsg()
		if err != nil {
			if isTimeout(err) {
				return sc.loginTimedOut()
			}
			var pe *pgwire.Error
			if errors.As(err, &pe) { // a length below 4 or over maxServerLoginMessage
				return pgwire.ProtocolViolation("server %s sent an invalid message during login: %s", sc.addr, pe.Message)
			}
			return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server %s closed the connection during login: %v", sc.addr, err)
		}
		body := msg[pgwire.HeaderSize:]
		switch msg[0] {
		case 'R':
			if len(body) < 4 {
				return pgwire.ProtocolViolation("server %s sent a malformed authentication request", sc.addr)
			}
			if sasl, err = sc.authStep(pc, creds, binary.BigEndian.Uint32(body), body[4:], sasl); err != nil {
				return err
			}
		case 'S':
			sc.noteParameterStatus(body)
		case 'K':
			var k pgproto3.BackendKeyData
			if err := k.Decode(body); err != nil {
				return pgwire.ProtocolViolation("server %s sent a malformed BackendKeyData", sc.addr)
			}
			sc.pid, sc.secretKey = k.ProcessID, k.SecretKey
		case 'E':
			return decodeServerError("server login failed", body)
		case 'N', 'v': // NoticeResponse, NegotiateProtocolVersion: nothing to do
		case 'Z':
			if !validReadyForQuery(body) {
				return pgwire.ProtocolViolation("server %s sent a malformed ReadyForQuery during login", sc.addr)
			}
			sc.txStatus = body[0]
			return nil
		default:
			return pgwire.ProtocolViolation("server %s sent unexpected message %q during login", sc.addr, msg[0])
		}
	}
}

// saslClient is the client side of a SASL exchange in progress: xdg-go/scram's conversation when the
// password is known, auth.SCRAMClient for SCRAM passthrough.
type saslClient interface {
	step(challenge []byte, final bool) ([]byte, error)
}

type passwordSCRAM struct{ conv *scram.ClientConversation }

// step answers the server-first-message (final false) or checks the server-final-message. The
// iteration count is checked first: xdg-go/scram would compute PBKDF2 with whatever count the server
// asks for (auth.MaxSCRAMIterations).
func (p passwordSCRAM) step(challenge []byte, final bool) ([]byte, error) {
	if !final {
		if _, err := auth.ServerFirstIterations(challenge); err != nil {
			return nil, err
		}
	}
	reply, err := p.conv.Step(string(challenge))
	return []byte(reply), err
}

type keysSCRAM struct{ c *auth.SCRAMClient }

func (k keysSCRAM) step(challenge []byte, final bool) ([]byte, error) {
	if final {
		return nil, k.c.Verify(challenge)
	}
	return k.c.Final(challenge)
}

// authStep answers one AuthenticationRequest ('R') during login.
func (sc *serverConn) authStep(pc poolSettings, creds serverCreds, kind uint32, data []byte, conv saslClient) (saslClient, error) {
	needPassword := func() error {
		if creds.password == "" {
			return pgwire.NewFatal(pgerrcode.InvalidPassword, "server %s asks for a password for user %q and none is known (password in [databases], a plain or md5 secret in auth_file or from auth_query, or a client's SCRAM login for passthrough)", sc.addr, pc.ServerUser)
		}
		return nil
	}
	switch kind {
	case 0, 3: // AuthenticationOk, AuthenticationCleartextPassword: nothing follows the type
		if len(data) != 0 {
			return nil, pgwire.ProtocolViolation("server %s sent a malformed authentication request (type %d with %d bytes of data)", sc.addr, kind, len(data))
		}
	}
	switch kind {
	case 0: // AuthenticationOk
		return conv, nil
	case 3: // AuthenticationCleartextPassword
		if err := needPassword(); err != nil {
			return nil, err
		}
		if isMD5Secret(creds.password) {
			return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "server %s asks user %q for a cleartext password and only an md5 secret is known", sc.addr, pc.ServerUser)
		}
		return conv, sc.send(&pgproto3.PasswordMessage{Password: creds.password})
	case 5: // AuthenticationMD5Password
		if err := needPassword(); err != nil {
			return nil, err
		}
		if len(data) != 4 {
			return nil, pgwire.ProtocolViolation("server %s sent a malformed MD5 salt", sc.addr)
		}
		return conv, sc.send(&pgproto3.PasswordMessage{Password: md5Response(pc.ServerUser, creds.password, data)})
	case 10: // AuthenticationSASL
		if !strings.Contains(string(data), auth.MechSCRAMSHA256+"\x00") {
			return nil, pgwire.NewFatal(pgerrcode.FeatureNotSupported, "server %s offers no supported SASL mechanism", sc.addr)
		}
		var first []byte
		switch {
		case creds.password != "" && !isMD5Secret(creds.password):
			client, err := scram.SHA256.NewClient("", creds.password, "")
			if err != nil {
				return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "cannot prepare SCRAM login for user %q: %v", pc.ServerUser, err)
			}
			c := passwordSCRAM{client.NewConversation()}
			reply, err := c.conv.Step("") // the client-first-message
			if first = []byte(reply); err != nil {
				return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "SCRAM login for user %q failed: %v", pc.ServerUser, err)
			}
			conv = c
		case creds.scram != nil:
			c := auth.NewSCRAMClient(creds.scram.clientKey, creds.scram.secret)
			first, conv = c.First(), keysSCRAM{c}
		case creds.password != "":
			return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "server %s asks user %q for SCRAM-SHA-256 and only an md5 secret is known; give the pooler a plain password or a SCRAM secret for passthrough", sc.addr, pc.ServerUser)
		default:
			return nil, needPassword()
		}
		return conv, sc.send(&pgproto3.SASLInitialResponse{AuthMechanism: auth.MechSCRAMSHA256, Data: first})
	case 11, 12: // AuthenticationSASLContinue, AuthenticationSASLFinal
		if conv == nil {
			return nil, pgwire.ProtocolViolation("server %s sent a SASL message out of order", sc.addr)
		}
		reply, err := conv.step(data, kind == 12)
		if err != nil {
			if errors.Is(err, auth.ErrSCRAMIterations) {
				return nil, pgwire.ProtocolViolation("SCRAM login to server %s refused: %v (auth.MaxSCRAMIterations)", sc.addr, err)
			}
			if errors.Is(err, auth.ErrSCRAMSecretMismatch) {
				return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "SCRAM passthrough login to server %s failed: the SCRAM secret of user %q differs from the server's (salt or iterations); copy it again from pg_authid", sc.addr, pc.ServerUser)
			}
			return nil, pgwire.NewFatal(pgerrcode.InvalidPassword, "SCRAM login to server %s failed: %v", sc.addr, err)
		}
		if kind == 11 {
			return conv, sc.send(&pgproto3.SASLResponse{Data: reply})
		}
		return conv, nil
	default:
		return nil, pgwire.NewFatal(pgerrcode.FeatureNotSupported, "server %s asks for unsupported authentication method %d", sc.addr, kind)
	}
}

// isMD5Secret reports whether s is an md5 secret, "md5" followed by 32 hex digits (pg_authid, auth_file).
func isMD5Secret(s string) bool { return len(s) == 35 && strings.HasPrefix(s, "md5") }

// md5Secret returns the md5 secret PostgreSQL stores for a password: "md5" + hex(md5(password + user)).
func md5Secret(user, password string) string {
	h := md5.Sum([]byte(password + user))
	return "md5" + hex.EncodeToString(h[:])
}

// md5Response computes "md5" + md5(md5(password + user) + salt); a password already stored as
// "md5" + 32 hex digits (auth_file md5 form) is used as the inner hash directly.
func md5Response(user, password string, salt []byte) string {
	inner := password
	if !isMD5Secret(password) {
		inner = md5Secret(user, password)
	}
	h := md5.Sum(append([]byte(inner[3:]), salt...))
	return "md5" + hex.EncodeToString(h[:])
}

// decodeServerError turns the body of a server's ErrorResponse into a FATAL *pgwire.Error whose message
// starts with prefix and ": ". A body that does not decode, or an error without a well-formed SQLSTATE
// (five digits or upper-case letters; PgBouncer's CVE-2026-6666 was a crash on a missing one), is a
// protocol violation, 08P01, that keeps the server's message.
func decodeServerError(prefix string, body []byte) *pgwire.Error {
	var e pgproto3.ErrorResponse
	if err := e.Decode(body); err != nil {
		return pgwire.ProtocolViolation("%s: malformed ErrorResponse from server", prefix)
	}
	if !validSQLState(e.Code) {
		return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pgerrcode.ProtocolViolation,
			Message: prefix + ": server sent an ErrorResponse without a valid SQLSTATE: " + e.Message, Detail: e.Detail, Hint: e.Hint}
	}
	return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: e.Code, Message: prefix + ": " + e.Message, Detail: e.Detail, Hint: e.Hint}
}

// validSQLState reports whether code is a SQLSTATE: five characters, each a digit or an upper-case
// ASCII letter (PostgreSQL docs, Appendix A).
func validSQLState(code string) bool {
	if len(code) != 5 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if c := code[i]; (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// validReadyForQuery reports whether body is a ReadyForQuery's: one status byte, 'I', 'T' or 'E'.
func validReadyForQuery(body []byte) bool {
	return len(body) == 1 && (body[0] == 'I' || body[0] == 'T' || body[0] == 'E')
}

// noteParameterStatus records a ParameterStatus body ("name\0value\0") and returns the name and value.
// A body that is not exactly two NUL-terminated strings is not recorded (ok false), as libpq refuses a
// message whose contents do not agree with its length.
func (sc *serverConn) noteParameterStatus(body []byte) (name, value string, ok bool) {
	name, rest, ok := cstring(body)
	if !ok {
		return "", "", false
	}
	if value, rest, ok = cstring(rest); !ok || len(rest) != 0 {
		return "", "", false
	}
	key := strings.ToLower(name)
	if cur, ok := sc.params[key]; !ok || cur != value {
		sc.paramsChanged()
	}
	sc.params[key] = value
	sc.reported[key] = true
	return name, value, true
}

// exec runs a simple query outside any client link and reads up to ReadyForQuery, keeping the
// ParameterStatus it reports. An ErrorResponse becomes a *pgwire.Error (severity ERROR) with the
// server's SQLSTATE; the connection stays usable after it.
func (sc *serverConn) exec(sql string) error {
	return sc.exchange(sql, &pgproto3.Query{String: sql})
}

// exchange sends msgs, which end with a Query or a Sync, outside any client link and reads up to
// ReadyForQuery as exec does; what names them in errors.
func (sc *serverConn) exchange(what string, msgs ...pgproto3.FrontendMessage) error {
	if err := sc.send(msgs...); err != nil {
		return err
	}
	var qerr *pgwire.Error
	for {
		msg, err := sc.rd.ReadMsg()
		if err != nil {
			return err
		}
		body := msg[pgwire.HeaderSize:]
		switch msg[0] {
		case 'E':
			qerr = decodeServerError("", body)
			qerr.Severity = pgwire.SeverityError
			qerr.Message = strings.TrimPrefix(qerr.Message, ": ")
		case 'S':
			sc.noteParameterStatus(body)
		case 'G', 'H', 'W':
			return pgwire.ProtocolViolation("internal query %q started COPY", what)
		case 'Z':
			if len(body) == 1 {
				sc.txStatus = body[0]
			}
			if qerr != nil {
				return qerr
			}
			return nil
		}
	}
}

// newServerReader returns the Reader of a server's messages: libpq's length limits (pgwire.BackendLimit:
// 30,000 bytes for the types that cannot be long), so that a server out of step is dropped rather than
// believed; long types are limited only by the protocol.
func newServerReader(conn net.Conn) *pgwire.Reader {
	rd := pgwire.NewReader(conn)
	rd.TypeLimit = pgwire.BackendLimit
	return rd
}

// close closes the network connection; the caller updates the pool's counts.
func (sc *serverConn) close() {
	if sc.res != nil {
		sc.res.close()
	}
	_ = sc.raw.Close()
	sc.rd.Release()
}

// cancel sends a CancelRequest for this server's running query over a new connection and waits until the
// server closes it, so that the signal has been delivered before the server can be lent to another client
// (PostgreSQL protocol docs, "Canceling Requests in Progress": the server answers nothing and closes).
// The whole exchange, dial included, is bounded by timeout, which must be positive. sent reports whether
// the request may have reached the server: when it did and err is not nil, the cancel may still arrive.
func (sc *serverConn) cancel(timeout time.Duration) (sent bool, err error) {
	deadline := time.Now().Add(timeout)
	d := net.Dialer{Deadline: deadline}
	conn, err := d.Dial(sc.network, sc.addr)
	if err != nil {
		return false, fmt.Errorf("cannot connect to send a cancel request: %w", unwrapDial(err))
	}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	buf, err := (&pgproto3.CancelRequest{ProcessID: sc.pid, SecretKey: sc.secretKey}).Encode(nil)
	if err != nil {
		return false, err
	}
	if _, err := conn.Write(buf); err != nil {
		return true, fmt.Errorf("cannot send a cancel request: %w", err)
	}
	var b [1]byte
	switch n, err := conn.Read(b[:]); {
	case n > 0:
		return true, fmt.Errorf("server answered a cancel request with data")
	case errors.Is(err, io.EOF):
		return true, nil
	case isTimeout(err):
		return true, fmt.Errorf("server did not acknowledge a cancel request within %s", timeout)
	default:
		return true, fmt.Errorf("cancel request connection failed: %w", err)
	}
}
