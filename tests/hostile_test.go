package tests

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// Hostile peers on both sides of the pooler: a server that answers a login with what no PostgreSQL
// sends, and clients that break the start-up and authentication exchanges. Each gets a clean FATAL with a
// SQLSTATE, promptly, and the pooler goes on serving everyone else.

// fakeServer is a TCP listener on loopback that speaks the server side of a login with pgproto3.Backend:
// each connection is handed to handle. It stands in for a malicious or broken PostgreSQL.
type fakeServer struct {
	ln   net.Listener
	wg   sync.WaitGroup
	port int
}

func startFakeServer(t *testing.T, handle func(be *pgproto3.Backend, conn net.Conn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := &fakeServer{ln: ln, port: ln.Addr().(*net.TCPAddr).Port}
	fs.wg.Add(1)
	go func() {
		defer fs.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			fs.wg.Add(1)
			go func() {
				defer fs.wg.Done()
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(time.Minute))
				be := pgproto3.NewBackend(conn, conn)
				for {
					msg, err := be.ReceiveStartupMessage()
					if err != nil {
						return
					}
					if _, ok := msg.(*pgproto3.StartupMessage); ok {
						break
					}
					if _, err := conn.Write([]byte{'N'}); err != nil { // SSLRequest, GSSEncRequest: no
						return
					}
				}
				handle(be, conn)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); fs.wg.Wait() })
	return fs
}

// hostileConfig routes database "hostile" to fs (logging in with a password, so that SCRAM with a
// password is what the pooler runs) and every other database to the shared PostgreSQL.
func hostileConfig(fs *fakeServer) func(*config.Config) {
	return func(c *config.Config) {
		c.Databases["hostile"] = config.Database{Host: "127.0.0.1", Port: fs.port, DBName: "hostile", Password: "hostile-pw"}
		c.Pooler.ServerConnectTimeout = config.Duration(30 * time.Second)
		c.Pooler.PoolMode = config.PoolModeTransaction
		withConsoleUsers(c)
	}
}

// connectErr connects to db through the pooler and returns the PostgreSQL error of a failed login; it
// fails the test if the login succeeds or fails otherwise (no answer within the deadline included).
func connectErr(t *testing.T, tp *testPooler, db string, within time.Duration) *pgconn.PgError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	conn, err := pgx.Connect(ctx, tp.pgxURL(db))
	if err == nil {
		conn.Close(context.Background())
		t.Fatalf("login to %s succeeded", db)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		t.Fatalf("login to %s: %v; want a PostgreSQL error within %s", db, err, within)
	}
	return pe
}

// servedMeanwhile checks that clients of another pool log in and run queries, and the admin console
// answers SHOW POOLS, while a login to the hostile server is in progress.
func servedMeanwhile(t *testing.T, tp *testPooler) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i := 0; i < 3; i++ {
		conn, err := pgx.Connect(ctx, tp.pgxURL(appDB))
		if err != nil {
			t.Fatalf("client %d of %s during the hostile login: %v", i, appDB, err)
		}
		var n int
		err = conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&n)
		conn.Close(context.Background())
		if err != nil || n != i+1 {
			t.Fatalf("client %d of %s during the hostile login: %d, %v", i, appDB, n, err)
		}
	}
	rows := openConsole(t, tp, consoleAdmin).rows(t, "SHOW POOLS")
	if len(find(rows, "database", "hostile")) != 1 {
		t.Fatalf("SHOW POOLS during the hostile login has no pool of database hostile: %v", rows)
	}
}

// TestHostileSCRAMIterations: a server whose server-first-message asks for 2,000,000,000 PBKDF2
// iterations (minutes of CPU) is refused at once with 08P01 naming the limit, auth.MaxSCRAMIterations;
// while that login waits on the server, clients of another pool and the admin console are served.
func TestHostileSCRAMIterations(t *testing.T) {
	gate := make(chan struct{})        // closed when the server may send its server-first-message
	reached := make(chan struct{}, 10) // a login reached the stalled point
	answered := make(chan string, 10)  // what the pooler did after the server-first-message
	fs := startFakeServer(t, func(be *pgproto3.Backend, conn net.Conn) {
		be.Send(&pgproto3.AuthenticationSASL{AuthMechanisms: []string{auth.MechSCRAMSHA256}})
		if be.Flush() != nil {
			return
		}
		be.SetAuthType(pgproto3.AuthTypeSASL)
		msg, err := be.Receive()
		first, ok := msg.(*pgproto3.SASLInitialResponse)
		if err != nil || !ok {
			answered <- fmt.Sprintf("expected SASLInitialResponse, got %T %v", msg, err)
			return
		}
		_, nonce, _ := strings.Cut(string(first.Data), ",r=")
		reached <- struct{}{}
		<-gate
		salt := base64.StdEncoding.EncodeToString([]byte("hostile-salt"))
		be.Send(&pgproto3.AuthenticationSASLContinue{Data: []byte("r=" + nonce + "srv,s=" + salt + ",i=2000000000")})
		if be.Flush() != nil {
			return
		}
		be.SetAuthType(pgproto3.AuthTypeSASLContinue)
		msg, err = be.Receive()
		answered <- fmt.Sprintf("%T %v", msg, err)
	})
	tp := startPooler(t, hostileConfig(fs))
	errc := make(chan *pgconn.PgError, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, tp.pgxURL("hostile"))
		if err == nil {
			conn.Close(context.Background())
		}
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			pe = &pgconn.PgError{Code: "none", Message: fmt.Sprint(err)}
		}
		errc <- pe
	}()
	select {
	case <-reached:
	case <-time.After(15 * time.Second):
		t.Fatal("the pooler's login never reached the hostile server's SCRAM exchange")
	}
	servedMeanwhile(t, tp)
	released := time.Now()
	close(gate)
	pe := <-errc
	refusedAfter := time.Since(released)
	if pe.Code != "08P01" || !strings.Contains(pe.Message, "1000000") {
		t.Fatalf("login through a server asking for 2e9 SCRAM iterations: %s %q; want 08P01 naming the limit of 1000000 iterations", pe.Code, pe.Message)
	}
	if got := <-answered; !strings.Contains(got, "EOF") && !strings.Contains(got, "reset") {
		t.Fatalf("after the server-first-message the pooler sent %s; want it to close the connection", got)
	}
	// A second login is refused as quickly (server_login_retry's cached error or a new attempt).
	began := time.Now()
	second := connectErr(t, tp, "hostile", 30*time.Second)
	if pe := second; pe.Code != "08P01" {
		t.Fatalf("second login to the hostile server: %s %q, want 08P01", pe.Code, pe.Message)
	}
	secondAfter := time.Since(began)
	stillServes(t, tp)
	t.Logf("reliability: hostile server asking for 2,000,000,000 SCRAM iterations: the client got %s %s after the server-first-message, and the pooler closed the server connection; a second login got %s in %s; other pools and the console were served meanwhile",
		pe.Code, roundTime(refusedAfter), second.Code, roundTime(secondAfter))
}

// TestHostileServerLengths: a server that answers the pooler's StartupMessage with a message length at
// or beyond 2^31 (or just under it, for a message that never arrives) is refused at once with 08P01,
// without the pooler reserving memory for it, and the pooler goes on serving other pools.
func TestHostileServerLengths(t *testing.T) {
	for _, n := range []uint32{0x7fffffff, 0x80000000, 0xffffffff, 3} {
		t.Run(fmt.Sprintf("length %#x", n), func(t *testing.T) {
			fs := startFakeServer(t, func(be *pgproto3.Backend, conn net.Conn) {
				_, _ = conn.Write(header5('R', n))
				_, _ = conn.Write(make([]byte, 64)) // then a little, and wait
				var b [1]byte
				_, _ = conn.Read(b[:])
			})
			tp := startPooler(t, hostileConfig(fs))
			began := time.Now()
			pe := connectErr(t, tp, "hostile", 20*time.Second)
			if pe.Code != "08P01" {
				t.Fatalf("login through a server sending length %#x: %s %q, want 08P01", n, pe.Code, pe.Message)
			}
			took := time.Since(began)
			stillServes(t, tp)
			t.Logf("reliability: hostile server answering the StartupMessage with length %#x: the client got %s in %s; other pools served",
				n, pe.Code, roundTime(took))
		})
	}
}

// scramPooler is a pooler asking clients for SCRAM-SHA-256 against appUser's secret from pg_authid.
func scramPooler(t *testing.T) *testPooler {
	return startPooler(t, func(c *config.Config) {
		malformedConfig(c)
		c.Pooler.AuthType = "scram-sha-256"
		c.Pooler.AuthFile = writeUserlist(t, appUser, storedSecret(t, appUser))
	})
}

// TestHostileSecondStartupDuringSCRAM: a client that sends a second StartupMessage where a SASL message
// is due (after AuthenticationSASL, or after the server-first-message) gets FATAL 08P01 and a closed
// connection; the pooler keeps serving.
func TestHostileSecondStartupDuringSCRAM(t *testing.T) {
	tp := scramPooler(t)
	bystander, err := tryConnect(urlAs(tp, appUser, appPassword, appDB, "default_query_exec_mode=exec"))
	if err != nil {
		t.Fatal(err)
	}
	defer bystander.Close(context.Background())
	startup := &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": appUser, "database": appDB}}
	saw := sqlstates{}
	var slow slowest
	for _, afterFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("after server-first-message %v", afterFirst), func(t *testing.T) {
			conn, fe := dialStartup(t, tp, appUser)
			defer conn.Close()
			if msg, err := fe.Receive(); err != nil {
				t.Fatal(err)
			} else if _, ok := msg.(*pgproto3.AuthenticationSASL); !ok {
				t.Fatalf("got %T, want AuthenticationSASL", msg)
			}
			if afterFirst {
				fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: auth.MechSCRAMSHA256, Data: []byte("n,,n=,r=abcdefghijkl")})
				if err := fe.Flush(); err != nil {
					t.Fatal(err)
				}
				if msg, err := fe.Receive(); err != nil {
					t.Fatal(err)
				} else if _, ok := msg.(*pgproto3.AuthenticationSASLContinue); !ok {
					t.Fatalf("got %T, want AuthenticationSASLContinue", msg)
				}
			}
			began := time.Now()
			fe.Send(startup)
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			wantViolation(t, conn, "08P01")
			slow.add(time.Since(began))
			saw["08P01"]++
		})
	}
	stillServes(t, tp, bystander)
	t.Logf("reliability: hostile client sending a second StartupMessage during SCRAM (after AuthenticationSASL, after the server-first-message): %s FATAL then closed, slowest %s; the pooler kept serving",
		saw, slow)
}

// TestHostileOptions: malformed "options" start-up parameters ("-c=" and its kin, PgBouncer's and
// PostgreSQL's parsing differ there) get a FATAL with a SQLSTATE before any authentication or server is
// involved, and the pooler keeps serving.
func TestHostileOptions(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	bystander := tp.connect(t)
	saw := sqlstates{}
	var slow slowest
	for _, tc := range []struct{ options, code string }{
		{"-c=", "42601"},
		{"-c", "42601"},
		{"-c =x", "42601"},
		{"-c==", "42601"},
		{"--=", "42601"},
		{"--", "42601"},
		{"-c\\=x", "42601"},
		{"-c work_mem", "42601"},
		{"-c work_mem=1MB -c=", "42601"},
		{"-x", "0A000"},
		{"-", "0A000"},
		{"\\-c a=b", "42704"}, // an escaped "-" is just a "-": -c a=b, refused by PostgreSQL
		{"work_mem=1MB", "0A000"},
		{"-c a=b extra", "0A000"},
	} {
		t.Run(tc.options, func(t *testing.T) {
			c := dialRaw(t, tp)
			began := time.Now()
			send(c, encodeFrontend(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
				Parameters: map[string]string{"user": appUser, "database": appDB, "options": tc.options}}), false)
			wantViolation(t, c, tc.code)
			slow.add(time.Since(began))
			saw[tc.code]++
		})
	}
	stillServes(t, tp, bystander)
	t.Logf("reliability: hostile client with malformed options start-up parameters: %s FATAL then closed, slowest %s; the pooler kept serving",
		saw, slow)
}

// TestHostileLengths: message lengths at and beyond 2^31 (negative as int32) and just under it, in the
// start-up packet, in the SASL exchange and after login, get FATAL 08P01 without the pooler waiting for
// or reserving memory for the message; the pooler keeps serving.
func TestHostileLengths(t *testing.T) {
	lengths := []uint32{0x7fffffff, 0x80000000, 0x80000004, 0xfffffffc, 0xffffffff}
	t.Run("startup", func(t *testing.T) {
		tp := startPooler(t, malformedConfig)
		bystander := tp.connect(t)
		saw := sqlstates{}
		var slow slowest
		for _, n := range lengths {
			began := time.Now()
			if (rawCase{name: fmt.Sprintf("length %#x", n), input: binary.BigEndian.AppendUint32(nil, n), code: "08P01"}.run(t, tp, nil)) {
				saw["08P01"]++
			}
			slow.add(time.Since(began))
		}
		stillServes(t, tp, bystander)
		t.Logf("reliability: hostile client with start-up packet lengths of 2^31-1 and beyond: %s FATAL then closed (of %d), slowest %s; the pooler kept serving",
			saw, len(lengths), slow)
	})
	t.Run("after login", func(t *testing.T) {
		tp := startPooler(t, malformedConfig)
		bystander := tp.connect(t)
		saw := sqlstates{}
		var slow slowest
		for _, typ := range []byte{'Q', 'P', 'B', 'S', 'd'} {
			for _, n := range lengths {
				began := time.Now()
				if (rawCase{name: fmt.Sprintf("%c length %#x", typ, n), login: true, input: header5(typ, n), code: "08P01"}.run(t, tp, nil)) {
					saw["08P01"]++
				}
				slow.add(time.Since(began))
			}
		}
		stillServes(t, tp, bystander)
		t.Logf("reliability: hostile client with Q/P/B/S/d message lengths of 2^31-1 and beyond after login: %s FATAL then closed (of %d), slowest %s (login included); the pooler kept serving",
			saw, 5*len(lengths), slow)
	})
	t.Run("SASL", func(t *testing.T) {
		tp := scramPooler(t)
		saw := sqlstates{}
		var slow slowest
		for _, n := range lengths {
			t.Run(fmt.Sprintf("length %#x", n), func(t *testing.T) {
				conn, fe := dialStartup(t, tp, appUser)
				defer conn.Close()
				if _, err := fe.Receive(); err != nil { // AuthenticationSASL
					t.Fatal(err)
				}
				began := time.Now()
				if _, err := conn.Write(header5('p', n)); err != nil {
					t.Fatal(err)
				}
				wantViolation(t, conn, "08P01")
				slow.add(time.Since(began))
				saw["08P01"]++
			})
		}
		queryWorks(t, urlAs(tp, appUser, appPassword, appDB, ""))
		t.Logf("reliability: hostile client with SASL message lengths of 2^31-1 and beyond: %s FATAL then closed (of %d), slowest %s; the pooler kept serving",
			saw, len(lengths), slow)
	})
}
