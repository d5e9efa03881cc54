package pooler

import (
	"crypto/tls"
	"net"
	"sort"
	"strconv"
	"time"
)

// Snapshot returns a picture of the server now.
func (s *Server) Snapshot() *Snapshot {
	now := time.Now()
	cfg := s.config()
	snap := &Snapshot{Taken: now, Started: s.started, Config: cfg}
	snap.SharedStatements, snap.SharedStatementBytes = s.stmts.Size()
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
			Counters: p.stats.load(), SessionFeatures: p.features.load(),
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
			if ci.Holding != "" {
				pi.LongestHold = max(pi.LongestHold, now.Sub(ci.HeldSince))
			}
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
	ci := clientInfo{ClientInfo: ClientInfo{ID: c.id, ConnectTime: time.Unix(0, c.connectTime), TLS: tlsLabel(c.tls), State: "login"}}
	c.mu.Lock()
	defer c.mu.Unlock()
	ci.Addr, ci.Port = splitAddr(c.conn.RemoteAddr()) // under c.mu: serveOnLoop replaces c.conn
	ci.LocalAddr, ci.LocalPort = splitAddr(c.conn.LocalAddr())
	if !c.loggedIn {
		return ci
	}
	ci.User, ci.Database, ci.Identity, ci.pool = c.user, c.database, c.identity, c.pool
	ci.ApplicationName = c.params["application_name"]
	ci.PreparedStatements = c.prepared.Len()
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
		ci.Holding, ci.HeldSince = c.holdingLocked() // holders.go
	}
	ci.SessionFeatures = c.s.leaks.describeLocked(c) // leakreport.go
	return ci
}

// serverInfo describes a server that the caller's lock protects: its pool's for an idle one, the client's
// lock for a linked one. CloseNeeded is left to the caller.
func serverInfo(sc *serverConn, state string, clientID uint64) ServerInfo {
	si := ServerInfo{
		ID: sc.id, State: state, ConnectTime: sc.created, RequestTime: sc.idleFrom,
		ClientID: clientID, PID: sc.pid, PreparedStatements: sc.stmts.Len(),
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
