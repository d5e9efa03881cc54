package pooler

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/pools"
	"github.com/pgpooler/pgpooler/pooler/prepare"
)

// Server is a running pgpooler: listeners, client connections and pools. Create it with New, start it
// with ListenAndServe or Serve, stop it with Shutdown, change its configuration with Reload.
type Server struct {
	logger *slog.Logger
	cfg    atomic.Pointer[config.Config]
	users  atomic.Pointer[auth.Userlist] // auth_file, nil when none
	hba    atomic.Pointer[auth.HBA]      // auth_hba_file, nil when none
	tls    atomic.Pointer[tlsState]      // client_tls_* and server_tls_*

	mockKey   []byte           // random per process: salts of mock SCRAM exchanges for unknown users
	authCache authCache        // recent auth_query answers
	stmts     prepare.Registry // shared prepared statements (max_prepared_statements)
	params    paramCache       // start-up parameter values known to be accepted, per pool

	observer Observer      // timings for histograms, nil for none (SetObserver)
	started  time.Time     // when New created it
	pause    pauseState    // PAUSE, KILL, DISABLE state; guarded by mu
	averages averagesStore // SHOW STATS averages of the last stats_period

	// mu guards the set of pools (not their contents: each has its locks, see pool), the limits below,
	// listeners, closing and clients. Lending and releasing a server do not take it.
	mu         sync.Mutex
	pools      map[poolKey]*pool
	dbLimits   map[string]*pools.Limit[*serverConn] // servers per database name (max_db_connections)
	userLimits map[string]*pools.Limit[*serverConn] // servers per user name (max_user_connections)
	listeners  []net.Listener
	closing    bool
	clients    map[*clientConn]struct{}

	nextServerID atomic.Uint64

	stopping     atomic.Bool  // set by Shutdown: no client starts a new transaction
	clientCount  atomic.Int64 // against max_client_conn
	nextClientID atomic.Uint64
	memReturn    memReturn // the janitor's alone (memreturn.go)
	cancelKeys   cancelRegistry
	accepts      acceptStats // failed accepts (Serve)
	cancelStats  cancelCounters

	// Rate limits of the log lines any peer can cause without logging in (lograte.go).
	unknownCancelLog   logLimiter // CancelRequests with an unknown key
	forwardedCancelLog logLimiter // CancelRequests delivered to a server
	failedCancelLog    logLimiter // CancelRequests that could not be delivered
	loginFailedLog     logLimiter // logins that failed before authentication succeeded
	loginRefusedLog    logLimiter // logins refused by auth_file, hba or a password check
	panicLog           logLimiter // panics recovered while serving a connection (recover.go)

	leaks leakReport // session features seen and holders of drained pools (leakreport.go, holders.go)

	done       chan struct{} // closed when Shutdown starts
	stopped    chan struct{} // closed when a Shutdown has finished (Stopped)
	stopOnce   sync.Once
	baseCtx    context.Context // ends at Shutdown: waits for servers give up
	cancelBase context.CancelFunc
	ended      *clientCtx // a context of baseCtx ended with errQuiet: of every client cancelled before it made its own (clientctx.go)
	janitor    sync.Once
	clientWG   sync.WaitGroup
	probes     sync.WaitGroup // running server login probes (probe.go); Shutdown waits for them
	loops      *loopRelay     // event_loops (looprelay.go); nil when off
}

// New returns a Server for cfg (already validated by config.Load or config.Parse). It loads auth_file when
// one is configured; a missing or malformed file is an error. logger may be nil (slog.Default()).
func New(cfg *config.Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{
		logger:     logger,
		pools:      map[poolKey]*pool{},
		dbLimits:   map[string]*pools.Limit[*serverConn]{},
		userLimits: map[string]*pools.Limit[*serverConn]{},
		clients:    map[*clientConn]struct{}{},
		done:       make(chan struct{}),
		stopped:    make(chan struct{}),
	}
	s.baseCtx, s.cancelBase = context.WithCancel(context.Background())
	s.ended = endedCtx(s.baseCtx)
	s.cancelKeys.init()
	s.started = time.Now()
	s.pause = pauseState{paused: map[string]bool{}, disabled: map[string]bool{}, resumed: make(chan struct{})}
	s.mockKey = make([]byte, 32)
	_, _ = rand.Read(s.mockKey)
	if err := s.setConfig(cfg); err != nil {
		return nil, err
	}
	if cfg.Pooler.EventLoops && runtime.GOOS == "windows" {
		logger.Warn("event_loops is ignored on Windows (no epoll or kqueue): every client has a goroutine of its own")
	} else if cfg.Pooler.EventLoops {
		lr, err := startLoopRelay(logger, cfg.Pooler.EventLoopCount)
		if err != nil {
			return nil, fmt.Errorf("event_loops: %w", err)
		}
		s.loops = lr
	}
	return s, nil
}

func (s *Server) config() *config.Config { return s.cfg.Load() }

func (s *Server) setConfig(cfg *config.Config) error {
	var users *auth.Userlist
	if cfg.Pooler.AuthFile != "" {
		u, err := auth.LoadUserlist(cfg.Pooler.AuthFile)
		if err != nil {
			return fmt.Errorf("auth_file: %w", err)
		}
		users = u
	}
	var hba *auth.HBA
	if cfg.Pooler.AuthHBAFile != "" {
		h, err := auth.LoadHBA(cfg.Pooler.AuthHBAFile)
		if err != nil {
			return fmt.Errorf("auth_hba_file: %w", err)
		}
		hba = h
	}
	tlsSt, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	s.cfg.Store(cfg)
	s.users.Store(users)
	s.hba.Store(hba)
	s.tls.Store(tlsSt)
	s.authCache.clear()
	return nil
}

// learnCreds keeps what a client's login revealed about logging in to servers as user (its password,
// or its SCRAM ClientKey for passthrough) on pool p, when p's servers log in as that same user and the
// configuration gives no password of its own. A change clears a cached server login failure.
func (s *Server) learnCreds(p *pool, user string, creds serverCreds) {
	if creds.password == "" && creds.scram == nil {
		return
	}
	if pc := p.settings(); pc.ServerUser != user || pc.Password != "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if creds.password == p.learned.password && creds.scram.equal(p.learned.scram) {
		return
	}
	p.learned = creds
	p.loginErr = nil
}

// serverCredsLocked returns how p's servers log in: the configured password, else learned ones. The
// caller holds p.mu.
func (s *Server) serverCredsLocked(p *pool) serverCreds {
	if pw := p.settings().Password; pw != "" {
		return serverCreds{password: pw}
	}
	return p.learned
}

// Reload switches to cfg (SIGHUP): timeouts, limits and pool sizes apply at once; pools whose server
// address, database name, user, password, application_name, connect_query, client_encoding, datestyle or timezone changed close their servers as they come back idle, like
// PgBouncer's RELOAD. Listen addresses and the metrics endpoint's settings (config.FixedKeys) keep
// their running values: a changed one is logged and returned in notes, and takes effect at the next
// start. On error nothing changes.
func (s *Server) Reload(cfg *config.Config) error {
	_, err := s.ReloadNotes(cfg)
	return err
}

// ReloadNotes is Reload, returning what the new configuration changes that cannot apply while running.
func (s *Server) ReloadNotes(cfg *config.Config) (notes []string, err error) {
	for _, w := range cfg.Warnings { // what the file has that pgpooler ignores (a pgbouncer.ini's keys)
		s.logger.Warn("reload: configuration: " + w)
	}
	cfg, notes = keepFixed(s.config(), cfg)
	for _, n := range notes {
		s.logger.Warn("reload: " + n)
	}
	if err := s.setConfig(cfg); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var closing []*serverConn
	var reasons []string
	for key, p := range s.pools {
		pc, err := s.resolvePool(key.database, key.user)
		if err != nil { // database removed: idle servers close now, busy ones as they come back
			p.setConfLocked(nil, true)
			p.mu.Lock()
			p.removed = true
			kickProbeLocked(p) // it ends
			p.mu.Unlock()
			for _, sc := range p.q.TakeIdle() {
				closing, reasons = append(closing, sc), append(reasons, "database removed from the configuration")
			}
			continue
		}
		old := p.settings()
		changed := pc.Host != old.Host || pc.Port != old.Port || pc.DBName != old.DBName || pc.ServerUser != old.ServerUser || pc.Password != old.Password || pc.ConnectQuery != old.ConnectQuery || pc.ApplicationName != old.ApplicationName || databaseParamsChanged(&pc, old)
		p.setConfLocked(&pc, changed)
		p.mu.Lock()
		if changed {
			p.welcome.Store(nil) // the next login learns the new servers' parameters
			p.loginErr = nil     // it was about the old servers; a probe ends, the next client logs in
			kickProbeLocked(p)
		}
		p.removed = false
		p.mu.Unlock()
		if changed {
			for _, sc := range p.q.TakeIdle() {
				closing, reasons = append(closing, sc), append(reasons, "configuration changed")
			}
		}
		for _, sc := range p.q.SetSettings(limitsOf(&pc)) { // serves waiters the new sizes let in
			closing, reasons = append(closing, sc), append(reasons, "pool_size reduced")
		}
	}
	for i, sc := range closing {
		go s.closeServer(sc, reasons[i]) // closeServer frees the slot
	}
	s.params.clear() // what servers accept may have changed with them
	s.logger.Info("configuration reloaded", "file", cfg.Path)
	return notes, nil
}

// keepFixed returns next with the listening and metrics endpoint settings of running (config.FixedKeys),
// and a note for each one next wanted changed.
func keepFixed(running, next *config.Config) (*config.Config, []string) {
	var notes []string
	r, n := running.Pooler, next.Pooler
	if r.ListenAddr != n.ListenAddr {
		notes = append(notes, fmt.Sprintf("listen_addr %q cannot change while running; still listening on %q until restart", n.ListenAddr, r.ListenAddr))
	}
	if r.ListenPort != n.ListenPort {
		notes = append(notes, fmt.Sprintf("listen_port %d cannot change while running; still listening on %d until restart", n.ListenPort, r.ListenPort))
	}
	if r.UnixSocketDir != n.UnixSocketDir {
		notes = append(notes, fmt.Sprintf("unix_socket_dir %q cannot change while running; still %q until restart", n.UnixSocketDir, r.UnixSocketDir))
	}
	if r.MetricsAddr != n.MetricsAddr {
		notes = append(notes, fmt.Sprintf("metrics_addr %q cannot change while running; still %q until restart", n.MetricsAddr, r.MetricsAddr))
	}
	if r.DebugPprof != n.DebugPprof {
		notes = append(notes, fmt.Sprintf("debug_pprof %v cannot change while running; still %v until restart", n.DebugPprof, r.DebugPprof))
	}
	if r.EventLoops != n.EventLoops {
		notes = append(notes, fmt.Sprintf("event_loops %v cannot change while running; still %v until restart", n.EventLoops, r.EventLoops))
	}
	if r.EventLoopCount != n.EventLoopCount {
		notes = append(notes, fmt.Sprintf("event_loop_count %d cannot change while running; still %d until restart", n.EventLoopCount, r.EventLoopCount))
	}
	if len(notes) == 0 {
		return next, nil
	}
	c := *next
	c.Pooler.ListenAddr, c.Pooler.ListenPort, c.Pooler.UnixSocketDir = r.ListenAddr, r.ListenPort, r.UnixSocketDir
	c.Pooler.MetricsAddr, c.Pooler.DebugPprof, c.Pooler.EventLoops = r.MetricsAddr, r.DebugPprof, r.EventLoops
	c.Pooler.EventLoopCount = r.EventLoopCount
	return &c, notes
}

// resolvePool returns the settings of pool (database, user), with the server password taken from the
// database section or, failing that, from a plain or md5 auth_file entry of the server user.
func (s *Server) resolvePool(database, user string) (poolSettings, error) {
	pc, err := s.config().PoolConfig(database, user)
	if err != nil {
		return pc, err
	}
	if pc.Password == "" {
		if ul := s.users.Load(); ul != nil {
			if sec, ok := ul.Lookup(pc.ServerUser); ok {
				switch sec.Kind {
				case auth.SecretPlain:
					pc.Password = sec.Plain
				case auth.SecretMD5:
					pc.Password = sec.MD5
				}
			}
		}
	}
	return pc, nil
}

// getPool returns the pool for (database, user), creating it on first use. The error wraps
// config.ErrUnknownDatabase when no [databases] entry matches.
func (s *Server) getPool(database, user string) (*pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := poolKey{database, user}
	if p, ok := s.pools[key]; ok {
		return p, nil
	}
	pc, err := s.resolvePool(database, user)
	if err != nil {
		return nil, err
	}
	p := &pool{srv: s, key: key, obs: s.poolObserver(database, user)}
	p.conf.Store(&poolConf{pc: pc})
	p.q = pools.New(limitsOf(&pc), limitOf(s.dbLimits, database), limitOf(s.userLimits, user), s.pause.notifyDrained)
	p.q.SetPaused(s.pause.pausedLocked(database))
	s.pools[key] = p
	return p, nil
}

// limitOf returns the Limit of name in m, creating it.
func limitOf(m map[string]*pools.Limit[*serverConn], name string) *pools.Limit[*serverConn] {
	l := m[name]
	if l == nil {
		l = &pools.Limit[*serverConn]{}
		m[name] = l
	}
	return l
}

// ListenAndServe listens on listen_addr:listen_port (a comma-separated list; "*" means all addresses)
// and on unix_socket_dir/.s.PGSQL.listen_port when set, then serves until Shutdown. It returns
// net.ErrClosed after Shutdown, or the first listen error.
func (s *Server) ListenAndServe() error {
	lns, err := s.Listen()
	if err != nil {
		return err
	}
	return s.ServeAll(lns)
}

// Listen opens the configured listeners without serving them yet.
func (s *Server) Listen() ([]net.Listener, error) {
	cfg := s.config().Pooler
	var lns []net.Listener
	fail := func(err error) ([]net.Listener, error) {
		for _, l := range lns {
			l.Close()
		}
		return nil, err
	}
	for _, a := range strings.Split(cfg.ListenAddr, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if a == "*" {
			a = ""
		}
		// KeepAlive -1: Serve sets the configured keepalive on each accepted connection, not Go's 15 s.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(a, strconv.Itoa(cfg.ListenPort)))
		if err != nil {
			return fail(fmt.Errorf("listen_addr %q listen_port %d: %w", a, cfg.ListenPort, err))
		}
		lns = append(lns, freshListener{ln})
	}
	if cfg.UnixSocketDir != "" {
		path := filepath.Join(cfg.UnixSocketDir, fmt.Sprintf(".s.PGSQL.%d", cfg.ListenPort))
		_ = os.Remove(path) // a stale socket from an earlier run
		ln, err := net.Listen("unix", path)
		if err != nil {
			return fail(fmt.Errorf("unix_socket_dir %q: %w", cfg.UnixSocketDir, err))
		}
		_ = os.Chmod(path, 0o777)
		lns = append(lns, ln)
	}
	if len(lns) == 0 {
		return nil, errors.New("nothing to listen on: listen_addr and unix_socket_dir are both empty")
	}
	return lns, nil
}

// ServeAll serves every listener in lns until Shutdown.
func (s *Server) ServeAll(lns []net.Listener) error {
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- s.Serve(ln) }()
	}
	var first error
	for range lns {
		if err := <-errc; first == nil {
			first = err
		}
	}
	return first
}

// Serve accepts client connections on ln until Shutdown; it returns net.ErrClosed then, or an error of
// Accept that retrying cannot mend. An Accept that fails for want of file descriptors or memory, or for
// a connection aborted before it was accepted, is retried after a back-off (5 ms doubling to 1 s, as
// net/http's Server.Serve does), logged at most once per 10 s and counted (Snapshot.AcceptErrors), so
// that the clients already connected keep being served. Accepted TCP connections get TCP_NODELAY and
// the tcp_keepalive, tcp_keepidle, tcp_keepintvl, tcp_keepcnt and tcp_user_timeout in force.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	ln = s.listenOnLoop(ln) // event_loops: accepted on loop 0 (looplisten.go); Accept waits for Shutdown
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	s.janitor.Do(func() { go s.runJanitor(); go s.runStats() })
	s.logger.Info("listening", "addr", ln.Addr().String())
	var backoff time.Duration
	_, fresh := ln.(freshListener)
	for {
		conn, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return net.ErrClosed
			}
			if !retryableAccept(err) {
				return err
			}
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			s.accepts.failed(s.logger, ln, err, backoff)
			if s.acceptWait(backoff) {
				return net.ErrClosed
			}
			continue
		}
		backoff = 0
		if tc, ok := conn.(*net.TCPConn); ok { // TCP_NODELAY: Go sets it on every accepted TCP socket
			o := tcpOptionsOf(&s.config().Pooler)
			if fresh {
				err = o.applyFresh(tc)
			} else {
				err = o.apply(tc)
			}
			if err != nil {
				s.logger.Debug("client socket options", "error", err)
			}
			if s.loginOnLoop(tc) { // event_loops: logged in on a loop (looplogin.go)
				continue
			}
		}
		c := s.newClientConn(conn)
		s.clientWG.Add(1)
		go func() {
			defer s.clientWG.Done()
			c.serve()
		}()
	}
}

// Shutdown stops gracefully: it closes the listeners, closes clients that are between transactions,
// lets running transactions finish and closes their clients afterwards, and once ctx ends (or
// shutdown_timeout in cmd/pgpooler) closes whatever remains. Idle servers are closed last.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		s.stopping.Store(true)
		close(s.done)
		s.cancelBase()
	}
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()
	s.logger.Info("shutting down")

	allGone := make(chan struct{})
	go func() { s.clientWG.Wait(); close(allGone) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var err error
loop:
	for {
		s.closeIdleClients(false)
		select {
		case <-allGone:
			break loop
		case <-ctx.Done():
			s.closeIdleClients(true)
			<-allGone
			err = ctx.Err()
			break loop
		case <-tick.C:
		}
	}
	s.mu.Lock()
	var idle []*serverConn
	for _, p := range s.pools {
		idle = append(idle, p.q.Close()...) // servers released later are closed (pools.CloseClosed)
	}
	s.mu.Unlock()
	s.probes.Wait() // they end at done; a login they were making ends with baseCtx
	for _, sc := range idle {
		s.closeServer(sc, "shutting down")
	}
	s.loops.stop()
	s.stopOnce.Do(func() { close(s.stopped) })
	return err
}

// Stopped returns a channel closed when a Shutdown has finished: every client is gone and the idle
// servers are closed. A process waits on it after ServeAll returns, since the admin console's SHUTDOWN
// and ShutdownWaitClients stop the listeners before the clients are gone.
func (s *Server) Stopped() <-chan struct{} { return s.stopped }

// closeIdleClients closes clients that are not inside a transaction (or all of them when force is set).
func (s *Server) closeIdleClients(force bool) {
	s.mu.Lock()
	cs := make([]*clientConn, 0, len(s.clients))
	for c := range s.clients {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.shutdown(force)
	}
}
