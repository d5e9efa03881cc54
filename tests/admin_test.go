package tests

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// Users of the admin console tests. With the default auth_type trust they need no role in PostgreSQL:
// the console never reaches a server.
const (
	consoleAdmin = "pgp_admin"
	consoleStats = "pgp_stats"
)

func withConsoleUsers(c *config.Config) {
	c.Pooler.AdminUsers = "someone_else, " + consoleAdmin
	c.Pooler.StatsUsers = consoleStats
}

// PostgreSQL type OIDs of the console's columns.
const (
	oidText    = 25
	oidInt4    = 23
	oidInt8    = 20
	oidNumeric = 1700
)

// consoleColumns are the columns of every SHOW command with their type OIDs, as PgBouncer 1.25 sends
// them (src/admin.c and src/stats.c: the RowDescription type letters s = text, i = int4, q = int8,
// N = numeric, T = a timestamp sent as text).
var consoleColumns = map[string]string{
	"POOLS": "database:s user:s cl_active:i cl_waiting:i cl_active_cancel_req:i cl_waiting_cancel_req:i " +
		"sv_active:i sv_active_cancel:i sv_being_canceled:i sv_idle:i sv_used:i sv_tested:i sv_login:i " +
		"maxwait:i maxwait_us:i pool_mode:s load_balance_hosts:s",
	"STATS": "database:s total_server_assignment_count:N total_xact_count:N total_query_count:N " +
		"total_received:N total_sent:N total_xact_time:N total_query_time:N total_wait_time:N " +
		"total_client_parse_count:N total_server_parse_count:N total_bind_count:N " +
		"avg_server_assignment_count:N avg_xact_count:N avg_query_count:N avg_recv:N avg_sent:N " +
		"avg_xact_time:N avg_query_time:N avg_wait_time:N avg_client_parse_count:N " +
		"avg_server_parse_count:N avg_bind_count:N",
	"STATS_TOTALS": "database:s server_assignment_count:N xact_count:N query_count:N bytes_received:N " +
		"bytes_sent:N xact_time:N query_time:N wait_time:N client_parse_count:N server_parse_count:N bind_count:N",
	"STATS_AVERAGES": "database:s server_assignment_count:N xact_count:N query_count:N bytes_received:N " +
		"bytes_sent:N xact_time:N query_time:N wait_time:N avg_client_parse_count:N " +
		"avg_server_parse_count:N avg_bind_count:N",
	"TOTALS": "name:s value:N",
	"CLIENTS": "type:s user:s database:s replication:s state:s addr:s port:i local_addr:s local_port:i " +
		"connect_time:T request_time:T wait:i wait_us:i close_needed:i ptr:s link:s remote_pid:i tls:s " +
		"application_name:s prepared_statements:i id:i",
	"DATABASES": "name:s host:s port:i database:s force_user:s pool_size:i min_pool_size:i " +
		"reserve_pool_size:i server_lifetime:i pool_mode:s load_balance_hosts:s max_connections:i " +
		"current_connections:i max_client_connections:i current_client_connections:i paused:i disabled:i",
	"USERS": "name:s pool_size:s reserve_pool_size:s pool_mode:s max_user_connections:i " +
		"current_connections:i max_user_client_connections:i current_client_connections:i",
	"CONFIG":     "key:s value:s default:s changeable:s",
	"LISTS":      "list:s items:i",
	"STATE":      "key:s value:s",
	"VERSION":    "version:s",
	"MEM":        "name:s size:i used:i free:i memtotal:i",
	"DNS_HOSTS":  "hostname:s ttl:q addrs:s",
	"DNS_ZONES":  "zonename:s serial:q count:i",
	"PEERS":      "peer_id:i host:s port:i pool_size:i",
	"PEER_POOLS": "peer_id:i cl_active_cancel_req:i cl_waiting_cancel_req:i sv_active_cancel:i sv_login:i",
}

func init() { consoleColumns["SERVERS"] = consoleColumns["CLIENTS"] }

var typeLetterOID = map[string]uint32{"s": oidText, "T": oidText, "i": oidInt4, "q": oidInt8, "N": oidNumeric}

// consoleURL is a libpq URL to the pooler's admin console (database db) as user.
func consoleURL(tp *testPooler, user, db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", user, tp.addr(), db)
}

// console is a simple-protocol connection to the admin console that records NOTICEs.
type console struct {
	*pgconn.PgConn
	mu      sync.Mutex
	notices []*pgconn.Notice
}

func openConsole(t testing.TB, tp *testPooler, user string) *console {
	t.Helper()
	cfg, err := pgconn.ParseConfig(consoleURL(tp, user, "pgbouncer"))
	if err != nil {
		t.Fatal(err)
	}
	c := &console{}
	cfg.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		c.mu.Lock()
		c.notices = append(c.notices, n)
		c.mu.Unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.PgConn, err = pgconn.ConnectConfig(ctx, cfg); err != nil {
		t.Fatalf("admin console as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// result runs sql and returns its only result; an error fails the test. Unlike ReadAll, it keeps the
// columns of a result without rows.
func (c *console) result(t testing.TB, sql string) *pgconn.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	mrr := c.Exec(ctx, sql)
	var results []*pgconn.Result
	for mrr.NextResult() {
		rr := mrr.ResultReader()
		res := &pgconn.Result{}
		for rr.NextRow() {
			var row [][]byte
			for _, v := range rr.Values() {
				if v != nil {
					v = append([]byte{}, v...)
				}
				row = append(row, v)
			}
			res.Rows = append(res.Rows, row)
		}
		res.FieldDescriptions = append(res.FieldDescriptions, rr.FieldDescriptions()...)
		res.CommandTag, res.Err = rr.Close()
		results = append(results, res)
	}
	if err := mrr.Close(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	if len(results) != 1 {
		t.Fatalf("%s: %d results, want 1", sql, len(results))
	}
	return results[0]
}

// rows runs sql and returns its rows as column name → value ("NULL" for NULL).
func (c *console) rows(t testing.TB, sql string) []map[string]string {
	t.Helper()
	res := c.result(t, sql)
	var out []map[string]string
	for _, r := range res.Rows {
		m := map[string]string{}
		for i, fd := range res.FieldDescriptions {
			if r[i] == nil {
				m[fd.Name] = "NULL"
			} else {
				m[fd.Name] = string(r[i])
			}
		}
		out = append(out, m)
	}
	return out
}

// fails runs sql, expects an ERROR with code and returns it.
func (c *console) fails(t testing.TB, sql, code string) *pgconn.PgError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.Exec(ctx, sql).ReadAll()
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("%s: got %v, want SQLSTATE %s", sql, err, code)
	}
	return pe
}

// find returns the rows whose columns have the given values (pairs of name, value).
func find(rows []map[string]string, kv ...string) []map[string]string {
	var out []map[string]string
next:
	for _, r := range rows {
		for i := 0; i+1 < len(kv); i += 2 {
			if r[kv[i]] != kv[i+1] {
				continue next
			}
		}
		out = append(out, r)
	}
	return out
}

// one is find that expects exactly one row.
func one(t testing.TB, rows []map[string]string, kv ...string) map[string]string {
	t.Helper()
	found := find(rows, kv...)
	if len(found) != 1 {
		t.Fatalf("%d rows with %v, want 1; rows: %v", len(found), kv, rows)
	}
	return found[0]
}

// TestAdminColumns: every SHOW command answers with PgBouncer 1.25's column names, in its order, with
// its type OIDs; SELECT x is SHOW x, in any case, with or without ';'.
func TestAdminColumns(t *testing.T) {
	tp := startPooler(t, withConsoleUsers)
	app := tp.connect(t)
	mustExec(t, app, "SELECT 1") // a pool with a server, so that every list has rows
	c := openConsole(t, tp, consoleAdmin)
	for cmd, spec := range consoleColumns {
		for _, sql := range []string{"SHOW " + cmd, "select " + strings.ToLower(cmd) + " ;"} {
			res := c.result(t, sql)
			want := strings.Fields(spec)
			if len(res.FieldDescriptions) != len(want) {
				t.Errorf("%s: %d columns, want %d", sql, len(res.FieldDescriptions), len(want))
				continue
			}
			for i, w := range want {
				name, letter, _ := strings.Cut(w, ":")
				fd := res.FieldDescriptions[i]
				if fd.Name != name || fd.DataTypeOID != typeLetterOID[letter] {
					t.Errorf("%s column %d: %s (OID %d), want %s (OID %d)", sql, i+1, fd.Name, fd.DataTypeOID, name, typeLetterOID[letter])
				}
			}
			if res.CommandTag.String() != "SHOW" {
				t.Errorf("%s: command tag %q, want SHOW", sql, res.CommandTag)
			}
			for _, row := range res.Rows {
				for i, fd := range res.FieldDescriptions {
					if row[i] == nil {
						continue
					}
					switch fd.DataTypeOID {
					case oidInt4:
						if _, err := strconv.ParseInt(string(row[i]), 10, 32); err != nil {
							t.Errorf("%s: %s = %q is not an int4", sql, fd.Name, row[i])
						}
					case oidInt8, oidNumeric:
						if _, err := strconv.ParseInt(string(row[i]), 10, 64); err != nil {
							t.Errorf("%s: %s = %q is not an integer", sql, fd.Name, row[i])
						}
					}
				}
			}
		}
	}
}

// TestAdminWorkload: after a known workload, SHOW STATS, STATS_TOTALS and TOTALS count exactly its
// transactions and queries (a fresh pooler counts nothing else), SHOW POOLS shows the pool's server
// idle and then active inside a transaction, and SHOW CLIENTS and SHOW SERVERS list the console itself,
// the application client and its server, linked to each other.
func TestAdminWorkload(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = "transaction"
	})
	ctx := context.Background()
	app := tp.connect(t)
	const n = 7
	for range n {
		if _, err := app.PgConn().Exec(ctx, "SELECT 1").ReadAll(); err != nil {
			t.Fatal(err)
		}
	}
	c := openConsole(t, tp, consoleAdmin)

	var stats map[string]string
	eventually(t, 5*time.Second, "SHOW STATS counts the workload", func() bool {
		stats = one(t, c.rows(t, "SHOW STATS"), "database", appDB)
		return stats["total_xact_count"] == strconv.Itoa(n)
	})
	for col, want := range map[string]string{"total_xact_count": strconv.Itoa(n), "total_query_count": strconv.Itoa(n)} {
		if stats[col] != want {
			t.Errorf("SHOW STATS %s = %s, want %s", col, stats[col], want)
		}
	}
	for _, col := range []string{"total_received", "total_sent", "total_server_assignment_count"} {
		if v, _ := strconv.Atoi(stats[col]); v <= 0 {
			t.Errorf("SHOW STATS %s = %s, want > 0", col, stats[col])
		}
	}
	if tot := one(t, c.rows(t, "SHOW STATS_TOTALS"), "database", appDB); tot["xact_count"] != strconv.Itoa(n) || tot["query_count"] != strconv.Itoa(n) {
		t.Errorf("SHOW STATS_TOTALS: %v", tot)
	}
	if tot := one(t, c.rows(t, "SHOW TOTALS"), "name", "total_xact_count"); tot["value"] != strconv.Itoa(n) {
		t.Errorf("SHOW TOTALS total_xact_count = %s, want %d", tot["value"], n)
	}
	one(t, c.rows(t, "SHOW STATS"), "database", "pgbouncer", "total_xact_count", "0")

	pools := c.rows(t, "SHOW POOLS")
	p := one(t, pools, "database", appDB, "user", appUser)
	if p["cl_active"] != "1" || p["sv_active"] != "0" || p["sv_idle"] != "1" || p["pool_mode"] != "transaction" || p["load_balance_hosts"] != "NULL" {
		t.Errorf("SHOW POOLS between transactions: %v", p)
	}
	if adm := one(t, pools, "database", "pgbouncer", "user", "pgbouncer"); adm["cl_active"] != "1" || adm["pool_mode"] != "statement" {
		t.Errorf("SHOW POOLS console pool: %v", adm)
	}

	// Inside a transaction the server is lent: active, linked to the client.
	tx, err := app.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	var pid int
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	p = one(t, c.rows(t, "SHOW POOLS"), "database", appDB, "user", appUser)
	if p["sv_active"] != "1" || p["sv_idle"] != "0" || p["cl_active"] != "1" {
		t.Errorf("SHOW POOLS inside a transaction: %v", p)
	}
	srv := one(t, c.rows(t, "SHOW SERVERS"), "database", appDB)
	clients := c.rows(t, "SHOW CLIENTS")
	cl := one(t, clients, "user", appUser, "database", appDB)
	self := one(t, clients, "user", consoleAdmin, "database", "pgbouncer")
	if srv["type"] != "S" || srv["user"] != appUser || srv["state"] != "active" || srv["remote_pid"] != strconv.Itoa(pid) || srv["replication"] != "none" {
		t.Errorf("SHOW SERVERS: %v (backend pid %d)", srv, pid)
	}
	if cl["type"] != "C" || cl["state"] != "active" || cl["link"] != srv["ptr"] || srv["link"] != cl["ptr"] || cl["addr"] != "127.0.0.1" {
		t.Errorf("SHOW CLIENTS app client %v is not linked to server %v", cl, srv)
	}
	if self["state"] != "idle" || self["link"] != "" {
		t.Errorf("SHOW CLIENTS console: %v", self)
	}
	if _, err := time.Parse("2006-01-02 15:04:05 MST", cl["connect_time"]); err != nil {
		t.Errorf("connect_time %q: %v", cl["connect_time"], err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	dbs := c.rows(t, "SHOW DATABASES")
	if d := one(t, dbs, "name", appDB); d["host"] != pg.Host || d["port"] != strconv.Itoa(pg.Port) || d["database"] != appDB ||
		d["pool_size"] != "20" || d["current_connections"] != "1" || d["force_user"] != "NULL" || d["current_client_connections"] != "1" {
		t.Errorf("SHOW DATABASES %s: %v", appDB, d)
	}
	one(t, dbs, "name", "pgbouncer", "pool_mode", "statement", "current_client_connections", "1")
	users := c.rows(t, "SHOW USERS")
	one(t, users, "name", appUser, "current_connections", "1", "current_client_connections", "1")
	one(t, users, "name", consoleAdmin)
	one(t, c.rows(t, "SHOW LISTS"), "list", "pools", "items", "2")
	one(t, c.rows(t, "SHOW LISTS"), "list", "used_servers", "items", "1")

	conf := c.rows(t, "SHOW CONFIG")
	one(t, conf, "key", "max_client_conn", "value", "100", "default", "100", "changeable", "yes")
	one(t, conf, "key", "pool_mode", "value", "transaction", "default", "session")
	one(t, conf, "key", "query_wait_timeout", "value", "120", "default", "120")
	one(t, conf, "key", "listen_port", "changeable", "no")
	one(t, conf, "key", "admin_users", "value", "someone_else, "+consoleAdmin)
	for _, r := range conf {
		if strings.Contains(r["value"], appPassword) {
			t.Errorf("SHOW CONFIG shows a password: %v", r)
		}
	}
	state := c.rows(t, "SHOW STATE")
	one(t, state, "key", "active", "value", "yes")
	one(t, state, "key", "paused", "value", "no")
	if v := c.rows(t, "SHOW VERSION"); len(v) != 1 || !strings.Contains(v[0]["version"], "pgpooler") {
		t.Errorf("SHOW VERSION: %v", v)
	}
	if rows := c.rows(t, "SHOW DNS_HOSTS"); len(rows) != 0 {
		t.Errorf("SHOW DNS_HOSTS: %v", rows)
	}
	if mem := c.rows(t, "SHOW MEM"); len(find(mem, "name", "go_heap")) != 1 {
		t.Errorf("SHOW MEM: %v", mem)
	}
}

// TestAdminPermissions: admin_users may do everything, stats_users only SHOW, anyone else cannot open
// the console; console connections do not count against max_client_conn.
func TestAdminPermissions(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.MaxClientConn = 1
	})
	tp.connect(t) // takes the only client slot

	for _, db := range []string{"pgbouncer", "pgpooler"} {
		_, err := tryConnect(consoleURL(tp, "nobody_here", db))
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Fatalf("console %s as a user in neither list: %v, want 42501", db, err)
		}
	}

	stats := openConsole(t, tp, consoleStats)
	one(t, stats.rows(t, "SHOW POOLS"), "database", appDB, "user", appUser)
	for _, cmd := range []string{"PAUSE", "PAUSE app", "RESUME", "KILL", "KILL_CLIENT 1", "SHUTDOWN", "RELOAD", "RECONNECT app",
		"DISABLE app", "ENABLE app", "SUSPEND", "WAIT_CLOSE", "SET default_pool_size = 5", "SHOW FDS"} {
		if pe := stats.fails(t, cmd, "42501"); pe.Message != "admin access needed" {
			t.Errorf("%s as stats user: %q", cmd, pe.Message)
		}
	}
	stats.result(t, "SET client_encoding = 'UTF8'") // a fake parameter: ignored, for anyone
	stats.fails(t, "RELOAD now", "42601")           // syntax before permission, as PgBouncer

	adm := openConsole(t, tp, consoleAdmin)
	adm.fails(t, "DISABLE", "42601")
	adm.fails(t, "KILL_CLIENT abc", "42601")
	adm.fails(t, "SHUTDOWN NOW", "42601")
	adm.fails(t, "SUSPEND app", "42601")
	// PAUSE reaches the control commands: whatever they answer, it is not a permission or syntax error.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.Exec(ctx, "PAUSE "+appDB).ReadAll()
	var pe *pgconn.PgError
	switch {
	case err == nil:
		if res[0].CommandTag.String() != "PAUSE" {
			t.Errorf("PAUSE: tag %q", res[0].CommandTag)
		}
		one(t, adm.rows(t, "SHOW DATABASES"), "name", appDB, "paused", "1")
		adm.result(t, "RESUME "+appDB)
		one(t, adm.rows(t, "SHOW DATABASES"), "name", appDB, "paused", "0")
	case errors.As(err, &pe) && pe.Code != "42501" && pe.Code != "42601":
	default:
		t.Errorf("PAUSE as admin: %v", err)
	}

	// A second application client is over max_client_conn; the consoles were not counted.
	if _, err := tryConnect(tp.url(appDB)); err == nil || !strings.Contains(err.Error(), "53300") {
		t.Errorf("second application client: %v, want 53300", err)
	}
}

// TestAdminProtocol: what the console accepts and how it answers: case, blanks and ';', SELECT 1 and
// SELECT version(), the empty query, unknown and multiple commands, SHOW HELP's NOTICE; the extended
// query protocol gets a clear error and the connection is closed, while pgx's simple protocol works.
func TestAdminProtocol(t *testing.T) {
	tp := startPooler(t, withConsoleUsers)
	c := openConsole(t, tp, consoleAdmin)
	for _, q := range []string{"show version", "SHOW VERSION;", "  Show\tVersion  ;  ", `SHOW "version"`, "select version"} {
		if rows := c.rows(t, q); len(rows) != 1 || !strings.Contains(rows[0]["version"], "pgpooler") {
			t.Errorf("%q: %v", q, rows)
		}
	}
	res := c.result(t, "SELECT 1")
	if len(res.Rows) != 1 || string(res.Rows[0][0]) != "1" || res.FieldDescriptions[0].DataTypeOID != oidInt4 || res.CommandTag.String() != "SELECT 1" {
		t.Errorf("SELECT 1: %v %v %q", res.FieldDescriptions, res.Rows, res.CommandTag)
	}
	if rows := c.rows(t, "select version();"); len(rows) != 1 || !strings.Contains(rows[0]["version"], "PgBouncer 1.25") {
		t.Errorf("SELECT version(): %v", rows)
	}
	if res := c.result(t, ""); len(res.Rows) != 0 || len(res.FieldDescriptions) != 0 {
		t.Errorf("empty query: %v", res)
	}
	c.result(t, " ; ")
	if pe := c.fails(t, "FROBNICATE", "42601"); !strings.Contains(pe.Message, "invalid command") {
		t.Errorf("unknown command: %q", pe.Message)
	}
	c.fails(t, "SHOW NOTHING", "42601")
	c.fails(t, "SHOW POOLS; SHOW STATS", "42601")
	c.fails(t, "SHOW POOLS EXTRA", "42601")
	if rows := c.rows(t, "SHOW client_encoding"); len(rows) != 1 || rows[0]["client_encoding"] != "UTF8" {
		t.Errorf("SHOW client_encoding: %v", rows)
	}
	c.result(t, "SHOW HELP")
	c.mu.Lock()
	if len(c.notices) != 1 || c.notices[0].Message != "Console usage" || !strings.Contains(c.notices[0].Detail, "SHOW HELP|CONFIG|DATABASES") {
		t.Errorf("SHOW HELP notices: %+v", c.notices)
	}
	c.mu.Unlock()
	if p := c.ParameterStatus("server_version"); !strings.HasSuffix(p, "/pgpooler") {
		t.Errorf("server_version %q", p)
	}
	if p := c.ParameterStatus("client_encoding"); p != "UTF8" {
		t.Errorf("client_encoding %q", p)
	}

	// pgx's default (extended protocol): an error that says why, at once.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ext, err := pgx.Connect(ctx, consoleURL(tp, consoleAdmin, "pgbouncer"))
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close(context.Background())
	rows, err := ext.Query(ctx, "SHOW POOLS") // prepared: Parse, Describe, Sync
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	if err == nil || !strings.Contains(err.Error(), "extended query protocol not supported") || ctx.Err() != nil {
		t.Errorf("extended protocol: %v (context: %v)", err, ctx.Err())
	}

	// pgx's simple protocol works, scanning the console's types.
	simple, err := pgx.Connect(ctx, consoleURL(tp, consoleStats, "pgpooler")+"&default_query_exec_mode=simple_protocol")
	if err != nil {
		t.Fatal(err)
	}
	defer simple.Close(context.Background())
	rows, err = simple.Query(ctx, "SHOW STATS_TOTALS")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		if len(vals) != 12 {
			t.Errorf("SHOW STATS_TOTALS via pgx: %v", vals)
		}
		n++
	}
	if rows.Err() != nil || n != 1 { // the console's own database
		t.Errorf("SHOW STATS_TOTALS via pgx: %d rows, %v", n, rows.Err())
	}
}

// TestAdminPsql: psql pgbouncer -c 'SHOW POOLS' works, as with PgBouncer.
func TestAdminPsql(t *testing.T) {
	tp := startPooler(t, withConsoleUsers)
	mustExec(t, tp.connect(t), "SELECT 1")
	run := func(sql string) string {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "psql", "-X", "-h", "127.0.0.1", "-p", strconv.Itoa(tp.port), "-U", consoleAdmin, "pgbouncer", "-c", sql).CombinedOutput()
		if err != nil {
			t.Fatalf("psql -c %q: %v\n%s", sql, err, out)
		}
		return string(out)
	}
	out := run("SHOW POOLS")
	for _, want := range []string{"cl_active", "maxwait_us", "pgbouncer", appDB} {
		if !strings.Contains(out, want) {
			t.Errorf("psql SHOW POOLS lacks %q:\n%s", want, out)
		}
	}
	if out := run("SHOW HELP"); !strings.Contains(out, "Console usage") || !strings.Contains(out, "SHOW HELP|CONFIG") {
		t.Errorf("psql SHOW HELP:\n%s", out)
	}
}

// TestAdminConcurrent: consoles SHOW CLIENTS, SERVERS and POOLS while application clients come and go.
func TestAdminConcurrent(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = "transaction"
	})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := tryConnect(tp.pgxURL(appDB))
				if err != nil {
					t.Errorf("client %d: %v", i, err)
					return
				}
				_, _ = conn.Exec(context.Background(), "SELECT 1")
				conn.Close(context.Background())
			}
		}()
	}
	for range 3 {
		c := openConsole(t, tp, consoleStats)
		for range 30 {
			for _, q := range []string{"SHOW CLIENTS", "SHOW SERVERS", "SHOW POOLS", "SHOW USERS", "SHOW DATABASES", "SHOW LISTS"} {
				c.result(t, q)
			}
		}
		c.Close(context.Background())
	}
	close(stop)
	wg.Wait()
}
