package admin

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// SHOW POOLS, CLIENTS, SERVERS, DATABASES and USERS: the pools, the connections, and what the
// configuration says of databases and users.

// The console's own pool, as PgBouncer shows it: database pgbouncer, user pgbouncer, statement mode,
// pool_size 2 (src/admin.c, admin_setup). Console clients are its clients; it has no servers.
const (
	consolePoolMode = config.PoolModeStatement
	consolePoolSize = 2
)

// consoleClients counts the logged-in console clients of v.
func consoleClients(v *view) int {
	n := 0
	for _, ci := range v.Clients {
		if IsName(ci.Database) && ci.State != "login" {
			n++
		}
	}
	return n
}

// secondsAndMicros splits d as PgBouncer's wait/wait_us and maxwait/maxwait_us columns do.
func secondsAndMicros(d time.Duration) (int64, int64) {
	return int64(d / time.Second), int64(d % time.Second / time.Microsecond)
}

// showPools: one row per (database, user) pool, the console's own included.
func showPools(v *view) *table {
	t := newTable(poolsColumns)
	type row struct {
		db, user string
		vals     []any
	}
	rows := []row{{Database, Database, []any{
		Database, Database, consoleClients(v), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, consolePoolMode, nil,
	}}}
	for _, p := range v.Pools {
		ws, wus := secondsAndMicros(p.MaxWait)
		rows = append(rows, row{p.Database, p.User, []any{
			p.Database, p.User, p.ClActive, p.ClWaiting, p.ClActiveCancelReq, p.ClWaitingCancelReq,
			p.SvActive, p.SvActiveCancel, p.SvBeingCanceled, p.SvIdle, p.SvUsed, p.SvTested, p.SvLogin,
			ws, wus, p.PoolMode, nil,
		}})
	}
	sort.SliceStable(rows, func(i, j int) bool {
		return rows[i].db < rows[j].db || rows[i].db == rows[j].db && rows[i].user < rows[j].user
	})
	for _, r := range rows {
		t.add(r.vals...)
	}
	return t
}

// ptr names a connection in the ptr and link columns: PgBouncer shows its memory addresses; these
// are just as opaque, and a client's link is its server's ptr and the other way round.
func ptr(kind byte, id uint64) string {
	if id == 0 {
		return ""
	}
	return string(kind) + strconv.FormatUint(id, 10)
}

func requestTime(request, connect time.Time) time.Time {
	if request.IsZero() {
		return connect
	}
	return request
}

// showClients: every logged-in client, console clients included. state is active (linked to a
// server), idle (not linked) or waiting (for a server), as PgBouncer reports it.
func showClients(v *view) *table {
	t := newTable(socketColumns)
	for _, ci := range v.Clients {
		state := ci.State
		switch {
		case state == "login":
			continue // PgBouncer does not show clients that are logging in either
		case state == "active" && ci.ServerID == 0:
			state = "idle"
		}
		ws, wus := secondsAndMicros(ci.Wait)
		t.add("C", ci.User, ci.Database, "none", state,
			ci.Addr, ci.Port, ci.LocalAddr, ci.LocalPort,
			ci.ConnectTime, requestTime(ci.RequestTime, ci.ConnectTime), ws, wus, 0,
			ptr('c', ci.ID), ptr('s', ci.ServerID), 0, ci.TLS,
			ci.ApplicationName, ci.PreparedStatements, ci.ID)
	}
	return t
}

// showServers: every server connection open and logged in. user is the user it logged in as; its
// application_name is its client's.
func showServers(v *view) *table {
	serverUser := map[[2]string]string{}
	for _, p := range v.Pools {
		serverUser[[2]string{p.Database, p.User}] = p.Config.ServerUser
	}
	appName := map[uint64]string{}
	for _, ci := range v.Clients {
		appName[ci.ID] = ci.ApplicationName
	}
	t := newTable(socketColumns)
	for _, si := range v.Servers {
		user := si.User
		if u := serverUser[[2]string{si.Database, si.User}]; u != "" {
			user = u
		}
		var app string
		if si.ClientID != 0 {
			app = appName[si.ClientID]
		}
		t.add("S", user, si.Database, "none", si.State,
			si.Addr, si.Port, si.LocalAddr, si.LocalPort,
			si.ConnectTime, requestTime(si.RequestTime, si.ConnectTime), 0, 0, si.CloseNeeded,
			ptr('s', si.ID), ptr('c', si.ClientID), si.PID, si.TLS,
			app, si.PreparedStatements, si.ID)
	}
	return t
}

// nullIfEmpty is nil (NULL) for "", else s.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// showDatabases: every [databases] entry but "*", every database "*" has served so far (as PgBouncer's
// auto-databases), and the console's. A [databases] entry named like the console is not shown: the
// console answers for that name.
func showDatabases(v *view) *table {
	cfg := v.Config
	names := map[string]bool{}
	for name := range cfg.Databases {
		if name != "*" && !IsName(name) {
			names[name] = true
		}
	}
	servers, clients := map[string]int{}, map[string]int{}
	for _, p := range v.Pools {
		names[p.Database] = true
	}
	for _, si := range v.Servers {
		servers[si.Database]++
	}
	for _, ci := range v.Clients {
		if ci.State != "login" {
			clients[ci.Database]++
		}
	}
	lifetime := int64(cfg.Pooler.ServerLifetime.D() / time.Second)
	rows := map[string][]any{
		Database: {Database, nil, cfg.Pooler.ListenPort, Database, Database,
			consolePoolSize, 0, 0, lifetime, consolePoolMode, nil,
			cfg.Pooler.MaxDBConnections, 0, 0, consoleClients(v), 0, 0},
	}
	for name := range names {
		pc, err := cfg.PoolConfig(name, "")
		if err != nil {
			continue // removed from the configuration since its pool was made
		}
		db, ok := cfg.Databases[name]
		if !ok {
			db = cfg.Databases["*"]
		}
		rows[name] = []any{name, pc.Host, pc.Port, pc.DBName, nullIfEmpty(db.User),
			pc.PoolSize, pc.MinPoolSize, pc.ReservePoolSize, lifetime, nullIfEmpty(db.PoolMode), nil,
			pc.MaxDBConnections, servers[name], 0, clients[name], v.Paused[name], v.Disabled[name]}
	}
	t := newTable(databasesColumns)
	for _, name := range slices.Sorted(maps.Keys(rows)) {
		t.add(rows[name]...)
	}
	return t
}

// showUsers: the users pgpooler knows of: [users] entries, the users of pools (client and server
// side), logged-in clients' users, and the console's user pgbouncer. pool_size and pool_mode are the
// [users] overrides ("" and NULL without one, as PgBouncer shows them); reserve_pool_size has no
// per-user setting in pgpooler. current_connections counts the servers logged in as the user.
func showUsers(v *view) *table {
	cfg := v.Config
	names := map[string]bool{Database: true}
	for name := range cfg.Users {
		names[name] = true
	}
	poolUser := map[[2]string]string{}
	for _, p := range v.Pools {
		names[p.User] = true
		if p.Config.ServerUser != "" {
			names[p.Config.ServerUser] = true
		}
		poolUser[[2]string{p.Database, p.User}] = p.Config.ServerUser
	}
	servers, clients := map[string]int{}, map[string]int{}
	for _, si := range v.Servers {
		u := si.User
		if su := poolUser[[2]string{si.Database, si.User}]; su != "" {
			u = su
		}
		servers[u]++
	}
	for _, ci := range v.Clients {
		if ci.State != "login" {
			names[ci.User] = true
			clients[ci.User]++
		}
	}
	t := newTable(usersColumns)
	for _, name := range slices.Sorted(maps.Keys(names)) {
		u := cfg.Users[name]
		poolSize := ""
		if u.PoolSize != nil {
			poolSize = strconv.Itoa(*u.PoolSize)
		}
		maxConns := cfg.Pooler.MaxUserConnections
		if u.MaxUserConnections != nil {
			maxConns = *u.MaxUserConnections
		}
		t.add(name, poolSize, "", nullIfEmpty(u.PoolMode), maxConns, servers[name], 0, clients[name])
	}
	return t
}
