package pooler

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/prepare"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// Pool modes (PgBouncer doc/config.md, pool_mode).
const (
	modeSession     = "session"
	modeTransaction = "transaction"
	modeStatement   = "statement"
)

// clientConn is one client connection. Its own goroutine (serve) reads the client and writes to the
// linked server; while linked, relayServer reads the server and writes to the client.
//
// Layout: what every transaction touches comes first, in the first four cache lines (64 bytes each):
// the pool, the mode, the link's accounting under mu, the times the statistics take, and the hot fields
// of its loop state (loop, embedded: one object per client, not two); what the login, the console,
// cancels and the goroutine relay use comes after, out of the way. With thousands of clients served in
// turn by one loop, a transaction then misses the cache on fewer lines.
type clientConn struct {
	// Hot: read or written by every transaction (the event loop's path: looplink.go, loopclient.go).
	s    *Server
	pool *pool
	lp   atomic.Pointer[loopClient] // set once the client is served on an event loop (looprelay.go)
	mode string

	mu         sync.Mutex  // guards the fields below and params
	prep       bool        // max_prepared_statements > 0 and not session mode, fixed at login
	openBatch  bool        // extended-protocol messages sent since the last Sync
	txStatus   byte        // last ReadyForQuery status seen
	closing    bool        // the client is gone or being closed: link nothing new
	copyIn     bool        // the linked server is in COPY FROM STDIN (or COPY BOTH): the client's data comes next
	rejecting  bool        // a statement was refused by reject_session_features: the relay rewrites its error
	features   uint8       // bit f set: the client used session feature f (leakreport.go); in padding, no byte added
	sc         *serverConn // linked server, nil between transactions (transaction/statement mode)
	pending    int         // ReadyForQuery messages the linked server still owes (Query, Sync, FunctionCall sent)
	queryStart time.Time   // when the query now running began (zero: none), for query_time
	xactStart  time.Time   // when the transaction now open began (zero: none), for xact_time
	// Session state carried between servers in transaction and statement mode (guarded by mu):
	sets session.Sets // SET/RESET statements sent since the transaction began

	// loop is the client's state on an event loop (looprelay.go), its hot fields first: part of the
	// client rather than an object of its own, next to the fields above (lp points here once it is used).
	loop loopClient

	// Warm: a lending that syncs parameters, waits in line, or tracks prepared statements (guarded by mu).
	params       map[string]string // session parameters this client expects, lower-case names; shared until ownParams (clientparams.go)
	baseParams   map[string]string // params right after login: what RESET restores; shared until ownBase
	sqlStmts     map[string]string // SQL-level prepared statements (PREPARE): name → the PREPARE text
	tentative    map[string]string // start-up parameters accepted untried, as sent: settled by the first link
	ownParams    bool              // params is this client's own, not shared with others (clientparams.go)
	ownBase      bool              // baseParams is this client's own (packed here: no padding of their own)
	idleDeadline bool              // a client_idle_timeout or idle_transaction_timeout deadline is armed
	loggedIn     bool
	cancelPID    uint32
	waitSince    time.Time       // when the client began waiting for a server (zero: not waiting)
	prepared     prepare.Tracker // the client's statement names and the answers awaited from its server (prepared.go)

	// Cold: the login, the console (SHOW CLIENTS), cancels, and the goroutine relay.
	id        uint64
	cancelKey [4]byte // BackendKeyData's secret key in protocol 3.0 (3.2's longer keys: cancel.go)
	database  string
	user      string
	conn      net.Conn       // the socket: deadlines and Close
	stream    net.Conn       // what reads and writes go through: conn, or TLS on it
	rd        *pgwire.Reader // reads stream; nil before login's setStream and once on an event loop (it frames itself)
	remote    string

	tls      *tls.ConnectionState // nil without TLS
	identity Identity             // who the client proved to be
	ls       *loginState          // what only the login needs; nil after it

	life atomic.Pointer[clientCtx] // its context (context, cancel; clientctx.go), nil until first used

	wmu sync.Mutex // guards wr: both goroutines write to the client
	wr  *pgwire.Writer

	relayDone chan struct{} // closed when relayServer for the current link returns (guarded by mu)
	copyWake  chan struct{} // while non-nil, the client goroutine waits in awaitRelayLocked; closed at copyIn (guarded by mu)

	connectTime int64 // when the connection was accepted, Unix nanoseconds (a time.Time is 24 bytes)
}

func (s *Server) newClientConn(conn net.Conn) *clientConn {
	c := &clientConn{ // rd comes with the stream (login's setStream)
		s: s, id: s.nextClientID.Add(1), conn: conn, stream: conn, wr: pgwire.NewWriter(conn),
		remote: conn.RemoteAddr().String(), txStatus: 'I', connectTime: time.Now().UnixNano(),
	}
	return c
}

// newClientReader returns the Reader of a client's messages: PostgreSQL's per-type length limits
// (pgwire.FrontendLimit: 10,000 bytes for Sync, Describe, Close and the like, 1 GB for the rest), capped
// by max_packet_size (PgBouncer doc/config.md), checked from each header before its body is read.
func (s *Server) newClientReader(stream net.Conn) *pgwire.Reader {
	rd := pgwire.NewReader(stream)
	rd.MaxMessageSize = s.config().Pooler.MaxPacketSize
	rd.TypeLimit = pgwire.FrontendLimit
	return rd
}

// serve runs one client connection from its first byte to its close.
func (c *clientConn) serve() {
	counted := false
	defer c.recoverServe(&counted)
	cfg := c.s.config()
	c.ls = &loginState{ctx: c.s.baseCtx}
	endLogin := func() {}
	if d := cfg.Pooler.ClientLoginTimeout.D(); d > 0 {
		_ = c.conn.SetDeadline(time.Now().Add(d))
		var cancel context.CancelFunc
		c.ls.ctx, cancel = context.WithTimeout(c.s.baseCtx, d)
		endLogin = cancel
	}
	err := c.login(&counted)
	if err != nil {
		c.flushAuthFinal() // before the error that ends the login, as it was sent
	}
	// The login's timer and its entry among baseCtx's children go now, not when the session ends: a
	// context map that once held every connected client keeps that size for good.
	endLogin()
	c.ls = nil
	if err == nil {
		_ = c.conn.SetDeadline(time.Time{})
		if c.loopCovered(cfg) {
			c.serveOnLoop(counted) // the loop finishes the client when it closes
			return
		}
		c.offLoop() // logged in on a loop, served by this goroutine from now on (looplogin.go)
		err = c.run()
	}
	c.finish(err)
	if counted {
		c.s.clientCount.Add(-1)
	}
}

// login reads start-up packets until a StartupMessage (answering SSLRequest with 'S' and a TLS handshake
// when client TLS is configured, 'N' otherwise and to GSSENCRequest; accepting PostgreSQL 17 direct TLS;
// forwarding CancelRequest), authenticates the client and sends it AuthenticationOk, its parameters,
// BackendKeyData and ReadyForQuery (PostgreSQL protocol docs, "Start-up", "SSL Session Encryption").
func (c *clientConn) login(counted *bool) error {
	tlsSt := c.s.tls.Load()
	first, stream, err := pgwire.PeekByte(c.conn)
	if err != nil {
		return errQuiet
	}
	c.setStream(stream)
	if first == pgwire.TLSHandshakeByte {
		if tlsSt.clients == nil || c.isUnix() {
			// No TLS here. A TLS client cannot read the answer, but a person with nc can.
			return pgwire.ProtocolViolation("direct TLS connection, and TLS is not configured here (client_tls_sslmode)")
		}
		c.offLoop() // the handshake runs on a goroutine (looplogin.go)
		if err := c.startTLS(tlsSt.clients, stream, true); err != nil {
			return err
		}
		c.ls.tlsEndPoint = tlsSt.endPoint
	}
	var st *pgwire.Startup
	for negotiations := 0; ; negotiations++ {
		if st, err = pgwire.ReadStartup(c.stream); err != nil {
			return err
		}
		if st.Kind == pgwire.KindStartupMessage {
			break
		}
		if st.Kind == pgwire.KindCancelRequest {
			c.offLoop() // forwarding it dials a server
			c.s.handleCancel(st.ProcessID, st.SecretKey)
			return errQuiet
		}
		if negotiations >= 2 {
			return pgwire.ProtocolViolation("too many SSL/GSS negotiation requests")
		}
		if st.Kind == pgwire.KindSSLRequest && c.tls == nil && tlsSt.clients != nil && !c.isUnix() {
			if _, err := c.stream.Write([]byte{'S'}); err != nil {
				return err
			}
			c.offLoop()
			if err := c.startTLS(tlsSt.clients, c.stream, false); err != nil {
				return err
			}
			c.ls.tlsEndPoint = tlsSt.endPoint
			continue
		}
		if _, err := c.stream.Write([]byte{'N'}); err != nil { // GSSENCRequest, or SSLRequest without TLS here
			return err
		}
	}
	if c.tls == nil && !c.isUnix() && tlsSt.clientTLSRequired() {
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "SSL required (client_tls_sslmode %s)", tlsSt.clientMode)
	}
	if isAdminDatabase(st.Params) { // the admin console (admin.go); not counted against max_client_conn
		c.offLoop()
		return c.serveAdmin(st)
	}
	cfg := c.s.config()
	n := c.s.clientCount.Add(1)
	*counted = true
	if int(n) > cfg.Pooler.MaxClientConn {
		return pgwire.NewFatal(pgerrcode.TooManyConnections, "no more connections allowed (max_client_conn %d)", cfg.Pooler.MaxClientConn)
	}
	c.s.mu.Lock()
	if c.s.closing {
		c.s.mu.Unlock()
		return pgwire.NewFatal(pgerrcode.CannotConnectNow, "pgpooler is shutting down")
	}
	c.s.clients[c] = struct{}{}
	c.s.mu.Unlock()

	c.user = st.Params["user"]
	if c.user == "" {
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "no PostgreSQL user name specified in startup packet")
	}
	c.database = st.Params["database"]
	if c.database == "" {
		c.database = c.user
	}
	want, err := session.StartupParams(st.Params)
	if err != nil {
		return err
	}
	c.ls.holdAuthFinal = true // sendWelcome writes it
	if err := c.authenticate(cfg); err != nil {
		return err
	}
	if err := c.s.loginAllowed(c.database); err != nil {
		return err
	}
	p, err := c.s.getPool(c.database, c.user)
	if errors.Is(err, config.ErrUnknownDatabase) {
		return pgwire.NewFatal(pgerrcode.InvalidCatalogName, "no such database: %q (no [databases.%s] and no [databases.\"*\"] in the configuration)", c.database, c.database)
	} else if err != nil {
		return pgwire.NewFatal(pgerrcode.ConfigFileError, "database %q: %v", c.database, err)
	}
	c.pool, c.mode = p, p.settings().PoolMode
	c.prep = c.mode != modeSession && cfg.Pooler.MaxPreparedStatements > 0
	p.stats.logins.Add(1)
	c.s.learnCreds(p, c.user, c.ls.learned)
	c.mu.Lock()
	c.loggedIn = true
	c.mu.Unlock()
	if cfg.Pooler.LogConnections {
		c.s.logger.Info("client connected", "client", c.id, "addr", c.remote, "database", c.database, "user", c.user, "pool_mode", c.mode)
	}
	welcome, err := c.establishParams(want)
	if err != nil {
		return err
	}
	key := c.s.cancelKeys.register(c, st.CancelKeyLen())
	return c.sendWelcome(st, welcome, key)
}

// errQuiet ends a connection without an ErrorResponse (a CancelRequest connection, a client that left).
var errQuiet = errors.New("connection ended")

// establishParams works out the session parameters this client expects: the pool's server defaults, then
// the client's start-up parameters as the server normalises them. It returns the server parameters to
// greet the client with.
//
// Values known to be accepted (Server.params, or acceptedAsIs) need no server. Others are tried on a
// server if one can be had without waiting (an idle one, or a free slot to open one in), so that an
// unknown parameter or an invalid value fails the login with the server's own error, as on a direct
// connection. A login never queues behind a busy pool for this: with no server to be had, the values are
// accepted as sent (tentative) and the first link's parameter sync applies them (prepareServer), where
// an invalid one fails the client with the server's error then. Only a pool that has never logged in to
// a server since start or reload (nothing to greet with) makes the login wait for one.
func (c *clientConn) establishParams(want map[string]string) (map[string][2]string, error) {
	p := c.pool
	normalized := map[string]string{}
	var unknown map[string]string
	for k, v := range want {
		if acceptedAsIs(k, v) {
			normalized[k] = v
		} else if nv, ok := c.s.params.get(p.key, k, v); ok {
			normalized[k] = nv
		} else {
			if unknown == nil {
				unknown = map[string]string{}
			}
			unknown[k] = v
		}
	}
	welcome := p.greeting()
	if welcome == nil || len(unknown) > 0 {
		c.offLoop() // a server for the parameters: not on a loop
		// c.context(): a client killed (KILL_CLIENT, KILL) while its login waits for a server stops waiting.
		sc, err := c.s.tryAcquire(c.context(), p)
		if err == nil && sc == nil && welcome == nil {
			sc, err = c.s.acquire(c.context(), p)
		}
		if err != nil {
			return nil, err
		}
		if sc != nil {
			if err := c.tryParams(sc, want, unknown, normalized); err != nil {
				return nil, err
			}
			if welcome = p.greeting(); welcome == nil { // a reload dropped it; this server tells the same
				welcome = welcomeOf(sc)
			}
			c.s.release(sc)
			unknown = nil
		}
	}
	for k, v := range unknown { // tentative: prepareServer tries them and learns what the server reports
		normalized[k] = v
	}
	params := map[string]string{}
	for k, nv := range welcome {
		if !session.ReadOnly(k) {
			params[k] = nv[1]
		}
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = p.settings().ApplicationName
	}
	for k, v := range normalized {
		params[k] = v
	}
	c.mu.Lock()
	c.adoptParamsLocked(params)
	c.tentative = unknown
	c.mu.Unlock()
	return welcome, nil
}

// tryParams sets the client's start-up parameters want on sc, a server lent for it, and records in
// normalized and in the Server's cache what the server reports for those in unknown. An error from the
// server fails the login (and sc is disposed of).
func (c *clientConn) tryParams(sc *serverConn, want, unknown, normalized map[string]string) error {
	sql, apply := syncSQL(sc, want)
	if sql != "" {
		if err := c.s.execBounded(sc, sql); err != nil {
			return c.s.failedInternal(sc, err, "cannot apply the client's startup parameters")
		}
		apply()
	}
	for k, v := range unknown {
		nv := v
		if sc.reported[k] {
			nv = sc.params[k]
		}
		normalized[k] = nv
		c.s.params.put(c.pool.key, k, v, nv)
	}
	return nil
}

// sendWelcome completes the login, in one write: a SCRAM login's AuthenticationSASLFinal (held by
// scramExchange), NegotiateProtocolVersion when the client asked for a version pgpooler does not speak or
// for protocol options (pgwire.Startup.AppendNegotiation), AuthenticationOk, ParameterStatus for every
// reported parameter, BackendKeyData with key (4 bytes in protocol 3.0, 32 in 3.2), ReadyForQuery.
func (c *clientConn) sendWelcome(st *pgwire.Startup, welcome map[string][2]string, key []byte) error {
	buf := c.ls.authFinal // the SCRAM exchange's last message, held for this write (loginState)
	c.ls.authFinal = nil
	buf = st.AppendNegotiation(buf)
	buf, _ = (&pgproto3.AuthenticationOk{}).Encode(buf)
	c.mu.Lock()
	for _, k := range session.SortedKeys(welcome) {
		v := welcome[k][1]
		if cv, ok := c.params[k]; ok {
			v = cv
		}
		buf, _ = (&pgproto3.ParameterStatus{Name: welcome[k][0], Value: v}).Encode(buf)
	}
	c.mu.Unlock()
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: c.cancelPID, SecretKey: key}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
	_, err := c.stream.Write(buf)
	return err
}

// run relays the client's messages to servers until the client leaves or fails.
func (c *clientConn) run() error {
	for {
		if !c.rd.HasMessage() {
			c.setIdleDeadline()
		}
		typ, n, err := c.rd.Next()
		if err != nil {
			return c.readError(err)
		}
		c.pool.stats.countClientMessage(typ, n)
		switch typ {
		case 'X': // Terminate
			return errQuiet
		case 'Q', 'P', 'B', 'E', 'D', 'C', 'H', 'S', 'F', 'd', 'c', 'f':
		default:
			return pgwire.ProtocolViolation("invalid frontend message type %d", typ)
		}
		// A Parse is read whole, to be answered locally if it can; a larger one may be streamed (forwardLarge).
		var parsed []byte // a Parse already read, when it could not be answered locally
		if c.prep && (typ == 'P' && n <= prepare.MaxCarriedParse || typ == 'S') {
			var done bool
			if typ == 'P' {
				if parsed, err = c.rd.ReadMsg(); err == nil {
					done, err = c.parseLocally(parsed)
				}
			} else {
				if done, err = c.syncLocally(); done {
					err = c.rd.Discard()
				}
			}
			if err != nil {
				return c.readError(err)
			}
			if done {
				continue
			}
		}
		if typ != 'S' && typ != 'H' {
			c.mu.Lock()
			c.prepared.EndLocalBatch() // a message that needs the server: the Sync goes to it
			c.mu.Unlock()
		}
		sc, err := c.link(typ)
		if err != nil {
			return err
		}
		if sc == nil {
			if err := c.rd.Discard(); err != nil {
				return c.readError(err)
			}
			continue
		}
		if parsed != nil {
			err = c.sendPrepared(sc, parsed)
		} else if c.prep {
			err = c.forwardPrepared(sc, typ)
		} else if (typ == 'Q' || typ == 'P') && c.mode != modeSession && n <= session.MaxScannedQuery {
			err = c.forwardScanned(sc)
		} else {
			err = c.rd.Forward(sc.wr)
		}
		if err == nil && !c.rd.HasMessage() {
			err = sc.wr.Flush()
		}
		if err != nil {
			var we *pgwire.WriteError
			if errors.As(err, &we) {
				// The server is gone; relayServer sees it too and tells the client.
				_ = sc.raw.Close()
				c.waitRelay()
				return errQuiet
			}
			return c.readError(err)
		}
	}
}

// forwardScanned forwards a Query or Parse message after noting the SET and RESET statements in its
// text, so that the session parameters they change follow the client to its next server.
func (c *clientConn) forwardScanned(sc *serverConn) error {
	msg, err := c.rd.ReadMsg()
	if err != nil {
		return err
	}
	text := msg[pgwire.HeaderSize:]
	if msg[0] == 'P' { // Parse: statement name, NUL, query text, NUL, parameter types
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[i+1:]
		}
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if f := c.sessionFeature(text); f != session.FeatureNone { // counted; refused by reject_session_features (leakreport.go)
		if msg[0] == 'Q' {
			return c.sendRejected(sc, session.RejectQuery(f))
		}
		return c.sendRejected(sc, session.RejectParse(f, msg[pgwire.HeaderSize] == 0))
	}
	if session.MayChange(text) {
		panicPoint("client", text)
		c.mu.Lock()
		c.sets.Scan(string(text))
		c.mu.Unlock()
	}
	return sc.wr.Write(msg)
}

// sendRejected sends msg, the sentinel standing for a statement refused by reject_session_features, and
// makes the relay read the server's errors for it.
func (c *clientConn) sendRejected(sc *serverConn, msg []byte) error {
	c.mu.Lock()
	c.rejecting = true
	c.mu.Unlock()
	return sc.wr.Write(msg)
}

// rejectingErrors reports whether the relay must read the server's errors for sentinels (sendRejected).
func (c *clientConn) rejectingErrors() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rejecting
}

// setIdleDeadline arms client_idle_timeout between transactions and idle_transaction_timeout inside one.
func (c *clientConn) setIdleDeadline() {
	c.mu.Lock()
	c.armIdleDeadlineLocked()
	c.mu.Unlock()
}

// armIdleDeadlineLocked sets the client's read deadline from its state; both goroutines call it (the
// relay when a ReadyForQuery leaves the client waiting on itself), with c.mu held so they agree.
func (c *clientConn) armIdleDeadlineLocked() {
	cfg := c.s.config().Pooler
	if cfg.ClientIdleTimeout == 0 && cfg.IdleTransactionTimeout == 0 && !c.idleDeadline {
		return // nothing to arm and nothing armed: no timer work per transaction
	}
	var d time.Duration
	switch {
	case c.pending > 0 || c.openBatch:
	case c.txStatus == 'I':
		d = cfg.ClientIdleTimeout.D()
	default:
		d = cfg.IdleTransactionTimeout.D()
	}
	if d > 0 {
		_ = c.conn.SetReadDeadline(time.Now().Add(d))
	} else {
		_ = c.conn.SetReadDeadline(time.Time{})
	}
	c.idleDeadline = d > 0
}

// readError classifies an error reading from the client.
func (c *clientConn) readError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) { // not ETIMEDOUT from tcp_user_timeout or keepalive
		c.mu.Lock()
		tx := c.txStatus
		c.mu.Unlock()
		return idleTimedOut(&c.s.config().Pooler, tx)
	}
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		return pe
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return errQuiet
	}
	return err
}

// link returns the server this client's message goes to, lending one from the pool if none is linked
// (nil for messages that need no server: Flush and COPY messages between transactions). It accounts for
// the message: Query, Sync and FunctionCall each owe one ReadyForQuery; other extended-protocol messages
// open a batch that lasts until the next Sync.
func (c *clientConn) link(typ byte) (*serverConn, error) {
	c.mu.Lock()
	c.awaitRelayLocked(typ)
	if c.closing {
		c.mu.Unlock()
		return nil, errQuiet
	}
	if c.sc == nil {
		if typ == 'H' || typ == 'd' || typ == 'c' || typ == 'f' {
			c.mu.Unlock()
			return nil, nil
		}
		c.mu.Unlock()
		if c.s.stopping.Load() { // between transactions during a shutdown: this client is done
			return nil, pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down")
		}
		start := time.Now()
		c.mu.Lock()
		c.waitSince = start
		c.mu.Unlock()
		sc, err := c.s.acquireWatched(c.context(), c.pool, c)
		c.mu.Lock()
		c.waitSince = time.Time{}
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		waited := time.Since(start)
		c.pool.stats.serverAssignments.Add(1)
		c.pool.stats.waitTime.Add(waited.Microseconds())
		c.pool.obs.Wait(waited)
		if err := c.prepareServer(sc); err != nil {
			return nil, err
		}
		c.mu.Lock()
		if c.closing {
			c.mu.Unlock()
			c.s.release(sc)
			return nil, errQuiet
		}
		c.sc, c.txStatus, c.copyIn = sc, sc.txStatus, false
		c.prepared.ResetAnswers() // a link that ended abnormally may have left entries: they were for the old server
		c.relayDone = make(chan struct{})
		go c.relayServer(sc, c.relayDone)
	}
	sc := c.sc
	if c.accountSentLocked(typ) {
		if qt := c.s.config().Pooler.QueryTimeout.D(); qt > 0 {
			_ = sc.conn.SetReadDeadline(time.Now().Add(qt))
		}
	}
	c.mu.Unlock()
	return sc, nil
}

// accountSentLocked accounts for message typ going to the linked server, with c.mu held: the query (and
// transaction) start times, and what the server now owes. Query, Sync and FunctionCall each owe one
// ReadyForQuery (PostgreSQL protocol docs, "Message Flow"); other extended-protocol messages open a batch
// that lasts until the next Sync (Flush too); COPY data belongs to what runs. It reports whether the server
// now owes exactly one ReadyForQuery, having owed none: a query starts (query_timeout starts with it).
func (c *clientConn) accountSentLocked(typ byte) (started bool) {
	if c.queryStart.IsZero() && typ != 'd' && typ != 'c' && typ != 'f' && typ != 'H' {
		c.queryStart = c.now()
		if c.xactStart.IsZero() {
			c.xactStart = c.queryStart
		}
	}
	switch typ {
	case 'Q', 'F', 'S':
		c.pending++
		if typ == 'S' {
			c.openBatch = false
		}
		return c.pending == 1
	case 'd', 'c', 'f': // COPY data flows inside an outstanding query
	default:
		c.openBatch = true
	}
	return false
}

// now is the time for the client's statistics and timeouts: its loop's event time (loop.Loop.Now, one
// clock read per event) once it is served on a loop, where it must then be called; time.Now before.
func (c *clientConn) now() time.Time {
	if lp := c.lp.Load(); lp != nil {
		return lp.l.Now()
	}
	return time.Now()
}

// prepareServer makes a freshly lent server's session parameters and SQL-level prepared statements match
// the client's, and drops its least recently used protocol-level statements beyond
// max_prepared_statements.
func (c *clientConn) prepareServer(sc *serverConn) error {
	p := c.planSync(sc) // sessionstate.go
	if len(p.evict) > 0 {
		if err := c.s.exchangeBounded(sc, "Close of prepared statements", append(p.evict, &pgproto3.Sync{})...); err != nil {
			return c.s.failedInternal(sc, err, "cannot close prepared statements beyond max_prepared_statements")
		}
	}
	if p.sql != "" {
		if err := c.s.execBounded(sc, p.sql); err != nil {
			return c.s.failedInternal(sc, err, "cannot apply the client's session parameters")
		}
		p.apply()
	}
	c.learnTentative(sc)
	if p.carry {
		if err := c.sqlPreparedSync(sc); err != nil {
			return c.s.failedInternal(sc, err, "cannot carry the client's prepared statements")
		}
	}
	return nil
}

// learnTentative settles the start-up parameters the client logged in with untried (establishParams),
// now that sc accepted them: what the server reports for them becomes the client's value (a
// ParameterStatus tells the client when it differs from what it sent), and the Server's cache learns them.
func (c *clientConn) learnTentative(sc *serverConn) {
	if c.tentative == nil { // only this client's goroutine sets it (establishParams, here): no lock to look
		return
	}
	c.mu.Lock()
	tentative := c.tentative
	c.tentative = nil
	var changed []string
	for k, v := range tentative {
		nv := v
		if sc.reported[k] {
			nv = sc.params[k]
		}
		c.s.params.put(c.pool.key, k, v, nv)
		if nv != v && c.baseParams[k] == v {
			c.writableBaseParamsLocked()[k] = nv
			if c.params[k] == v {
				c.writableParamsLocked()[k] = nv
				changed = append(changed, k)
			}
		}
	}
	c.mu.Unlock()
	if len(changed) == 0 {
		return
	}
	var buf []byte
	for _, k := range changed {
		buf, _ = (&pgproto3.ParameterStatus{Name: canonicalName(k), Value: sc.params[k]}).Encode(buf)
	}
	c.wmu.Lock()
	_ = c.wr.Write(buf) // flushed with the server's answer; a write error shows there too
	c.wmu.Unlock()
}

// execBounded runs an internal query on a server that no relay is reading, within server_connect_timeout.
func (s *Server) execBounded(sc *serverConn, sql string) error {
	return s.exchangeBounded(sc, sql, &pgproto3.Query{String: sql})
}

// exchangeBounded is execBounded for messages that end with a Query or a Sync (serverConn.exchange).
func (s *Server) exchangeBounded(sc *serverConn, what string, msgs ...pgproto3.FrontendMessage) error {
	if d := s.config().Pooler.ServerConnectTimeout.D(); d > 0 {
		_ = sc.conn.SetDeadline(time.Now().Add(d))
		defer sc.conn.SetDeadline(time.Time{})
	}
	return sc.exchange(what, msgs...)
}

// failedInternal disposes of a server after an internal query failed: back to the pool when the server
// answered with an ordinary ERROR, closed otherwise. It returns the error for the client (FATAL).
func (s *Server) failedInternal(sc *serverConn, err error, what string) error {
	var pe *pgwire.Error
	if errors.As(err, &pe) && pe.Severity == pgwire.SeverityError && sc.txStatus == 'I' {
		s.release(sc)
		return &pgwire.Error{Severity: pgwire.SeverityFatal, Code: pe.Code, Message: what + ": " + pe.Message, Detail: pe.Detail, Hint: pe.Hint}
	}
	s.closeServer(sc, what+": "+err.Error())
	return asClientError(err)
}

// sendError writes e to the client and flushes.
func (c *clientConn) sendError(e *pgwire.Error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.wr.Write(e.AppendTo(nil))
	_ = c.wr.Flush()
}

// finish closes the client: it sends err when it is an ErrorResponse (after the ReadyForQuery of a link
// that has just ended), stops the relay (which returns or closes the linked server), closes the socket
// and forgets the client.
func (c *clientConn) finish(err error) {
	// Bound every write from here on, the relay's included: a client that stopped reading must not keep
	// its relay (and so this close) blocked on a full socket.
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.mu.Lock()
	c.closing = true
	linked := c.sc != nil
	if linked {
		_ = c.sc.conn.SetReadDeadline(time.Unix(1, 0)) // wakes relayServer
	}
	c.mu.Unlock()
	if !linked {
		c.waitRelay() // a relay may be writing the ReadyForQuery that ended its link: the error comes after it
	}
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		c.sendError(pe)
	}
	c.cancel(errQuiet)
	c.waitRelay()
	_ = c.conn.Close()
	if c.rd != nil { // nil once on a loop (serveOnLoop)
		c.rd.Release()
	}
	c.s.cancelKeys.unregister(c)
	c.s.mu.Lock()
	delete(c.s.clients, c)
	c.s.mu.Unlock()
	c.s.leaks.forget(c) // leakreport.go
	if c.loggedIn && c.s.config().Pooler.LogDisconnections {
		reason := "client closed the connection"
		if pe != nil {
			reason = pe.Message
		} else if err != nil && err != errQuiet {
			reason = err.Error()
		}
		c.s.logger.Info("client disconnected", "client", c.id, "addr", c.remote, "database", c.database, "user", c.user, "reason", reason)
	} else if !c.loggedIn && err != nil && err != errQuiet && !errors.Is(err, io.EOF) {
		c.s.loginFailedLog.log(c.s.logger, slog.LevelInfo, "client login failed", "client", c.id, "addr", c.remote, "error", err.Error())
	}
}

// waitRelay waits until the relay of the client's last link, if any, has returned.
func (c *clientConn) waitRelay() {
	c.mu.Lock()
	done := c.relayDone
	c.mu.Unlock()
	if done != nil {
		<-done
	}
}

// awaitRelayLocked is the barrier that keeps a client's answers in order, called with c.mu held (it
// releases c.mu while it waits) before message typ is linked or answered by the pooler. When the
// client's last link has ended, its relay may still be writing the ReadyForQuery that ended it (and
// returning the server): it waits for that relay to return, so that nothing the client goroutine
// sends, links or answers itself overtakes that ReadyForQuery. In statement mode a message that starts a
// new statement while the linked server still owes the last one's ReadyForQuery waits until that link
// has ended too, so that every statement gets a link of its own and a BEGIN is answered with 0A000 and
// rolled back instead of holding its transaction open for the next statement (PgBouncer forwards such a
// statement to the same server and then closes the client on the 'T'). Flush and COPY data belong to
// the running statement and do not wait, nor does anything once the server asks for COPY data (a
// client's Query during COPY FROM STDIN gets PostgreSQL's error).
func (c *clientConn) awaitRelayLocked(typ byte) {
	done := c.relayDone
	if done == nil {
		return
	}
	if c.sc == nil {
		select {
		case <-done: // the common case: the relay returned long ago
		default:
			c.mu.Unlock()
			<-done
			c.mu.Lock()
		}
		return
	}
	if c.mode != modeStatement || c.pending == 0 || c.openBatch || c.copyIn {
		return
	}
	switch typ {
	case 'H', 'd', 'c', 'f':
		return
	}
	// What run left buffered for the server (it flushes only when no message follows) must go now. Those
	// bytes end the statement, so the link cannot end and the server cannot go to another client before
	// they have been written. Should the flush fail, the relay's read fails too and ends the link.
	var unflushed *pgwire.Writer
	if c.sc.wr.Buffered() > 0 {
		unflushed = c.sc.wr
	}
	wake := make(chan struct{})
	c.copyWake = wake
	c.mu.Unlock()
	if unflushed != nil {
		_ = unflushed.Flush()
	}
	select {
	case <-done:
	case <-wake:
	}
	c.mu.Lock()
	c.copyWake = nil
}

// copyStarted notes that the linked server asks for COPY data (CopyInResponse, CopyBothResponse),
// waking the client goroutine if it waits for the statement to end (awaitRelayLocked).
func (c *clientConn) copyStarted() {
	c.mu.Lock()
	c.copyIn = true
	if c.copyWake != nil {
		close(c.copyWake)
		c.copyWake = nil
	}
	c.mu.Unlock()
}

// shutdown closes the client for a server shutdown if it is between transactions (or always, with force).
func (c *clientConn) shutdown(force bool) {
	c.mu.Lock()
	if lp := c.lp.Load(); lp != nil {
		c.mu.Unlock()
		lp.shutdownClient(force)
		return
	}
	// A relay still running after its unlink is delivering the last ReadyForQuery: not idle yet, or the
	// client would see its COMMIT fail although it succeeded.
	relaying := false
	if c.relayDone != nil {
		select {
		case <-c.relayDone:
		default:
			relaying = true
		}
	}
	idle := (c.sc == nil && !relaying) || (c.sc != nil && c.pending == 0 && !c.openBatch && c.txStatus == 'I' && c.mode == modeSession)
	if !idle && !force {
		c.mu.Unlock()
		return
	}
	c.closing = true
	if c.sc != nil {
		_ = c.sc.conn.SetReadDeadline(time.Unix(1, 0))
	}
	loggedIn := c.loggedIn
	c.mu.Unlock()
	if loggedIn {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.sendError(pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down"))
	}
	_ = c.conn.Close()
}
