package config

import (
	"strings"
	"time"
)

// Pool modes: when a server connection goes back to its pool. PgBouncer
// doc/config.md key pool_mode.
const (
	// PoolModeSession releases the server when the client disconnects.
	PoolModeSession = "session"
	// PoolModeTransaction releases the server when a transaction ends.
	PoolModeTransaction = "transaction"
	// PoolModeStatement releases the server after every statement;
	// multi-statement transactions are refused.
	PoolModeStatement = "statement"
)

// Config is a whole configuration file.
type Config struct {
	// Pooler holds the global settings, PgBouncer's [pgbouncer] section.
	Pooler Pooler `toml:"pooler"`

	// Databases maps the database name a client asks for to where its
	// connections go. The key "*" is the fallback for any name that has no
	// entry of its own. PgBouncer doc/config.md section [databases].
	Databases map[string]Database `toml:"databases"`

	// Users maps a client's user name to per-user overrides. PgBouncer
	// doc/config.md section [users].
	Users map[string]User `toml:"users"`

	// Path is the file the configuration was loaded from, "" when it was
	// built in code. Error messages start with it.
	Path string `toml:"-"`

	// Warnings are what loading the file ignored, one message each starting
	// with file:line: the keys of a pgbouncer.ini that pgpooler lacks and
	// that are harmless to ignore ([ParseINI]). Whoever loads the file logs
	// them. Always empty for config.toml.
	Warnings []string `toml:"-"`

	// INI is true when the configuration was read from a pgbouncer.ini
	// ([ParseINI]): a key it left out has PgBouncer's default, which
	// [DefaultFor] gives.
	INI bool `toml:"-"`
}

// Pooler is the [pooler] table: the settings PgBouncer keeps in its
// [pgbouncer] section, under the same names.
type Pooler struct {
	// ListenAddr is a comma-separated list of addresses (IPv4, IPv6 or host
	// names) to accept TCP connections on; "*" means all addresses and ""
	// means no TCP listener (Unix socket only). Default "127.0.0.1"; PgBouncer
	// leaves it unset, which pgpooler would make unusable out of the box.
	// PgBouncer doc/config.md key listen_addr.
	ListenAddr string `toml:"listen_addr"`

	// ListenPort is the TCP port, also used in the Unix socket's file name
	// (.s.PGSQL.<port>). 1 to 65535, default 6432. PgBouncer doc/config.md
	// key listen_port.
	ListenPort int `toml:"listen_port"`

	// UnixSocketDir is the directory for the Unix socket; "" disables it.
	// Default "" (PgBouncer's is /tmp). PgBouncer doc/config.md key
	// unix_socket_dir.
	UnixSocketDir string `toml:"unix_socket_dir"`

	// PoolMode is when a server connection is given back to the pool:
	// "session" (default), "transaction" or "statement". Databases and users
	// may override it. PgBouncer doc/config.md key pool_mode.
	PoolMode string `toml:"pool_mode"`

	// DefaultPoolSize is the number of server connections allowed per
	// (database, user) pool, unless a database or user sets pool_size. At
	// least 1, default 20. PgBouncer doc/config.md key default_pool_size.
	DefaultPoolSize int `toml:"default_pool_size"`

	// MinPoolSize is the number of server connections a pool keeps open even
	// when idle; 0 (default) disables. At most default_pool_size. PgBouncer
	// doc/config.md key min_pool_size.
	MinPoolSize int `toml:"min_pool_size"`

	// ReservePoolSize is how many connections a pool may open beyond its size
	// when a client has waited ReservePoolTimeout; 0 (default) disables.
	// PgBouncer doc/config.md key reserve_pool_size.
	ReservePoolSize int `toml:"reserve_pool_size"`

	// ReservePoolTimeout is how long a client waits before the reserve pool
	// is used. Default 5s; 0 disables. PgBouncer doc/config.md key
	// reserve_pool_timeout.
	ReservePoolTimeout Duration `toml:"reserve_pool_timeout"`

	// MaxClientConn is the maximum number of client connections. At least 1,
	// default 100. PgBouncer doc/config.md key max_client_conn.
	MaxClientConn int `toml:"max_client_conn"`

	// MaxDBConnections caps server connections per database, over all its
	// pools; 0 (default) is unlimited. PgBouncer doc/config.md key
	// max_db_connections.
	MaxDBConnections int `toml:"max_db_connections"`

	// MaxUserConnections caps server connections per user, over all its
	// pools; 0 (default) is unlimited. PgBouncer doc/config.md key
	// max_user_connections.
	MaxUserConnections int `toml:"max_user_connections"`

	// ServerResetQuery is run on a server connection when it is released, in
	// session mode only unless ServerResetQueryAlways is set. Default
	// "DISCARD ALL"; "" runs nothing. PgBouncer doc/config.md key
	// server_reset_query.
	ServerResetQuery string `toml:"server_reset_query"`

	// ServerResetQueryAlways runs ServerResetQuery in every pool mode, not
	// only in session mode. Default false. PgBouncer doc/config.md key
	// server_reset_query_always.
	ServerResetQueryAlways bool `toml:"server_reset_query_always"`

	// ServerCheckQuery is run on a server connection that has been idle
	// longer than ServerCheckDelay, before it is handed to a client; ""
	// disables the check. Default "select 1" (PgBouncer's older default; its
	// newer one sends an empty query). PgBouncer doc/config.md key
	// server_check_query.
	ServerCheckQuery string `toml:"server_check_query"`

	// ServerCheckDelay is how long a released server connection may be
	// reused without running ServerCheckQuery; 0 checks every time. Default
	// 30s. PgBouncer doc/config.md key server_check_delay.
	ServerCheckDelay Duration `toml:"server_check_delay"`

	// ServerConnectTimeout bounds connecting and logging in to a server.
	// Default 15s. PgBouncer doc/config.md key server_connect_timeout.
	ServerConnectTimeout Duration `toml:"server_connect_timeout"`

	// ServerLoginRetry is how long a failed server login is cached: new
	// clients of that pool that need a server get the error at once, for
	// this long and while a background probe logs in again (one attempt at
	// a time, 100 ms after the failure and backing off up to this). 0 turns
	// the cache and the probe off. Default 15s. PgBouncer doc/config.md key
	// server_login_retry.
	ServerLoginRetry Duration `toml:"server_login_retry"`

	// ServerIdleTimeout closes server connections idle longer than this; 0
	// disables. Default 600s. PgBouncer doc/config.md key
	// server_idle_timeout.
	ServerIdleTimeout Duration `toml:"server_idle_timeout"`

	// ServerLifetime closes an unused server connection that has been open
	// longer than this; 0 means a connection is used once, then closed.
	// Default 3600s. PgBouncer doc/config.md key server_lifetime.
	ServerLifetime Duration `toml:"server_lifetime"`

	// ClientLoginTimeout disconnects a client that has not logged in within
	// this time; 0 disables. Default 60s. PgBouncer doc/config.md key
	// client_login_timeout.
	ClientLoginTimeout Duration `toml:"client_login_timeout"`

	// ClientIdleTimeout closes client connections idle longer than this; 0
	// (default) disables. PgBouncer doc/config.md key client_idle_timeout.
	ClientIdleTimeout Duration `toml:"client_idle_timeout"`

	// IdleTransactionTimeout disconnects a client that stays idle in a
	// transaction longer than this; 0 (default) disables. PgBouncer
	// doc/config.md key idle_transaction_timeout.
	IdleTransactionTimeout Duration `toml:"idle_transaction_timeout"`

	// QueryTimeout cancels queries running longer than this; 0 (default)
	// disables. PgBouncer doc/config.md key query_timeout.
	QueryTimeout Duration `toml:"query_timeout"`

	// QueryWaitTimeout disconnects a client that has waited this long for a
	// server connection; 0 disables (wait forever). Default 120s. PgBouncer
	// doc/config.md key query_wait_timeout.
	QueryWaitTimeout Duration `toml:"query_wait_timeout"`

	// CancelWaitTimeout bounds forwarding one cancel request to a server:
	// dialing, sending and waiting for the server's close. Default 10s. In
	// PgBouncer (doc/config.md key cancel_wait_timeout) 0 disables its wait
	// for a server slot; pgpooler has no such wait and always bounds the
	// network exchange, so 0 means server_connect_timeout, or 15s when that
	// is 0 too. A server whose cancel was sent and not acknowledged in time
	// is closed rather than lent again.
	CancelWaitTimeout Duration `toml:"cancel_wait_timeout"`

	// ShutdownTimeout is how long a graceful shutdown (SIGTERM) waits for
	// running transactions before closing every connection; 0 closes at
	// once. Default 30s. pgpooler's own key; PgBouncer has none.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`

	// AuthType is how clients prove who they are:
	//
	//   - "trust" (default): nobody is asked for a password. When auth_file
	//     is set, the user must be listed in it, as in PgBouncer.
	//   - "md5": an MD5 password exchange; a user whose secret is a SCRAM
	//     secret is asked for SCRAM-SHA-256 instead, as in PgBouncer.
	//   - "scram-sha-256": a SCRAM-SHA-256 exchange; the secret must be a
	//     SCRAM secret or a plain-text password.
	//   - "plain": the password is sent in clear text (deprecated in
	//     PgBouncer); refused to clients not on TLS unless
	//     auth_plain_without_tls is set.
	//   - "cert": the client's TLS certificate is the proof, and its common
	//     name must be the user name; needs client_tls_sslmode "verify-ca"
	//     or "verify-full".
	//   - "hba": the method is chosen per connection by the rules in
	//     auth_hba_file.
	//
	// md5, scram-sha-256 and plain need a source of secrets: auth_file, or
	// an auth_user in [pooler] or a [databases] table. PgBouncer's other
	// values (any, ldap, pam) are refused as not supported. PgBouncer's
	// default is "md5". PgBouncer doc/config.md key auth_type.
	AuthType string `toml:"auth_type"`

	// AuthFile is the path of a PgBouncer userlist.txt ("user" "secret"
	// lines); "" (default) is none. A relative path is taken relative to the
	// directory of the configuration file. PgBouncer doc/config.md key
	// auth_file.
	AuthFile string `toml:"auth_file"`

	// AuthHBAFile is the path of the HBA file (PostgreSQL pg_hba.conf
	// syntax, as PgBouncer reads it) that chooses the authentication method
	// per connection when auth_type is "hba", where it is required; ignored
	// otherwise. Default "" (none). A relative path is taken relative to the
	// directory of the configuration file. PgBouncer doc/config.md key
	// auth_hba_file.
	AuthHBAFile string `toml:"auth_hba_file"`

	// AuthUser is the server user that looks up the secrets of users not
	// in auth_file by running AuthQuery; its own password is taken from
	// auth_file (none is needed if the server does not ask for one).
	// Default "" (no lookup). A [databases] table may override it.
	// PgBouncer doc/config.md key auth_user.
	AuthUser string `toml:"auth_user"`

	// AuthQuery is the query AuthUser runs, with the user name as $1, to
	// get a user's name and secret; a NULL secret or no row means the user
	// cannot log in. It runs in the database named by AuthDBName. Default
	// [DefaultAuthQuery], PgBouncer's current one, which reads pg_authid
	// and so needs a superuser; a SECURITY DEFINER function called by an
	// ordinary user is preferable. A [databases] table may override it.
	// Must not be empty where an auth_user uses it. PgBouncer doc/config.md
	// key auth_query.
	AuthQuery string `toml:"auth_query"`

	// AuthDBName is the name of the [databases] table (or a name the "*"
	// table covers) whose connection settings AuthQuery runs on; ""
	// (default) means the database the client asked for. A [databases]
	// table may override it. PgBouncer doc/config.md key auth_dbname.
	AuthDBName string `toml:"auth_dbname"`

	// AuthPlainWithoutTLS lets a client send its password in clear text
	// (auth_type "plain", or an hba "password" rule) over a connection that
	// is not encrypted. Default false: such a client is refused unless it
	// is on TLS or on the Unix socket, which counts as secure. pgpooler's
	// own key; PgBouncer has none and always allows it.
	AuthPlainWithoutTLS bool `toml:"auth_plain_without_tls"`

	// ClientTLSSSLMode is the TLS mode for connections from clients:
	//
	//   - "disable" (default): a client asking for TLS is answered no.
	//   - "allow", "prefer": a client asking for TLS gets it; one that does
	//     not is served in plain TCP. A client certificate is not checked.
	//   - "require": clients must use TLS; a client certificate is not
	//     checked.
	//   - "verify-ca", "verify-full" (the same on this side): clients must
	//     use TLS and present a certificate signed by client_tls_ca_file.
	//
	// Every mode but "disable" needs client_tls_key_file and
	// client_tls_cert_file. Clients on the Unix socket never use TLS and are
	// not refused for it. PgBouncer doc/config.md key client_tls_sslmode.
	ClientTLSSSLMode string `toml:"client_tls_sslmode"`

	// ClientTLSKeyFile is the path of the private key (PEM) the pooler
	// accepts TLS clients with. Default "" (none). A relative path is taken
	// relative to the directory of the configuration file. PgBouncer
	// doc/config.md key client_tls_key_file.
	ClientTLSKeyFile string `toml:"client_tls_key_file"`

	// ClientTLSCertFile is the path of the certificate (PEM, possibly with
	// its chain) for ClientTLSKeyFile, which clients can verify. Default ""
	// (none). A relative path is taken relative to the directory of the
	// configuration file. PgBouncer doc/config.md key client_tls_cert_file.
	ClientTLSCertFile string `toml:"client_tls_cert_file"`

	// ClientTLSCAFile is the path of the root certificates (PEM) client
	// certificates are checked against; required by client_tls_sslmode
	// "verify-ca" and "verify-full". Default "" (none). A relative path is
	// taken relative to the directory of the configuration file. PgBouncer
	// doc/config.md key client_tls_ca_file.
	ClientTLSCAFile string `toml:"client_tls_ca_file"`

	// ClientTLSProtocols is which TLS versions clients may use: a list,
	// separated by commas or spaces, of "tlsv1.0", "tlsv1.1", "tlsv1.2",
	// "tlsv1.3" and the shortcuts "all" and "legacy" (every version) and
	// "secure" (tlsv1.2,tlsv1.3); case does not matter. The versions must
	// form a range without gaps; [TLSVersions] has the full syntax and
	// turns the value into crypto/tls versions. Default "secure".
	// PgBouncer doc/config.md key client_tls_protocols.
	ClientTLSProtocols string `toml:"client_tls_protocols"`

	// ClientTLSCiphers is the allowed cipher suites of TLS 1.2 and older
	// for client connections; "default" (default) is Go's defaults. Its
	// syntax is checked where the TLS configuration is built; here it must
	// only not be empty. PgBouncer doc/config.md key client_tls_ciphers.
	ClientTLSCiphers string `toml:"client_tls_ciphers"`

	// ServerTLSSSLMode is the TLS mode for connections to servers:
	//
	//   - "disable": TLS is not even requested.
	//   - "allow", "prefer" (default, as in PgBouncer 1.21 and later): TLS is
	//     requested first; if the server refuses, plain TCP is used. The
	//     server certificate is not checked. (PgBouncer's documentation
	//     leaves "allow" undefined; its code treats it as "prefer".)
	//   - "require": TLS must be used; the certificate is not checked.
	//   - "verify-ca": TLS must be used and the server certificate must be
	//     signed by server_tls_ca_file; the host name is not checked.
	//   - "verify-full": as verify-ca, and the certificate must also match
	//     the server's host name.
	//
	// Connections to a server's Unix socket never use TLS. PgBouncer
	// doc/config.md key server_tls_sslmode.
	ServerTLSSSLMode string `toml:"server_tls_sslmode"`

	// ServerTLSCAFile is the path of the root certificates (PEM) server
	// certificates are checked against; required by server_tls_sslmode
	// "verify-ca" and "verify-full". Default "" (none). A relative path is
	// taken relative to the directory of the configuration file. PgBouncer
	// doc/config.md key server_tls_ca_file.
	ServerTLSCAFile string `toml:"server_tls_ca_file"`

	// ServerTLSCertFile is the path of the client certificate (PEM) the
	// pooler presents to servers, which they can verify; set with
	// server_tls_key_file or not at all. Default "" (none). A relative path
	// is taken relative to the directory of the configuration file.
	// PgBouncer doc/config.md key server_tls_cert_file.
	ServerTLSCertFile string `toml:"server_tls_cert_file"`

	// ServerTLSKeyFile is the path of the private key (PEM) for
	// ServerTLSCertFile; set with server_tls_cert_file or not at all.
	// Default "" (none). A relative path is taken relative to the directory
	// of the configuration file. PgBouncer doc/config.md key
	// server_tls_key_file.
	ServerTLSKeyFile string `toml:"server_tls_key_file"`

	// ServerTLSProtocols is which TLS versions may be used with servers,
	// written as client_tls_protocols is. Default "secure". PgBouncer
	// doc/config.md key server_tls_protocols.
	ServerTLSProtocols string `toml:"server_tls_protocols"`

	// ServerTLSCiphers is the allowed cipher suites of TLS 1.2 and older
	// for server connections; "default" (default) is Go's defaults. Its
	// syntax is checked where the TLS configuration is built; here it must
	// only not be empty. PgBouncer doc/config.md key server_tls_ciphers.
	ServerTLSCiphers string `toml:"server_tls_ciphers"`

	// MaxPacketSize is the largest protocol message, in bytes, let through
	// from a client; PostgreSQL's per-type limits (pgwire.FrontendLimit)
	// apply below it. 1024 to 2147483647, default 2147483647. PgBouncer
	// doc/config.md key max_packet_size.
	MaxPacketSize int `toml:"max_packet_size"`

	// TCPKeepalive turns TCP keepalive on for client and server
	// connections, with the operating system's timings unless tcp_keepidle,
	// tcp_keepintvl or tcp_keepcnt set them (Linux: 7200s idle, probes every
	// 75s, 9 of them). false turns it off, also on client connections, where
	// Go would otherwise enable it with 15s timings. Default true. A change
	// applies to connections opened after it. PgBouncer doc/config.md key
	// tcp_keepalive.
	TCPKeepalive bool `toml:"tcp_keepalive"`

	// TCPKeepcnt is how many keepalive probes may go unanswered before the
	// connection is dropped (TCP_KEEPCNT): 0 (default) is the operating
	// system's value, else 1..127. PgBouncer doc/config.md key tcp_keepcnt.
	TCPKeepcnt int `toml:"tcp_keepcnt"`

	// TCPKeepidle is how long a connection is idle before the first
	// keepalive probe (TCP_KEEPIDLE), in whole seconds: 0 (default) is the
	// operating system's value, else 1s..32767s. PgBouncer doc/config.md key
	// tcp_keepidle.
	TCPKeepidle Duration `toml:"tcp_keepidle"`

	// TCPKeepintvl is the time between keepalive probes (TCP_KEEPINTVL), in
	// whole seconds: 0 (default) is the operating system's value, else
	// 1s..32767s. PgBouncer doc/config.md key tcp_keepintvl.
	TCPKeepintvl Duration `toml:"tcp_keepintvl"`

	// TCPUserTimeout is how long, in milliseconds, sent data may stay
	// unacknowledged before the connection is dropped (TCP_USER_TIMEOUT,
	// Linux only; elsewhere ignored): 0 (default) is the operating system's
	// value, else 1..2147483647. An integer of milliseconds, as in
	// PgBouncer (not a duration). PgBouncer doc/config.md key
	// tcp_user_timeout.
	TCPUserTimeout int `toml:"tcp_user_timeout"`

	// LogConnections logs successful logins. Default true. PgBouncer
	// doc/config.md key log_connections.
	LogConnections bool `toml:"log_connections"`

	// LogDisconnections logs disconnections with their reason. Default true.
	// PgBouncer doc/config.md key log_disconnections.
	LogDisconnections bool `toml:"log_disconnections"`

	// MaxPreparedStatements is how many protocol-level prepared statements
	// each server connection keeps in transaction and statement mode, least
	// recently used ones being closed beyond it; 0 turns the tracking off
	// (named statements then only work in session mode). Default 200.
	// PgBouncer doc/config.md key max_prepared_statements.
	MaxPreparedStatements int `toml:"max_prepared_statements"`

	// RejectSessionFeatures makes transaction and statement mode answer
	// statements whose effect outlives the transaction (LISTEN, session
	// advisory locks, temporary tables without ON COMMIT DROP, DECLARE ...
	// WITH HOLD, LOAD) with ERROR 0A000 instead of running them on a server that
	// other clients get next. Default false. pgpooler's own key.
	RejectSessionFeatures bool `toml:"reject_session_features"`

	// EventLoops serves logged-in clients, and the servers lent to them, on
	// event loops (pooler/loop, event_loop_count of them) instead of a goroutine
	// each (docs/architecture.md). The clients it covers are listed in
	// README.md's configuration table (pooler/looprelay.go loopCovered); every
	// other client keeps the goroutine relay, as all do with false. Where the
	// loops cannot run (Windows: no epoll or kqueue) it is ignored, with a
	// warning. Fixed until restart, as listen_addr. Default true. pgpooler's
	// own key.
	EventLoops bool `toml:"event_loops"`

	// EventLoopCount is the number of event loops event_loops runs, each a
	// goroutine that blocks in epoll_wait. 0 (the default) means half of
	// GOMAXPROCS (the CPUs Go may use), at least 1: a loop blocked in
	// epoll_wait holds its P, and when no P is idle the Go runtime takes it
	// away (sysmon's retake) and hands it back at a cost of a context switch or
	// more per wake-up (docs/architecture.md). Fixed until restart. pgpooler's
	// own key.
	EventLoopCount int `toml:"event_loop_count"`

	// AdminUsers is a comma-separated list of users allowed into the admin
	// console (the virtual database "pgbouncer", alias "pgpooler") with
	// every command. Default "". PgBouncer doc/config.md key admin_users.
	AdminUsers string `toml:"admin_users"`

	// StatsUsers is a comma-separated list of users allowed into the admin
	// console for read-only SHOW commands. Default "". PgBouncer
	// doc/config.md key stats_users.
	StatsUsers string `toml:"stats_users"`

	// StatsPeriod is how often the averages of SHOW STATS (avg_*) are
	// recomputed, over the period that just ended. Default 60s; at least 1s.
	// PgBouncer doc/config.md key stats_period.
	StatsPeriod Duration `toml:"stats_period"`

	// MetricsAddr is the host:port of the HTTP endpoint serving Prometheus
	// metrics (/metrics), a liveness check (/healthz) and a readiness check
	// (/readyz); ":9127" listens on all addresses. Default "" (off); a
	// reload does not change it. pgpooler's own key; PgBouncer has none
	// (its issue 289).
	MetricsAddr string `toml:"metrics_addr"`

	// DebugPprof, when true, also serves Go's profiler on metrics_addr: net/http/pprof's
	// /debug/pprof/ index, profile (CPU, ?seconds=N), heap, allocs, goroutine, block, mutex,
	// threadcreate and trace, for `go tool pprof`. It needs metrics_addr (Validate says so
	// otherwise), and exposes internals such as stacks and command-line flags to whoever reaches
	// that address: keep it on a loopback or otherwise private address. Default false; a reload
	// does not change it. pgpooler's own key.
	DebugPprof bool `toml:"debug_pprof"`

	// Verbose raises log verbosity: 0 (default) is normal, 1 adds debug
	// logs. PgBouncer doc/config.md key verbose.
	Verbose int `toml:"verbose"`
}

// Database is a [databases.NAME] table: where clients asking for database
// NAME are routed, and that database's overrides. Optional numbers are
// pointers: nil inherits the [pooler] value. PgBouncer doc/config.md section
// [databases].
type Database struct {
	// Host is the server's host name or IP address; a value starting with
	// "/" is a Unix socket directory. "" means "127.0.0.1" (PgBouncer's ""
	// means its Unix socket directory). PgBouncer doc/config.md key host.
	Host string `toml:"host"`

	// Port is the server's port, 1 to 65535; 0 means 5432. PgBouncer
	// doc/config.md key port.
	Port int `toml:"port"`

	// DBName is the database name on the server; "" means the name the client
	// asked for. PgBouncer doc/config.md key dbname.
	DBName string `toml:"dbname"`

	// User, when set, is the server user every connection to this database
	// logs in as (a forced user); "" means the client's user. PgBouncer
	// doc/config.md key user.
	User string `toml:"user"`

	// Password is the server password for User; "" means the one in
	// auth_file, if any. PgBouncer doc/config.md key password.
	Password string `toml:"password"`

	// PoolSize overrides default_pool_size for this database's pools; at
	// least 1. A user's pool_size overrides it in turn. PgBouncer
	// doc/config.md key pool_size.
	PoolSize *int `toml:"pool_size"`

	// MinPoolSize overrides [pooler] min_pool_size; at most the pool size.
	// PgBouncer doc/config.md key min_pool_size.
	MinPoolSize *int `toml:"min_pool_size"`

	// ReservePoolSize overrides [pooler] reserve_pool_size. PgBouncer
	// doc/config.md key reserve_pool_size.
	ReservePoolSize *int `toml:"reserve_pool_size"`

	// PoolMode overrides [pooler] pool_mode; "" inherits. A user's pool_mode
	// overrides it in turn. PgBouncer doc/config.md key pool_mode.
	PoolMode string `toml:"pool_mode"`

	// MaxDBConnections overrides [pooler] max_db_connections; 0 is
	// unlimited. PgBouncer doc/config.md key max_db_connections.
	MaxDBConnections *int `toml:"max_db_connections"`

	// ConnectQuery is run once on every new server connection before any
	// client uses it; errors are logged and ignored. PgBouncer doc/config.md
	// key connect_query.
	ConnectQuery string `toml:"connect_query"`

	// ApplicationName is sent as application_name when connecting to the
	// server. PgBouncer doc/config.md key application_name.
	ApplicationName string `toml:"application_name"`

	// ClientEncoding, DateStyle and TimeZone are sent as client_encoding,
	// datestyle and timezone in the StartupMessage of this database's server
	// connections, so that they become those sessions' values (and their
	// RESET values); clients that set none of their own see them. "" sends
	// nothing (the server's default); a value must not hold a NUL byte.
	// PgBouncer doc/config.md keys client_encoding, datestyle and timezone
	// ("Ask specific ... from server"), sent as its src/loader.c
	// parse_database puts them into the database's startup parameters.
	ClientEncoding string `toml:"client_encoding"`
	DateStyle      string `toml:"datestyle"`
	TimeZone       string `toml:"timezone"`

	// AuthUser overrides [pooler] auth_user for clients of this database;
	// "" inherits. PgBouncer doc/config.md key auth_user.
	AuthUser string `toml:"auth_user"`

	// AuthQuery overrides [pooler] auth_query for clients of this database;
	// "" inherits. PgBouncer doc/config.md key auth_query.
	AuthQuery string `toml:"auth_query"`

	// AuthDBName overrides [pooler] auth_dbname for clients of this
	// database: the [databases] table whose connection settings the auth
	// query runs on; "" inherits. PgBouncer doc/config.md key auth_dbname.
	AuthDBName string `toml:"auth_dbname"`
}

// User is a [users.NAME] table: overrides for clients logging in as NAME.
// Optional numbers are pointers: nil inherits. PgBouncer doc/config.md
// section [users].
type User struct {
	// PoolMode overrides the database's and [pooler]'s pool_mode; ""
	// inherits. PgBouncer doc/config.md key pool_mode.
	PoolMode string `toml:"pool_mode"`

	// PoolSize overrides the database's pool_size and default_pool_size; at
	// least 1. PgBouncer doc/config.md key pool_size.
	PoolSize *int `toml:"pool_size"`

	// MaxUserConnections overrides [pooler] max_user_connections; 0 is
	// unlimited. PgBouncer doc/config.md key max_user_connections.
	MaxUserConnections *int `toml:"max_user_connections"`
}

// Default returns a configuration with every [pooler] key at its default
// and no databases or users (empty, non-nil maps).
func Default() *Config {
	return &Config{
		Databases: map[string]Database{},
		Users:     map[string]User{},
		Pooler: Pooler{
			ListenAddr:             "127.0.0.1",
			EventLoops:             true,
			ListenPort:             6432,
			UnixSocketDir:          "",
			PoolMode:               PoolModeSession,
			DefaultPoolSize:        20,
			MinPoolSize:            0,
			ReservePoolSize:        0,
			ReservePoolTimeout:     Duration(5 * time.Second),
			MaxClientConn:          100,
			MaxDBConnections:       0,
			MaxUserConnections:     0,
			ServerResetQuery:       "DISCARD ALL",
			ServerResetQueryAlways: false,
			ServerCheckQuery:       "select 1",
			ServerCheckDelay:       Duration(30 * time.Second),
			ServerConnectTimeout:   Duration(15 * time.Second),
			ServerLoginRetry:       Duration(15 * time.Second),
			ServerIdleTimeout:      Duration(600 * time.Second),
			ServerLifetime:         Duration(3600 * time.Second),
			ClientLoginTimeout:     Duration(60 * time.Second),
			ClientIdleTimeout:      0,
			IdleTransactionTimeout: 0,
			QueryTimeout:           0,
			QueryWaitTimeout:       Duration(120 * time.Second),
			CancelWaitTimeout:      Duration(10 * time.Second),
			ShutdownTimeout:        Duration(30 * time.Second),
			AuthType:               AuthTypeTrust,
			AuthFile:               "",
			AuthHBAFile:            "",
			AuthUser:               "",
			AuthQuery:              DefaultAuthQuery,
			AuthDBName:             "",
			AuthPlainWithoutTLS:    false,
			ClientTLSSSLMode:       SSLModeDisable,
			ClientTLSKeyFile:       "",
			ClientTLSCertFile:      "",
			ClientTLSCAFile:        "",
			ClientTLSProtocols:     "secure",
			ClientTLSCiphers:       "default",
			ServerTLSSSLMode:       SSLModePrefer,
			ServerTLSCAFile:        "",
			ServerTLSCertFile:      "",
			ServerTLSKeyFile:       "",
			ServerTLSProtocols:     "secure",
			ServerTLSCiphers:       "default",
			MaxPacketSize:          2147483647,
			TCPKeepalive:           true,
			TCPKeepcnt:             0,
			TCPKeepidle:            0,
			TCPKeepintvl:           0,
			TCPUserTimeout:         0,
			LogConnections:         true,
			LogDisconnections:      true,
			Verbose:                0,
			StatsPeriod:            Duration(60 * time.Second),
			MaxPreparedStatements:  200,
			MetricsAddr:            "",
			DebugPprof:             false,
		},
	}
}

// InList reports whether name is one of the comma-separated names of list
// (admin_users, stats_users); blanks around names are ignored.
func InList(list, name string) bool {
	for _, n := range strings.Split(list, ",") {
		if strings.TrimSpace(n) == name && name != "" {
			return true
		}
	}
	return false
}
