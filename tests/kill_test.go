package tests

// Issue 10, finding 3: KILL_CLIENT and KILL do not wait on the socket of a client that stopped reading
// (here one that asked for a 100 MB result and reads none of it); the console stays usable, and only the
// clients the command names are closed.

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// killPooler starts a pooler in transaction mode with the console users.
func killPooler(t *testing.T) (*testPooler, *console) {
	t.Helper()
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.PoolMode = config.PoolModeTransaction
	})
	return tp, openConsole(t, tp, consoleAdmin)
}

// idleClients opens n pgx clients of db, each having run a query.
func idleClients(t *testing.T, tp *testPooler, db string, n int) []*pgx.Conn {
	t.Helper()
	var out []*pgx.Conn
	for range n {
		c := connectDB(t, tp, db)
		mustExec(t, c, "SELECT 1")
		out = append(out, c)
	}
	return out
}

// stuckClient logs in to db, asks for about 100 MB and reads none of it. It returns once the pooler is
// stuck writing to it: PostgreSQL waits to write (ClientWrite) and the bytes the pool has sent to
// clients stay the same from one poll to the next. Its socket is closed when the test ends, before the
// pooler stops.
func stuckClient(t *testing.T, tp *testPooler, db string) (port int) {
	t.Helper()
	nc := rawClient(t, tp, db, false)
	if _, err := nc.Write(queryBytes("SELECT repeat('x', 1000) FROM generate_series(1, 100000) /* stuck */")); err != nil {
		t.Fatal(err)
	}
	super := superConn(t, pg)
	var lastSent int64 = -1
	eventually(t, 20*time.Second, "the pooler stuck writing to a client that does not read", func() bool {
		var waiting bool
		q := "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'ClientWrite' AND query LIKE '%/* stuck */' AND pid <> pg_backend_pid()"
		if err := super.QueryRow(context.Background(), q, db).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		var sent int64
		for _, p := range tp.srv.Snapshot().Pools {
			if p.Database == db {
				sent = p.Counters.Sent
			}
		}
		stable := sent == lastSent
		lastSent = sent
		if !stable {
			time.Sleep(200 * time.Millisecond) // sent is compared across polls: let the relay move if it can
		}
		return waiting && stable
	})
	return nc.LocalAddr().(*net.TCPAddr).Port
}

// awaitKilled reads c, an idle client, until the pooler closes it, and fails the test unless it got
// FATAL 57P01 first; it reports whether it did.
func awaitKilled(t *testing.T, what string, c net.Conn) bool {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fe := pgproto3.NewFrontend(c, io.Discard)
	msg, err := fe.Receive()
	if er, ok := msg.(*pgproto3.ErrorResponse); err != nil || !ok || er.Code != "57P01" || er.Severity != "FATAL" {
		t.Errorf("%s received %T %+v (%v), want FATAL 57P01", what, msg, msg, err)
		return false
	}
	if _, err := fe.Receive(); err == nil {
		t.Errorf("%s: the connection is still open after FATAL", what)
		return false
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("%s: the connection is still open 10 s after FATAL", what)
		return false
	}
	return true
}

// stillWork fails the test unless every one of conns runs a query; it returns how many did.
func stillWork(t *testing.T, what string, conns []*pgx.Conn) (worked int) {
	t.Helper()
	for i, c := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := c.Exec(ctx, "SELECT 1")
		cancel()
		if err != nil {
			t.Errorf("%s client %d: %v", what, i, err)
		} else {
			worked++
		}
	}
	return worked
}

// TestKillClientNotReading: KILL_CLIENT of a client that stopped reading returns (within the console
// helper's 10 s deadline: the old code hung), the client is gone from SHOW CLIENTS and its query from
// PostgreSQL, the console keeps answering, and idle clients of its own and of another database keep
// working.
func TestKillClientNotReading(t *testing.T) {
	a, b := isolatedDB(t, "pooler_kill"), isolatedDB(t, "pooler_kill_other")
	tp, con := killPooler(t)
	onA, onB := idleClients(t, tp, a, 3), idleClients(t, tp, b, 3)
	port := stuckClient(t, tp, a)
	victim := listedClient(t, con, port)
	if victim == nil {
		t.Fatal("SHOW CLIENTS does not list the stuck client")
	}
	began := time.Now()
	con.result(t, "KILL_CLIENT "+victim["id"])
	returned := time.Since(began)
	eventually(t, 5*time.Second, "the killed client gone from SHOW CLIENTS", func() bool { return listedClient(t, con, port) == nil })
	unlisted := time.Since(began)
	super := superConn(t, pg)
	eventually(t, 10*time.Second, "the killed client's query gone from PostgreSQL", func() bool {
		var n int
		q := "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query LIKE '%/* stuck */' AND pid <> pg_backend_pid()"
		if err := super.QueryRow(context.Background(), q, a).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	queryGone := time.Since(began)
	kept := stillWork(t, "a bystander of the killed client's database", onA) + stillWork(t, "a bystander of another database", onB)
	t.Logf("reliability: kill KILL_CLIENT of a client not reading its 100 MB result: the command returned in %s; the client was gone from SHOW CLIENTS after %s and its query from PostgreSQL after %s; bystanders kept %d of %d (its database and another), closed %d",
		roundTime(returned), roundTime(unlisted), roundTime(queryGone), kept, len(onA)+len(onB), len(onA)+len(onB)-kept)
}

// TestKillDatabaseNotReading: KILL db with a client of db that stopped reading returns promptly (within
// the console helper's 10 s deadline: the old code hung) and closes every client of db, the idle ones
// with FATAL 57P01, as PgBouncer's KILL does ("immediately drop all client and server connections on
// given database"); clients of another database keep working, the console keeps answering, and after
// RESUME db serves new clients.
func TestKillDatabaseNotReading(t *testing.T) {
	a, b := isolatedDB(t, "pooler_kill"), isolatedDB(t, "pooler_kill_other")
	tp, con := killPooler(t)
	var onA []net.Conn
	for range 5 {
		onA = append(onA, rawClient(t, tp, a, false))
	}
	onB := idleClients(t, tp, b, 5)
	port := stuckClient(t, tp, a)
	began := time.Now()
	con.result(t, "KILL "+a)
	returned := time.Since(began)
	killed := 0
	for i, c := range onA {
		if awaitKilled(t, fmt.Sprintf("idle client %d of the killed database", i), c) {
			killed++
		}
	}
	eventually(t, 5*time.Second, "no client of the killed database in SHOW CLIENTS", func() bool {
		return len(find(con.rows(t, "SHOW CLIENTS"), "database", a)) == 0 && listedClient(t, con, port) == nil
	})
	unlisted := time.Since(began)
	kept := stillWork(t, "a client of another database", onB)
	con.result(t, "RESUME "+a)
	queryWorks(t, tp.url(a))
	t.Logf("reliability: kill KILL of a database with a client not reading its 100 MB result: the command returned in %s; its idle clients got 57P01 and were closed: %d of %d; all its clients were gone from SHOW CLIENTS after %s; bystanders of another database kept %d of %d, closed %d; after RESUME it served a new client",
		roundTime(returned), killed, len(onA), roundTime(unlisted), kept, len(onB), len(onB)-kept)
}
