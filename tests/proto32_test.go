package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// Protocol 3.2 to clients (issue 12): PostgreSQL protocol docs, "Protocol Versions", "Message Formats"
// (BackendKeyData, CancelRequest, NegotiateProtocolVersion).

// connect32 opens a pgx connection through the pooler that insists on protocol 3.2
// (min_protocol_version=3.2: pgx fails the connection if it is negotiated down to 3.0).
func connect32(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url+"&min_protocol_version=3.2&max_protocol_version=3.2")
	if err != nil {
		t.Fatalf("connect with protocol 3.2: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestProtocol32Cancel: a pgx client asking for protocol 3.2 gets it, with a 32-byte secret key in
// BackendKeyData, and its CancelRequest with that key (12 + 32 bytes) cancels its pg_sleep (57014); a
// CancelRequest with the right process ID and a wrong 32-byte key, the key's first 4 bytes (a 3.0-length
// key) or the key and one byte more cancels nothing and is counted as an unknown key; a 3.0 client next
// to it still gets a 4-byte key; the console gives a 3.2 client a 32-byte key too. Before, pgpooler
// answered every 3.2 StartupMessage with NegotiateProtocolVersion naming 3.0 ("connect with protocol 3.2:
// failed to connect to ...: server protocol version too low").
func TestProtocol32Cancel(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		transactionPool(2)(c)
	})
	ctx := context.Background()
	conn := connect32(t, tp.pgxURL(appDB))
	key := conn.PgConn().SecretKey()
	if len(key) != 32 {
		t.Fatalf("BackendKeyData of a protocol 3.2 client: %d-byte key; want 32", len(key))
	}
	if old := tp.connect(t).PgConn().SecretKey(); len(old) != 4 {
		t.Fatalf("BackendKeyData of a protocol 3.0 client: %d-byte key; want 4", len(old))
	}
	if k := conn.PgConn().SecretKey(); bytes.Equal(k, make([]byte, 32)) {
		t.Fatal("the 32-byte key is all zeros")
	}
	super := superConn(t, pg)
	sleeping := func(q string) {
		t.Helper()
		eventually(t, 5*time.Second, "pg_sleep running", func() bool {
			var n int
			_ = super.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE query = $1 AND state = 'active'", q).Scan(&n)
			return n == 1
		})
	}

	// Wrong keys first, during a short sleep that must then end normally.
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(1)")
		done <- err
	}()
	sleeping("SELECT pg_sleep(1)")
	pid := conn.PgConn().PID()
	flipped := bytes.Clone(key)
	flipped[31] ^= 1
	before := tp.srv.Snapshot().Cancels
	wrong := [][]byte{flipped, key[:4], append(bytes.Clone(key), 0)}
	for _, k := range wrong {
		sendCancel(t, tp.addr(), pid, k)
	}
	if err := <-done; err != nil {
		t.Fatalf("query with wrong 3.2 cancel keys sent: %v; want success", err)
	}
	after := tp.srv.Snapshot().Cancels
	if got := after.UnknownKey - before.UnknownKey; got != int64(len(wrong)) {
		t.Fatalf("wrong keys counted as unknown: %d; want %d", got, len(wrong))
	}

	// The right key cancels.
	go func() {
		_, err := conn.Exec(ctx, "SELECT pg_sleep(30)")
		done <- err
	}()
	sleeping("SELECT pg_sleep(30)")
	if err := conn.PgConn().CancelRequest(ctx); err != nil {
		t.Fatalf("CancelRequest: %v", err)
	}
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("query not cancelled within 10s")
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Fatalf("got %v, want SQLSTATE 57014", err)
	}
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		t.Fatalf("connection after cancel: %v", err)
	}

	// The console.
	cons, err := pgconn.Connect(ctx, consoleURL(tp, consoleAdmin, "pgbouncer")+"&min_protocol_version=3.2&max_protocol_version=3.2")
	if err != nil {
		t.Fatalf("console with protocol 3.2: %v", err)
	}
	defer cons.Close(ctx)
	if n := len(cons.SecretKey()); n != 32 {
		t.Fatalf("console's BackendKeyData for a protocol 3.2 client: %d-byte key; want 32", n)
	}
}

// TestProtocol33Negotiated: a StartupMessage asking for protocol 3.3 (newer than any) is answered with
// NegotiateProtocolVersion naming 3.2, then a protocol 3.2 welcome (a 32-byte key); a 3.1 request is told
// 3.0 and gets a 4-byte key; a 3.2 request gets no NegotiateProtocolVersion. Before, 3.3 was told 3.0
// ("3.3: NegotiateProtocolVersion names 3.0; want 3.2").
func TestProtocol33Negotiated(t *testing.T) {
	tp := startPooler(t, malformedConfig)
	for _, c := range []struct {
		name    string
		version uint32
		npv     int // the minor version NegotiateProtocolVersion names; -1: none
		keyLen  int
	}{
		{"3.3", 3<<16 | 3, 2, 32},
		{"3.65535", 3<<16 | 0xffff, 2, 32},
		{"3.1", 3<<16 | 1, 0, 4},
		{"3.2", 3<<16 | 2, -1, 32},
	} {
		conn := dialRaw(t, tp)
		fe := pgproto3.NewFrontend(conn, conn)
		fe.Send(&rawStartup{version: c.version, params: []string{"user", appUser, "database", appDB}})
		if err := fe.Flush(); err != nil {
			t.Fatal(err)
		}
		npv, keyLen := -1, -1
		for ready := false; !ready; {
			msg, err := fe.Receive()
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			switch m := msg.(type) {
			case *pgproto3.NegotiateProtocolVersion:
				npv = int(m.NewestMinorProtocol)
				if len(m.UnrecognizedOptions) != 0 {
					t.Fatalf("%s: NegotiateProtocolVersion names options %q; want none", c.name, m.UnrecognizedOptions)
				}
			case *pgproto3.BackendKeyData:
				keyLen = len(m.SecretKey)
			case *pgproto3.ErrorResponse:
				t.Fatalf("%s: %s %s", c.name, m.Code, m.Message)
			case *pgproto3.ReadyForQuery:
				ready = true
			}
		}
		if npv != c.npv {
			t.Fatalf("%s: NegotiateProtocolVersion names 3.%d (-1: none); want 3.%d", c.name, npv, c.npv)
		}
		if keyLen != c.keyLen {
			t.Fatalf("%s: BackendKeyData with a %d-byte key; want %d", c.name, keyLen, c.keyLen)
		}
		conn.Close()
	}
}

// rawStartup is a StartupMessage of any protocol version (pgproto3's refuses all but 3.0 and 3.2).
type rawStartup struct {
	version uint32
	params  []string // name, value, name, value, ...
}

func (*rawStartup) Frontend() {}

func (m *rawStartup) Decode([]byte) error { return errors.New("not decoded") }

func (m *rawStartup) Encode(dst []byte) ([]byte, error) {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, m.version)
	for _, s := range m.params {
		dst = append(append(dst, s...), 0)
	}
	dst = append(dst, 0)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start))
	return dst, nil
}

// TestCancelRequestLengthBounded: a CancelRequest announcing a key over 256 bytes, or under 4, is refused
// from its first 8 bytes, without waiting for (or taking in) the rest: the connection is closed, with at
// most an 08P01 ErrorResponse, while the client still holds back its body; a 256-byte key is read and
// cancels nothing. Before, pgpooler waited for the announced body until client_login_timeout ("length
// 12+257: no close within 5s: read tcp ...: i/o timeout").
func TestCancelRequestLengthBounded(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		malformedConfig(c)
		c.Pooler.ClientLoginTimeout = config.Duration(60 * time.Second) // far beyond the test's wait
	})
	for _, c := range []struct {
		name   string
		length uint32
	}{
		{"length 12+257", 12 + 257},
		{"length 12+5000", 12 + 5000},
		{"length 11", 11},
	} {
		conn := dialRaw(t, tp)
		hdr := binary.BigEndian.AppendUint32(nil, c.length)
		hdr = binary.BigEndian.AppendUint32(hdr, 80877102)
		if _, err := conn.Write(hdr); err != nil {
			t.Fatal(err)
		}
		out, err := io.ReadAll(conn) // dialRaw's deadline: 5 s
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: no close within %s: %v", c.name, rawDeadline, err)
		}
		if len(out) > 0 {
			fe := pgproto3.NewFrontend(bytes.NewReader(out), io.Discard)
			msg, err := fe.Receive()
			if e, ok := msg.(*pgproto3.ErrorResponse); err != nil || !ok || e.Code != "08P01" {
				t.Fatalf("%s: answered %T %+v (%v); want nothing or 08P01", c.name, msg, msg, err)
			}
		}
		conn.Close()
	}
	before := tp.srv.Snapshot().Cancels
	sendCancel(t, tp.addr(), 1, bytes.Repeat([]byte{7}, 256))
	if got := tp.srv.Snapshot().Cancels.UnknownKey - before.UnknownKey; got != 1 {
		t.Fatalf("a 256-byte key counted as unknown %d times; want 1", got)
	}
}
