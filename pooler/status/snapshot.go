package status

import (
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
	// LongestHold is how long the client holding one of its servers longest has held it (pgpooler's own:
	// SHOW HOLDERS, pgpooler_pools_longest_hold_seconds); 0 when none is held.
	LongestHold time.Duration

	Counters Counters // cumulative since the pool was created
	// SessionFeatures are the session-only features its clients used in transaction or statement mode
	// (pgpooler's own: SHOW SESSION_FEATURES), those seen at least once, in the feature's order; nil
	// when none.
	SessionFeatures []SessionFeatureCount
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
	// Holding is what the client does with the server linked to it (pgpooler's own, SHOW HOLDERS state):
	// "active" (a query runs or a batch is open), "idle in transaction", "idle in transaction (aborted)",
	// "idle" (session mode, between transactions); "" when it holds none.
	Holding string
	// HeldSince is when the client's hold began: its open transaction's start, else (session mode) its
	// connection's; zero when it holds no server.
	HeldSince time.Time
	// SessionFeatures names the session-only features the client used in transaction or statement mode,
	// with their counts ("listen=2,temp_table=1"); "" when none.
	SessionFeatures string
}

// Identity is who a client proved to be at login. The admin console checks admin_users and stats_users
// against User; SHOW CLIENTS reports the rest.
type Identity struct {
	User     string // the user name the client logged in as
	Database string // the database it asked for
	Method   string // how it proved it: trust, md5, scram-sha-256, password (auth_type plain), cert, peer (hba peer, or the console login from pgpooler's own uid)
	TLS      bool   // the connection uses TLS
	// ChannelBound is true when the client logged in with SCRAM-SHA-256-PLUS (channel binding
	// tls-server-end-point), so its credentials are tied to this TLS connection.
	ChannelBound bool
	CertCN       string // the verified client certificate's common name, "" without one
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

// PauseState is which databases are paused or disabled (PgBouncer doc/usage.md: PAUSE, RESUME, KILL,
// DISABLE, ENABLE), as SHOW STATE and SHOW DATABASES report it. The maps are the reader's own copies.
type PauseState struct {
	All      bool            // PAUSE or KILL of every database
	Paused   map[string]bool // per database: PAUSE db or KILL db
	Disabled map[string]bool // per database: DISABLE db
}
