package pgwire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestProtocolVersionSpoken: 3.0 and 3.1 are spoken as 3.0 (4-byte keys), 3.2 and newer as 3.2 (32-byte
// keys); NegotiateProtocolVersion is appended when the version asked for is not the one spoken, or for
// "_pq_." options, naming the spoken minor version.
func TestProtocolVersionSpoken(t *testing.T) {
	for _, c := range []struct {
		version, spoken uint32
		options         []string
		keyLen          int
		npv             int // minor named by NegotiateProtocolVersion, -1 for none
	}{
		{3 << 16, ProtocolVersion30, nil, 4, -1},
		{3 << 16, ProtocolVersion30, []string{"_pq_.x"}, 4, 0},
		{3<<16 | 1, ProtocolVersion30, nil, 4, 0},
		{3<<16 | 2, ProtocolVersion32, nil, 32, -1},
		{3<<16 | 2, ProtocolVersion32, []string{"_pq_.x"}, 32, 2},
		{3<<16 | 3, ProtocolVersion32, nil, 32, 2},
		{3<<16 | 0xffff, ProtocolVersion32, nil, 32, 2},
	} {
		s := &Startup{Kind: KindStartupMessage, ProtocolVersion: c.version, ProtocolOptions: c.options}
		if got := s.SpokenVersion(); got != c.spoken {
			t.Errorf("3.%d: spoken %#x; want %#x", c.version&0xffff, got, c.spoken)
		}
		if got := s.CancelKeyLen(); got != c.keyLen {
			t.Errorf("3.%d: key length %d; want %d", c.version&0xffff, got, c.keyLen)
		}
		buf := s.AppendNegotiation([]byte("x"))
		if c.npv < 0 {
			if string(buf) != "x" {
				t.Errorf("3.%d %q: appended %q; want nothing", c.version&0xffff, c.options, buf[1:])
			}
			continue
		}
		var m pgproto3.NegotiateProtocolVersion
		if buf[1] != 'v' || m.Decode(buf[6:]) != nil || int(m.NewestMinorProtocol) != c.npv || !slices.Equal(m.UnrecognizedOptions, c.options) {
			t.Errorf("3.%d %q: appended %q (%+v); want NegotiateProtocolVersion naming 3.%d", c.version&0xffff, c.options, buf[1:], m, c.npv)
		}
	}
}

// TestReadStartupCancelLengthFirst: a CancelRequest whose length announces a key over MaxCancelKeyLen
// bytes, or under 4, is refused (08P01) from its length and request code alone, before its body is read:
// a reader holding only those 8 bytes gets the error, not an end of input.
func TestReadStartupCancelLengthFirst(t *testing.T) {
	for _, n := range []uint32{12 + MaxCancelKeyLen + 1, MaxStartupPacketSize, 11, 8} {
		hdr := binary.BigEndian.AppendUint32(nil, n)
		hdr = binary.BigEndian.AppendUint32(hdr, cancelRequestCode)
		_, err := ReadStartup(bytes.NewReader(hdr))
		var pe *Error
		if !errors.As(err, &pe) || pe.Code != "08P01" {
			t.Errorf("length %d, body held back: %v; want 08P01 before the body", n, err)
		}
	}
	// The longest allowed key is read whole; a body cut short is an unexpected end.
	full := encode(t, &pgproto3.CancelRequest{ProcessID: 9, SecretKey: patterned(MaxCancelKeyLen)})
	if s, err := ReadStartup(bytes.NewReader(full)); err != nil || len(s.SecretKey) != MaxCancelKeyLen {
		t.Fatalf("a %d-byte key: %+v, %v", MaxCancelKeyLen, s, err)
	}
	if _, err := ReadStartup(bytes.NewReader(full[:len(full)-1])); err != io.ErrUnexpectedEOF {
		t.Fatalf("a cut CancelRequest: %v; want io.ErrUnexpectedEOF", err)
	}
}
