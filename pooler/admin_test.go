package pooler

import (
	"bytes"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

func TestParseAdmin(t *testing.T) {
	ok := []struct {
		q    string
		want adminStmt
	}{
		{"SHOW POOLS", adminStmt{cmd: "show", arg: "POOLS"}},
		{"show pools;", adminStmt{cmd: "show", arg: "pools"}},
		{"  Show\tPools ; \n", adminStmt{cmd: "show", arg: "Pools"}},
		{"SHOW\nSTATS_TOTALS", adminStmt{cmd: "show", arg: "STATS_TOTALS"}},
		{`SHOW "pools"`, adminStmt{cmd: "show", arg: "pools"}},
		{`"SHOW" pools`, adminStmt{cmd: "show", arg: "pools"}},
		{"select 1", adminStmt{cmd: "select", arg: "1"}},
		{"SELECT version()", adminStmt{cmd: "select", probe: "version"}},
		{" select pg_catalog.version ( ) ; ", adminStmt{cmd: "select", probe: "version"}},
		{"PAUSE", adminStmt{cmd: "pause"}},
		{"pause app;", adminStmt{cmd: "pause", arg: "app"}},
		{`PAUSE "my-db"`, adminStmt{cmd: "pause", arg: "my-db"}},
		{`PAUSE "say ""hi"""`, adminStmt{cmd: "pause", arg: `say "hi"`}},
		{"KILL_CLIENT 12", adminStmt{cmd: "kill_client", arg: "12"}},
		{"SHUTDOWN wait_for_clients", adminStmt{cmd: "shutdown", arg: "wait_for_clients"}},
		{"FROBNICATE", adminStmt{cmd: "frobnicate"}}, // grammatical; unknown to the dispatcher
		{"SET default_pool_size = 30", adminStmt{cmd: "set", arg: "default_pool_size", value: "30"}},
		{"set default_pool_size=30;", adminStmt{cmd: "set", arg: "default_pool_size", value: "30"}},
		{"SET server_check_query TO 'select ''x'''", adminStmt{cmd: "set", arg: "server_check_query", value: "select 'x'"}},
		{`SET "key" = "v v"`, adminStmt{cmd: "set", arg: "key", value: "v v"}},
		{"SET auth_file = ''", adminStmt{cmd: "set", arg: "auth_file", value: ""}},
		{"", adminStmt{empty: true}},
		{" ; ", adminStmt{empty: true}},
		{";;", adminStmt{empty: true}},
	}
	for _, c := range ok {
		got, parsed := parseAdmin(c.q)
		if !parsed || got != c.want {
			t.Errorf("parseAdmin(%q) = %+v, %v; want %+v", c.q, got, parsed, c.want)
		}
	}
	for _, q := range []string{
		"SHOW POOLS; SHOW STATS", "SHOW POOLS EXTRA", "SHOW (pools)", "show-pools", "SHOW POOLS;;",
		`PAUSE "unterminated`, `SHOW"pools"`, "SET x", "SET x =", "SET = 1", "SET x = 1.5", "SET x = 'a' b",
		"SETx = 1", "SELECT version(1)", "SELECT 1 + 1", "-- comment",
	} {
		if st, parsed := parseAdmin(q); parsed {
			t.Errorf("parseAdmin(%q) = %+v, want a syntax error", q, st)
		}
	}
}

// testAdminSession is a console session on a Server that serves nothing.
func testAdminSession(t *testing.T, admin bool, edit func(*config.Config)) *adminSession {
	t.Helper()
	cfg := config.Default()
	cfg.Databases = map[string]config.Database{"*": {}, "app": {User: "owner", PoolMode: "transaction"}}
	if edit != nil {
		edit(cfg)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return &adminSession{c: &clientConn{s: s, id: 1, user: "admin", database: adminDatabase}, admin: admin}
}

// reply runs q and decodes the answer.
func reply(t *testing.T, a *adminSession, q string) []pgproto3.BackendMessage {
	t.Helper()
	out, fatal := a.exec(q)
	if fatal != nil {
		t.Fatalf("%s: fatal %v", q, fatal)
	}
	fe := pgproto3.NewFrontend(bytes.NewReader(out), io.Discard)
	var msgs []pgproto3.BackendMessage
	for {
		m, err := fe.Receive()
		if err != nil {
			t.Fatalf("%s: decoding the answer: %v", q, err)
		}
		switch m := m.(type) {
		case *pgproto3.ReadyForQuery:
			if m.TxStatus != 'I' {
				t.Errorf("%s: ReadyForQuery %q", q, m.TxStatus)
			}
			return msgs
		case *pgproto3.RowDescription:
			c := *m
			c.Fields = append([]pgproto3.FieldDescription(nil), m.Fields...)
			msgs = append(msgs, &c)
		case *pgproto3.DataRow:
			msgs = append(msgs, &pgproto3.DataRow{Values: append([][]byte(nil), m.Values...)})
		case *pgproto3.ErrorResponse:
			c := *m
			msgs = append(msgs, &c)
		case *pgproto3.CommandComplete:
			msgs = append(msgs, &pgproto3.CommandComplete{CommandTag: append([]byte(nil), m.CommandTag...)})
		default:
			msgs = append(msgs, m)
		}
	}
}

func errorCode(msgs []pgproto3.BackendMessage) string {
	for _, m := range msgs {
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			return e.Code
		}
	}
	return ""
}

func TestAdminDispatch(t *testing.T) {
	stats := testAdminSession(t, false, nil)
	admin := testAdminSession(t, true, nil)
	for _, c := range []struct {
		a    *adminSession
		q    string
		code string
	}{
		{stats, "FROBNICATE", "42601"},
		{stats, "SHOW NOTHING", "42601"},
		{stats, "SHOW POOLS; SHOW STATS", "42601"},
		{stats, "PAUSE", "42501"},
		{stats, "pause app", "42501"},
		{stats, "KILL_CLIENT 1", "42501"},
		{stats, "SET default_pool_size = 5", "42501"},
		{stats, "SHOW FDS", "42501"},
		{stats, "RELOAD now", "42601"}, // syntax first, as PgBouncer
		{stats, "SHUTDOWN NOW", "42601"},
		{admin, "SUSPEND app", "42601"},
		{admin, "DISABLE", "42601"},
		{admin, "KILL_CLIENT abc", "42601"},
		{admin, "SHOW FDS", "0A000"},
		{admin, "SHOW SOCKETS", "0A000"},
	} {
		if got := errorCode(reply(t, c.a, c.q)); got != c.code {
			t.Errorf("%q (admin %v): SQLSTATE %q, want %s", c.q, c.a.admin, got, c.code)
		}
	}
	// An admin's control command reaches Server.adminControl: no permission or syntax error.
	for _, q := range []string{"RESUME nosuchdb", "ENABLE nosuchdb", "KILL_CLIENT 999"} {
		if got := errorCode(reply(t, admin, q)); got == "42501" || got == "42601" {
			t.Errorf("%q as admin: SQLSTATE %s", q, got)
		}
	}
	for _, q := range []string{"SHOW POOLS", "show stats;", "SELECT lists", "SHOW HELP", "SHOW timezone", "SET DateStyle = 'ISO'", "SELECT 1", "SELECT version()"} {
		msgs := reply(t, stats, q)
		if code := errorCode(msgs); code != "" {
			t.Errorf("%q: SQLSTATE %s", q, code)
			continue
		}
		tag := string(msgs[len(msgs)-1].(*pgproto3.CommandComplete).CommandTag)
		if want := map[string]string{"SET DateStyle = 'ISO'": "SET", "SELECT 1": "SELECT 1", "SELECT version()": "SELECT 1"}[q]; want != "" && tag != want || want == "" && tag != "SHOW" {
			t.Errorf("%q: command tag %q", q, tag)
		}
	}
	if msgs := reply(t, stats, " "); len(msgs) != 1 {
		t.Errorf("empty query: %v", msgs)
	} else if _, ok := msgs[0].(*pgproto3.EmptyQueryResponse); !ok {
		t.Errorf("empty query: %T", msgs[0])
	}
}

// TestAdminTableEncoding: RowDescription carries PgBouncer's type OIDs and sizes; values are text, NULL
// for nil and zero times.
func TestAdminTableEncoding(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.Local)
	tb := newTable([]adminCol{colText("s"), colInt4("i"), colInt8("q"), colNumeric("n"), colTime("t"), colTime("z"), colInt4("b"), colText("null")})
	tb.add("x", 42, int64(1)<<40, uint64(7), at, time.Time{}, true, nil)
	fe := pgproto3.NewFrontend(bytes.NewReader(tb.appendTo(nil)), io.Discard)
	m, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	var oids []uint32
	var sizes []int16
	for _, f := range m.(*pgproto3.RowDescription).Fields {
		oids = append(oids, f.DataTypeOID)
		sizes = append(sizes, f.DataTypeSize)
		if f.TypeModifier != -1 || f.Format != 0 {
			t.Errorf("%s: typmod %d format %d", f.Name, f.TypeModifier, f.Format)
		}
	}
	if want := []uint32{25, 23, 20, 1700, 25, 25, 23, 25}; !reflect.DeepEqual(oids, want) {
		t.Errorf("OIDs %v, want %v", oids, want)
	}
	if want := []int16{-1, 4, 8, -1, -1, -1, 4, -1}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("sizes %v, want %v", sizes, want)
	}
	m, err = fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range m.(*pgproto3.DataRow).Values {
		if v == nil {
			got = append(got, "NULL")
		} else {
			got = append(got, string(v))
		}
	}
	want := []string{"x", "42", "1099511627776", "7", at.Format("2006-01-02 15:04:05 MST"), "NULL", "1", "NULL"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("row %q, want %q", got, want)
	}
}

// TestAdminShows builds every SHOW result from a made-up Snapshot: each row fits its columns (add
// panics otherwise), the console's own pool and database are there, and the numbers add up.
func TestAdminShows(t *testing.T) {
	cfg := config.Default()
	cfg.Pooler.AdminUsers = "admin"
	cfg.Databases = map[string]config.Database{"*": {}, "app": {User: "owner", PoolMode: "transaction"}, "pgbouncer": {}}
	cfg.Users = map[string]config.User{"alice": {PoolSize: ptrTo(5)}}
	now := time.Now()
	pc, _ := cfg.PoolConfig("app", "alice")
	snap := &Snapshot{
		Taken: now, Started: now, Config: cfg,
		Cancels: CancelCounters{Received: 9, Forwarded: 4, UnknownKey: 3, Failed: 1},
		Pools: []PoolInfo{
			{Database: "app", User: "alice", PoolMode: "transaction", Config: pc, ClActive: 1, SvActive: 1, MaxWait: 1500 * time.Millisecond,
				Counters: Counters{Xacts: 10, Queries: 20, XactTime: 1000}},
			{Database: "other", User: "bob", PoolMode: "session", Counters: Counters{Xacts: 5}},
		},
		Clients: []ClientInfo{
			{ID: 1, User: "alice", Database: "app", State: "active", ServerID: 3, ConnectTime: now, ApplicationName: "job"},
			{ID: 2, User: "admin", Database: "pgpooler", State: "active", ConnectTime: now},
			{ID: 4, User: "carol", Database: "app", State: "login", ConnectTime: now},
		},
		Servers: []ServerInfo{{ID: 3, User: "alice", Database: "app", State: "active", ClientID: 1, PID: 99, ConnectTime: now}},
		Averages: map[string]Averages{
			"app":   {Xacts: 3, XactTime: 100},
			"other": {Xacts: 1, XactTime: 500},
		},
	}
	view := &adminView{Snapshot: snap, paused: map[string]bool{"other": true}}
	for name, build := range adminShows {
		if tb := build(view); len(tb.cols) == 0 {
			t.Errorf("SHOW %s: no columns", name)
		}
	}
	rows := func(tb *adminTable, kv ...any) [][]any {
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
	pools := showPools(view)
	if len(pools.rows) != 3 || pools.rows[0][0] != "app" || pools.rows[1][0] != "other" || pools.rows[2][0] != adminDatabase {
		t.Errorf("SHOW POOLS rows %v: want app, other, pgbouncer in name order", pools.rows)
	}
	if r := rows(pools, 0, "app"); len(r) != 1 || r[0][13] != int64(1) || r[0][14] != int64(500000) {
		t.Errorf("SHOW POOLS maxwait: %v", r)
	}
	if r := rows(pools, 0, adminDatabase); len(r) != 1 || r[0][2] != 1 {
		t.Errorf("SHOW POOLS console pool: %v", r)
	}
	clients := showClients(view)
	if len(clients.rows) != 2 || clients.rows[0][4] != "active" || clients.rows[0][15] != "s3" || clients.rows[1][4] != "idle" {
		t.Errorf("SHOW CLIENTS: %v", clients.rows)
	}
	servers := showServers(view)
	if r := servers.rows[0]; r[1] != "owner" || r[15] != "c1" || r[16] != uint32(99) || r[18] != "job" {
		t.Errorf("SHOW SERVERS: %v (want the forced user, the client's link and application_name)", r)
	}
	dbs := showDatabases(view)
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
	if st := showState(&adminView{Snapshot: snap, pausedAll: true}); st.rows[0][1] != "no" || st.rows[1][1] != "yes" {
		t.Errorf("SHOW STATE after PAUSE: %v", st.rows)
	}
	if r := rows(showUsers(view), 0, "alice"); len(r) != 1 || r[0][1] != "5" || r[0][3] != nil || r[0][7] != 1 {
		t.Errorf("SHOW USERS alice: %v", r)
	}
	if r := rows(showUsers(view), 0, "owner"); len(r) != 1 || r[0][5] != 1 {
		t.Errorf("SHOW USERS owner (server logins): %v", r)
	}
	totals := showTotals(view)
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
	if r := rows(showStats(view), 0, adminDatabase); len(r) != 1 {
		t.Errorf("SHOW STATS lacks the console's database")
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestAdminConfig: SHOW CONFIG lists every [pooler] key once, durations in seconds.
func TestAdminConfig(t *testing.T) {
	cfg := config.Default()
	cfg.Pooler.QueryWaitTimeout = config.Duration(1500 * time.Millisecond)
	tb := showConfig(&adminView{Snapshot: &Snapshot{Config: cfg}})
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
	if r := seen["log_connections"]; r[1] != "true" {
		t.Errorf("log_connections: %v", r)
	}
}
