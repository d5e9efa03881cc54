package config

import (
	"errors"
	"maps"
	"math"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Validate checks every setting against what it allows and reports every
// problem at once, joined with errors.Join, each naming the file (c.Path)
// and the full key, for example
//
//	config.toml: pooler.pool_mode: "sessoin" is not one of session, transaction, statement
//
// [Parse] calls it; call it yourself on a Config built in code.
func (c *Config) Validate() error {
	return errors.Join(c.check()...)
}

// check returns every problem Validate reports.
func (c *Config) check() []error {
	p := &problems{file: c.Path}
	c.checkPooler(p)
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		c.checkDatabase(p, name, c.Databases[name])
	}
	for _, name := range slices.Sorted(maps.Keys(c.Users)) {
		checkUser(p, name, c.Users[name])
	}
	return p.errs
}

// maxEventLoops bounds event_loop_count: each loop is an epoll instance, a goroutine and a wake socket
// pair.
const maxEventLoops = 1024

// checkPooler checks the [pooler] table.
func (c *Config) checkPooler(p *problems) {
	pl := &c.Pooler
	key := func(name string) toml.Key { return toml.Key{"pooler", name} }

	checkListenAddr(p, key("listen_addr"), pl.ListenAddr)
	if strings.TrimSpace(pl.ListenAddr) == "" && pl.UnixSocketDir == "" {
		p.add(key("listen_addr"), "is empty and so is pooler.unix_socket_dir: nothing to listen on")
	}
	checkPort(p, key("listen_port"), pl.ListenPort, false)
	atLeast(p, key("event_loop_count"), pl.EventLoopCount, 0)
	if pl.EventLoopCount > maxEventLoops {
		p.add(key("event_loop_count"), "%d is more than %d", pl.EventLoopCount, maxEventLoops)
	}
	checkPoolMode(p, key("pool_mode"), pl.PoolMode, false)
	atLeast(p, key("default_pool_size"), pl.DefaultPoolSize, 1)
	atLeast(p, key("min_pool_size"), pl.MinPoolSize, 0)
	if pl.MinPoolSize > pl.DefaultPoolSize && pl.DefaultPoolSize >= 1 {
		p.add(key("min_pool_size"), "%d is more than pooler.default_pool_size %d", pl.MinPoolSize, pl.DefaultPoolSize)
	}
	atLeast(p, key("reserve_pool_size"), pl.ReservePoolSize, 0)
	atLeast(p, key("max_client_conn"), pl.MaxClientConn, 1)
	atLeast(p, key("max_db_connections"), pl.MaxDBConnections, 0)
	atLeast(p, key("max_user_connections"), pl.MaxUserConnections, 0)
	checkDurations(p, toml.Key{"pooler"}, pl)
	c.checkAuth(p)
	c.checkTLS(p)
	if pl.MaxPacketSize < 1024 || pl.MaxPacketSize > math.MaxInt32 {
		p.add(key("max_packet_size"), "%d is outside 1024..%d", pl.MaxPacketSize, math.MaxInt32)
	}
	checkTCP(p, pl)
	atLeast(p, key("verbose"), pl.Verbose, 0)
	atLeast(p, key("max_prepared_statements"), pl.MaxPreparedStatements, 0)
	if pl.StatsPeriod.D() < time.Second {
		p.add(key("stats_period"), "%v is less than 1s", pl.StatsPeriod)
	}
	checkMetricsAddr(p, key("metrics_addr"), pl.MetricsAddr)
	if pl.DebugPprof && pl.MetricsAddr == "" {
		p.add(key("debug_pprof"), "is true but pooler.metrics_addr is empty: /debug/pprof/ is served on metrics_addr")
	}
}

// Linux's bounds of the TCP keepalive options (include/net/tcp.h MAX_TCP_KEEPIDLE,
// MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
const (
	maxTCPKeepSeconds = 32767
	maxTCPKeepcnt     = 127
)

// checkTCP checks tcp_keepcnt, tcp_keepidle, tcp_keepintvl and tcp_user_timeout: 0 is the operating
// system's value; otherwise within what Linux accepts, keepalive times in whole seconds.
func checkTCP(p *problems, pl *Pooler) {
	key := func(name string) toml.Key { return toml.Key{"pooler", name} }
	if pl.TCPKeepcnt < 0 || pl.TCPKeepcnt > maxTCPKeepcnt {
		p.add(key("tcp_keepcnt"), "%d is outside 0..%d", pl.TCPKeepcnt, maxTCPKeepcnt)
	}
	for _, k := range []struct {
		name string
		d    Duration
	}{{"tcp_keepidle", pl.TCPKeepidle}, {"tcp_keepintvl", pl.TCPKeepintvl}} {
		name, d := k.name, k.d
		switch {
		case d < 0: // checkDurations reports it
		case d.D()%time.Second != 0:
			p.add(key(name), "%v is not a whole number of seconds", d)
		case d.D() > maxTCPKeepSeconds*time.Second:
			p.add(key(name), "%v is more than %ds", d, maxTCPKeepSeconds)
		}
	}
	if pl.TCPUserTimeout < 0 || pl.TCPUserTimeout > math.MaxInt32 {
		p.add(key("tcp_user_timeout"), "%d is outside 0..%d (milliseconds)", pl.TCPUserTimeout, math.MaxInt32)
	}
}

// checkMetricsAddr checks metrics_addr: "" (off) or host:port, where host
// is empty (all addresses), an IP address or a host name and port is
// 1..65535.
func checkMetricsAddr(p *problems, key toml.Key, v string) {
	if v == "" {
		return
	}
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		p.add(key, "%q is not host:port (for example \"127.0.0.1:9127\" or \":9127\")", v)
		return
	}
	if host != "" && net.ParseIP(host) == nil && !isHostname(host) {
		p.add(key, "%q: %q is not an IP address or a host name", v, host)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.add(key, "%q: port %q is not a number in 1..65535", v, port)
	}
}

// checkDatabase checks one [databases.NAME] table.
func (c *Config) checkDatabase(p *problems, name string, db Database) {
	sect := toml.Key{"databases", name}
	if name == "" {
		p.add(sect, "a database name must not be empty")
	}
	key := func(k string) toml.Key { return child(sect, k) }
	checkPort(p, key("port"), db.Port, true)
	checkPoolMode(p, key("pool_mode"), db.PoolMode, true)
	atLeastPtr(p, key("pool_size"), db.PoolSize, 1)
	atLeastPtr(p, key("min_pool_size"), db.MinPoolSize, 0)
	atLeastPtr(p, key("reserve_pool_size"), db.ReservePoolSize, 0)
	atLeastPtr(p, key("max_db_connections"), db.MaxDBConnections, 0)
	c.checkDatabaseAuth(p, sect, db)
	for _, kv := range [...][2]string{{"client_encoding", db.ClientEncoding}, {"datestyle", db.DateStyle}, {"timezone", db.TimeZone}} {
		if strings.IndexByte(kv[1], 0) >= 0 {
			p.add(key(kv[0]), "%q holds a NUL byte, which a StartupMessage cannot carry", kv[1])
		}
	}

	// The smallest a pool of this database can be kept must fit in it. Only
	// checked when the database sets one of the two; [pooler] is checked on
	// its own.
	size, sizeFrom := c.Pooler.DefaultPoolSize, "pooler.default_pool_size"
	if db.PoolSize != nil {
		size, sizeFrom = *db.PoolSize, key("pool_size").String()
	}
	switch {
	case db.MinPoolSize != nil && *db.MinPoolSize > size && size >= 1:
		p.add(key("min_pool_size"), "%d is more than the pool size %d (%s)", *db.MinPoolSize, size, sizeFrom)
	case db.MinPoolSize == nil && db.PoolSize != nil && c.Pooler.MinPoolSize > size && size >= 1:
		p.add(key("pool_size"), "%d is less than pooler.min_pool_size %d", size, c.Pooler.MinPoolSize)
	}
}

// checkUser checks one [users.NAME] table.
func checkUser(p *problems, name string, u User) {
	sect := toml.Key{"users", name}
	if name == "" {
		p.add(sect, "a user name must not be empty")
	}
	checkPoolMode(p, child(sect, "pool_mode"), u.PoolMode, true)
	atLeastPtr(p, child(sect, "pool_size"), u.PoolSize, 1)
	atLeastPtr(p, child(sect, "max_user_connections"), u.MaxUserConnections, 0)
}

// supportedAuthTypes are the auth_type values pgpooler implements. This is
// the one place to add a value when package auth learns a method.
var supportedAuthTypes = []string{AuthTypeTrust, AuthTypeMD5, AuthTypeSCRAMSHA256, AuthTypePlain, AuthTypeCert, AuthTypeHBA}

// pgbouncerAuthTypes are PgBouncer's other auth_type values (doc/config.md
// key auth_type): refused, with a message saying they are not supported.
var pgbouncerAuthTypes = []string{"any", "ldap", "pam"}

// checkAuthType checks pooler.auth_type against supportedAuthTypes and
// reports whether it is one of them.
func checkAuthType(p *problems, key toml.Key, v string) bool {
	supported := strings.Join(supportedAuthTypes, ", ")
	switch {
	case slices.Contains(supportedAuthTypes, v):
		return true
	case slices.Contains(pgbouncerAuthTypes, v):
		p.add(key, "%q is not supported (supported: %s)", v, supported)
	default:
		p.add(key, "%q is not one of %s", v, supported)
	}
	return false
}

// poolModes are the values of pool_mode.
var poolModes = []string{PoolModeSession, PoolModeTransaction, PoolModeStatement}

// checkPoolMode checks a pool_mode value; "" is allowed where it means
// "inherit".
func checkPoolMode(p *problems, key toml.Key, v string, inherit bool) {
	if (v == "" && inherit) || slices.Contains(poolModes, v) {
		return
	}
	p.add(key, "%q is not one of %s", v, strings.Join(poolModes, ", "))
}

// checkPort checks a TCP port; 0 is allowed where it means "the default".
func checkPort(p *problems, key toml.Key, v int, zeroOK bool) {
	if (v == 0 && zeroOK) || (v >= 1 && v <= 65535) {
		return
	}
	p.add(key, "%d is outside 1..65535", v)
}

// checkListenAddr checks a comma-separated list of addresses to listen on.
func checkListenAddr(p *problems, key toml.Key, v string) {
	if strings.TrimSpace(v) == "" {
		return // no TCP listener; checked against unix_socket_dir
	}
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		switch {
		case a == "":
			p.add(key, "%q has an empty entry", v)
		case a == "*", net.ParseIP(a) != nil, isHostname(a):
		case strings.Contains(a, ":"):
			p.add(key, "%q is not an IP address, a host name or *; give the port in pooler.listen_port", a)
		default:
			p.add(key, "%q is not an IP address, a host name or *", a)
		}
	}
}

// isHostname reports whether s is a syntactically valid DNS host name.
func isHostname(s string) bool {
	if len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// checkDurations reports every negative Duration field of the struct *v,
// which is the table named sect.
func checkDurations(p *problems, sect toml.Key, v any) {
	rv := reflect.ValueOf(v).Elem()
	durationType := reflect.TypeFor[Duration]()
	fields := tomlFields(rv.Type())
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		f := rv.Field(fields[name])
		if f.Type() == durationType && f.Int() < 0 {
			p.add(child(sect, name), "%s: %v", errNegative, Duration(f.Int()))
		}
	}
}

// atLeast reports v if it is below lowest.
func atLeast(p *problems, key toml.Key, v, lowest int) {
	if v < lowest {
		p.add(key, "%d is less than %d", v, lowest)
	}
}

// atLeastPtr is atLeast for an optional value; nil is fine.
func atLeastPtr(p *problems, key toml.Key, v *int, lowest int) {
	if v != nil {
		atLeast(p, key, *v, lowest)
	}
}
