package pgwire

import (
	"bytes"
	"encoding/binary"
)

// ErrorPrefix returns a whole ErrorResponse message (type byte, length word, body) made of the fields in
// head, the first bytes of the body of an ErrorResponse too large to read whole (Reader.Peek): the
// fields head holds entire, then the one it cuts off, cut where head ends. It lets a caller decode an
// error's leading fields (severity, SQLSTATE, the start of the message) with a bounded buffer; the
// fields are a type byte and a NUL-terminated string each, ended by a zero byte (PostgreSQL protocol
// docs, "Message Formats", ErrorResponse, and "Error and Notice Message Fields"). The result is a new
// slice of at most len(head)+7 bytes.
func ErrorPrefix(head []byte) []byte {
	out := make([]byte, HeaderSize, HeaderSize+len(head)+2)
	out[0] = 'E'
	for i := 0; i < len(head) && head[i] != 0; {
		j := bytes.IndexByte(head[i+1:], 0)
		if j < 0 { // the field head cuts off: its type byte, what there is of its string
			out = append(out, head[i:]...)
			out = append(out, 0)
			break
		}
		out = append(out, head[i:i+2+j]...)
		i += 2 + j
	}
	out = append(out, 0)
	binary.BigEndian.PutUint32(out[1:], uint32(len(out)-1))
	return out
}
