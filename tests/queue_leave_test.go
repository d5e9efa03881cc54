package tests

// Issue 10, finding 2: a client that waits in line for a server (pool busy) and goes away (closes its
// socket, is reset, or is killed with KILL_CLIENT) leaves the line at once, and what it sent never runs.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// queuePooler starts a pooler with a single server in transaction mode and the console users, with
// client TLS when withTLS is set (client_tls_sslmode prefer: the console stays on plain TCP), and
// returns it with a URL for pgx clients of appDB (sslmode require with TLS).
func queuePooler(t *testing.T, withTLS bool) (*testPooler, string) {
	t.Helper()
	var certs *pgtest.Certs
	if withTLS {
		certs = newTLSCerts(t)
	}
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.QueryWaitTimeout = config.Duration(60 * time.Second) // far beyond the test: must not be what ends a wait
		if certs != nil {
			clientTLS(c, certs, config.SSLModePrefer)
		}
	})
	mode := "disable"
	if withTLS {
		mode = "require"
	}
	return tp, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", mode, "default_query_exec_mode", "exec")
}

// rawClient logs in to db as appUser (auth_type trust) on a socket of the test's own, over TLS when
// withTLS is set (SSLRequest, then a handshake that does not check the pooler's certificate), and
// returns the connection after the pooler's ReadyForQuery. Not pgx: pgconn may leave a background read
// pending on its socket after a slow write, which would take the first bytes of the next answer.
func rawClient(t *testing.T, tp *testPooler, db string, withTLS bool) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.addr(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	nc := c
	if withTLS {
		if _, err := c.Write(binary.BigEndian.AppendUint32([]byte{0, 0, 0, 8}, 80877103)); err != nil { // SSLRequest
			t.Fatal(err)
		}
		var answer [1]byte
		if _, err := io.ReadFull(c, answer[:]); err != nil || answer[0] != 'S' {
			t.Fatalf("SSLRequest answered %q, %v; want 'S'", answer[:], err)
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"postgresql"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		nc = tc
	}
	startup, _ := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": appUser, "database": db}}).Encode(nil)
	if _, err := nc.Write(startup); err != nil {
		t.Fatal(err)
	}
	readUntilReady(t, pgproto3.NewFrontend(nc, io.Discard))
	_ = c.SetDeadline(time.Time{})
	return nc
}

// queryBytes is a simple-protocol Query message.
func queryBytes(sql string) []byte {
	b, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	return b
}

// appPool returns SHOW POOLS' row of appUser's pool on appDB (nil when there is none yet).
func appPool(t testing.TB, con *console) map[string]string {
	t.Helper()
	for _, r := range con.rows(t, "SHOW POOLS") {
		if r["database"] == appDB && r["user"] == appUser {
			return r
		}
	}
	return nil
}

// listedClient returns SHOW CLIENTS' row of the client whose socket has the given local port, or nil.
func listedClient(t testing.TB, con *console, port int) map[string]string {
	t.Helper()
	for _, r := range con.rows(t, "SHOW CLIENTS") {
		if r["port"] == strconv.Itoa(port) {
			return r
		}
	}
	return nil
}

// within polls cond every 20 ms until it holds (true) or the time runs out (false).
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// holdServer makes conn hold the pool's only server inside a transaction; commit ends it.
func holdServer(t *testing.T, conn *pgx.Conn) (commit func()) {
	t.Helper()
	mustExec(t, conn, "BEGIN")
	mustExec(t, conn, "SELECT 1")
	return func() { mustExec(t, conn, "COMMIT") }
}

// queueTagCount counts the rows of queue_leave with tag, read straight from PostgreSQL.
func queueTagCount(t *testing.T, tag string) int {
	t.Helper()
	direct := superConnTo(t, appDB)
	var n int
	if err := direct.QueryRow(context.Background(), "SELECT count(*) FROM queue_leave WHERE tag = $1", tag).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// superConnTo opens a direct superuser connection to database db.
func superConnTo(t testing.TB, db string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.SuperConnString(db))
	if err != nil {
		t.Fatalf("direct superuser connection to %s: %v", db, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestQueueLeave: pool_size 1 in transaction mode; while one client holds the server in a transaction,
// a second client sends an INSERT and waits in line (or, in one variant, waits for RESUME of a PAUSEd
// database); then it goes away: it closes its socket, its socket is reset, it closes its TLS connection,
// or the console kills it with KILL_CLIENT. Within a few seconds (query_wait_timeout is 60 s) SHOW POOLS
// has no client waiting and SHOW CLIENTS no longer lists it; after the first client commits (or RESUME)
// and a later client has had the freed server, the INSERT has not run.
func TestQueueLeave(t *testing.T) {
	for _, v := range []struct {
		name   string
		tls    bool
		paused bool   // the client waits for RESUME instead of for a busy server
		saw    string // what the leaving client received, for the summary line
		leave  func(t *testing.T, con *console, nc net.Conn, port int)
	}{
		{name: "close", leave: func(t *testing.T, _ *console, nc net.Conn, _ int) { nc.Close() }},
		{name: "close while paused", paused: true, leave: func(t *testing.T, _ *console, nc net.Conn, _ int) { nc.Close() }},
		{name: "reset", leave: func(t *testing.T, _ *console, nc net.Conn, _ int) {
			_ = nc.(*net.TCPConn).SetLinger(0) // close with RST
			nc.Close()
		}},
		{name: "tls close", tls: true, leave: func(t *testing.T, _ *console, nc net.Conn, _ int) { nc.Close() }},
		{name: "KILL_CLIENT", saw: "FATAL 57P01, then its connection closed", leave: func(t *testing.T, con *console, nc net.Conn, port int) {
			c := listedClient(t, con, port)
			if c == nil {
				t.Fatal("SHOW CLIENTS does not list the waiting client")
			}
			con.result(t, "KILL_CLIENT "+c["id"])
			// The client is told, and its connection closed.
			_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			fe := pgproto3.NewFrontend(nc, io.Discard)
			msg, err := fe.Receive()
			if er, ok := msg.(*pgproto3.ErrorResponse); err != nil || !ok || er.Code != "57P01" {
				t.Fatalf("killed client received %T %+v (%v), want FATAL 57P01", msg, msg, err)
			}
			if _, err := fe.Receive(); err == nil {
				t.Fatal("killed client's connection is still open")
			}
			nc.Close()
		}},
	} {
		t.Run(v.name, func(t *testing.T) {
			tp, url := queuePooler(t, v.tls)
			con := openConsole(t, tp, consoleAdmin)
			holder, err := tryConnect(url)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close(context.Background())
			mustExec(t, holder, "CREATE TABLE IF NOT EXISTS queue_leave (tag text)")
			tag := fmt.Sprintf("%s-%d", v.name, time.Now().UnixNano())
			var release func()
			if v.paused {
				con.result(t, "PAUSE "+appDB)
				release = func() { con.result(t, "RESUME "+appDB) }
			} else {
				release = holdServer(t, holder)
			}

			nc := rawClient(t, tp, appDB, v.tls)
			port := nc.LocalAddr().(*net.TCPAddr).Port
			if _, err := nc.Write(queryBytes("INSERT INTO queue_leave VALUES ('" + tag + "')")); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the INSERT waits in line", func() bool {
				p := appPool(t, con)
				return p != nil && p["cl_waiting"] == "1"
			})

			left := time.Now()
			v.leave(t, con, nc, port)
			gone := within(5*time.Second, func() bool {
				return appPool(t, con)["cl_waiting"] == "0" && listedClient(t, con, port) == nil
			})
			outAfter := time.Since(left)
			if !gone {
				t.Errorf("5 s after the waiting client went away: SHOW POOLS %v, SHOW CLIENTS %v; want it out of line and unlisted",
					appPool(t, con), listedClient(t, con, port))
			}

			release()
			later := connectDB(t, tp, appDB) // FIFO: the freed server goes to the waiter first, if it is still in line
			mustExec(t, later, "SELECT 1")
			rows := queueTagCount(t, tag)
			if rows != 0 {
				t.Errorf("the INSERT of a client that had gone away ran: %d row(s) with tag %s", rows, tag)
			}
			waitedFor, out, saw := "a busy server (pool_size 1)", fmt.Sprintf("out of line and unlisted %s after it went away", roundTime(outAfter)), v.saw
			if v.paused {
				waitedFor = "RESUME of its PAUSEd database"
			}
			if !gone {
				out = fmt.Sprintf("still in line or listed %s after it went away", roundTime(outAfter))
			}
			if saw == "" {
				saw = "nothing (it closed its side)"
			}
			t.Logf("reliability: queue leave %s: a client waiting for %s with an INSERT went away (query_wait_timeout 60s) and got %s; it was %s; rows run %d",
				v.name, waitedFor, saw, out, rows)
		})
	}
}

// encodeAll encodes frontend messages one after the other.
func encodeAll(t *testing.T, msgs ...pgproto3.FrontendMessage) []byte {
	t.Helper()
	var b []byte
	for _, m := range msgs {
		var err error
		if b, err = m.Encode(b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// TestQueuePipelinedWhileWaiting: what a waiting client sends while it waits is not lost, over plain TCP
// and TLS. It waits with the start of a query and sends the rest in line, or it waits with a whole
// Parse (held by the pooler while it waits, with max_prepared_statements) and sends its Bind, Execute
// and Sync in line; then, still in line, a query larger than a read buffer and one more INSERT. Once the
// server is free, every answer comes in order and both INSERTs land.
func TestQueuePipelinedWhileWaiting(t *testing.T) {
	for _, withTLS := range []bool{false, true} {
		for _, parse := range []bool{false, true} {
			name := map[bool]string{false: "tcp", true: "tls"}[withTLS] + map[bool]string{false: " split query", true: " parse"}[parse]
			t.Run(name, func(t *testing.T) { pipelineWhileWaiting(t, withTLS, parse) })
		}
	}
}

func pipelineWhileWaiting(t *testing.T, withTLS, parse bool) {
	tp, url := queuePooler(t, withTLS)
	con := openConsole(t, tp, consoleAdmin)
	holder, err := tryConnect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	mustExec(t, holder, "CREATE TABLE IF NOT EXISTS queue_leave (tag text)")
	tag := fmt.Sprintf("pipelined-%t-%t-%d", withTLS, parse, time.Now().UnixNano())
	commit := holdServer(t, holder)

	nc := rawClient(t, tp, appDB, withTLS)
	var first, rest []byte
	want := []string{"INSERT 0 1", "Z"}
	if parse {
		// About 300 bytes: the Parse and what follows fill the Reader's small array while in line.
		sql := "INSERT INTO queue_leave VALUES ($1) /* " + strings.Repeat("p", 260) + " */"
		first = encodeAll(t, &pgproto3.Parse{Query: sql, ParameterOIDs: []uint32{25}})
		rest = encodeAll(t, &pgproto3.Bind{Parameters: [][]byte{[]byte(tag + "-1")}}, &pgproto3.Execute{}, &pgproto3.Sync{})
		want = append([]string{"1", "2"}, want...)
	} else {
		q := queryBytes("INSERT INTO queue_leave VALUES ('" + tag + "-1')")
		first, rest = q[:7], q[7:] // the header and two bytes: enough to queue
	}
	const bigLen = 40000 // more than a read buffer (pgwire.BufferSize, 16 KiB)
	rest = append(rest, queryBytes("SELECT length('"+strings.Repeat("x", bigLen)+"')")...)
	rest = append(rest, queryBytes("INSERT INTO queue_leave VALUES ('"+tag+"-3')")...)
	want = append(want, strconv.Itoa(bigLen), "SELECT 1", "Z", "INSERT 0 1", "Z")

	if _, err := nc.Write(first); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the first message waits in line", func() bool {
		p := appPool(t, con)
		return p != nil && p["cl_waiting"] == "1"
	})
	wrote := make(chan error, 1)
	go func() { _, err := nc.Write(rest); wrote <- err }()
	if err := recvWithin(t, wrote, "writing the rest while in line"); err != nil {
		t.Fatal(err)
	}
	commit()

	_ = nc.SetReadDeadline(time.Now().Add(15 * time.Second))
	fe := pgproto3.NewFrontend(nc, io.Discard)
	var got []string
	for ready := 0; ready < 3; {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		switch m := msg.(type) {
		case *pgproto3.ParseComplete:
			got = append(got, "1")
		case *pgproto3.BindComplete:
			got = append(got, "2")
		case *pgproto3.CommandComplete:
			got = append(got, string(m.CommandTag))
		case *pgproto3.DataRow:
			got = append(got, string(m.Values[0]))
		case *pgproto3.ErrorResponse:
			t.Fatalf("after %v: %s %s", got, m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			ready++
			got = append(got, "Z")
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("answers %v, want %v", got, want)
	}
	if n := queueTagCount(t, tag+"-1") + queueTagCount(t, tag+"-3"); n != 2 {
		t.Fatalf("%d of the 2 INSERTs landed", n)
	}
}
