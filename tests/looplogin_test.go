package tests

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// Logins on the event loops (pooler/looplogin.go): with event_loops on, a TCP client's start-up, SSL and
// GSS negotiation and trust/md5/SCRAM/cleartext authentication run on its loop, with no goroutine of its
// own; what blocks is handed to a goroutine first. On the goroutine relay (PGPOOLER_EVENT_LOOPS=0) the same
// behaviour is checked, and both counts stay 0.

// wantLoopLogins checks Server.LoopLogins against the logins a test made, when event_loops is on.
func wantLoopLogins(t *testing.T, tp *testPooler, onLoop, handedOff uint64) {
	t.Helper()
	if !tp.cfg.Pooler.EventLoops {
		onLoop, handedOff = 0, 0
	}
	gotOn, gotOff := tp.srv.LoopLogins()
	if gotOn != onLoop || gotOff != handedOff {
		t.Fatalf("logins on the loops %d, handed to a goroutine %d; want %d and %d", gotOn, gotOff, onLoop, handedOff)
	}
}

// TestLoginsOnLoops: SCRAM logins from auth_file (log_connections and log_disconnections on), each a
// connection that runs a query and closes, end on the loop, but for the first: a pool that has never
// logged in to a server has no parameters to greet a client with, so its first login waits for a server,
// in a goroutine. A wrong password fails on the loop with 28P01, counted in neither.
func TestLoginsOnLoops(t *testing.T) {
	db := isolatedDB(t, "pooler_looplogin")
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
		c.Pooler.PoolMode = config.PoolModeTransaction
		c.Pooler.LogConnections = true
		c.Pooler.LogDisconnections = true
	})
	const n = 20
	for i := 0; i < n; i++ {
		queryWorks(t, urlAs(tp, appUser, appPassword, db, ""))
	}
	_, err := tryConnect(urlAs(tp, appUser, "wrong", db, ""))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" {
		t.Fatalf("wrong password: %v, want SQLSTATE 28P01", err)
	}
	wantLoopLogins(t, tp, n-1, 1)
	eventually(t, 5*time.Second, "disconnections logged", func() bool {
		return strings.Count(tp.logs.String(), "client disconnected") >= n
	})
	if got := strings.Count(tp.logs.String(), "client connected"); got != n {
		t.Fatalf("%d \"client connected\" lines, want %d", got, n)
	}
}

// TestLoopLoginDribbled: a start-up packet and a password exchange that arrive a byte per write (each
// one an OnData of its own on the loop) log in as if sent whole, and the client is served on the loop.
func TestLoopLoginDribbled(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "plain"
		c.Pooler.AuthPlainWithoutTLS = true
		c.Pooler.AuthFile = writeUserlist(t, appUser, appPassword)
	})
	queryWorks(t, urlAs(tp, appUser, appPassword, appDB, "")) // the pool's first login: handed off (TestLoginsOnLoops)
	conn, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	dribble := func(m pgproto3.FrontendMessage) {
		t.Helper()
		b, err := m.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range b {
			if _, err := conn.Write(b[i : i+1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	fe := pgproto3.NewFrontend(conn, conn)
	dribble(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": appUser, "database": appDB}})
	m, err := fe.Receive()
	if _, ok := m.(*pgproto3.AuthenticationCleartextPassword); !ok || err != nil {
		t.Fatalf("first answer %T, %v; want AuthenticationCleartextPassword", m, err)
	}
	dribble(&pgproto3.PasswordMessage{Password: appPassword})
	for {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := m.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("login failed: %s %s", e.Code, e.Message)
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	dribble(&pgproto3.Query{String: "SELECT 41 + 1"})
	for {
		m, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if d, ok := m.(*pgproto3.DataRow); ok && string(d.Values[0]) != "42" {
			t.Fatalf("SELECT 41 + 1 returned %q", d.Values[0])
		}
		if _, ok := m.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	wantLoopLogins(t, tp, 1, 1)
}

// TestLoopLoginBadStartup: start-up packets the loop refuses get PostgreSQL's answer (08P01 for a
// length out of range or a bad protocol, 0A000 for an unsupported version) or a closed connection, never a
// hang or a crash, and the pooler goes on logging clients in on the loop.
func TestLoopLoginBadStartup(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.ClientLoginTimeout = config.Duration(10 * time.Second)
	})
	queryWorks(t, tp.url(appDB)) // the pool's first login: handed off (TestLoginsOnLoops)
	packet := func(length uint32, version uint32, rest string) []byte {
		b := binary.BigEndian.AppendUint32(nil, length)
		b = binary.BigEndian.AppendUint32(b, version)
		return append(b, rest...)
	}
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"length below 8", packet(4, 3<<16, "")},
		{"length above the limit", packet(1<<30, 3<<16, "")},
		{"protocol 9.0", packet(16, 9<<16, "user\x00x\x00\x00")},
		{"no terminator", packet(14, 3<<16, "user\x00x")},
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("no answer and no close within 5 s (read %q)", b)
			}
			if len(b) > 0 && b[0] != 'E' {
				t.Fatalf("answer %q, want an ErrorResponse or a close", b)
			}
		})
	}
	queryWorks(t, tp.url(appDB))
	wantLoopLogins(t, tp, 1, 1)
}

// TestLoopLoginHandoffs: what would block a loop is handed to a goroutine part way through the login and
// behaves as before: a TLS client (the handshake), the admin console, a CancelRequest.
func TestLoopLoginHandoffs(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) {
		clientTLS(c, certs, config.SSLModePrefer)
	})
	tlsConnWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require"))
	wantLoopLogins(t, tp, 0, 1)

	queryWorks(t, poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "disable"))
	wantLoopLogins(t, tp, 1, 1)

	// A CancelRequest with a key nobody has: handed off (forwarding one dials a server), then closed.
	c, err := net.DialTimeout("tcp", tp.addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cancel := binary.BigEndian.AppendUint32(nil, 16)
	cancel = binary.BigEndian.AppendUint32(cancel, 80877102)
	cancel = binary.BigEndian.AppendUint32(cancel, 12345)
	cancel = binary.BigEndian.AppendUint32(cancel, 67890)
	if _, err := c.Write(cancel); err != nil {
		t.Fatal(err)
	}
	awaitPeerClose(t, c, time.Now(), 5*time.Second)
	wantLoopLogins(t, tp, 1, 2)

	// The admin console: handed off, then served (or refused) by its goroutine.
	conn, err := pgconn.Connect(context.Background(), consoleURL(tp, appUser, "pgbouncer"))
	if err == nil {
		conn.Close(context.Background())
	}
	wantLoopLogins(t, tp, 1, 3)
}
