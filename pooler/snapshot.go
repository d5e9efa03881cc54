package pooler

import (
	"crypto/tls"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// Snapshot is a consistent-enough picture of a running Server, for the admin console's SHOW commands and
// the metrics endpoint: every pool with its counts and counters, every client and server connection.
// It is taken under the Server's lock, so counts of one pool agree with each other; counters are read
// atomically and may be a few messages apart from each other.
type Snapshot struct {
	Taken   time.Time      // when it was taken
	Started time.Time      // when the Server was created
	Config  *config.Config // the configuration in force
	Pools   []PoolInfo     // sorted by database, then user
	Clients []ClientInfo   // sorted by ID
	Servers []ServerInfo   // sorted by ID
	// Averages are the per-database averages of the last complete stats_period (SHOW STATS avg_*),
	// keyed by database name; a database with no complete period yet is absent.
	Averages map[string]Averages
	// SharedStatements and SharedStatementBytes are the size of the registry of prepared statements
	// shared between clients in transaction and statement mode: distinct (query text, parameter types)
	// pairs, and the bytes their texts and messages take (bounded at 100000 and 64 MiB).
	SharedStatements     int
	SharedStatementBytes int64
	// Cancels counts the CancelRequests received since start (pgpooler's own; SHOW TOTALS).
	Cancels CancelCounters
	// AcceptErrors is how many accepts of client connections have failed since the Server started, for
	// want of file descriptors or memory or for a connection aborted before it was accepted; each was
	// retried (Serve). pgpooler's own: SHOW STATE accept_errors, pgpooler_accept_errors_total.
	AcceptErrors uint64
	// StartupParams and StartupParamBytes are the size of the cache of start-up parameter values known to
	// be accepted, for every pool: values, and the bytes they take (bounded at 10000 and 4 MiB).
	StartupParams     int
	StartupParamBytes int64
}

// PoolInfo is one (database, user) pool: the columns of PgBouncer's SHOW POOLS and its counters.
type PoolInfo struct {
	Database, User string
	PoolMode       string
	Config         config.PoolConfig // the pool's resolved settings (Password never shown)

	ClActive           int           // logged-in clients not waiting for a server
	ClWaiting          int           // clients waiting for a server
	ClActiveCancelReq  int           // clients' cancel requests being forwarded to a server of the pool
	ClWaitingCancelReq int           // cancel requests waiting for a server (always 0)
	SvActive           int           // servers lent to a client (or to an internal query)
	SvActiveCancel     int           // servers that got a cancel request (always 0: cancels go over a connection of their own)
	SvBeingCanceled    int           // servers back from a client, waiting for its cancel requests to end before reuse
	SvIdle             int           // idle servers usable at once
	SvUsed             int           // idle servers idle longer than server_check_delay: checked before reuse
	SvTested           int           // servers running server_check_query or server_reset_query (always 0)
	SvLogin            int           // servers being logged in to
	MaxWait            time.Duration // how long the oldest waiting client has waited

	Counters Counters // cumulative since the pool was created
}

// ClientInfo is one client connection (PgBouncer's SHOW CLIENTS).
type ClientInfo struct {
	ID              uint64
	User, Database  string
	State           string // "active", "waiting", or "login" before it is logged in
	Addr            string // remote address, "unix" for a Unix socket
	Port            int
	LocalAddr       string
	LocalPort       int
	ConnectTime     time.Time
	RequestTime     time.Time     // when it began waiting for a server; zero when not waiting
	Wait            time.Duration // how long it has been waiting for a server
	ServerID        uint64        // the server linked to it, 0 for none
	TLS             string        // "TLSv1.3/TLS_AES_128_GCM_SHA256", "" without TLS
	ApplicationName string
	Identity        Identity
	// PreparedStatements is how many named prepared statements the client has (transaction and
	// statement mode; 0 in session mode, where they live on its server).
	PreparedStatements int
}

// ServerInfo is one server connection (PgBouncer's SHOW SERVERS).
type ServerInfo struct {
	ID             uint64
	User, Database string // the pool's database and user (the pool key)
	State          string // "active", "idle" or "used"
	Addr           string
	Port           int
	LocalAddr      string
	LocalPort      int
	ConnectTime    time.Time
	RequestTime    time.Time // when it was last released to its pool (zero: never)
	ClientID       uint64    // the client it is linked to, 0 for none
	PID            uint32    // the backend's process ID
	TLS            string
	CloseNeeded    bool // a reload changed its pool's server settings: closed when released
	// PreparedStatements is how many shared prepared statements pgpooler keeps on the server
	// (max_prepared_statements bounds it).
	PreparedStatements int
}

// Snapshot returns a picture of the server now.
func (s *Server) Snapshot() *Snapshot {
	now := time.Now()
	cfg := s.config()
	snap := &Snapshot{Taken: now, Started: s.started, Config: cfg}
	snap.SharedStatements, snap.SharedStatementBytes = s.stmts.size()
	snap.Cancels = s.cancelStats.load()
	snap.AcceptErrors = s.accepts.errors.Load()
	snap.StartupParams, snap.StartupParamBytes = s.params.size()
	checkDelay := cfg.Pooler.ServerCheckDelay.D()

	s.mu.Lock()
	clients := make([]*clientConn, 0, len(s.clients))
	for c := range s.clients {
		clients = append(clients, c)
	}
	pools := make(map[*pool]*PoolInfo, len(s.pools))
	for _, p := range s.pools {
		conf := p.conf.Load()
		pi := &PoolInfo{
			Database: p.key.database, User: p.key.user, PoolMode: conf.pc.PoolMode, Config: conf.pc,
			SvLogin:  int(p.opening.Load()),
			Counters: p.stats.load(),
		}
		pi.Config.Password = ""
		st := p.q.Inspect(func(sc *serverConn) { // under the pool's lock: the idle servers stay idle
			state := "idle"
			if cfg.Pooler.ServerCheckQuery != "" && now.Sub(sc.idleFrom) > checkDelay {
				state = "used"
				pi.SvUsed++
			} else {
				pi.SvIdle++
			}
			si := serverInfo(sc, state, 0)
			si.CloseNeeded = sc.gen != conf.gen
			snap.Servers = append(snap.Servers, si)
		})
		pi.SvBeingCanceled = int(p.beingCanceled.Load())
		pi.ClActiveCancelReq = int(p.cancelsActive.Load())
		pi.SvActive = max(0, st.Total-st.Idle-pi.SvLogin-pi.SvBeingCanceled)
		pools[p] = pi
	}
	s.mu.Unlock()

	var linked []*serverConn
	for _, c := range clients {
		ci := c.info(now)
		snap.Clients = append(snap.Clients, ci.ClientInfo)
		if ci.sc != nil {
			snap.Servers = append(snap.Servers, ci.server)
			linked = append(linked, ci.sc)
		}
		if pi := pools[ci.pool]; pi != nil {
			switch ci.State {
			case "active":
				pi.ClActive++
			case "waiting": // in line for a server, or held back by a PAUSE
				pi.ClWaiting++
				pi.MaxWait = max(pi.MaxWait, ci.Wait)
			}
		}
	}
	closeNeeded := map[uint64]bool{}
	for _, sc := range linked {
		closeNeeded[sc.id] = sc.gen != sc.pool.generation()
	}
	for i := range snap.Servers {
		if v, ok := closeNeeded[snap.Servers[i].ID]; ok {
			snap.Servers[i].CloseNeeded = v
		}
	}
	for _, pi := range pools {
		snap.Pools = append(snap.Pools, *pi)
	}
	sort.Slice(snap.Pools, func(i, j int) bool {
		a, b := snap.Pools[i], snap.Pools[j]
		return a.Database < b.Database || a.Database == b.Database && a.User < b.User
	})
	sort.Slice(snap.Clients, func(i, j int) bool { return snap.Clients[i].ID < snap.Clients[j].ID })
	sort.Slice(snap.Servers, func(i, j int) bool { return snap.Servers[i].ID < snap.Servers[j].ID })
	snap.Averages = s.averages.get()
	return snap
}

// clientInfo is a ClientInfo plus the linked server and its description, read under the client's lock
// (while linked, nobody else writes the server's fields).
type clientInfo struct {
	ClientInfo
	sc     *serverConn
	server ServerInfo
	pool   *pool
}

// info describes the client. The fields login sets are read only once c.loggedIn, which login sets
// under c.mu after them, says they are written.
func (c *clientConn) info(now time.Time) clientInfo {
	ci := clientInfo{ClientInfo: ClientInfo{ID: c.id, ConnectTime: c.connectTime, TLS: tlsLabel(c.tls), State: "login"}}
	ci.Addr, ci.Port = splitAddr(c.conn.RemoteAddr())
	ci.LocalAddr, ci.LocalPort = splitAddr(c.conn.LocalAddr())
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loggedIn {
		return ci
	}
	ci.User, ci.Database, ci.Identity, ci.pool = c.user, c.database, c.identity, c.pool
	ci.ApplicationName = c.params["application_name"]
	ci.PreparedStatements = len(c.stmts)
	ci.State = "active"
	if !c.waitSince.IsZero() {
		ci.State = "waiting"
		ci.RequestTime = c.waitSince
		ci.Wait = now.Sub(c.waitSince)
	}
	if c.sc != nil {
		ci.sc = c.sc
		ci.ServerID = c.sc.id
		ci.server = serverInfo(c.sc, "active", c.id)
	}
	return ci
}

// serverInfo describes a server that the caller's lock protects: its pool's for an idle one, the client's
// lock for a linked one. CloseNeeded is left to the caller.
func serverInfo(sc *serverConn, state string, clientID uint64) ServerInfo {
	si := ServerInfo{
		ID: sc.id, State: state, ConnectTime: sc.created, RequestTime: sc.idleFrom,
		ClientID: clientID, PID: sc.pid, PreparedStatements: sc.stmts.len(),
	}
	if sc.pool != nil {
		si.Database, si.User = sc.pool.key.database, sc.pool.key.user
	}
	si.Addr, si.Port = splitAddr(sc.raw.RemoteAddr())
	si.LocalAddr, si.LocalPort = splitAddr(sc.raw.LocalAddr())
	if tc, ok := sc.conn.(*tls.Conn); ok {
		st := tc.ConnectionState()
		si.TLS = tlsLabel(&st)
	}
	return si
}

// tlsLabel describes a TLS connection as PgBouncer's tls column does: version/cipher suite.
func tlsLabel(st *tls.ConnectionState) string {
	if st == nil {
		return ""
	}
	return tls.VersionName(st.Version) + "/" + tls.CipherSuiteName(st.CipherSuite)
}

// splitAddr returns an address's host and port; a Unix socket is "unix", 0.
func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	if a.Network() == "unix" {
		return "unix", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String(), 0
	}
	n, _ := strconv.Atoi(port)
	return host, n
}
