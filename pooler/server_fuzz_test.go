package pooler

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pgwire"
)

// Fuzz targets for what the pooler decodes from PostgreSQL: the whole login exchange (authentication
// requests and SCRAM, ParameterStatus, BackendKeyData, ErrorResponse, ReadyForQuery), and errors and
// parameter reports on their own.

// scriptConn is a net.Conn whose reads come from a fixed byte string (then io.EOF) and whose writes are
// recorded: a server (or client) that says what the fuzzer says, whatever it is asked.
type scriptConn struct {
	in  *bytes.Reader
	out bytes.Buffer
}

func newScriptConn(in []byte) *scriptConn { return &scriptConn{in: bytes.NewReader(in)} }

func (c *scriptConn) Read(p []byte) (int, error)  { return c.in.Read(p) }
func (c *scriptConn) Write(p []byte) (int, error) { return c.out.Write(p) }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 6432}
}
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// backendMsg encodes a message as PostgreSQL sends it.
func backendMsg(tb testing.TB, m pgproto3.BackendMessage) []byte {
	tb.Helper()
	b, err := m.Encode(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// checkClientError fails unless err is a FATAL *pgwire.Error with a well-formed SQLSTATE.
func checkClientError(t *testing.T, err error) *pgwire.Error {
	t.Helper()
	var pe *pgwire.Error
	if !errors.As(err, &pe) || pe.Severity != pgwire.SeverityFatal || !validSQLState(pe.Code) {
		t.Fatalf("error %v (%T), want a FATAL *pgwire.Error with a SQLSTATE", err, err)
	}
	return pe
}

const fuzzServerPassword = "fuzz-server-password"

// FuzzServerLogin runs serverConn.login against a server that answers with the fuzzer's bytes, with no
// credentials, a password, an md5 secret or SCRAM passthrough keys (creds % 4). It checks that the login
// succeeds only on a ReadyForQuery, fails only with a FATAL *pgwire.Error with a SQLSTATE (08P01 for an
// iteration count over auth.MaxSCRAMIterations), never sends the cleartext password unless asked for it
// (AuthenticationCleartextPassword), writes only well-framed messages, and records only parameters the
// server reported.
func FuzzServerLogin(f *testing.F) {
	ok := backendMsg(f, &pgproto3.AuthenticationOk{})
	welcome := bytes.Join([][]byte{
		backendMsg(f, &pgproto3.ParameterStatus{Name: "TimeZone", Value: "UTC"}),
		backendMsg(f, &pgproto3.BackendKeyData{ProcessID: 42, SecretKey: []byte{1, 2, 3, 4}}),
		backendMsg(f, &pgproto3.ReadyForQuery{TxStatus: 'I'}),
	}, nil)
	sasl := backendMsg(f, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{auth.MechSCRAMSHA256}})
	salt := "c2FsdHNhbHQ="
	for _, seed := range []struct {
		creds uint8
		in    []byte
	}{
		{0, append(bytes.Clone(ok), welcome...)},
		{1, bytes.Join([][]byte{backendMsg(f, &pgproto3.AuthenticationCleartextPassword{}), ok, welcome}, nil)},
		{2, bytes.Join([][]byte{backendMsg(f, &pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}}), ok, welcome}, nil)},
		{1, bytes.Join([][]byte{sasl, backendMsg(f, &pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=" + salt + ",i=2000000000")})}, nil)},
		{1, bytes.Join([][]byte{sasl, backendMsg(f, &pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=" + salt + ",i=4096")})}, nil)},
		{3, bytes.Join([][]byte{sasl, backendMsg(f, &pgproto3.AuthenticationSASLContinue{Data: []byte("r=abc,s=" + salt + ",i=4096")})}, nil)},
		{1, append(bytes.Clone(sasl), backendMsg(f, &pgproto3.AuthenticationSASLFinal{Data: []byte("v=x")})...)},
		{0, backendMsg(f, &pgproto3.ErrorResponse{Severity: "FATAL", Code: "28P01", Message: "password authentication failed"})},
		{0, backendMsg(f, &pgproto3.ErrorResponse{Severity: "FATAL", Message: "no SQLSTATE"})},
		{0, append(bytes.Clone(ok), backendMsg(f, &pgproto3.NoticeResponse{Severity: "NOTICE", Code: "00000", Message: "hi"})...)},
		{0, binary.BigEndian.AppendUint32([]byte{'R'}, 0x7fffffff)},
		{0, binary.BigEndian.AppendUint32([]byte{'R'}, 0x80000000)},
		{0, []byte{'K', 0, 0, 0, 8, 0, 0, 0, 1}},
		{1, []byte("Z\x00\x00\x00\b0000")}, // a ReadyForQuery of 4 status bytes was once accepted
		{0, []byte{'R', 0, 0, 0, 8, 0, 0, 0, 99}},
		{0, nil},
	} {
		f.Add(seed.creds, seed.in)
	}
	secret := auth.SCRAMSecretFromPassword("keys", []byte("saltsalt"), 4096)
	keys := &scramKeys{clientKey: auth.ClientKeyFromPassword("keys", []byte("saltsalt"), 4096), secret: secret}
	f.Fuzz(func(t *testing.T, which uint8, in []byte) {
		var creds serverCreds
		switch which % 4 {
		case 1:
			creds.password = fuzzServerPassword
		case 2:
			creds.password = md5Secret("fuzz", fuzzServerPassword)
		case 3:
			creds.scram = keys
		}
		conn := newScriptConn(in)
		sc := &serverConn{conn: conn, raw: conn, rd: pgwire.NewReader(conn), wr: pgwire.NewWriter(conn), addr: "fuzz",
			params: map[string]string{}, reported: map[string]bool{}, txStatus: 'I'}
		err := sc.login(poolSettings{ServerUser: "fuzz", DBName: "fuzz"}, creds)
		if err == nil {
			if !bytes.Contains(in, []byte{'Z', 0, 0, 0, 5}) {
				t.Fatal("login succeeded without a ReadyForQuery")
			}
		} else {
			pe := checkClientError(t, err)
			if strings.Contains(pe.Message, "iteration") && strings.Contains(pe.Message, "limit") && pe.Code != "08P01" {
				t.Fatalf("iteration count over the limit: %s, want 08P01", pe.Code)
			}
		}
		if sc.rd.MaxMessageSize != 0 {
			t.Fatal("login left its message size limit on the server's reader")
		}
		out := conn.out.Bytes()
		if bytes.Contains(out, []byte(fuzzServerPassword)) && !bytes.Contains(in, []byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}) {
			t.Fatal("the cleartext password was sent to a server that did not ask for it")
		}
		checkFrontendStream(t, out)
		lowerIn := bytes.ToLower(in)
		for k, v := range sc.params {
			if k != strings.ToLower(k) || !sc.reported[k] || !bytes.Contains(lowerIn, []byte(k+"\x00")) || !bytes.Contains(in, []byte(v+"\x00")) {
				t.Fatalf("parameter %q = %q recorded, not as the server reported it", k, v)
			}
		}
	})
}

// checkFrontendStream checks that out is a StartupMessage followed by whole, well-framed messages.
func checkFrontendStream(t *testing.T, out []byte) {
	t.Helper()
	if len(out) < 8 {
		t.Fatalf("the pooler wrote %d bytes, not a StartupMessage", len(out))
	}
	n := int(binary.BigEndian.Uint32(out))
	if n > len(out) || binary.BigEndian.Uint32(out[4:]) != pgproto3.ProtocolVersion30 {
		t.Fatalf("the pooler's first message is not a StartupMessage: %x", out[:8])
	}
	for rest := out[n:]; len(rest) > 0; {
		if len(rest) < pgwire.HeaderSize {
			t.Fatalf("a partial header %x after the StartupMessage", rest)
		}
		m := int(binary.BigEndian.Uint32(rest[1:]))
		if rest[0] != 'p' || m < 4 || 1+m > len(rest) {
			t.Fatalf("the pooler wrote message %q of length %d (%d bytes left) during login", rest[0], m, len(rest))
		}
		rest = rest[1+m:]
	}
}

// FuzzDecodeServerError decodes any ErrorResponse body. It checks that the result is a FATAL error with
// a well-formed SQLSTATE (the server's when it sent one, else 08P01), whose message starts with the
// prefix and carries the server's message, detail and hint as pgproto3 decodes them.
func FuzzDecodeServerError(f *testing.F) {
	for _, e := range []*pgproto3.ErrorResponse{
		{Severity: "FATAL", Code: "28P01", Message: "password authentication failed for user \"x\""},
		{Severity: "ERROR", Code: "26000", Message: `prepared statement "pgpooler_1" does not exist`, Detail: "d", Hint: "h"},
		{Severity: "FATAL", Message: "no code"},
		{Severity: "FATAL", Code: "xx", Message: "short code"},
		{Severity: "FATAL", Code: "28p01", Message: "lower case"},
	} {
		f.Add(backendMsg(f, e)[pgwire.HeaderSize:])
	}
	f.Add([]byte{})
	f.Add([]byte{'C', '2', '8', 'P', '0', '1'})
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, body []byte) {
		got := decodeServerError("prefix", body)
		if got == nil || got.Severity != pgwire.SeverityFatal || !validSQLState(got.Code) || !strings.HasPrefix(got.Message, "prefix: ") {
			t.Fatalf("decodeServerError = %+v", got)
		}
		var e pgproto3.ErrorResponse
		if e.Decode(body) != nil {
			if got.Code != "08P01" {
				t.Fatalf("undecodable body: code %s, want 08P01", got.Code)
			}
			return
		}
		if want := e.Code; !validSQLState(want) {
			want = "08P01"
			if got.Code != want {
				t.Fatalf("SQLSTATE %q from the server: %s, want %s", e.Code, got.Code, want)
			}
		} else if got.Code != want {
			t.Fatalf("SQLSTATE %s from the server: %s", want, got.Code)
		}
		if !strings.HasSuffix(got.Message, e.Message) || got.Detail != e.Detail || got.Hint != e.Hint {
			t.Fatalf("decodeServerError = %+v, the server sent %+v", got, e)
		}
		// What the client gets decodes to the same fields.
		var back pgproto3.ErrorResponse
		enc := got.AppendTo(nil)
		if len(enc) == 0 || back.Decode(enc[pgwire.HeaderSize:]) != nil || back.Code != got.Code || back.Message != got.Message && !strings.Contains(got.Message, "\x00") {
			t.Fatalf("re-encoded error %x decodes to %+v", enc, back)
		}
	})
}

// FuzzParameterStatus feeds noteParameterStatus any body. A body it accepts is "name\0value\0" (the
// name recorded lower-cased, as reported), and re-encoding the name and value gives the body back;
// a body it refuses records nothing.
func FuzzParameterStatus(f *testing.F) {
	f.Add([]byte("TimeZone\x00UTC\x00"))
	f.Add([]byte("application_name\x00\x00"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("a\x00b"))
	f.Add([]byte("a\x00b\x00c\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		sc := &serverConn{params: map[string]string{}, reported: map[string]bool{}}
		name, value, ok := sc.noteParameterStatus(body)
		if !ok {
			if len(sc.params) != 0 || len(sc.reported) != 0 {
				t.Fatal("a refused ParameterStatus was recorded")
			}
			return
		}
		key := strings.ToLower(name)
		if len(sc.params) != 1 || sc.params[key] != value || !sc.reported[key] {
			t.Fatalf("%q = %q recorded as %v", name, value, sc.params)
		}
		enc := backendMsg(t, &pgproto3.ParameterStatus{Name: name, Value: value})[pgwire.HeaderSize:]
		if !bytes.Equal(enc, body) {
			t.Fatalf("ParameterStatus %x accepted as %q = %q, which encodes as %x", body, name, value, enc)
		}
	})
}
