package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// FuzzParseStartup checks that ParseStartup never panics, fails only with a *Error, and returns a
// consistent Startup on success; and that ReadStartup agrees with it on the framed packet.
func FuzzParseStartup(f *testing.F) {
	for _, p := range [][]byte{
		encode(f, &pgproto3.SSLRequest{}),
		encode(f, &pgproto3.GSSEncRequest{}),
		encode(f, &pgproto3.CancelRequest{ProcessID: 7, SecretKey: []byte{1, 2, 3, 4}}),
		encode(f, &pgproto3.CancelRequest{ProcessID: 7, SecretKey: patterned(32)}),
		startupPacket(ProtocolVersion30, "user", "app", "database", "app"),
		startupPacket(pgproto3.ProtocolVersion32, "user", "app", "_pq_.foo", "x"),
		startupPacket(ProtocolVersion30, "user", "a", "user", "b", "", "x"),
		startupPacket(2<<16, "user", "app"),
		startupPacket(ProtocolVersion30),
	} {
		f.Add(p[4:]) // the body, as ParseStartup takes it
	}
	f.Add([]byte{0, 3, 0, 0})
	f.Add([]byte{0, 3, 0, 0, 'u', 0})
	f.Add([]byte{0, 3, 0, 0, 'u', 0, 'v', 0, 0, 0})
	f.Add([]byte{0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 1, 2, 3})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := ParseStartup(body)
		checkStartup(t, body, s, err)
		framed := packet(body)
		rs, rerr := ReadStartup(bytes.NewReader(framed))
		if len(framed) < 8 || len(framed) > MaxStartupPacketSize || framed[0] == 0x16 {
			if rerr == nil {
				t.Fatalf("ReadStartup accepted a %d-byte packet", len(framed))
			}
			return
		}
		if (err == nil) != (rerr == nil) {
			t.Fatalf("ParseStartup error %v, ReadStartup error %v on the same packet", err, rerr)
		}
		if err == nil && (rs.Kind != s.Kind || rs.ProtocolVersion != s.ProtocolVersion || len(rs.Keys) != len(s.Keys)) {
			t.Fatalf("ParseStartup %+v, ReadStartup %+v on the same packet", s, rs)
		}
	})
}

// checkStartup checks the result of ParseStartup(body).
func checkStartup(t *testing.T, body []byte, s *Startup, err error) {
	t.Helper()
	if err != nil {
		var pe *Error
		if !errors.As(err, &pe) || (pe.Code != "08P01" && pe.Code != "0A000") || pe.Severity != SeverityFatal {
			t.Fatalf("error %v (%T), want a FATAL *Error 08P01 or 0A000", err, err)
		}
		if s != nil {
			t.Fatalf("both a result %+v and an error %v", s, err)
		}
		return
	}
	code := binary.BigEndian.Uint32(body)
	switch s.Kind {
	case KindSSLRequest, KindGSSENCRequest:
		if len(body) != 4 {
			t.Fatalf("kind %d from a %d-byte body", s.Kind, len(body))
		}
	case KindCancelRequest:
		if len(s.SecretKey) < 4 || len(s.SecretKey) > 256 || s.ProcessID != binary.BigEndian.Uint32(body[4:]) ||
			!bytes.Equal(s.SecretKey, body[8:]) {
			t.Fatalf("CancelRequest %+v from %x", s, body)
		}
	case KindStartupMessage:
		if s.ProtocolVersion != code || code>>16 != 3 {
			t.Fatalf("StartupMessage version %#x from code %#x", s.ProtocolVersion, code)
		}
		if body[len(body)-1] != 0 {
			t.Fatal("StartupMessage accepted without its terminator")
		}
		if len(s.Keys) != len(s.Params) {
			t.Fatalf("Keys %q and Params %q differ", s.Keys, s.Params)
		}
		seen := map[string]bool{}
		for _, k := range s.Keys {
			if k == "" || seen[k] || strings.IndexByte(k, 0) >= 0 || strings.HasPrefix(k, "_pq_.") {
				t.Fatalf("bad key %q in Keys %q", k, s.Keys)
			}
			seen[k] = true
			v, ok := s.Params[k]
			if !ok || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("key %q: value %q, %v", k, v, ok)
			}
		}
		for _, o := range s.ProtocolOptions {
			if !strings.HasPrefix(o, "_pq_.") {
				t.Fatalf("protocol option %q", o)
			}
		}
	default:
		t.Fatalf("unknown kind %d", s.Kind)
	}
}

// FuzzReader feeds a byte stream through a Reader with a 64 KiB MaxMessageSize (and, for odd chunk values,
// TypeLimit FrontendLimit), consuming messages in turn
// with ReadMsg, Forward and Discard until an error. It checks that headers and messages match the input,
// that forwarded bytes are exactly the input consumed, that the Reader never holds a buffer of more than
// about twice the bytes that have arrived, and that the final error fits where the stream stopped.
//
// The stream is data with, when bigLen is not zero, a message of type 'd' and a bigLen-byte body spliced in
// at offset bigAt: so large messages (streamed by Forward, read into a buffer of their own by ReadMsg, or
// over the limit) come from small inputs that the fuzzer mutates and minimizes quickly. chunk sets how
// many bytes each Read returns at most: 1 to 128, or multiples of 512 bytes up to 64 KiB.
func FuzzReader(f *testing.F) {
	const maxSize = 64 << 10
	stream, _ := sampleStream(f)
	seeds := []struct {
		data          []byte
		bigAt, bigLen uint16
	}{
		{stream[:40], 0, 0},
		{encode(f, &pgproto3.Query{String: "SELECT 1"}), 0, 0},
		{bytes.Repeat(encode(f, &pgproto3.Sync{}), 5), 5, maxSize - 4},
		{encode(f, &pgproto3.Sync{}), 5, maxSize - 3},
		{encode(f, &pgproto3.Sync{}), 0, BufferSize},
		{encode(f, &pgproto3.Query{String: "SELECT 1"}), 7, 2 * BufferSize},
		{header('Q', 3), 0, 0},
		{header('Q', maxSize+1), 0, 0},
		{header('Q', 0xffffffff), 0, 0},
		{header('Q', 0x80000000), 0, 0}, // 2^31: negative as an int32
		{header('P', 0x7fffffff), 0, 0}, // 2^31-1, with nothing after it
		{header('B', 0x80000004), 0, 0},
		{header('S', SmallMessageLimit+1), 0, 0},
		{append(header('D', SmallMessageLimit), 'S'), 0, 0},
		{append(header('P', maxSize), 'x'), 0, 0},
		{[]byte{'Q', 0, 0}, 0, 0},
		{nil, 0, 0},
	}
	for i, s := range seeds {
		f.Add(s.data, uint8(i*37), s.bigAt, s.bigLen)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, bigAt, bigLen uint16) {
		if bigLen > 0 {
			at := min(int(bigAt), len(data))
			data = bytes.Join([][]byte{data[:at], frame('d', patterned(int(bigLen))), data[at:]}, nil)
		}
		readSize := int(chunk) + 1
		if chunk >= 128 {
			readSize = (int(chunk) - 127) * 512
		}
		src := &watchReader{r: &chunkReader{r: bytes.NewReader(data), max: readSize}}
		rd := NewReader(src)
		rd.MaxMessageSize = maxSize
		limit := func(byte) int { return maxSize }
		if chunk%2 == 1 { // the client side's per-type limits on every other input
			rd.TypeLimit = FrontendLimit
			limit = func(typ byte) int { return min(maxSize, FrontendLimit(typ)) }
		}
		src.check = func() { // never a buffer for bytes that have not arrived
			if c := cap(rd.buf); c > BufferSize && c > 2*src.n {
				t.Fatalf("after %d bytes arrived the Reader holds a %d-byte buffer", src.n, c)
			}
		}
		var out bytes.Buffer
		w := NewWriter(&out)
		var want []byte // what Forward should have written
		pos := 0        // input consumed
		var err error
		lastForward := -1 // start of a message whose Forward failed
		for i := 0; ; i++ {
			if i > len(data)/HeaderSize+1 {
				t.Fatalf("%d messages from %d bytes: not making progress", i, len(data))
			}
			var typ byte
			var n int
			if typ, n, err = rd.Next(); err != nil {
				break
			}
			if typ != data[pos] || n != int(binary.BigEndian.Uint32(data[pos+1:])) || n < 4 || n > limit(typ) {
				t.Fatalf("Next at %d = %q, %d; input has %x", pos, typ, n, data[pos:pos+HeaderSize])
			}
			total := 1 + n
			switch i % 3 {
			case 0:
				var msg []byte
				if msg, err = rd.ReadMsg(); err == nil && !bytes.Equal(msg, data[pos:pos+total]) {
					t.Fatalf("ReadMsg at %d: %d bytes that differ from the input's %d", pos, len(msg), total)
				}
			case 1:
				if err = rd.Forward(w); err == nil {
					want = append(want, data[pos:pos+total]...)
				} else {
					lastForward = pos
				}
			case 2:
				err = rd.Discard()
			}
			if err != nil {
				break
			}
			pos += total
		}
		checkReaderEnd(t, data, pos, limit, err)
		if ferr := w.Flush(); ferr != nil {
			t.Fatal(ferr)
		}
		got := out.Bytes()
		if !bytes.HasPrefix(got, want) {
			t.Fatalf("forwarded %d bytes that are not the %d consumed messages", len(got), len(want))
		}
		if extra := got[len(want):]; len(extra) > 0 && (lastForward < 0 || !bytes.HasPrefix(data[lastForward:], extra)) {
			t.Fatalf("%d bytes forwarded beyond the whole messages that are not the failed message's start", len(extra))
		}
		if errors.Is(err, io.EOF) && rd.Buffered() != 0 {
			t.Fatalf("Buffered() = %d at EOF", rd.Buffered())
		}
	})
}

// checkReaderEnd checks the error that stopped a Reader at pos in data, limit giving the largest accepted
// length of each message type.
func checkReaderEnd(t *testing.T, data []byte, pos int, limit func(typ byte) int, err error) {
	t.Helper()
	rest := data[pos:]
	switch {
	case len(rest) == 0:
		if err != io.EOF {
			t.Fatalf("stream ended between messages: %v, want io.EOF", err)
		}
	case len(rest) < HeaderSize:
		if err != io.ErrUnexpectedEOF {
			t.Fatalf("stream ended inside a header: %v, want io.ErrUnexpectedEOF", err)
		}
	default:
		n := int(int32(binary.BigEndian.Uint32(rest[1:])))
		if n < 4 || n > limit(rest[0]) {
			var pe *Error
			if !errors.As(err, &pe) || pe.Code != "08P01" {
				t.Fatalf("invalid length %d: %v, want *Error 08P01", n, err)
			}
		} else if len(rest) >= 1+n {
			t.Fatalf("whole message at %d and yet error %v", pos, err)
		} else if err != io.ErrUnexpectedEOF {
			t.Fatalf("stream ended inside a message: %v, want io.ErrUnexpectedEOF", err)
		}
	}
}
