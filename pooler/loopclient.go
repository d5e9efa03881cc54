package pooler

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/loop"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// OnData frames the client's messages (PostgreSQL protocol docs, "Message Formats": a type byte and a
// length word, checked against pgwire.FrontendLimit and max_packet_size from the header alone) and
// forwards them raw to the linked server, streaming large ones, in one write per read where they are
// small (sendRaw, flushGathered); the first message that needs a server
// lends one (lend), the client being paused until it is linked. It accounts for each message as link()
// does: Query, Sync and FunctionCall owe a ReadyForQuery, other extended-protocol messages open a batch.
func (lp *loopClient) OnData(lc *loop.Conn, data []byte) int {
	lp.lc = lc
	if lp.tl != nil {
		return lp.tl.onData(lc, data, lp) // decrypted, to onPlain
	}
	return lp.onPlain(lc, data)
}

// onPlain is OnData on the client's plaintext.
func (lp *loopClient) onPlain(lc *loop.Conn, data []byte) int {
	c := lp.c
	defer lp.touchIdle() // client_idle_timeout, idle_transaction_timeout (looptimeout.go)
	off := 0
	for off < len(data) && !lc.Paused() && !lc.Closed() {
		if lp.discard > 0 {
			n := min(lp.discard, len(data)-off)
			lp.discard -= n
			off += n
			continue
		}
		if lp.rem > 0 {
			n := min(lp.rem, len(data)-off)
			lp.rem -= n
			if !lp.sendRaw(data[off : off+n]) {
				return len(data)
			}
			off += n
			continue
		}
		if len(data)-off < pgwire.HeaderSize {
			break
		}
		typ := data[off]
		n := int(binary.BigEndian.Uint32(data[off+1:]))
		if e := lp.checkHeader(typ, n); e != nil {
			lp.fail(e)
			return len(data)
		}
		if typ == 'X' {
			lp.close(errQuiet)
			return len(data)
		}
		if lp.ln != nil && c.mode == modeStatement && lp.statementWaits(typ) { // loopstatement.go
			lc.Pause()
			break // the message stays unconsumed until the statement's link has ended
		}
		if lp.ln == nil {
			if typ == 'H' || typ == 'd' || typ == 'c' || typ == 'f' { // nothing to link for (link())
				c.pool.stats.countClientMessage(typ, n)
				lp.discard = 1 + n
				continue
			}
			if c.prep && !lp.waiting { // a Parse or Sync answered without a server (loopprepare.go)
				m, wait := lp.answerLocally(typ, n, data[off:])
				if wait {
					break
				}
				if off += m; m > 0 {
					continue
				}
			}
			if !lp.waiting {
				lp.lend() // links at once when the loop has an idle server of the pool
			}
			if lp.ln == nil {
				if !lc.Closed() {
					lc.Pause()
				}
				break // the message stays unconsumed until the client is linked
			}
		}
		if c.prep { // through the statement tracker, gathered for one write (loopprepare.go)
			m, ok := lp.sendTracked(typ, n, data[off:])
			if !ok {
				return len(data)
			}
			if m == 0 {
				break
			}
			off += m
			continue
		}
		scan := c.mode != modeSession && (typ == 'Q' || typ == 'P') && n <= session.MaxScannedQuery
		if scan && off+1+n > len(data) {
			break // bounded: session.MaxScannedQuery is below the loop's InboundLimit
		}
		c.pool.stats.countClientMessage(typ, n)
		lp.account(typ)
		if scan {
			if refused, ok := lp.sendIfRefused(data[off : off+1+n]); refused { // loopreject.go
				if !ok {
					return len(data)
				}
				off += 1 + n
				continue
			}
			lp.scanSets(data[off : off+1+n])
		}
		m := min(1+n, len(data)-off)
		lp.rem = 1 + n - m
		if !lp.sendRaw(data[off : off+m]) { // gathered: one write per read, not one per message
			return len(data)
		}
		off += m
	}
	lp.flushGathered()
	return off
}

// checkHeader refuses what run() refuses: a length below 4 or over the type's limit or max_packet_size,
// and a type that is not a frontend message of the extended or simple protocol.
func (lp *loopClient) checkHeader(typ byte, n int) *pgwire.Error {
	limit := pgwire.DefaultMaxMessageSize
	if m := lp.c.s.config().Pooler.MaxPacketSize; m > 0 {
		limit = m
	}
	switch {
	case n < 4:
		return pgwire.ProtocolViolation("invalid message length %d for message type %q", n, typ)
	case pgwire.FrontendLimit(typ) < limit && n > pgwire.FrontendLimit(typ):
		return pgwire.ProtocolViolation("message of type %q is %d bytes, over the limit of %d bytes for that message type", typ, n, pgwire.FrontendLimit(typ))
	case n > limit:
		return pgwire.ProtocolViolation("message of type %q is %d bytes, over the limit of %d bytes (max_packet_size)", typ, n, limit)
	}
	switch typ {
	case 'X', 'Q', 'P', 'B', 'E', 'D', 'C', 'H', 'S', 'F', 'd', 'c', 'f':
		return nil
	}
	return pgwire.ProtocolViolation("invalid frontend message type %d", typ)
}

// account notes message typ on its way to the linked server, under c.mu as link() does (SHOW CLIENTS
// and cancel requests read the same fields); a query that starts starts query_timeout.
func (lp *loopClient) account(typ byte) {
	c := lp.c
	c.mu.Lock()
	started := c.accountSentLocked(typ)
	c.mu.Unlock()
	if started {
		lp.queryStarted() // query_timeout (looptimeout.go)
	}
}

// scanSets notes the SET and RESET statements of a whole Query or Parse message, as forwardScanned does.
func (lp *loopClient) scanSets(msg []byte) {
	text := msg[pgwire.HeaderSize:]
	if msg[0] == 'P' {
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[i+1:]
		}
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	if session.MayChange(text) {
		lp.c.mu.Lock()
		lp.c.sets.Scan(string(text))
		lp.c.mu.Unlock()
	}
}

// toServer writes b to the linked server; false when the write failed (the link has then failed).
// Over the server's outbound limit the client is paused until OnDrained.
func (lp *loopClient) toServer(b []byte) bool {
	rs := lp.ln.rs
	if err := rs.write(b); err != nil {
		return false
	}
	if rs.conn.OverLimit() {
		lp.fullServer = true
		lp.lc.Pause()
	}
	return true
}

// write writes b to the client, on its loop: through its TLS layer when it has one.
func (lp *loopClient) write(b []byte) error {
	if lp.tl != nil {
		return lp.tl.write(b)
	}
	return lp.lc.Write(b)
}

// maybeResume resumes the client when nothing holds it: no server being got, no full server.
func (lp *loopClient) maybeResume() {
	if !lp.done && !lp.waiting && !lp.fullServer && lp.lc != nil {
		lp.lc.Resume()
	}
}

// OnDrained: the client took what was queued for it; a server paused for it goes on.
func (lp *loopClient) OnDrained(*loop.Conn) {
	if ln := lp.ln; ln != nil && ln.fullClient {
		ln.fullClient = false
		ln.rs.conn.Resume()
	}
}

// flushLater writes to the client what other goroutines wrote for it (serveOnLoop).
func (lp *loopClient) flushLater() {
	c := lp.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.wr.Flush()
	if len(lp.later) > 0 && lp.lc != nil {
		_ = lp.write(lp.later)
	}
	lp.later = nil
}

// fail sends e to the client and closes it.
func (lp *loopClient) fail(e *pgwire.Error) {
	if lp.lc != nil && !lp.done {
		_ = lp.write(e.AppendTo(nil))
	}
	lp.close(e)
}

// failErr is fail for any error: an ErrorResponse when it is one (or a FATAL for the client), else a
// quiet close.
func (lp *loopClient) failErr(err error) {
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		lp.fail(pe)
		return
	}
	lp.close(err)
}

// close closes the client for err (OnClose follows at once), after what other goroutines wrote for it
// (kill's goodbye: the waiting link may learn of the kill first, from acquire's error).
func (lp *loopClient) close(err error) {
	if lp.err == nil {
		lp.err = err
	}
	if lp.lc != nil && !lp.done {
		lp.flushLater()
		_ = lp.lc.Close()
	}
}

// OnClose: the client is gone, by either side. Its server goes back when it sits cleanly between
// messages (returnOnLoop: ROLLBACK, server_reset_query, on the loop; released here when neither is
// needed), and is cancelled and closed otherwise (abortServer); then the client is finished.
func (lp *loopClient) OnClose(_ *loop.Conn, err error) {
	if lp.done {
		return
	}
	if err == nil && lp.tl != nil {
		err = lp.tl.err // closed by its TLS layer
	}
	if lp.err == nil {
		lp.err = err
	}
	lp.leaveLine()
	if errors.Is(err, loop.ErrPanic) {
		lp.dropTaken() // loopleak.go
	}
	if ln := lp.ln; ln != nil {
		c := lp.c
		ln.detach()
		c.mu.Lock()
		busy := c.pending > 0 || c.openBatch
		c.mu.Unlock()
		sc := ln.sc
		switch cfg := &c.s.config().Pooler; {
		case busy || lp.rem > 0 || ln.rem > 0 || ln.drop > 0 || ln.rs.conn.Outbound() > 0:
			c.s.abortServer(sc, "client disconnected while the server was busy")
		case sc.txStatus == 'I' && (cfg.ServerResetQuery == "" || (c.mode != modeSession && !cfg.ServerResetQueryAlways)):
			c.s.releaseOn(sc, lp.l) // returnAfterClient would only release it
		default:
			c.s.returnOnLoop(ln.rs, c.mode) // loopsettle.go
		}
	}
	lp.finish(lp.err)
}

// finish does what serve does after run: finish (the client's error is already written), clientCount,
// clientWG. Once.
func (lp *loopClient) finish(err error) {
	if lp.done {
		return
	}
	lp.done = true
	lp.finished.Store(true)
	lp.stopTimeouts()
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, loop.ErrStopped):
		err = errQuiet
	}
	c := lp.c
	c.finish(err)
	if lp.counted {
		c.s.clientCount.Add(-1)
	}
	c.s.clientWG.Done()
}

// ctxEnded runs when the client's context ends: KILL_CLIENT or KILL (cause errQuiet) closes it after
// the goodbye kill wrote; the end of Shutdown's base context is shutdown's business.
func (lp *loopClient) ctxEnded() {
	if lp.done || lp.c.ctxCause() != errQuiet {
		return
	}
	lp.flushLater()
	lp.close(errQuiet)
}

// shutdownClient is clientConn.shutdown for a client on a loop: it is closed with 57P01 if it is between
// transactions (or sits idle in session mode), or always with force.
func (lp *loopClient) shutdownClient(force bool) {
	_ = lp.l.Run(func() {
		if lp.done || lp.lc == nil {
			return
		}
		c := lp.c
		idle := lp.ln == nil
		if !idle && c.mode == modeSession {
			c.mu.Lock()
			idle = c.pending == 0 && !c.openBatch && c.txStatus == 'I' && lp.rem == 0
			c.mu.Unlock()
		}
		if idle || force {
			lp.fail(pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down"))
		}
	})
}
