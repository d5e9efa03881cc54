package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// rawDeadline bounds every exchange of a raw client with the pooler: the pooler must answer or close
// within it, never leave the client hanging.
const rawDeadline = 5 * time.Second

// malformedMaxPacket is the max_packet_size of the poolers here: small enough that a 1 MB message header is
// refused, large enough that a 100 kB message is forwarded by streaming.
const malformedMaxPacket = 256 << 10

// malformedConfig is the configuration of these tests: transaction mode with a single server, so that a
// server left in a bad state by a malformed client would be the one the next client gets.
func malformedConfig(c *config.Config) {
	c.Pooler.PoolMode = config.PoolModeTransaction
	c.Pooler.DefaultPoolSize = 1
	c.Pooler.MaxPacketSize = malformedMaxPacket
}

// dialRaw opens a plain TCP connection to the pooler with a rawDeadline deadline.
func dialRaw(t *testing.T, tp *testPooler) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", tp.addr(), rawDeadline)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(rawDeadline))
	return c.(*net.TCPConn)
}

// startupBytes is a valid protocol 3.0 StartupMessage for appUser on appDB.
func startupBytes(t *testing.T) []byte {
	return encodeFrontend(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30,
		Parameters: map[string]string{"user": appUser, "database": appDB}})
}

// encodeFrontend encodes a message as a client sends it.
func encodeFrontend(t *testing.T, m pgproto3.FrontendMessage) []byte {
	t.Helper()
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// loginRaw opens a raw connection and logs in (auth_type trust) up to the first ReadyForQuery.
func loginRaw(t *testing.T, tp *testPooler) *net.TCPConn {
	t.Helper()
	c := dialRaw(t, tp)
	if _, err := c.Write(startupBytes(t)); err != nil {
		t.Fatal(err)
	}
	readUntilReady(t, pgproto3.NewFrontend(c, c))
	_ = c.SetDeadline(time.Now().Add(rawDeadline))
	return c
}

// answer reads what the pooler sends until it closes the connection and returns the ErrorResponses
// among it. A connection still open after rawDeadline fails the test: the pooler hung.
func answer(t *testing.T, c net.Conn) []pgproto3.ErrorResponse {
	t.Helper()
	var errs []pgproto3.ErrorResponse
	fe := pgproto3.NewFrontend(c, io.Discard)
	for {
		msg, err := fe.Receive()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("pooler neither answered nor closed the connection within %s (got %d errors)", rawDeadline, len(errs))
			}
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				return errs
			}
			t.Fatalf("reading the pooler's answer: %v", err)
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			errs = append(errs, *e)
		}
	}
}

// wantViolation fails the test unless the pooler answers with a FATAL ErrorResponse code and closes.
func wantViolation(t *testing.T, c net.Conn, code string) {
	t.Helper()
	errs := answer(t, c)
	if !slices.ContainsFunc(errs, func(e pgproto3.ErrorResponse) bool { return e.Code == code && e.Severity == "FATAL" }) {
		t.Fatalf("pooler answered %+v, want a FATAL ErrorResponse %s before closing", errs, code)
	}
}

// wantClosedOrFatal fails the test unless the pooler closes, after at most FATAL ErrorResponses.
func wantClosedOrFatal(t *testing.T, c net.Conn) {
	t.Helper()
	for _, e := range answer(t, c) {
		if e.Severity != "FATAL" && e.Severity != "ERROR" {
			t.Fatalf("pooler answered %+v", e)
		}
	}
}

// send writes b, then half-closes when closeWrite is set so that the pooler sees the end of the stream
// rather than waiting for bytes that never come. A failed write is not an error: the pooler may already
// have refused the connection.
func send(c *net.TCPConn, b []byte, closeWrite bool) {
	_, _ = c.Write(b)
	if closeWrite {
		_ = c.CloseWrite()
	}
}

// header5 returns a message header: type byte and int32 length.
func header5(typ byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ}, n)
}

// stillServes checks that the pooler serves a new pgx client and the clients already connected.
func stillServes(t *testing.T, tp *testPooler, others ...*pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for i, conn := range append([]*pgx.Conn{tp.connect(t)}, others...) {
		var n int
		if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("client %d after the malformed one: SELECT 1 = %d, %v", i, n, err)
		}
	}
}

// rawCase is one malformed client.
type rawCase struct {
	name  string
	login bool   // log in first, then send input
	input []byte // what the client sends
	// code is the SQLSTATE of the FATAL ErrorResponse the pooler must answer with before closing the
	// connection on its own; the client keeps its side open. When empty, the client closes its side after
	// input and the pooler must close too, with at most a FATAL or ERROR ErrorResponse.
	code string
}

// run runs c as a subtest and then, unless bystander is nil, checks that the pooler still serves a new
// client and bystander; it reports whether the subtest passed.
func (c rawCase) run(t *testing.T, tp *testPooler, bystander *pgx.Conn) (passed bool) {
	return t.Run(c.name, func(t *testing.T) {
		var conn *net.TCPConn
		if c.login {
			conn = loginRaw(t, tp)
		} else {
			conn = dialRaw(t, tp)
		}
		send(conn, c.input, c.code == "")
		if c.code != "" {
			wantViolation(t, conn, c.code)
		} else {
			wantClosedOrFatal(t, conn)
		}
		if bystander != nil {
			stillServes(t, tp, bystander)
		}
	})
}

// randomCases returns clients that send random bytes of the given sizes, the same for the same seed.
func randomCases(seed int64, login bool, sizes ...int) []rawCase {
	rng := rand.New(rand.NewSource(seed))
	out := make([]rawCase, len(sizes))
	for i, n := range sizes {
		b := make([]byte, n)
		rng.Read(b)
		out[i] = rawCase{name: fmt.Sprintf("random %d bytes", n), login: login, input: b}
	}
	return out
}

// TestMalformedStartup: clients whose first packet is malformed get FATAL 08P01 (0A000 for protocol 2.0)
// or a closed connection, promptly, and the pooler goes on serving.
func TestMalformedStartup(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	bystander := tp.connect(t)
	v2 := startupBytes(t)
	binary.BigEndian.PutUint32(v2[4:], 2<<16)
	valid := startupBytes(t)
	cases := append(randomCases(20251121, false, 1, 3, 4, 5, 8, 64, 1000, 10000, 100000),
		// Only the length word is sent where the pooler must refuse before reading further: bytes it
		// never reads could turn its close into a reset that loses the ErrorResponse.
		rawCase{name: "length 0x7fffffff", input: []byte{0x7f, 0xff, 0xff, 0xff}, code: "08P01"},
		rawCase{name: "length 3", input: []byte{0, 0, 0, 3}, code: "08P01"},
		rawCase{name: "length 0", input: []byte{0, 0, 0, 0}, code: "08P01"},
		rawCase{name: "length 10001", input: []byte{0, 0, 0x27, 0x11}, code: "08P01"},
		rawCase{name: "direct TLS", input: []byte{0x16, 0x03, 0x01, 0x02}, code: "08P01"},
		rawCase{name: "protocol 2.0", input: v2, code: "0A000"},
		rawCase{name: "no terminator", input: append(binary.BigEndian.AppendUint32(nil, 13), 0, 3, 0, 0, 'u', 0, 'v', 0, 'x'), code: "08P01"},
		rawCase{name: "truncated startup then close", input: valid[:len(valid)-5]},
	)
	for _, c := range cases {
		c.run(t, tp, bystander)
	}
	t.Run("SSLRequest then length 3", func(t *testing.T) {
		conn := dialRaw(t, tp)
		send(conn, encodeFrontend(t, &pgproto3.SSLRequest{}), false)
		var b [1]byte
		if _, err := io.ReadFull(conn, b[:]); err != nil || b[0] != 'N' {
			t.Fatalf("SSLRequest answered %q, %v; want 'N'", b[:], err)
		}
		send(conn, []byte{0, 0, 0, 3}, false)
		wantViolation(t, conn, "08P01")
		stillServes(t, tp, bystander)
	})
}

// TestMalformedAfterLogin: logged-in clients that send malformed messages get FATAL 08P01 or a closed
// connection, promptly; a message cut short (even one partly streamed to the server) does not leave the
// only server unusable for the next client.
func TestMalformedAfterLogin(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	bystander := tp.connect(t)
	small := encodeFrontend(t, &pgproto3.Query{String: "SELECT 1"})
	large := encodeFrontend(t, &pgproto3.Query{String: "SELECT 1 /*" + strings.Repeat("x", 100000) + "*/"})
	cases := append([]rawCase{
		{name: "invalid type byte", login: true, input: header5('!', 4), code: "08P01"},
		{name: "type byte zero", login: true, input: header5(0, 4), code: "08P01"},
		{name: "Query with length 2", login: true, input: header5('Q', 2), code: "08P01"},
		{name: "Query with negative length", login: true, input: header5('Q', 0x80000000), code: "08P01"},
		{name: "Query with a 1 MB length", login: true, input: header5('Q', 1<<20), code: "08P01"},
		{name: "Query then invalid type byte", login: true, input: append(bytes.Clone(small), header5('!', 4)...), code: "08P01"},
		{name: "truncated Query then close", login: true, input: small[:8]},
		{name: "truncated header then close", login: true, input: small[:3]},
		// Streamed: part of it reached the server, which must not serve anyone else now.
		{name: "truncated large Query then close", login: true, input: large[:50000]},
	}, randomCases(7, true, 1, 5, 16, 300, 5000, 70000)...)
	for _, c := range cases {
		c.run(t, tp, bystander)
	}
}

// TestMalformedClientDuringTransaction: while client A is inside a transaction on the only server
// (transaction mode, pool_size 1), malformed clients are refused without disturbing A, which commits.
func TestMalformedClientDuringTransaction(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	ctx := context.Background()
	a := tp.connect(t)
	mustExec(t, a, "DROP TABLE IF EXISTS malformed_tx")
	mustExec(t, a, "CREATE TABLE malformed_tx (id int)")
	t.Cleanup(func() { _, _ = a.Exec(context.Background(), "DROP TABLE IF EXISTS malformed_tx") })
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO malformed_tx VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	malformed := []rawCase{
		{name: "startup length 3", input: []byte{0, 0, 0, 3}, code: "08P01"},
		{name: "startup length 0x7fffffff", input: []byte{0x7f, 0xff, 0xff, 0xff}, code: "08P01"},
		randomCases(3, false, 2000)[0],
		{name: "invalid type byte", login: true, input: header5('!', 4), code: "08P01"},
		{name: "Query with length 2", login: true, input: header5('Q', 2), code: "08P01"},
		{name: "Query with a 1 MB length", login: true, input: header5('Q', 1<<20), code: "08P01"},
	}
	for _, m := range malformed {
		// No new client is tried meanwhile: it would wait for the server that A holds.
		m.run(t, tp, nil)
		if _, err := tx.Exec(ctx, "INSERT INTO malformed_tx VALUES (2)"); err != nil {
			t.Fatalf("A inside its transaction after %s: %v", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("A's commit: %v", err)
	}
	var n int
	if err := tp.connect(t).QueryRow(ctx, "SELECT count(*) FROM malformed_tx").Scan(&n); err != nil || n != 1+len(malformed) {
		t.Fatalf("rows after A's commit: %d, %v; want %d", n, err, 1+len(malformed))
	}
}

// TestMalformedNewerProtocolNegotiated: a protocol 3.2 StartupMessage with a "_pq_." option is answered
// with NegotiateProtocolVersion (newest minor 2, the version spoken, and the option unrecognized) and then
// a working protocol 3.2 session.
func TestMalformedNewerProtocolNegotiated(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	c := dialRaw(t, tp)
	fe := pgproto3.NewFrontend(c, c)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion32,
		Parameters: map[string]string{"user": appUser, "database": appDB, "_pq_.foo": "on"}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	msg, err := fe.Receive()
	if err != nil {
		t.Fatal(err)
	}
	npv, ok := msg.(*pgproto3.NegotiateProtocolVersion)
	if !ok {
		t.Fatalf("first message %T %+v, want NegotiateProtocolVersion", msg, msg)
	}
	if npv.NewestMinorProtocol != 2 || !slices.Equal(npv.UnrecognizedOptions, []string{"_pq_.foo"}) {
		t.Fatalf("NegotiateProtocolVersion %+v, want minor 2 and [_pq_.foo] unrecognized", npv)
	}
	// The rest of the welcome is protocol 3.2: AuthenticationOk, ..., a 32-byte cancel key, ReadyForQuery.
	var authOK, keyData bool
	for ready := false; !ready; {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationOk:
			authOK = true
		case *pgproto3.BackendKeyData:
			if len(m.SecretKey) != 32 {
				t.Fatalf("BackendKeyData with a %d-byte key in protocol 3.2, want 32", len(m.SecretKey))
			}
			keyData = true
		case *pgproto3.ErrorResponse:
			t.Fatalf("login after negotiation: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			ready = true
		}
	}
	if !authOK || !keyData {
		t.Fatalf("welcome without AuthenticationOk (%v) or BackendKeyData (%v)", authOK, keyData)
	}
	fe.Send(&pgproto3.Query{String: "SELECT 40 + 2"})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	var got string
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatal(err)
		}
		if dr, ok := msg.(*pgproto3.DataRow); ok && len(dr.Values) == 1 {
			got = string(dr.Values[0])
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("query after negotiation: %s %s", e.Code, e.Message)
		}
		if _, ok := msg.(*pgproto3.ReadyForQuery); ok {
			break
		}
	}
	if got != "42" {
		t.Fatalf("SELECT 40 + 2 returned %q", got)
	}
	fe.Send(&pgproto3.Terminate{})
	_ = fe.Flush()
}
