package pgwire

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"

	"github.com/jackc/pgerrcode"
)

// Request codes carried in place of a protocol version by the special start-up packets (PostgreSQL
// protocol docs, "Message Formats": CancelRequest, SSLRequest, GSSENCRequest).
const (
	cancelRequestCode = 80877102
	sslRequestCode    = 80877103
	gssEncRequestCode = 80877104
)

// ProtocolVersion30 is protocol version 3.0, which pgpooler speaks to its servers and to clients that ask
// for 3.0 or 3.1 (protoversion.go has 3.2).
const ProtocolVersion30 = 3 << 16

// MaxStartupPacketSize is the largest start-up packet accepted, in bytes including the length word
// (PostgreSQL's MAX_STARTUP_PACKET_LENGTH).
const MaxStartupPacketSize = 10000

// StartupKind tells which packet a client opened with.
type StartupKind int

// The packets a client may open a connection with.
const (
	KindStartupMessage StartupKind = iota // StartupMessage: protocol version and parameters
	KindSSLRequest                        // SSLRequest: asks for TLS, answered with one byte 'S' or 'N'
	KindGSSENCRequest                     // GSSENCRequest: asks for GSSAPI encryption, answered 'G' or 'N'
	KindCancelRequest                     // CancelRequest: process ID and secret key of a running query
)

// Startup is a decoded start-up packet.
type Startup struct {
	Kind StartupKind

	// For KindStartupMessage.
	ProtocolVersion uint32            // major<<16 | minor, e.g. 196608 for 3.0
	Params          map[string]string // parameters other than "_pq_." protocol options
	Keys            []string          // Params' keys in the order the client sent them
	ProtocolOptions []string          // names of "_pq_." options (none is supported)

	// For KindCancelRequest.
	ProcessID uint32
	SecretKey []byte // 4 bytes in protocol 3.0, 4 to MaxCancelKeyLen in 3.2
}

// MinorVersion returns the minor protocol version the client asked for.
func (s *Startup) MinorVersion() uint32 { return s.ProtocolVersion & 0xffff }

// ReadStartup reads and decodes one start-up packet: an int32 length (8 to MaxStartupPacketSize bytes)
// and a body. Malformed packets return a *Error with SQLSTATE 08P01 (or 0A000 for an unsupported
// protocol major version); a close before a whole packet is io.EOF or io.ErrUnexpectedEOF.
func ReadStartup(r io.Reader) (*Startup, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	if hdr[0] == 0x16 {
		return nil, ProtocolViolation("TLS handshake where a startup packet was expected (direct TLS is only accepted as the first bytes of a connection, with client TLS configured)")
	}
	n := int(int32(binary.BigEndian.Uint32(hdr[:])))
	if n < 8 || n > MaxStartupPacketSize {
		return nil, ProtocolViolation("invalid length of startup packet: %d bytes", n)
	}
	// The request code first: a CancelRequest's length is checked before its body is read or allocated,
	// so that a peer announcing a longer one is refused at once instead of being waited for.
	var code [4]byte
	if _, err := io.ReadFull(r, code[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if binary.BigEndian.Uint32(code[:]) == cancelRequestCode && !validCancelLength(n-4) {
		return nil, ProtocolViolation("invalid length of CancelRequest packet")
	}
	body := make([]byte, n-4)
	copy(body, code[:])
	if _, err := io.ReadFull(r, body[4:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return ParseStartup(body)
}

// ParseStartup decodes the body of a start-up packet (everything after the length word).
func ParseStartup(body []byte) (*Startup, error) {
	if len(body) < 4 {
		return nil, ProtocolViolation("startup packet too short")
	}
	code := binary.BigEndian.Uint32(body)
	switch code {
	case sslRequestCode:
		if len(body) != 4 {
			return nil, ProtocolViolation("invalid length of SSLRequest packet")
		}
		return &Startup{Kind: KindSSLRequest}, nil
	case gssEncRequestCode:
		if len(body) != 4 {
			return nil, ProtocolViolation("invalid length of GSSENCRequest packet")
		}
		return &Startup{Kind: KindGSSENCRequest}, nil
	case cancelRequestCode:
		if !validCancelLength(len(body)) {
			return nil, ProtocolViolation("invalid length of CancelRequest packet")
		}
		return &Startup{
			Kind:      KindCancelRequest,
			ProcessID: binary.BigEndian.Uint32(body[4:]),
			SecretKey: bytes.Clone(body[8:]),
		}, nil
	}
	if code>>16 != 3 {
		return nil, NewFatal(pgerrcode.FeatureNotSupported, "unsupported frontend protocol %d.%d: server supports 3.0 to 3.%d", code>>16, code&0xffff, ProtocolVersionNewest&0xffff)
	}
	s := &Startup{Kind: KindStartupMessage, ProtocolVersion: code, Params: map[string]string{}}
	rest := body[4:]
	for {
		if len(rest) == 0 {
			return nil, ProtocolViolation("startup packet is missing its terminating zero byte")
		}
		if rest[0] == 0 {
			if len(rest) != 1 {
				return nil, ProtocolViolation("invalid startup packet layout: data after the terminator")
			}
			break
		}
		key, after, ok := cutZero(rest)
		if !ok {
			return nil, ProtocolViolation("invalid startup packet layout: expected terminator as last byte")
		}
		val, after2, ok := cutZero(after)
		if !ok {
			return nil, ProtocolViolation("invalid startup packet layout: parameter %q has no value", key)
		}
		rest = after2
		if strings.HasPrefix(key, "_pq_.") {
			s.ProtocolOptions = append(s.ProtocolOptions, key)
			continue
		}
		if _, dup := s.Params[key]; !dup {
			s.Keys = append(s.Keys, key)
		}
		s.Params[key] = val
	}
	return s, nil
}

func cutZero(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}
