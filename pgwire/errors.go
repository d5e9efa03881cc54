package pgwire

import (
	"fmt"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
)

// Severities of an ErrorResponse (PostgreSQL protocol docs, "Error and Notice Message Fields", field S).
const (
	SeverityError = "ERROR"
	SeverityFatal = "FATAL"
)

// Error is an error that a client sees as an ErrorResponse: a severity, a SQLSTATE code (Appendix A of the
// PostgreSQL docs, constants in github.com/jackc/pgerrcode) and a human-readable message.
type Error struct {
	Severity string // SeverityError or SeverityFatal
	Code     string // five-character SQLSTATE, e.g. "08P01"
	Message  string // primary message, one line, no trailing period
	Detail   string // optional
	Hint     string // optional
}

// Error returns "SEVERITY: message (SQLSTATE code)".
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s (SQLSTATE %s)", e.Severity, e.Message, e.Code)
}

// AppendTo appends the ErrorResponse ('E') message for e to dst and returns the extended slice.
func (e *Error) AppendTo(dst []byte) []byte {
	msg := pgproto3.ErrorResponse{
		Severity:            e.Severity,
		SeverityUnlocalized: e.Severity,
		Code:                e.Code,
		Message:             e.Message,
		Detail:              e.Detail,
		Hint:                e.Hint,
	}
	out, err := msg.Encode(dst)
	if err != nil { // only possible for messages over 1 GB
		return dst
	}
	return out
}

// NewError returns an Error with severity ERROR: the statement failed, the connection goes on.
func NewError(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityError, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewFatal returns an Error with severity FATAL: the connection is closed after it is sent.
func NewFatal(code, format string, args ...any) *Error {
	return &Error{Severity: SeverityFatal, Code: code, Message: fmt.Sprintf(format, args...)}
}

// ProtocolViolation returns a FATAL 08P01 protocol_violation error, the answer to malformed or oversized
// packets.
func ProtocolViolation(format string, args ...any) *Error {
	return NewFatal(pgerrcode.ProtocolViolation, format, args...)
}
