package pooler

import (
	"bytes"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/prepare"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// Protocol-level prepared statements in transaction and statement mode (PgBouncer doc/config.md,
// max_prepared_statements): the rewriting and the answer queue are package prepare's (the client's
// prepare.Tracker, the linked server's prepare.ServerStmts, the Server's prepare.Registry); here is the
// I/O, and the checks of reject_session_features and the SET scan (package session) that come first.
// The Tracker is guarded by c.mu, and sc.stmts by the mu of the client sc is linked to.

// forwardPrepared forwards the current message (type typ) to sc, rewriting statement names (package
// prepare). It is used in transaction and statement mode with max_prepared_statements > 0.
func (c *clientConn) forwardPrepared(sc *serverConn, typ byte) error {
	switch typ {
	case 'P', 'B', 'D', 'C', 'Q', 'F', 'S':
	default:
		return c.rd.Forward(sc.wr)
	}
	if streamed, err := c.forwardLarge(sc, typ); streamed || err != nil {
		return err
	}
	msg, err := c.rd.ReadMsg()
	if err != nil {
		return err
	}
	return c.sendPrepared(sc, msg)
}

// forwardLarge streams, without reading it whole, a FunctionCall, or a Query or a Bind longer than
// session.MaxScannedQuery, or an unnamed Parse longer than prepare.MaxCarriedParse: such a Query is not
// scanned for SET (nor for reject_session_features), such an unnamed Parse is not carried to another
// server, and a Bind of a named statement has only its first fields rewritten. It reports whether it
// did; other messages are read whole by the caller.
func (c *clientConn) forwardLarge(sc *serverConn, typ byte) (bool, error) {
	_, n, err := c.rd.Next()
	if err != nil {
		return false, err
	}
	if typ != 'F' && n <= session.MaxScannedQuery {
		return false, nil
	}
	head, err := c.rd.Peek(1024)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	out, ok := c.prepared.Stream(&sc.stmts, typ, head)
	c.mu.Unlock()
	if !ok {
		return false, nil
	}
	if err := writePre(sc.wr, &out); err != nil {
		return true, err
	}
	if out.Head != nil {
		return true, c.rd.ForwardWithPrefix(out.Head, out.Skip, sc.wr)
	}
	return true, c.rd.Forward(sc.wr)
}

// sendPrepared is forwardPrepared for a message already read. A Query or Parse that
// reject_session_features refuses is replaced by its sentinel; the SET statements of one that is sent are
// noted (c.sets).
func (c *clientConn) sendPrepared(sc *serverConn, msg []byte) error {
	typ, body := msg[0], msg[pgwire.HeaderSize:]
	switch typ {
	case 'Q':
		text := body
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		if f := c.sessionFeature(text); f != session.FeatureNone { // counted; refused (leakreport.go)
			c.mu.Lock()
			c.prepared.Refused(&sc.stmts, 'Q', false)
			c.mu.Unlock()
			return c.sendRejected(sc, session.RejectQuery(f))
		}
		if session.MayChange(text) {
			c.mu.Lock()
			c.sets.Scan(string(text))
			c.mu.Unlock()
		}
	case 'P':
		name, rest, ok := cstring(body)
		if !ok {
			return pgwire.ProtocolViolation("malformed Parse message")
		}
		q, _, ok := bytes.Cut(rest, []byte{0}) // the query text, not copied
		if !ok {
			q = nil
		}
		if f := c.sessionFeature(q); f != session.FeatureNone { // counted; refused (leakreport.go)
			c.mu.Lock()
			c.prepared.Refused(&sc.stmts, 'P', name == "")
			c.mu.Unlock()
			return c.sendRejected(sc, session.RejectParse(f, name == ""))
		}
		if ok && session.MayChange(q) {
			c.mu.Lock()
			c.sets.Scan(string(q))
			c.mu.Unlock()
		}
	}
	c.mu.Lock()
	out, err := c.prepared.Send(&c.s.stmts, &sc.stmts, msg)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return writeOut(sc.wr, &out, msg)
}

// writePre sends the messages the tracker injects before a client's message.
func writePre(w *pgwire.Writer, out *prepare.Out) error {
	for _, m := range out.Pre {
		if m != nil {
			if err := w.Write(m); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeOut sends what the tracker made of msg, a whole client message (prepare.Out).
func writeOut(w *pgwire.Writer, out *prepare.Out, msg []byte) error {
	if err := writePre(w, out); err != nil {
		return err
	}
	switch {
	case out.Msg != nil:
		return w.Write(out.Msg)
	case out.Head != nil:
		return w.WriteMessage(msg[0], out.Head, msg[pgwire.HeaderSize+out.Skip:])
	}
	return w.Write(msg)
}

// popResp accounts for a ParseComplete ('1') or CloseComplete ('3') from the linked server and reports
// whether the message is to be dropped (the answer to an injected Parse or Close).
func (c *clientConn) popResp(typ byte) bool {
	c.mu.Lock()
	drop, err := c.prepared.Answer(typ)
	c.mu.Unlock()
	if err != nil {
		c.s.logger.Warn(err.Error(), "client", c.id, "type", string(typ))
	}
	return drop
}

// serverError handles an ErrorResponse msg from the linked server and returns the message for the
// client: the tracker's version (prepare.Tracker.ServerError), else the error of a statement refused by
// reject_session_features, else msg.
func (c *clientConn) serverError(sc *serverConn, msg []byte) []byte {
	c.mu.Lock()
	out, rewritten := c.prepared.ServerError(&sc.stmts, msg)
	c.mu.Unlock()
	if !rewritten {
		out = c.rejectedError(msg)
	}
	return out
}

// parseLocally answers a Parse of a named statement without a server, when the client holds none and
// the statement's text is known to be valid (prepare.Tracker.AddLocal): it sends ParseComplete at once,
// since nothing else is awaited. A Sync that ends such a batch is answered with ReadyForQuery
// (syncLocally). It reports whether msg was answered; msg is a Parse message.
func (c *clientConn) parseLocally(msg []byte) (bool, error) {
	name, rest, ok := cstring(msg[pgwire.HeaderSize:])
	if !ok || name == "" {
		return false, nil
	}
	if q, _, _ := cstring(rest); c.rejectedFeature([]byte(q)) != session.FeatureNone {
		return false, nil // refused by the server's answer to the sentinel, in order
	}
	st := c.s.stmts.Get(rest)
	if !st.Valid() {
		return false, nil
	}
	c.mu.Lock()
	c.awaitRelayLocked('P') // the ReadyForQuery of a link that has just ended goes first
	if c.sc != nil || c.pending > 0 || !c.prepared.AddLocal(name, st) {
		c.mu.Unlock()
		return false, nil
	}
	c.mu.Unlock()
	return true, c.writeLocal([]byte{'1', 0, 0, 0, 4})
}

// syncLocally answers a Sync that ends a batch parseLocally answered, when the client still holds no
// server; it reports whether it did.
func (c *clientConn) syncLocally() (bool, error) {
	c.mu.Lock()
	c.awaitRelayLocked('S')
	local := c.prepared.EndLocalBatch() && c.sc == nil
	c.mu.Unlock()
	if !local {
		return false, nil
	}
	return true, c.writeLocal([]byte{'Z', 0, 0, 0, 5, 'I'})
}

// writeLocal sends a message the pooler answers itself.
func (c *clientConn) writeLocal(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.wr.Write(msg); err != nil {
		return err
	}
	return c.wr.Flush()
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}
