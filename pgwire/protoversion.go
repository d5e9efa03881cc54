package pgwire

import "github.com/jackc/pgx/v5/pgproto3"

// Protocol 3.2 (PostgreSQL 18; PostgreSQL protocol docs, "Protocol Versions"): the same messages as 3.0
// except that BackendKeyData's secret key, and so a CancelRequest's, is of variable length.
const (
	// ProtocolVersion32 is protocol version 3.2, the newest that pgpooler speaks to clients, whatever its
	// servers speak (it logs in to them with 3.0).
	ProtocolVersion32 = 3<<16 | 2

	// ProtocolVersionNewest is the newest version pgpooler speaks to clients; a client asking for a
	// newer minor version gets NegotiateProtocolVersion naming this one.
	ProtocolVersionNewest = ProtocolVersion32

	// MaxCancelKeyLen is the longest secret key a CancelRequest may carry, in bytes (PostgreSQL protocol
	// docs, "Message Formats": BackendKeyData's key is at most 256 bytes, room for poolers' own longer
	// keys). Longer requests are refused with 08P01 before their body is read.
	MaxCancelKeyLen = 256

	// CancelKeyLen30 is the length of a protocol 3.0 secret key, in bytes.
	CancelKeyLen30 = 4

	// CancelKeyLen32 is the length of the secret keys pgpooler gives protocol 3.2 clients, in bytes: 256
	// bits, as PostgreSQL 18 gives.
	CancelKeyLen32 = 32
)

// validCancelLength reports whether a CancelRequest body (request code, process ID and secret key, n
// bytes) has a key of 4 to MaxCancelKeyLen bytes.
func validCancelLength(n int) bool { return n >= 8+CancelKeyLen30 && n <= 8+MaxCancelKeyLen }

// SpokenVersion returns the protocol version pgpooler speaks with the client that sent this
// StartupMessage: 3.2 when it asked for 3.2 or newer, 3.0 when it asked for 3.0 or 3.1 (3.1 was never
// used by PostgreSQL; its client is told 3.0, as before 3.2 existed).
func (s *Startup) SpokenVersion() uint32 {
	if s.MinorVersion() >= ProtocolVersion32&0xffff {
		return ProtocolVersion32
	}
	return ProtocolVersion30
}

// CancelKeyLen returns the length of the secret key the client gets in BackendKeyData, in bytes:
// CancelKeyLen32 in protocol 3.2, CancelKeyLen30 in 3.0.
func (s *Startup) CancelKeyLen() int {
	if s.SpokenVersion() == ProtocolVersion32 {
		return CancelKeyLen32
	}
	return CancelKeyLen30
}

// AppendNegotiation appends NegotiateProtocolVersion to buf when the client asked for a minor version
// other than the one spoken (SpokenVersion) or for "_pq_." protocol options (none is supported), and
// returns buf (PostgreSQL protocol docs, "Message Formats": NegotiateProtocolVersion, sent after the
// startup packet, before authentication completes).
func (s *Startup) AppendNegotiation(buf []byte) []byte {
	spoken := s.SpokenVersion()
	if s.ProtocolVersion == spoken && len(s.ProtocolOptions) == 0 {
		return buf
	}
	buf, _ = (&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: spoken & 0xffff, UnrecognizedOptions: s.ProtocolOptions}).Encode(buf)
	return buf
}
