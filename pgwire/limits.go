package pgwire

// Per-message-type length limits, checked by Reader.Next from the 5-byte header before any of the body
// is read, so that a header that lies about its length costs nothing. Lengths count the 4-byte length
// word but not the type byte, as on the wire and as PostgreSQL compares them (pq_getmessage in
// src/backend/libpq/pqcomm.c).
const (
	// SmallMessageLimit is the largest length, in bytes, of a client message that has no reason to be
	// long: Sync, Flush, Close, Describe, Execute, Terminate, CopyDone and CopyFail. It is PostgreSQL's
	// PQ_SMALL_MESSAGE_LIMIT (src/include/libpq/libpq.h), applied in SocketBackend
	// (src/backend/tcop/postgres.c).
	SmallMessageLimit = 10000

	// LargeMessageLimit is the largest length, in bytes, of any other client message (Query, Parse,
	// Bind, FunctionCall, CopyData, ...): PostgreSQL's PQ_LARGE_MESSAGE_LIMIT, MaxAllocSize - 1, that is
	// 1 GB - 2 bytes.
	LargeMessageLimit = 0x3fffffff - 1

	// BackendShortMessageLimit is the largest length, in bytes, of a server message of a type that
	// cannot be long: libpq's limit for the types outside VALID_LONG_MESSAGE_TYPE
	// (src/interfaces/libpq/fe-protocol3.c), beyond which it drops the connection as out of sync.
	BackendShortMessageLimit = 30000
)

// FrontendLimit returns the largest accepted length, in bytes, of a client message of type typ:
// SmallMessageLimit for Sync, Flush, Close, Describe, Execute, Terminate, CopyDone and CopyFail, and
// LargeMessageLimit for every other type (types that are invalid are for the caller to refuse, after
// Next). Set it as Reader.TypeLimit on the Readers of client connections.
func FrontendLimit(typ byte) int {
	switch typ {
	case 'S', 'H', 'C', 'D', 'E', 'X', 'c', 'f':
		return SmallMessageLimit
	}
	return LargeMessageLimit
}

// BackendLimit returns the largest accepted length, in bytes, of a server message of type typ. The types
// that libpq lets be long (RowDescription, DataRow, CopyData, FunctionCallResponse, ErrorResponse,
// NoticeResponse, NotificationResponse) have no limit of their own (Reader.MaxMessageSize applies), and
// neither have two that libpq limits but PostgreSQL sends longer to drivers that accept them:
// ParameterDescription, with up to 65,535 parameter types (262,146 bytes), and ParameterStatus, whose
// value is as long as a client's SET made it. Every other type is limited to BackendShortMessageLimit.
// Set it as Reader.TypeLimit on the Readers of server connections.
func BackendLimit(typ byte) int {
	switch typ {
	case 'T', 'D', 'd', 'V', 'E', 'N', 'A', 't', 'S':
		return DefaultMaxMessageSize
	}
	return BackendShortMessageLimit
}
