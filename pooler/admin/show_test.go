package admin

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

// TestAdminShows builds every SHOW result from a made-up Snapshot: each row fits its columns (add
// panics otherwise), the console's own pool and database are there, and the numbers add up.
func TestAdminShows(t *testing.T) {
	cfg := config.Default()
	cfg.Pooler.AdminUsers = "admin"
	cfg.Databases = map[string]config.Database{"*": {}, "app": {User: "owner", PoolMode: "transaction"}, "pgbouncer": {}}
	cfg.Users = map[string]config.User{"alice": {PoolSize: ptrTo(5)}}
	now := time.Now()
	pc, _ := cfg.PoolConfig("app", "alice")
	snap := &status.Snapshot{
		Taken: now, Started: now, Config: cfg,
		Cancels: status.CancelCounters{Received: 9, Forwarded: 4, UnknownKey: 3, Failed: 1},
		Pools: []status.PoolInfo{
			{Database: "app", User: "alice", PoolMode: "transaction", Config: pc, ClActive: 1, SvActive: 1, MaxWait: 1500 * time.Millisecond,
				Counters: status.Counters{Xacts: 10, Queries: 20, XactTime: 1000}},
			{Database: "other", User: "bob", PoolMode: "session", Counters: status.Counters{Xacts: 5}},
		},
		Clients: []status.ClientInfo{
			{ID: 1, User: "alice", Database: "app", State: "active", ServerID: 3, ConnectTime: now, ApplicationName: "job"},
			{ID: 2, User: "admin", Database: "pgpooler", State: "active", ConnectTime: now},
			{ID: 4, User: "carol", Database: "app", State: "login", ConnectTime: now},
		},
		Servers: []status.ServerInfo{{ID: 3, User: "alice", Database: "app", State: "active", ClientID: 1, PID: 99, ConnectTime: now}},
		Averages: map[string]status.Averages{
			"app":   {Xacts: 3, XactTime: 100},
			"other": {Xacts: 1, XactTime: 500},
		},
	}
	v := &view{Snapshot: snap, PauseState: status.PauseState{Paused: map[string]bool{"other": true}}}
	for name, build := range shows {
		if tb := build(v); len(tb.cols) == 0 {
			t.Errorf("SHOW %s: no columns", name)
		}
	}
	rows := func(tb *table, kv ...any) [][]any {
		var out [][]any
	next:
		for _, r := range tb.rows {
			for i := 0; i+1 < len(kv); i += 2 {
				if r[kv[i].(int)] != kv[i+1] {
					continue next
				}
			}
			out = append(out, r)
		}
		return out
	}
	pools := showPools(v)
	if len(pools.rows) != 3 || pools.rows[0][0] != "app" || pools.rows[1][0] != "other" || pools.rows[2][0] != Database {
		t.Errorf("SHOW POOLS rows %v: want app, other, pgbouncer in name order", pools.rows)
	}
	if r := rows(pools, 0, "app"); len(r) != 1 || r[0][13] != int64(1) || r[0][14] != int64(500000) {
		t.Errorf("SHOW POOLS maxwait: %v", r)
	}
	if r := rows(pools, 0, Database); len(r) != 1 || r[0][2] != 1 {
		t.Errorf("SHOW POOLS console pool: %v", r)
	}
	clients := showClients(v)
	if len(clients.rows) != 2 || clients.rows[0][4] != "active" || clients.rows[0][15] != "s3" || clients.rows[1][4] != "idle" {
		t.Errorf("SHOW CLIENTS: %v", clients.rows)
	}
	servers := showServers(v)
	if r := servers.rows[0]; r[1] != "owner" || r[15] != "c1" || r[16] != uint32(99) || r[18] != "job" {
		t.Errorf("SHOW SERVERS: %v (want the forced user, the client's link and application_name)", r)
	}
	dbs := showDatabases(v)
	var names []string
	for _, r := range dbs.rows {
		names = append(names, r[0].(string))
	}
	if !reflect.DeepEqual(names, []string{"app", "other", "pgbouncer"}) { // [databases.pgbouncer] is hidden by the console
		t.Errorf("SHOW DATABASES names %v", names)
	}
	if r := rows(dbs, 0, "app"); len(r) != 1 || r[0][4] != "owner" || r[0][9] != "transaction" || r[0][12] != 1 || r[0][14] != 1 {
		t.Errorf("SHOW DATABASES app: %v", r)
	}
	if r := rows(dbs, 0, "other"); len(r) != 1 || r[0][15] != true || r[0][16] != false {
		t.Errorf("SHOW DATABASES other (paused): %v", r)
	}
	if st := showState(&view{Snapshot: snap, PauseState: status.PauseState{All: true}}); st.rows[0][1] != "no" || st.rows[1][1] != "yes" {
		t.Errorf("SHOW STATE after PAUSE: %v", st.rows)
	}
	if r := rows(showUsers(v), 0, "alice"); len(r) != 1 || r[0][1] != "5" || r[0][3] != nil || r[0][7] != 1 {
		t.Errorf("SHOW USERS alice: %v", r)
	}
	if r := rows(showUsers(v), 0, "owner"); len(r) != 1 || r[0][5] != 1 {
		t.Errorf("SHOW USERS owner (server logins): %v", r)
	}
	totals := showTotals(v)
	if r := rows(totals, 0, "total_xact_count"); len(r) != 1 || r[0][1] != int64(15) {
		t.Errorf("SHOW TOTALS total_xact_count: %v", r)
	}
	if r := rows(totals, 0, "avg_xact_time"); len(r) != 1 || r[0][1] != int64(200) { // (3*100 + 1*500) / 4
		t.Errorf("SHOW TOTALS avg_xact_time: %v", r)
	}
	for name, want := range map[string]int64{"total_cancel_request_count": 9, "total_cancel_forwarded_count": 4, "total_cancel_unknown_key_count": 3, "total_cancel_failed_count": 1} {
		if r := rows(totals, 0, name); len(r) != 1 || r[0][1] != want {
			t.Errorf("SHOW TOTALS %s: %v, want %d", name, r, want)
		}
	}
	if r := rows(showStats(v), 0, Database); len(r) != 1 {
		t.Errorf("SHOW STATS lacks the console's database")
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestAdminConfig: SHOW CONFIG lists every [pooler] key once, durations in seconds.
func TestAdminConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Pooler.QueryWaitTimeout = config.Duration(1500 * time.Millisecond)
	tb := showConfig(&view{Snapshot: &status.Snapshot{Config: cfg}})
	seen := map[string][]any{}
	for _, r := range tb.rows {
		seen[r[0].(string)] = r
	}
	typ := reflect.TypeOf(config.Pooler{})
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		if _, ok := seen[key]; !ok {
			t.Errorf("SHOW CONFIG lacks %s", key)
		}
	}
	if len(seen) != len(tb.rows) || len(seen) != typ.NumField() {
		t.Errorf("SHOW CONFIG: %d rows, %d keys, %d fields", len(tb.rows), len(seen), typ.NumField())
	}
	if r := seen["query_wait_timeout"]; r[1] != "1.5" || r[2] != "120" || r[3] != "yes" {
		t.Errorf("query_wait_timeout: %v", r)
	}
	if r := seen["listen_addr"]; r[3] != "no" {
		t.Errorf("listen_addr: %v", r)
	}
	if r := seen["debug_pprof"]; r[1] != "false" || r[2] != "false" || r[3] != "no" {
		t.Errorf("debug_pprof: %v", r)
	}
	if r := seen["log_connections"]; r[1] != "true" {
		t.Errorf("log_connections: %v", r)
	}
}

// TestAdminConfigINIDefaults: on a pgbouncer.ini, SHOW CONFIG's default column is PgBouncer's default,
// which the file's keys left out take (listen_addr unset, unix_socket_dir /tmp, auth_type md5), not
// config.toml's; keys whose defaults agree show the same either way.
func TestAdminConfigINIDefaults(t *testing.T) {
	ini, err := config.ParseINI([]byte("[databases]\napp = host=127.0.0.1\n[pgbouncer]\nlisten_port = 6432\nauth_file = userlist.txt\n"), "pgbouncer.ini")
	if err != nil {
		t.Fatal(err)
	}
	defaults := func(cfg *config.Config) map[string]any {
		out := map[string]any{}
		for _, r := range showConfig(&view{Snapshot: &status.Snapshot{Config: cfg}}).rows {
			out[r[0].(string)] = r[2]
		}
		return out
	}
	fromINI, fromTOML := defaults(ini), defaults(config.Default())
	for key, want := range map[string]string{"listen_addr": "", "unix_socket_dir": "/tmp", "auth_type": "md5"} {
		if fromINI[key] != want {
			t.Errorf("on a pgbouncer.ini, %s's default is %q, want PgBouncer's %q", key, fromINI[key], want)
		}
		if fromTOML[key] == want {
			t.Errorf("on config.toml, %s's default is PgBouncer's %q: the test cannot tell them apart", key, want)
		}
		if got := configValue(key, reflect.ValueOf(ini.Pooler).FieldByIndex(fieldIndex(t, key))); got != want {
			t.Errorf("the ini left %s out, so its value %q should be the default %q", key, got, want)
		}
	}
	if fromINI["query_wait_timeout"] != "120" || fromTOML["query_wait_timeout"] != "120" {
		t.Errorf("query_wait_timeout defaults: ini %v, toml %v", fromINI["query_wait_timeout"], fromTOML["query_wait_timeout"])
	}
}

// fieldIndex is the index of the config.Pooler field whose toml key is key.
func fieldIndex(t *testing.T, key string) []int {
	t.Helper()
	typ := reflect.TypeFor[config.Pooler]()
	for i := range typ.NumField() {
		if k, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ","); k == key {
			return []int{i}
		}
	}
	t.Fatalf("no [pooler] key %s", key)
	return nil
}
