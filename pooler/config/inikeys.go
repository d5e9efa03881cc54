package config

import "strings"

// The keys of pgbouncer.ini's [pgbouncer] section (PgBouncer 1.25, src/main.c
// and doc/config.md) and what pgpooler does with each; docs/pgbouncer-ini.md
// is the same table for people.
//
// A key that is the name of a [Pooler] field (its toml tag) sets that field,
// with PgBouncer's value syntax (inivalue.go) and its meaning; that covers
// pgpooler's own keys too (event_loops, metrics_addr, ...), which PgBouncer
// itself would refuse. iniNormalize lists the ones whose value is rewritten
// first. Every other key PgBouncer has is in iniUnsupported.

// iniNormalize rewrites the values of some [pgbouncer] keys into the form
// [Pooler] holds: PgBouncer looks its enumerations up in any case and reads
// lists separated by commas or spaces.
var iniNormalize = map[string]func(string) string{
	"auth_type":          strings.ToLower,
	"pool_mode":          strings.ToLower,
	"client_tls_sslmode": strings.ToLower,
	"server_tls_sslmode": strings.ToLower,
	"admin_users":        iniList,
	"stats_users":        iniList,
	// PgBouncer's default "<empty>" sends an empty query as the check;
	// pgpooler's "" turns the check off, so the check query stays a query.
	"server_check_query": func(s string) string {
		if s == "<empty>" {
			return "select 1"
		}
		return s
	},
}

// iniUnsupportedKey is a PgBouncer key pgpooler has no setting for.
type iniUnsupportedKey struct {
	// def is PgBouncer's default: written with that value the key changes
	// nothing and is accepted silently.
	def string
	// harmless says that any other value is ignored with a warning; when
	// false, it is an error, because ignoring it would change what clients
	// see.
	harmless bool
	// why is what the warning or error says.
	why string
}

// iniUnsupported is every [pgbouncer] key of PgBouncer's that pgpooler lacks.
var iniUnsupported = map[string]iniUnsupportedKey{
	// harmless: logging, process management, tuning
	"logfile":                   {"", true, "pgpooler logs to stderr only (journald or the container runtime keeps it)"},
	"pidfile":                   {"", true, "pgpooler writes no PID file and does not daemonize"},
	"user":                      {"", true, "pgpooler does not switch its OS user: start it as that user (systemd User=, docker --user)"},
	"syslog":                    {"0", true, "pgpooler logs to stderr only"},
	"syslog_facility":           {"daemon", true, "pgpooler logs to stderr only"},
	"syslog_ident":              {"pgbouncer", true, "pgpooler logs to stderr only"},
	"log_pooler_errors":         {"1", true, "pgpooler's logging of errors sent to clients is not configurable"},
	"log_stats":                 {"1", true, "pgpooler does not log statistics lines; SHOW STATS and metrics_addr have them"},
	"job_name":                  {"pgbouncer", true, "Windows service names do not apply"},
	"service_name":              {"", true, "Windows service names do not apply"},
	"conffile":                  {"", true, "RELOAD and SIGHUP re-read the file pgpooler was started with"},
	"so_reuseport":              {"0", true, "not supported yet: one pgpooler process serves every core"},
	"listen_backlog":            {"128", true, "pgpooler uses the kernel's default backlog (net.core.somaxconn)"},
	"pkt_buf":                   {"4096", true, "buffer sizes are pgpooler's own"},
	"sbuf_loopcnt":              {"5", true, "buffer sizes are pgpooler's own"},
	"tcp_defer_accept":          {"45", true, "TCP_DEFER_ACCEPT is not set"},
	"tcp_socket_buffer":         {"0", true, "socket buffers keep the kernel's sizes"},
	"dns_max_ttl":               {"15", true, "host names are resolved at every server connect by Go's resolver"},
	"dns_nxdomain_ttl":          {"15", true, "host names are resolved at every server connect by Go's resolver"},
	"dns_zone_check_period":     {"0", true, "host names are resolved at every server connect by Go's resolver"},
	"server_round_robin":        {"0", true, "idle servers are reused last in, first out"},
	"server_fast_close":         {"0", true, "after RELOAD or RECONNECT a session-mode server is closed when its client leaves"},
	"suspend_timeout":           {"10", true, "SUSPEND and online restart (-R) are not supported"},
	"autodb_idle_timeout":       {"3600", true, "pools of databases made from the \"*\" entry are not freed when unused"},
	"pool_idle_timeout":         {"0", true, "unused pools are not freed"},
	"application_name_add_host": {"0", true, "application_name on servers does not get the client's address appended"},
	"query_wait_notify":         {"5", true, "waiting clients get no NOTICE"},
	"login_notify_message":      {"", true, "no NOTICE is sent after login"},
	"scram_iterations":          {"4096", true, "SCRAM secrets pgpooler computes from plain-text passwords use its own iteration count"},
	"client_tls_dheparams":      {"auto", true, "Go's TLS has no finite-field Diffie-Hellman; ECDHE is always used"},
	"client_tls_ecdhcurve":      {"auto", true, "Go's TLS chooses the curves"},
	"client_tls13_ciphers":      {"", true, "Go's TLS 1.3 cipher suites are fixed (all are secure)"},
	"server_tls13_ciphers":      {"", true, "Go's TLS 1.3 cipher suites are fixed (all are secure)"},
	"auth_ldap_options":         {"", true, "auth_type ldap is not supported (and refused)"},
	"ignore_startup_parameters": {"", true, "pgpooler accepts every start-up parameter and tries it on its servers: none need ignoring"},
	"track_extra_parameters":    {"IntervalStyle", true, "pgpooler carries every parameter a client sets, not only a list"},

	// errors: ignoring these would change who may connect or what they get
	"unix_socket_mode":            {"0777", false, "not supported yet: the socket gets pgpooler's default permissions"},
	"unix_socket_group":           {"", false, "not supported yet: the socket keeps pgpooler's group"},
	"auth_ident_file":             {"", false, "ident maps are not supported: users would be matched differently"},
	"disable_pqexec":              {"0", false, "not supported: multi-statement simple queries would be allowed"},
	"max_db_client_connections":   {"0", false, "not supported yet: the limit would not be enforced"},
	"max_user_client_connections": {"0", false, "not supported yet: the limit would not be enforced"},
	"transaction_timeout":         {"0", false, "not supported yet: the timeout would not be enforced"},
	"peer_id":                     {"0", false, "peering is not supported: cancel requests for other processes would be lost"},
	"resolv_conf":                 {"", false, "not supported: host names would resolve through the system's DNS servers instead"},
}

// DefaultFor is the configuration c's keys left out stand for: PgBouncer's
// defaults (doc/config.md) when c was read from a pgbouncer.ini (c.INI), as
// [ParseINI] applies them, else [Default], config.toml's. SHOW CONFIG's
// default column comes from it.
func DefaultFor(c *Config) *Config {
	if c != nil && c.INI {
		return iniDefault()
	}
	return Default()
}

// iniDefault is the configuration a pgbouncer.ini starts from: [Default]
// with PgBouncer's defaults where pgpooler's own differ (doc/config.md), so
// that a key left out means what it means to PgBouncer.
func iniDefault() *Config {
	c := Default()
	c.Pooler.ListenAddr = ""        // PgBouncer: not set, only the Unix socket
	c.Pooler.UnixSocketDir = "/tmp" // PgBouncer's default
	c.Pooler.AuthType = AuthTypeMD5 // PgBouncer's default
	return c
}
