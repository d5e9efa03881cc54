package config

import (
	"maps"
	"slices"
	"strings"
)

// FDMargin is what FileDescriptors adds for the process itself beyond its connections: standard input,
// output and error, the Go runtime's poller, cancel and auth_query connections, log files. PgBouncer
// adds 10 "just in case" (src/main.c, check_limits).
const FDMargin = 10

// FileDescriptors estimates how many file descriptors the configuration can need at once, as
// PgBouncer's start-up check does (src/main.c, check_limits): max_client_conn, plus the servers of every
// pool it can count, plus one per listener (listen_addr entries, the Unix socket, metrics_addr), plus
// FDMargin. Returned apart: clients (max_client_conn), servers and other.
//
// Pools are counted from the configuration alone: each [databases] table ("*" counting as one
// database) with a forced user is one pool, and otherwise one pool per [users] table (at least one);
// each pool may open its pool size plus reserve_pool_size servers, and a database's pools together at
// most max_db_connections when that is set. Users known only from auth_file or auth_query, and databases
// reached through "*" under other names, are not counted: the estimate is a lower bound of the worst
// case.
func (c *Config) FileDescriptors() (clients, servers, other int) {
	users := slices.Sorted(maps.Keys(c.Users))
	if len(users) == 0 {
		users = []string{""}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		db := c.Databases[name]
		poolUsers := users
		if db.User != "" {
			poolUsers = []string{db.User}
		}
		n := 0
		maxDB := 0
		for _, u := range poolUsers {
			pc, err := c.PoolConfig(name, u)
			if err != nil {
				continue
			}
			n += pc.PoolSize + pc.ReservePoolSize
			maxDB = pc.MaxDBConnections
		}
		if maxDB > 0 {
			n = min(n, maxDB)
		}
		servers += n
	}
	for _, a := range strings.Split(c.Pooler.ListenAddr, ",") {
		if strings.TrimSpace(a) != "" {
			other++
		}
	}
	if c.Pooler.UnixSocketDir != "" {
		other++
	}
	if c.Pooler.MetricsAddr != "" {
		other++
	}
	return c.Pooler.MaxClientConn, servers, other + FDMargin
}
