package pgwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/jackc/pgx/v5/pgproto3"
)

// startupPacket builds a StartupMessage by hand, keeping the order of params (name, value, name, ...).
func startupPacket(version uint32, params ...string) []byte {
	body := binary.BigEndian.AppendUint32(nil, version)
	for _, s := range params {
		body = append(append(body, s...), 0)
	}
	return packet(append(body, 0))
}

// packet prefixes body with its int32 length (counting the length word).
func packet(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(4+len(body))), body...)
}

// readStartup runs ReadStartup on b, one byte a read, and fails the test on an error.
func readStartup(t *testing.T, b []byte) *Startup {
	t.Helper()
	s, err := ReadStartup(iotest.OneByteReader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("ReadStartup(%q): %v", b, err)
	}
	return s
}

func TestReadStartupRequests(t *testing.T) {
	if s := readStartup(t, encode(t, &pgproto3.SSLRequest{})); s.Kind != KindSSLRequest {
		t.Fatalf("SSLRequest decoded as kind %d", s.Kind)
	}
	if s := readStartup(t, encode(t, &pgproto3.GSSEncRequest{})); s.Kind != KindGSSENCRequest {
		t.Fatalf("GSSENCRequest decoded as kind %d", s.Kind)
	}
	for _, key := range [][]byte{
		{1, 2, 3, 4},
		patterned(32),
		patterned(256),
	} {
		s := readStartup(t, encode(t, &pgproto3.CancelRequest{ProcessID: 0xdeadbeef, SecretKey: key}))
		if s.Kind != KindCancelRequest || s.ProcessID != 0xdeadbeef || !bytes.Equal(s.SecretKey, key) {
			t.Fatalf("CancelRequest with a %d-byte key decoded as %+v", len(key), s)
		}
	}
}

func TestReadStartupReadsOnePacket(t *testing.T) {
	// SSLRequest refused with 'N', then the StartupMessage on the same connection: ReadStartup must not
	// read past its packet.
	ssl := encode(t, &pgproto3.SSLRequest{})
	start := startupPacket(ProtocolVersion30, "user", "app")
	r := bytes.NewReader(append(bytes.Clone(ssl), start...))
	if s, err := ReadStartup(r); err != nil || s.Kind != KindSSLRequest {
		t.Fatalf("first packet: %+v, %v", s, err)
	}
	if r.Len() != len(start) {
		t.Fatalf("ReadStartup left %d bytes, want the %d of the next packet", r.Len(), len(start))
	}
	if s, err := ReadStartup(r); err != nil || s.Kind != KindStartupMessage || s.Params["user"] != "app" {
		t.Fatalf("second packet: %+v, %v", s, err)
	}
}

func TestReadStartupMessage(t *testing.T) {
	s := readStartup(t, startupPacket(ProtocolVersion30,
		"user", "app", "database", "appdb", "application_name", "", "options", "-c search_path=x",
		"client_encoding", "UTF8"))
	if s.Kind != KindStartupMessage || s.ProtocolVersion != 196608 || s.MinorVersion() != 0 {
		t.Fatalf("decoded %+v", s)
	}
	wantKeys := []string{"user", "database", "application_name", "options", "client_encoding"}
	if !slices.Equal(s.Keys, wantKeys) {
		t.Fatalf("Keys = %q, want %q (the order sent)", s.Keys, wantKeys)
	}
	wantParams := map[string]string{"user": "app", "database": "appdb", "application_name": "",
		"options": "-c search_path=x", "client_encoding": "UTF8"}
	if len(s.Params) != len(wantParams) {
		t.Fatalf("Params = %q, want %q", s.Params, wantParams)
	}
	for k, v := range wantParams {
		if got, ok := s.Params[k]; !ok || got != v {
			t.Fatalf("Params[%q] = %q, %v; want %q", k, got, ok, v)
		}
	}
	if len(s.ProtocolOptions) != 0 {
		t.Fatalf("ProtocolOptions = %q, want none", s.ProtocolOptions)
	}

	// pgproto3's encoding (map order) decodes to the same parameters.
	params := map[string]string{"user": "app", "database": "app"}
	s = readStartup(t, encode(t, &pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params}))
	if len(s.Params) != 2 || s.Params["user"] != "app" || s.Params["database"] != "app" || len(s.Keys) != 2 {
		t.Fatalf("pgproto3 StartupMessage decoded as %+v", s)
	}

	// No parameters at all is well-formed (the pooler, not pgwire, requires "user").
	if s := readStartup(t, startupPacket(ProtocolVersion30)); len(s.Params) != 0 || len(s.Keys) != 0 {
		t.Fatalf("empty StartupMessage decoded as %+v", s)
	}
}

func TestReadStartupDuplicateKeys(t *testing.T) {
	s := readStartup(t, startupPacket(ProtocolVersion30, "user", "a", "database", "d", "user", "b"))
	if !slices.Equal(s.Keys, []string{"user", "database"}) || s.Params["user"] != "b" {
		t.Fatalf("duplicate key: Keys %q, Params %q; want each key once, the last value", s.Keys, s.Params)
	}
}

func TestReadStartupProtocol32AndOptions(t *testing.T) {
	s := readStartup(t, startupPacket(pgproto3.ProtocolVersion32,
		"user", "app", "_pq_.foo", "on", "database", "app", "_pq_.bar", ""))
	if s.Kind != KindStartupMessage || s.ProtocolVersion != pgproto3.ProtocolVersion32 || s.MinorVersion() != 2 {
		t.Fatalf("3.2 StartupMessage decoded as %+v", s)
	}
	if !slices.Equal(s.ProtocolOptions, []string{"_pq_.foo", "_pq_.bar"}) {
		t.Fatalf("ProtocolOptions = %q, want _pq_.foo, _pq_.bar", s.ProtocolOptions)
	}
	if !slices.Equal(s.Keys, []string{"user", "database"}) || len(s.Params) != 2 {
		t.Fatalf("_pq_ options leaked into Keys %q / Params %q", s.Keys, s.Params)
	}
	// A minor version newer than any known is still a StartupMessage: the pooler negotiates down.
	if s := readStartup(t, startupPacket(3<<16|9999, "user", "app")); s.MinorVersion() != 9999 {
		t.Fatalf("3.9999 decoded as %+v", s)
	}
}

func TestReadStartupErrors(t *testing.T) {
	length := func(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }
	withBody := func(n uint32, bodyLen int) []byte { return append(length(n), make([]byte, bodyLen)...) }
	valid := startupPacket(ProtocolVersion30, "user", "app")
	cases := []struct {
		name  string
		input []byte
		code  string // "" for a plain io error
		ioErr error
	}{
		{"protocol 2.0", startupPacket(2<<16, "user", "app"), "0A000", nil},
		{"protocol 4.0", startupPacket(4<<16, "user", "app"), "0A000", nil},
		{"request code 1234.5681", packet(binary.BigEndian.AppendUint32(nil, 1234<<16|5681)), "0A000", nil},
		{"length 0", withBody(0, 8), "08P01", nil},
		{"length 4", length(4), "08P01", nil},
		{"length 7", withBody(7, 3), "08P01", nil},
		{"length -1", length(0xffffffff), "08P01", nil},
		{"length 0x7fffffff", length(0x7fffffff), "08P01", nil},
		{"length 10001", withBody(10001, 9997), "08P01", nil},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, "08P01", nil},
		{"missing terminator", packet(bytes.Clone(valid[4 : len(valid)-1])), "08P01", nil},
		{"key without value", startupPacket(ProtocolVersion30, "user"), "08P01", nil},
		{"key without its zero", packet(append(binary.BigEndian.AppendUint32(nil, ProtocolVersion30), "user"...)), "08P01", nil},
		{"data after terminator", packet(append(bytes.Clone(valid[4:]), "x\x00"...)), "08P01", nil},
		{"SSLRequest with a body", packet(append(binary.BigEndian.AppendUint32(nil, 80877103), 0, 0, 0, 0)), "08P01", nil},
		{"GSSENCRequest with a body", packet(append(binary.BigEndian.AppendUint32(nil, 80877104), 0)), "08P01", nil},
		{"CancelRequest key of 3 bytes", packet(append(binary.BigEndian.AppendUint32(nil, 80877102), 0, 0, 0, 1, 1, 2, 3)), "08P01", nil},
		{"CancelRequest key of 257 bytes", packet(append(binary.BigEndian.AppendUint32(nil, 80877102), make([]byte, 4+257)...)), "08P01", nil},
		{"CancelRequest without pid", packet(binary.BigEndian.AppendUint32(nil, 80877102)), "08P01", nil},
		{"nothing", nil, "", io.EOF},
		{"half a length", []byte{0, 0}, "", io.ErrUnexpectedEOF},
		{"truncated body", valid[:len(valid)-3], "", io.ErrUnexpectedEOF},
		{"length only", valid[:4], "", io.ErrUnexpectedEOF},
	}
	for _, c := range cases {
		s, err := ReadStartup(bytes.NewReader(c.input))
		if err == nil {
			t.Errorf("%s: decoded as %+v, want an error", c.name, s)
			continue
		}
		if c.ioErr != nil {
			if err != c.ioErr {
				t.Errorf("%s: got %v, want %v", c.name, err, c.ioErr)
			}
			continue
		}
		if code := errorCode(t, err); code != c.code {
			t.Errorf("%s: got %v, want SQLSTATE %s", c.name, err, c.code)
		}
		if err.(*Error).Severity != SeverityFatal {
			t.Errorf("%s: severity %s, want FATAL", c.name, err.(*Error).Severity)
		}
	}
}

func TestReadStartupSizeLimit(t *testing.T) {
	// A packet of exactly MaxStartupPacketSize bytes is accepted.
	fill := strings.Repeat("x", MaxStartupPacketSize-4-4-len("user\x00app\x00options\x00\x00")-1)
	p := startupPacket(ProtocolVersion30, "user", "app", "options", fill)
	if len(p) != MaxStartupPacketSize {
		t.Fatalf("test packet is %d bytes, want %d", len(p), MaxStartupPacketSize)
	}
	if s := readStartup(t, p); s.Params["options"] != fill {
		t.Fatal("long options value not decoded")
	}
	p = startupPacket(ProtocolVersion30, "user", "app", "options", fill+"y")
	_, err := ReadStartup(bytes.NewReader(p))
	wantProtocolViolation(t, err)
}

func TestParseStartupShortBody(t *testing.T) {
	for _, body := range [][]byte{nil, {0}, {0, 3, 0}} {
		_, err := ParseStartup(body)
		wantProtocolViolation(t, err)
	}
}
