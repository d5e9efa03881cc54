package pooler

import (
	"bytes"

	"github.com/pgpooler/pgpooler/pgwire"
)

// maxWholeError is the length in bytes (as in the message header: the length word counted, the type byte
// not) of the largest ErrorResponse from a server that the relay reads whole to decode it, with
// max_prepared_statements or while reject_session_features refuses statements. A whole one fits the
// Reader's borrowed BufferSize buffer. The errors pgpooler rewrites answer its own sentinels or name a
// statement, and are far shorter; a longer error (one quoting a long input, say) is decoded from its
// first fields and streamed (relayLargeError), so that no error costs more than one buffer per link
// (docs/reliability.md, "Back-pressure").
const maxWholeError = pgwire.BufferSize - 1

// relayLargeError relays the server's current message, an ErrorResponse of length n over maxWholeError,
// without reading it whole: the prepared-statement tracker and reject_session_features decide from its
// first fields (pgwire.ErrorPrefix of a Peek), and the message is then forwarded as it is, streamed, or
// dropped for the tracker's or the rejection's own error. It reports false when the link ended.
func (c *clientConn) relayLargeError(sc *serverConn, n int) bool {
	head, err := sc.rd.Peek(pgwire.BufferSize)
	if err != nil {
		c.relayFailed(sc, err)
		return false
	}
	prefix := pgwire.ErrorPrefix(head)
	var out []byte
	if c.prep {
		c.mu.Lock()
		out = c.prepared.ServerErrorPrefix(&sc.stmts, prefix)
		c.mu.Unlock()
	}
	if out == nil {
		if r := c.rejectedError(prefix); !bytes.Equal(r, prefix) {
			out = r
		}
	}
	if out == nil {
		return c.forward(sc, n)
	}
	if err := sc.rd.Discard(); err != nil {
		c.relayFailed(sc, err)
		return false
	}
	c.pool.stats.sent.Add(int64(len(out)))
	return !c.writeClient(sc, out, false)
}
