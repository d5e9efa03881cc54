package pooler

import (
	"errors"
	"os"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// relayServer copies the linked server's messages to the client until the link ends. On each
// ReadyForQuery it settles what the server owes; in transaction and statement mode a server that is
// provably idle (status 'I', no ReadyForQuery owed, no open extended-protocol batch) goes back to its pool
// once that ReadyForQuery has been written to the client. ParameterStatus messages update both sides'
// parameters.
func (c *clientConn) relayServer(sc *serverConn, done chan struct{}) {
	defer close(done)
	defer c.recoverRelay(sc)
	stats := &c.pool.stats
	for {
		typ, n, err := sc.rd.Next()
		if err != nil {
			c.relayFailed(sc, err)
			return
		}
		switch typ {
		case 'Z':
			if finished := c.readyForQuery(sc); finished {
				return
			}
			continue
		case 'S':
			msg, err := sc.rd.ReadMsg()
			if err != nil {
				c.relayFailed(sc, err)
				return
			}
			stats.sent.Add(int64(len(msg)))
			if name, value, ok := sc.noteParameterStatus(msg[pgwire.HeaderSize:]); ok {
				panicPoint("relay", msg[pgwire.HeaderSize:])
				c.mu.Lock()
				c.setParamLocked(lowerName(name), value)
				c.mu.Unlock()
			}
			c.wmu.Lock()
			err = c.wr.Write(msg)
			c.wmu.Unlock()
			if err != nil {
				c.clientGone(sc)
				return
			}
		case 'G', 'W': // CopyInResponse, CopyBothResponse
			c.copyStarted()
			if !c.forward(sc, n) {
				return
			}
		case '1', '3':
			if c.prep && c.popResp(typ) { // the answer to an injected Parse or Close
				if err := sc.rd.Discard(); err != nil {
					c.relayFailed(sc, err)
					return
				}
				break
			}
			if !c.forward(sc, n) {
				return
			}
		case 'E':
			if !c.prep && !c.rejectingErrors() {
				if !c.forward(sc, n) {
					return
				}
				break
			}
			if n > maxWholeError {
				if !c.relayLargeError(sc, n) {
					return
				}
				break
			}
			msg, err := sc.rd.ReadMsg()
			if err != nil {
				c.relayFailed(sc, err)
				return
			}
			var out []byte
			if c.prep {
				out = c.serverError(sc, msg)
			} else {
				out = c.rejectedError(msg)
			}
			stats.sent.Add(int64(len(out)))
			c.wmu.Lock()
			err = c.wr.Write(out)
			c.wmu.Unlock()
			if err != nil {
				c.clientGone(sc)
				return
			}
		default:
			if !c.forward(sc, n) {
				return
			}
		}
		if !sc.rd.HasMessage() {
			c.wmu.Lock()
			err := c.wr.Flush()
			c.wmu.Unlock()
			if err != nil {
				c.clientGone(sc)
				return
			}
		}
	}
}

// forward copies the server's current message (length n) to the client; false when the link ended.
func (c *clientConn) forward(sc *serverConn, n int) bool {
	c.pool.stats.sent.Add(int64(n) + 1)
	c.wmu.Lock()
	err := sc.rd.Forward(c.wr)
	c.wmu.Unlock()
	if err != nil {
		var we *pgwire.WriteError
		if errors.As(err, &we) {
			c.clientGone(sc)
		} else {
			c.relayFailed(sc, err)
		}
		return false
	}
	return true
}

// noteReadyLocked settles a ReadyForQuery with status on its way to the client, with c.mu held: one
// fewer owed, the transaction status, no COPY any more, and the statistics (countReadyForQueryLocked).
func (c *clientConn) noteReadyLocked(status byte) {
	if c.pending > 0 {
		c.pending--
	}
	c.txStatus = status
	c.copyIn = false
	c.countReadyForQueryLocked(status)
}

// countReadyForQueryLocked counts a ReadyForQuery on its way to the client: a query ends, and with
// status 'I' a transaction too (PgBouncer counts the same way: query_count, xact_count and their times).
func (c *clientConn) countReadyForQueryLocked(status byte) {
	stats := &c.pool.stats
	now := c.now()
	stats.sent.Add(pgwire.HeaderSize + 1)
	stats.queries.Add(1)
	if !c.queryStart.IsZero() {
		d := now.Sub(c.queryStart)
		stats.queryTime.Add(d.Microseconds())
		c.pool.obs.Query(d)
		c.queryStart = time.Time{}
	}
	if status == 'I' && !c.xactStart.IsZero() {
		d := now.Sub(c.xactStart)
		stats.xacts.Add(1)
		stats.xactTime.Add(d.Microseconds())
		c.pool.obs.Xact(d)
		c.xactStart = time.Time{}
	}
}

// readyForQuery handles a ReadyForQuery from the linked server and reports whether the link ended.
func (c *clientConn) readyForQuery(sc *serverConn) bool {
	msg, err := sc.rd.ReadMsg()
	if err != nil || len(msg) != pgwire.HeaderSize+1 {
		c.relayFailed(sc, err)
		return true
	}
	status := msg[pgwire.HeaderSize]
	rfq := readyMessage(status) // not msg: it points into sc's buffer, which the next borrower of sc reuses
	sc.txStatus = status

	c.mu.Lock()
	c.noteReadyLocked(status)
	if c.prep {
		c.prepared.Ready(&sc.stmts)
	}
	idle := c.pending == 0 && !c.openBatch
	if idle && c.s.config().Pooler.QueryTimeout.D() > 0 {
		_ = sc.conn.SetReadDeadline(time.Time{})
	}
	unlink := idle && c.mode != modeSession && (status == 'I' || c.mode == modeStatement)
	var sets session.Sets
	if unlink {
		c.sc = nil
		c.txStatus = 'I'
		if !c.sets.Empty() { // syncSessionOrClose reads the values they left before the client's next link
			sets, c.sets = c.sets, session.Sets{}
		}
	}
	if idle {
		c.armIdleDeadlineLocked()
	}
	c.mu.Unlock()

	if !unlink {
		return c.writeClient(sc, rfq, !sc.rd.HasMessage())
	}
	// The link ends. The ReadyForQuery that ends it reaches the client before the server goes back
	// (design.md), and the client goroutine waits for this relay to return (relayDone) before it links
	// again or answers anything itself: nothing overtakes this ReadyForQuery, and the client's next link
	// sees the parameters its SETs left (syncSessionOrClose).
	out := rfq
	if status != 'I' { // statement mode: a transaction block was opened
		e := pgwire.NewError(pgerrcode.FeatureNotSupported, "transaction blocks are not allowed in statement pooling mode: the transaction was rolled back")
		out = e.AppendTo(nil)
		out, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(out)
	}
	c.writeClient(nil, out, true) // a client gone by now is closed; its idle server still goes back
	if status != 'I' {
		rollbackErr := c.s.execBounded(sc, "ROLLBACK")
		if rollbackErr != nil || sc.txStatus != 'I' {
			c.s.closeServer(sc, "rollback after a transaction block in statement mode failed")
			return true
		}
	}
	if c.syncSessionOrClose(sc, sets) {
		c.s.release(sc)
	}
	return true
}

// The ReadyForQuery messages of each transaction status (PostgreSQL protocol docs, "Message Formats":
// 'I' idle, 'T' in a transaction block, 'E' in a failed one). readyMessage hands them out of these
// arrays, which are never written: a copy in a local array would escape through the client's Writer
// (an io.Writer) and cost an allocation per transaction.
var (
	readyIdle   = [pgwire.HeaderSize + 1]byte{'Z', 0, 0, 0, 5, 'I'}
	readyInTx   = [pgwire.HeaderSize + 1]byte{'Z', 0, 0, 0, 5, 'T'}
	readyFailed = [pgwire.HeaderSize + 1]byte{'Z', 0, 0, 0, 5, 'E'}
)

// readyMessage returns the ReadyForQuery message with status, for writing only.
func readyMessage(status byte) []byte {
	switch status {
	case 'I':
		return readyIdle[:]
	case 'T':
		return readyInTx[:]
	case 'E':
		return readyFailed[:]
	}
	return []byte{'Z', 0, 0, 0, 5, status} // not a status PostgreSQL sends: passed on as it came
}

// syncSessionOrClose runs syncSessionState when the transaction sent session-changing statements, and
// reports whether sc may go back to its pool; a server that cannot answer is closed (the client keeps
// its earlier parameters, and the failure is logged).
func (c *clientConn) syncSessionOrClose(sc *serverConn, sets session.Sets) bool {
	if sets.Empty() {
		return true
	}
	if err := c.syncSessionState(sc, sets); err != nil {
		c.s.logger.Warn("cannot read the session parameters a client set; closing its server", "client", c.id, "error", err.Error())
		c.s.closeServer(sc, "session parameter read failed")
		return false
	}
	return true
}

// writeClient writes b to the client, flushing when asked. It reports whether the client is gone (then
// sc, if not nil, has been disposed of).
func (c *clientConn) writeClient(sc *serverConn, b []byte, flush bool) bool {
	c.wmu.Lock()
	err := c.wr.Write(b)
	if err == nil && flush {
		err = c.wr.Flush()
	}
	c.wmu.Unlock()
	if err != nil {
		if sc != nil {
			c.clientGone(sc)
		} else {
			_ = c.conn.Close()
		}
		return true
	}
	return false
}

// clientGone ends the link after a failed write to the client: the server is mid-response, so it is
// closed, and the client's socket is closed so that its goroutine ends too.
func (c *clientConn) clientGone(sc *serverConn) {
	c.mu.Lock()
	c.closing = true
	if c.sc == sc {
		c.sc = nil
	}
	c.mu.Unlock()
	_ = c.conn.Close()
	c.s.abortServer(sc, "client connection lost during a query")
}

// relayFailed ends the link after reading the server failed. That is how the client goroutine wakes the
// relay when the client leaves (a past read deadline): a server that sits cleanly between messages is then
// rolled back, reset and returned to its pool; any other server is closed. Otherwise the server failed or
// query_timeout fired, and the client is told and closed.
func (c *clientConn) relayFailed(sc *serverConn, err error) {
	c.mu.Lock()
	closing := c.closing
	busy := c.pending > 0 || c.openBatch
	if c.sc == sc {
		c.sc = nil
	}
	c.mu.Unlock()
	// A deadline that passed, not ETIMEDOUT: tcp_user_timeout and keepalive kill a dead server's socket
	// with ETIMEDOUT, whose net.Error says Timeout() too, and that is a failed server, not query_timeout.
	timeout := errors.Is(err, os.ErrDeadlineExceeded)

	if closing {
		if timeout && !busy && sc.rd.Buffered() == 0 {
			c.s.returnAfterClient(sc, c.mode)
		} else {
			c.s.abortServer(sc, "client disconnected while the server was busy")
		}
		return
	}
	if timeout && busy {
		qt := c.s.config().Pooler.QueryTimeout.D()
		c.s.abortServer(sc, "query_timeout")
		c.sendError(queryTimedOut(qt))
	} else {
		c.s.closeServer(sc, "server connection failed: "+errString(err))
		c.sendError(pgwire.NewFatal(pgerrcode.ConnectionFailure, "server closed the connection unexpectedly: %s", errString(err)))
	}
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	_ = c.conn.Close()
}

func errString(err error) string {
	if err == nil {
		return "malformed message"
	}
	return err.Error()
}

// returnAfterClient puts a server whose client left back into service: ROLLBACK if the client left inside
// a transaction, server_reset_query in session mode (or always with server_reset_query_always), then
// release. Any failure closes the server instead.
func (s *Server) returnAfterClient(sc *serverConn, mode string) {
	cfg := s.config().Pooler
	if sc.txStatus != 'I' {
		if err := s.execBounded(sc, "ROLLBACK"); err != nil || sc.txStatus != 'I' {
			s.closeServer(sc, "rollback after client disconnect failed")
			return
		}
	}
	if q := cfg.ServerResetQuery; q != "" && (mode == modeSession || cfg.ServerResetQueryAlways) {
		if err := s.execBounded(sc, q); err != nil || sc.txStatus != 'I' {
			s.closeServer(sc, "server_reset_query failed")
			return
		}
		afterResetQuery(sc, q) // no client is linked: nobody else touches sc's statements
	}
	s.release(sc)
}

// abortServer closes a server that is in the middle of something: it first sends a CancelRequest so that
// PostgreSQL stops the running query instead of finishing it for nobody (bounded by cancelBound), then
// closes the connection.
func (s *Server) abortServer(sc *serverConn, reason string) {
	go func() {
		closing := false
		defer s.recoverAbort(sc, &closing)
		_, _ = sc.cancel(s.cancelBound())
		closing = true
		s.closeServer(sc, reason)
	}()
}
