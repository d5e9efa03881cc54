package pooler

import (
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The SHOW commands answer with PgBouncer 1.25's columns, in its order and with its types (src/admin.c,
// src/stats.c); the data comes from Server.Snapshot.

// adminView is what the SHOW commands read: a Snapshot, and the PAUSE, KILL and DISABLE state.
type adminView struct {
	*Snapshot
	pausedAll        bool            // PAUSE or KILL of every database
	paused, disabled map[string]bool // per database: PAUSE db or KILL db; DISABLE db
}

func (s *Server) adminView() *adminView {
	v := &adminView{Snapshot: s.Snapshot()}
	s.mu.Lock()
	v.pausedAll = s.pause.all
	v.paused = maps.Clone(s.pause.paused)
	v.disabled = maps.Clone(s.pause.disabled)
	s.mu.Unlock()
	return v
}

// show answers SHOW name (and SELECT name, which PgBouncer's console takes for SHOW).
func (a *adminSession) show(q, name string) ([]byte, error) {
	if pname, value, ok := adminFakeParam(name); ok {
		t := newTable([]adminCol{colText(pname)})
		t.add(value)
		return adminComplete(t.appendTo(nil), "SHOW"), nil
	}
	name = strings.ToLower(name)
	switch name {
	case "help":
		buf, _ := (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "Console usage", Detail: adminHelp}).Encode(nil)
		return adminComplete(buf, "SHOW"), nil
	case "fds":
		if !a.admin {
			return nil, errAdminNeeded()
		}
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "SHOW FDS is not supported by pgpooler (it has no online restart)")
	case "sockets", "active_sockets":
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "SHOW %s is not supported by pgpooler: use SHOW CLIENTS and SHOW SERVERS", strings.ToUpper(name))
	}
	build, ok := adminShows[name]
	if !ok {
		return nil, errInvalidCommand(q)
	}
	t := build(a.c.s.adminView())
	return adminComplete(t.appendTo(nil), "SHOW"), nil
}

// adminHelp is the DETAIL of SHOW HELP's NOTICE, in PgBouncer's layout.
const adminHelp = "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n" +
	"\tSHOW PEERS|PEER_POOLS\n" +
	"\tSHOW LISTS|MEM|STATE\n" +
	"\tSHOW DNS_HOSTS|DNS_ZONES\n" +
	"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n" +
	"\tSET key = arg\n" +
	"\tRELOAD\n" +
	"\tPAUSE [<db>]\n" +
	"\tRESUME [<db>]\n" +
	"\tDISABLE <db>\n" +
	"\tENABLE <db>\n" +
	"\tRECONNECT [<db>]\n" +
	"\tKILL [<db>]\n" +
	"\tKILL_CLIENT <client_id>\n" +
	"\tSUSPEND\n" +
	"\tSHUTDOWN\n" +
	"\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n" +
	"\tWAIT_CLOSE [<db>]"

// adminShows maps SHOW's argument, lower-case, to its result.
var adminShows = map[string]func(*adminView) *adminTable{
	"pools":          showPools,
	"stats":          showStats,
	"stats_totals":   showStatsTotals,
	"stats_averages": showStatsAverages,
	"totals":         showTotals,
	"clients":        showClients,
	"servers":        showServers,
	"databases":      showDatabases,
	"users":          showUsers,
	"config":         showConfig,
	"lists":          showLists,
	"state":          showState,
	"version":        showVersion,
	"mem":            showMem,
	"dns_hosts":      func(*adminView) *adminTable { return newTable(dnsHostsColumns) },
	"dns_zones":      func(*adminView) *adminTable { return newTable(dnsZonesColumns) },
	"peers":          func(*adminView) *adminTable { return newTable(peersColumns) },
	"peer_pools":     func(*adminView) *adminTable { return newTable(peerPoolsColumns) },
}

// Columns of each SHOW command, as PgBouncer 1.25 sends them.
var (
	poolsColumns = []adminCol{
		colText("database"), colText("user"),
		colInt4("cl_active"), colInt4("cl_waiting"), colInt4("cl_active_cancel_req"), colInt4("cl_waiting_cancel_req"),
		colInt4("sv_active"), colInt4("sv_active_cancel"), colInt4("sv_being_canceled"), colInt4("sv_idle"),
		colInt4("sv_used"), colInt4("sv_tested"), colInt4("sv_login"),
		colInt4("maxwait"), colInt4("maxwait_us"), colText("pool_mode"), colText("load_balance_hosts"),
	}
	statsColumns = []adminCol{
		colText("database"),
		colNumeric("total_server_assignment_count"), colNumeric("total_xact_count"), colNumeric("total_query_count"),
		colNumeric("total_received"), colNumeric("total_sent"),
		colNumeric("total_xact_time"), colNumeric("total_query_time"), colNumeric("total_wait_time"),
		colNumeric("total_client_parse_count"), colNumeric("total_server_parse_count"), colNumeric("total_bind_count"),
		colNumeric("avg_server_assignment_count"), colNumeric("avg_xact_count"), colNumeric("avg_query_count"),
		colNumeric("avg_recv"), colNumeric("avg_sent"),
		colNumeric("avg_xact_time"), colNumeric("avg_query_time"), colNumeric("avg_wait_time"),
		colNumeric("avg_client_parse_count"), colNumeric("avg_server_parse_count"), colNumeric("avg_bind_count"),
	}
	statsTotalsColumns = []adminCol{
		colText("database"),
		colNumeric("server_assignment_count"), colNumeric("xact_count"), colNumeric("query_count"),
		colNumeric("bytes_received"), colNumeric("bytes_sent"),
		colNumeric("xact_time"), colNumeric("query_time"), colNumeric("wait_time"),
		colNumeric("client_parse_count"), colNumeric("server_parse_count"), colNumeric("bind_count"),
	}
	statsAveragesColumns = []adminCol{
		colText("database"),
		colNumeric("server_assignment_count"), colNumeric("xact_count"), colNumeric("query_count"),
		colNumeric("bytes_received"), colNumeric("bytes_sent"),
		colNumeric("xact_time"), colNumeric("query_time"), colNumeric("wait_time"),
		colNumeric("avg_client_parse_count"), colNumeric("avg_server_parse_count"), colNumeric("avg_bind_count"),
	}
	totalsColumns = []adminCol{colText("name"), colNumeric("value")}
	// socketColumns are SHOW CLIENTS' and SHOW SERVERS'.
	socketColumns = []adminCol{
		colText("type"), colText("user"), colText("database"), colText("replication"), colText("state"),
		colText("addr"), colInt4("port"), colText("local_addr"), colInt4("local_port"),
		colTime("connect_time"), colTime("request_time"),
		colInt4("wait"), colInt4("wait_us"), colInt4("close_needed"),
		colText("ptr"), colText("link"), colInt4("remote_pid"), colText("tls"),
		colText("application_name"), colInt4("prepared_statements"), colInt4("id"),
	}
	databasesColumns = []adminCol{
		colText("name"), colText("host"), colInt4("port"), colText("database"), colText("force_user"),
		colInt4("pool_size"), colInt4("min_pool_size"), colInt4("reserve_pool_size"), colInt4("server_lifetime"),
		colText("pool_mode"), colText("load_balance_hosts"),
		colInt4("max_connections"), colInt4("current_connections"),
		colInt4("max_client_connections"), colInt4("current_client_connections"),
		colInt4("paused"), colInt4("disabled"),
	}
	usersColumns = []adminCol{
		colText("name"), colText("pool_size"), colText("reserve_pool_size"), colText("pool_mode"),
		colInt4("max_user_connections"), colInt4("current_connections"),
		colInt4("max_user_client_connections"), colInt4("current_client_connections"),
	}
	configColumns    = []adminCol{colText("key"), colText("value"), colText("default"), colText("changeable")}
	listsColumns     = []adminCol{colText("list"), colInt4("items")}
	stateColumns     = []adminCol{colText("key"), colText("value")}
	versionColumns   = []adminCol{colText("version")}
	memColumns       = []adminCol{colText("name"), colInt4("size"), colInt4("used"), colInt4("free"), colInt4("memtotal")}
	dnsHostsColumns  = []adminCol{colText("hostname"), colInt8("ttl"), colText("addrs")}
	dnsZonesColumns  = []adminCol{colText("zonename"), colInt8("serial"), colInt4("count")}
	peersColumns     = []adminCol{colInt4("peer_id"), colText("host"), colInt4("port"), colInt4("pool_size")}
	peerPoolsColumns = []adminCol{colInt4("peer_id"), colInt4("cl_active_cancel_req"), colInt4("cl_waiting_cancel_req"), colInt4("sv_active_cancel"), colInt4("sv_login")}
)

// The console's own pool, as PgBouncer shows it: database pgbouncer, user pgbouncer, statement mode,
// pool_size 2 (src/admin.c, admin_setup). Console clients are its clients; it has no servers.
const (
	adminPoolMode = config.PoolModeStatement
	adminPoolSize = 2
)

// adminClients counts the logged-in console clients of v.
func adminClients(v *adminView) int {
	n := 0
	for _, ci := range v.Clients {
		if isAdminName(ci.Database) && ci.State != "login" {
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
func showPools(v *adminView) *adminTable {
	t := newTable(poolsColumns)
	type row struct {
		db, user string
		vals     []any
	}
	rows := []row{{adminDatabase, adminDatabase, []any{
		adminDatabase, adminDatabase, adminClients(v), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, adminPoolMode, nil,
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

// dbStats is one database's counters and averages.
type dbStats struct {
	name string
	c    Counters
	avg  Averages
}

// statsByDatabase sums the pools' counters per database, in name order, the console's database (whose
// counters are always zero: its queries reach no server) included, as PgBouncer lists it.
func statsByDatabase(v *adminView) []dbStats {
	sums := map[string]Counters{adminDatabase: {}}
	for _, p := range v.Pools {
		sums[p.Database] = sums[p.Database].Add(p.Counters)
	}
	out := make([]dbStats, 0, len(sums))
	for db, c := range sums {
		out = append(out, dbStats{name: db, c: c, avg: v.Averages[db]})
	}
	slices.SortFunc(out, func(a, b dbStats) int { return strings.Compare(a.name, b.name) })
	return out
}

func totalValues(c Counters) []any {
	return []any{c.ServerAssignments, c.Xacts, c.Queries, c.Received, c.Sent, c.XactTime, c.QueryTime, c.WaitTime, c.ClientParses, c.ServerParses, c.Binds}
}

func averageValues(a Averages) []any {
	return []any{a.ServerAssignments, a.Xacts, a.Queries, a.Received, a.Sent, a.XactTime, a.QueryTime, a.WaitTime, a.ClientParses, a.ServerParses, a.Binds}
}

// showStats: per database, the totals since start and the averages of the last stats_period.
func showStats(v *adminView) *adminTable {
	t := newTable(statsColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append(append([]any{d.name}, totalValues(d.c)...), averageValues(d.avg)...)...)
	}
	return t
}

func showStatsTotals(v *adminView) *adminTable {
	t := newTable(statsTotalsColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append([]any{d.name}, totalValues(d.c)...)...)
	}
	return t
}

func showStatsAverages(v *adminView) *adminTable {
	t := newTable(statsAveragesColumns)
	for _, d := range statsByDatabase(v) {
		t.add(append([]any{d.name}, averageValues(d.avg)...)...)
	}
	return t
}

// showTotals: SHOW STATS over all databases, one value per row, under PgBouncer's row names
// (src/stats.c, show_stat_totals), then pgpooler's own cancel request counts. Rates add up; mean times are the databases' means weighted by their
// rates (the per-period counts are not kept, so this is as exact as the rates are).
func showTotals(v *adminView) *adminTable {
	var total Counters
	var avg Averages
	var xact, query, wait weightedMean
	for _, d := range statsByDatabase(v) {
		total = total.Add(d.c)
		a := d.avg
		avg.ServerAssignments += a.ServerAssignments
		avg.Xacts += a.Xacts
		avg.Queries += a.Queries
		avg.Received += a.Received
		avg.Sent += a.Sent
		avg.ClientParses += a.ClientParses
		avg.ServerParses += a.ServerParses
		avg.Binds += a.Binds
		xact.add(a.XactTime, a.Xacts)
		query.add(a.QueryTime, a.Queries)
		wait.add(a.WaitTime, a.ServerAssignments)
	}
	avg.XactTime, avg.QueryTime, avg.WaitTime = xact.mean(), query.mean(), wait.mean()
	names := []string{
		"server_assignment_count", "xact_count", "query_count", "client_bytes", "server_bytes",
		"xact_time", "query_time", "wait_time", "ps_client_parse_count", "ps_server_parse_count", "ps_bind_count",
	}
	t := newTable(totalsColumns)
	for i, v := range totalValues(total) {
		t.add("total_"+names[i], v)
	}
	for i, v := range averageValues(avg) {
		t.add("avg_"+names[i], v)
	}
	// pgpooler's own rows: the CancelRequests since start (CancelCounters).
	c := v.Cancels
	t.add("total_cancel_request_count", c.Received)
	t.add("total_cancel_forwarded_count", c.Forwarded)
	t.add("total_cancel_unknown_key_count", c.UnknownKey)
	t.add("total_cancel_failed_count", c.Failed)
	return t
}

// weightedMean averages means weighted by their rates; a mean whose rate rounded down to 0 weighs 1.
type weightedMean struct{ sum, weight int64 }

func (w *weightedMean) add(mean, rate int64) {
	if mean == 0 && rate == 0 {
		return
	}
	rate = max(rate, 1)
	w.sum += mean * rate
	w.weight += rate
}

func (w *weightedMean) mean() int64 {
	if w.weight == 0 {
		return 0
	}
	return w.sum / w.weight
}

// adminPtr names a connection in the ptr and link columns: PgBouncer shows its memory addresses; these
// are just as opaque, and a client's link is its server's ptr and the other way round.
func adminPtr(kind byte, id uint64) string {
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
func showClients(v *adminView) *adminTable {
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
			adminPtr('c', ci.ID), adminPtr('s', ci.ServerID), 0, ci.TLS,
			ci.ApplicationName, ci.PreparedStatements, ci.ID)
	}
	return t
}

// showServers: every server connection open and logged in. user is the user it logged in as; its
// application_name is its client's.
func showServers(v *adminView) *adminTable {
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
			adminPtr('s', si.ID), adminPtr('c', si.ClientID), si.PID, si.TLS,
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
func showDatabases(v *adminView) *adminTable {
	cfg := v.Config
	names := map[string]bool{}
	for name := range cfg.Databases {
		if name != "*" && !isAdminName(name) {
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
		adminDatabase: {adminDatabase, nil, cfg.Pooler.ListenPort, adminDatabase, adminDatabase,
			adminPoolSize, 0, 0, lifetime, adminPoolMode, nil,
			cfg.Pooler.MaxDBConnections, 0, 0, adminClients(v), 0, 0},
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
			pc.MaxDBConnections, servers[name], 0, clients[name], v.paused[name], v.disabled[name]}
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
func showUsers(v *adminView) *adminTable {
	cfg := v.Config
	names := map[string]bool{adminDatabase: true}
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

// adminFixedKeys are the [pooler] keys a reload does not change (Server.Reload keeps the listeners).
var adminFixedKeys = map[string]bool{"listen_addr": true, "listen_port": true, "unix_socket_dir": true, "event_loops": true}

// showConfig: every [pooler] key with its value in force and its default, in name order. Durations are
// in seconds, as PgBouncer shows them (and as the configuration also accepts them). changeable says
// whether a reload (SIGHUP, RELOAD) changes the value in force.
func showConfig(v *adminView) *adminTable {
	cur := reflect.ValueOf(v.Config.Pooler)
	def := reflect.ValueOf(config.Default().Pooler)
	typ := cur.Type()
	type kv struct{ key, value, def string }
	var rows []kv
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		rows = append(rows, kv{key, configValue(key, cur.Field(i)), configValue(key, def.Field(i))})
	}
	slices.SortFunc(rows, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	t := newTable(configColumns)
	for _, r := range rows {
		changeable := "yes"
		if adminFixedKeys[r.key] {
			changeable = "no"
		}
		t.add(r.key, r.value, r.def, changeable)
	}
	return t
}

// configValue formats one [pooler] value; a key that names a secret (there is none in [pooler] today)
// is never shown.
func configValue(key string, v reflect.Value) string {
	if strings.Contains(key, "password") || strings.Contains(key, "secret") {
		if v.IsZero() {
			return ""
		}
		return "(hidden)"
	}
	switch x := v.Interface().(type) {
	case config.Duration:
		return strconv.FormatFloat(x.D().Seconds(), 'g', -1, 64)
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v.Interface())
}

// showLists: the counts of PgBouncer's internal lists that pgpooler has an equivalent of; the others
// (peers, free lists, DNS cache) are 0.
func showLists(v *adminView) *adminTable {
	login := 0
	for _, ci := range v.Clients {
		if ci.State == "login" {
			login++
		}
	}
	t := newTable(listsColumns)
	t.add("databases", len(showDatabases(v).rows))
	t.add("users", len(showUsers(v).rows))
	t.add("peers", 0)
	t.add("pools", len(v.Pools)+1)
	t.add("peer_pools", 0)
	t.add("free_clients", 0)
	t.add("used_clients", len(v.Clients))
	t.add("login_clients", login)
	t.add("free_servers", 0)
	t.add("used_servers", len(v.Servers))
	t.add("dns_names", 0)
	t.add("dns_zones", 0)
	t.add("dns_queries", 0)
	t.add("dns_pending", 0)
	return t
}

// showState: PgBouncer's three states. A PAUSE of every database is paused; SUSPEND does not exist in
// pgpooler. Then pgpooler's own row: accept_errors, the failed accepts of client connections since
// start (Snapshot.AcceptErrors).
func showState(v *adminView) *adminTable {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	t := newTable(stateColumns)
	t.add("active", yesNo(!v.pausedAll))
	t.add("paused", yesNo(v.pausedAll))
	t.add("suspended", "no")
	t.add("accept_errors", strconv.FormatUint(v.AcceptErrors, 10))
	return t
}

// versionString is SHOW VERSION's answer: pgpooler's module version (from the build information) and
// the PgBouncer release whose console it follows.
func versionString() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "pgpooler " + v + " (PgBouncer " + pgbouncerVersion + " compatible)"
}

func showVersion(*adminView) *adminTable {
	t := newTable(versionColumns)
	t.add(versionString())
	return t
}

// showMem reports what Go can tell honestly, in PgBouncer's columns (name, size, used, free, memtotal):
// the structs of clients, servers and pools (size is the struct's own size, without buffers in flight;
// Go keeps no free lists, so free is 0), the shared prepared statements and the cached start-up
// parameter values (size is their average in bytes), then the Go runtime's heap, stacks and other memory in bytes (size 1). Values above 2^31-1 are capped, the columns being int4.
func showMem(v *adminView) *adminTable {
	capped := func(n uint64) int64 { return int64(min(n, 1<<31-1)) }
	t := newTable(memColumns)
	objects := []struct {
		name string
		size uintptr
		n    int
	}{
		{"client_cache", unsafe.Sizeof(clientConn{}), len(v.Clients)},
		{"server_cache", unsafe.Sizeof(serverConn{}), len(v.Servers)},
		{"pool_cache", unsafe.Sizeof(pool{}), len(v.Pools)},
	}
	for _, o := range objects {
		t.add(o.name, int64(o.size), o.n, 0, capped(uint64(o.size)*uint64(o.n)))
	}
	avg := int64(0)
	if v.SharedStatements > 0 {
		avg = v.SharedStatementBytes / int64(v.SharedStatements)
	}
	t.add("prepared_statement_cache", avg, v.SharedStatements, 0, capped(uint64(v.SharedStatementBytes)))
	avg = 0
	if v.StartupParams > 0 {
		avg = v.StartupParamBytes / int64(v.StartupParams)
	}
	t.add("startup_parameter_cache", avg, v.StartupParams, 0, capped(uint64(v.StartupParamBytes)))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapFree := ms.HeapIdle - ms.HeapReleased
	t.add("go_heap", 1, capped(ms.HeapInuse), capped(heapFree), capped(ms.HeapInuse+heapFree))
	t.add("go_stack", 1, capped(ms.StackInuse), capped(ms.StackSys-ms.StackInuse), capped(ms.StackSys))
	other := ms.Sys - ms.HeapSys - ms.StackSys
	t.add("go_other", 1, capped(other), 0, capped(other))
	return t
}
