package pooler

import (
	"encoding/binary"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// loopLink is one lending of a server to a client on a loop: both sockets are served by the client's
// loop, which alone touches it. It lives in the server's residentServer (link), written anew by each
// lending (attach): code that ends a lending must not use the link after the server may have been
// lent again (releaseOn can hand it to a waiter of the loop at once), only what it copied before.
type loopLink struct {
	lp         *loopClient
	sc         *serverConn
	rs         *residentServer
	rem        int  // bytes of the server's current message still to forward to the client
	drop       int  // bytes of the server's current message still to drop (loopprepare.go trackAnswer)
	fullClient bool // the server is paused: the client's outbound is over the limit
}

// lend gets a server for the client. When the pool has an idle server resident on the client's loop
// and nobody waits, the client is linked at once, on the loop (takeResident), after the internal
// queries it needs (settleResident: server_check_query, a parameter sync, on the loop too). Otherwise
// the client's message waits (paused) in line on the loop (waitOnLoop) or while a goroutine asks the
// pool (acquire may wait in line, log in a server); the answer comes back to the loop (lent).
func (lp *loopClient) lend() {
	c := lp.c
	if c.s.stopping.Load() { // between transactions during a shutdown: this client is done (link())
		lp.fail(pgwire.NewFatal(pgerrcode.AdminShutdown, "pgpooler is shutting down"))
		return
	}
	sc, ok := lp.takeResident()
	switch {
	case ok:
		lp.attach(sc)
		return
	case sc != nil:
		lp.settleResident(sc, false) // loopsettle.go
		return
	case lp.waitOnLoop():
		return
	}
	lp.waiting = true
	go lp.acquire(nil, false)
}

// takeResident takes, on the loop, an idle server of the client's pool resident on its loop (the most
// recently used), with no syscall: its loop would have seen a hang-up, so there is no liveness check.
// ok tells that it is ready to link. A server that needs internal queries first (server_check_query
// due, a parameter sync, the client's SQL-level prepared statements to carry) is returned with ok
// false, for settleResident; nil, false when the loop has none.
func (lp *loopClient) takeResident() (sc *serverConn, ok bool) {
	c, s := lp.c, lp.c.s
	if s.pause.any.Load() {
		return nil, false
	}
	for {
		sc, found := c.pool.q.AcquireIdle(func(sc *serverConn) bool { return sc.res != nil && sc.res.l == lp.l })
		if !found {
			return nil, false
		}
		lp.taken = sc // until attach or settled (loopleak.go)
		switch ready, closed := lp.vetResident(sc); {
		case ready:
			c.pool.stats.serverAssignments.Add(1)
			c.pool.obs.Wait(0)
			c.learnTentative(sc)
			return sc, true
		case !closed:
			return sc, false
		}
		lp.taken = nil
	}
}

// vetResident checks, on the loop, an idle server resident on the client's loop before it is lent
// there: ready when it can be linked at once; closed when it failed (closed and dropped); neither when
// it needs internal queries first (server_check_query due, a parameter sync, the client's SQL-level
// prepared statements to carry), run on the loop by settleResident.
func (lp *loopClient) vetResident(sc *serverConn) (ready, closed bool) {
	c, s := lp.c, lp.c.s
	cfg := s.config()
	rs := sc.res
	if rs.conn.Closed() {
		s.closeServer(sc, "server connection lost")
		return false, true
	}
	if expired(sc, cfg.Pooler.ServerLifetime.D()) {
		s.closeServer(sc, "failed its check before reuse")
		return false, true
	}
	c.mu.Lock()
	sql, _ := c.clientSyncSQLLocked(sc)
	carry := c.mode != modeSession && (len(c.sqlStmts) > 0 || len(sc.sqlStmts) > 0)
	c.mu.Unlock()
	if sql != "" || carry || checkDue(sc, cfg) || c.evictDue(sc) {
		return false, false
	}
	return true, false
}

// acquire runs in a goroutine: it finishes the lending of taken (a server of another loop or of
// goroutine code granted to the client waiting on the loop: observed then, its wait already counted)
// or, when taken is nil, gets a server from the pool (waiting in line if need be), prepares it, and
// hands it to the loop (lent, or settleResident for a server resident there).
func (lp *loopClient) acquire(taken *serverConn, observed bool) {
	c := lp.c
	sc, err := taken, error(nil)
	if sc != nil && !c.s.checkIdle(sc, nil) {
		c.s.closeServer(sc, "failed its check before reuse")
		sc = nil
	}
	if sc == nil {
		start := time.Now()
		c.mu.Lock()
		c.waitSince = start
		c.mu.Unlock()
		sc, err = c.s.acquireOn(c.context(), c.pool, nil, lp.l) // the loop sees the client leave: its close ends c.context()
		c.mu.Lock()
		c.waitSince = time.Time{}
		c.mu.Unlock()
		if err == nil {
			waited := time.Since(start)
			c.pool.stats.waitTime.Add(waited.Microseconds())
			c.pool.obs.Wait(waited)
		}
	} else if !observed {
		c.pool.obs.Wait(0)
	}
	lp.prepared(sc, err)
}

// prepared finishes a lending in the goroutine that got sc (or err): the parameter sync, then the
// server goes to the loop (lent). A server resident on the client's loop (acquireOn leaves no other
// resident) goes to the loop as it is, for its check and sync there (settleResident).
func (lp *loopClient) prepared(sc *serverConn, err error) {
	c := lp.c
	if err == nil && sc.res != nil {
		if lp.l.Run(func() { lp.settleResident(sc, true) }) != nil {
			c.s.closeServer(sc, "event loops stopped")
		}
		return
	}
	if err == nil {
		c.pool.stats.serverAssignments.Add(1)
		if err = c.prepareServer(sc); err != nil {
			sc = nil // prepareServer disposed of it
		}
	}
	if lp.l.Run(func() { lp.lent(sc, err) }) != nil && sc != nil {
		c.s.closeServer(sc, "event loops stopped") // the loops have stopped
	}
}

// lent takes the server acquire got (or its error), on the loop, and links it; a server that is not
// resident yet is enrolled on the client's loop first.
func (lp *loopClient) lent(sc *serverConn, err error) {
	c := lp.c
	switch {
	case lp.done:
		if sc != nil {
			c.s.releaseOn(sc, lp.l) // nothing was sent to it
		}
		return
	case err != nil:
		lp.waiting = false
		lp.failErr(err)
		return
	}
	if sc.res != nil {
		lp.waiting = false
		lp.attach(sc)
		return
	}
	lp.taken = sc // until attach (loopleak.go)
	if _, err := enrollServer(lp.l, sc); err != nil {
		lp.waiting = false
		lp.taken = nil
		c.s.closeServer(sc, "event_loops: cannot enroll the server's socket: "+err.Error())
		lp.fail(pgwire.NewFatal(pgerrcode.ConnectionFailure, "server connection failed: %v", err))
		return
	}
	_ = lp.l.Run(func() { // after the enrollment's own registration
		lp.waiting = false
		lp.attach(sc)
	})
}

// attach links sc (resident on the client's loop) to the client and lets both be read. A server found
// closed goes, and the client asks again.
func (lp *loopClient) attach(sc *serverConn) {
	c := lp.c
	lp.taken = nil // linked, given back or closed below
	if lp.done {
		c.s.releaseOn(sc, lp.l)
		return
	}
	rs := sc.res
	if rs.conn.Closed() {
		c.s.closeServer(sc, "server connection lost")
		lp.lend()
		if lp.ln == nil && !lp.done && lp.lc != nil {
			lp.lc.Pause()
		}
		return
	}
	rs.link = loopLink{lp: lp, sc: sc, rs: rs} // the server's own: no allocation per lending
	ln := &rs.link
	rs.ln, lp.ln = ln, ln
	c.mu.Lock()
	c.sc, c.txStatus, c.copyIn = sc, sc.txStatus, false
	c.prepared.ResetAnswers() // a link that ended abnormally may have left entries: they were for the old server
	c.mu.Unlock()
	lp.flushLater() // ParameterStatus of tentative start-up parameters (learnTentative)
	rs.conn.Resume()
	lp.maybeResume()
}

// detach ends the lending on the loop: the client's fields no longer name the server, which stays
// resident and readable (bytes it sends while idle close it). The caller disposes of the server.
func (ln *loopLink) detach() {
	lp := ln.lp
	lp.ln, ln.rs.ln = nil, nil
	if lp.fullServer {
		lp.fullServer = false
		lp.maybeResume()
	}
	lp.c.mu.Lock()
	if lp.c.sc == ln.sc {
		lp.c.sc = nil
	}
	lp.c.mu.Unlock()
}

// fromServer forwards the server's messages raw to the client, streaming large ones, and settles each
// ReadyForQuery (readyForQuery); ParameterStatus updates both sides' parameters. What it forwards from
// one read goes to the client in one write (up to and including a ReadyForQuery that ends the link). It
// returns the bytes consumed.
func (ln *loopLink) fromServer(data []byte) int {
	lp := ln.lp
	c := lp.c
	stats := &c.pool.stats
	off, from := 0, 0 // data[from:off] is forwarded but not yet written
	flush := func() bool {
		if off == from {
			return true
		}
		ok := ln.toClient(data[from:off])
		from = off
		return ok
	}
	for off < len(data) && lp.ln == ln && !ln.rs.conn.Paused() {
		if ln.drop > 0 { // from == off: flushed when the drop began
			n := min(ln.drop, len(data)-off)
			ln.drop -= n
			off += n
			from = off
			continue
		}
		if ln.rem > 0 {
			n := min(ln.rem, len(data)-off)
			ln.rem -= n
			off += n
			continue
		}
		if len(data)-off < pgwire.HeaderSize {
			break
		}
		typ := data[off]
		n := int(binary.BigEndian.Uint32(data[off+1:]))
		if n < 4 || n > pgwire.BackendLimit(typ) || (typ == 'Z' && n != 5) {
			if flush() {
				ln.serverFailed(nil)
			}
			return len(data)
		}
		if 1+n <= holdWhole && off+1+n > len(data) {
			if !flush() {
				return len(data)
			}
			return off // the rest of a short message: forwarded whole (holdWhole)
		}
		switch typ {
		case 'Z':
			if len(data)-off < pgwire.HeaderSize+1 {
				if !flush() {
					return len(data)
				}
				return off
			}
			if c.prep {
				ln.trackReady()
			}
			off += pgwire.HeaderSize + 1
			out := data[from:off]
			from = off
			if !ln.readyForQuery(out, off < len(data)) {
				return len(data)
			}
			continue
		case 'S':
			if off+1+n > len(data) {
				if !flush() {
					return len(data)
				}
				return off // bounded by the loop's InboundLimit
			}
			msg := data[off : off+1+n]
			if name, value, ok := ln.sc.noteParameterStatus(msg[pgwire.HeaderSize:]); ok {
				c.mu.Lock()
				c.setParamLocked(lowerName(name), value)
				c.mu.Unlock()
			}
		case 'G', 'W': // CopyInResponse, CopyBothResponse
			c.mu.Lock()
			c.copyIn = true
			c.mu.Unlock()
			if c.mode == modeStatement {
				lp.maybeResume() // a statement waiting behind this one goes on (loopstatement.go)
			}
		case '1', '3', 'E':
			if !c.prep && (typ != 'E' || !c.rejectingErrors()) {
				break
			}
			out, drop, wait := ln.serverAnswer(typ, n, data[off:]) // loopreject.go, loopprepare.go
			if wait {
				if !flush() {
					return len(data)
				}
				return off // bounded by pgwire.BufferSize
			}
			if drop {
				if !flush() || (out != nil && !ln.toClient(out)) {
					return len(data)
				}
				m := min(1+n, len(data)-off)
				ln.drop = 1 + n - m
				off += m
				from = off
				continue
			}
		}
		stats.sent.Add(int64(n) + 1)
		m := min(1+n, len(data)-off)
		ln.rem = 1 + n - m
		off += m
	}
	if !flush() {
		return len(data)
	}
	return off
}

// holdWhole is the size in bytes under which a server message is forwarded only once it is whole (the
// loop keeps what came of it, bounded by its InboundLimit): a server that fails mid-message then leaves
// its client between messages, where the 08006 ErrorResponse that follows can be read. Longer ones are
// streamed as they come; a failure inside one closes the client without a word (serverFailed).
const holdWhole = 8 << 10

// toClient writes b to the client; false when the client is gone (its OnClose has run). Over the
// client's outbound limit the server is paused until the client's OnDrained.
func (ln *loopLink) toClient(b []byte) bool {
	lc := ln.lp.lc
	if err := ln.lp.write(b); err != nil {
		return false
	}
	if lc.OverLimit() && !ln.fullClient {
		ln.fullClient = true
		ln.rs.conn.Pause()
	}
	return true
}

// readyForQuery settles a ReadyForQuery as relay.go's does (out: the bytes to write to the client, ending
// with it; false when the client is gone while the link goes on): one fewer owed, statistics; when nothing is
// owed and no batch is open in transaction mode with status 'I' (in statement mode with any status:
// refuseTransactionBlock, loopstatement.go), the link ends: the ReadyForQuery is written to the client,
// then the server goes back to its pool (after the read-back of the SETs the transaction sent, on the
// loop while the client's next link waits). more tells that the server sent bytes after it,
// which a server between transactions must not: it is closed then.
func (ln *loopLink) readyForQuery(out []byte, more bool) bool {
	lp, c, sc := ln.lp, ln.lp.c, ln.sc
	status := out[len(out)-1]
	sc.txStatus = status
	c.mu.Lock()
	c.noteReadyLocked(status)
	unlink := c.pending == 0 && !c.openBatch && c.mode != modeSession && (status == 'I' || c.mode == modeStatement)
	var sets session.Sets
	if unlink {
		c.txStatus = 'I'
		if !c.sets.Empty() {
			sets, c.sets = c.sets, session.Sets{}
		}
	}
	c.mu.Unlock()
	lp.readyTimeouts() // query_timeout ends, idle timeouts start (looptimeout.go)
	if !unlink {
		return ln.toClient(out)
	}
	ln.detach()
	if status != 'I' { // statement mode: a transaction block was opened (loopstatement.go)
		ln.refuseTransactionBlock(out, more, sets)
		return true
	}
	switch {
	case more:
		c.s.abortServer(sc, "unexpected data after the ReadyForQuery that ended a transaction")
	case sets.Empty():
		// The server goes back before the ReadyForQuery is queued to the client, in the same callback, so
		// that a client that has read it finds the server in its pool (a login right after a transaction
		// tries its start-up parameters there, establishParams), as PgBouncer's one thread does. Replies
		// still cannot overtake each other (design.md): nothing else of this client or of this server runs
		// on the loop before the callback returns, and a waiter handed the server (pools.Receiver.Take)
		// only sends to it.
		c.s.releaseOn(sc, lp.l)
	}
	// Written to the client's socket, not through toClient: the link has ended, and a client over its
	// outbound limit must not pause the server it no longer holds. A client gone by now is closed; its idle
	// server still goes back.
	_ = lp.write(out) // through its TLS layer when it has one
	if !more && !sets.Empty() {
		ln.syncSessionThenRelease(sets)
	}
	if c.mode == modeStatement {
		lp.maybeResume() // the next statement, waiting in the client's inbound, gets a link of its own
	}
	return true
}

// syncSessionThenRelease reads back the session state the transaction's SETs left on the server (sets)
// and releases it, on the loop (syncSessionOnLoop), while the client's next link waits (a method of its
// own, so that readyForQuery's sets does not escape to the heap on every call).
func (ln *loopLink) syncSessionThenRelease(sets session.Sets) {
	lp, sc := ln.lp, ln.sc
	lp.waiting = true
	lp.syncSessionOnLoop(ln.rs, sets, func(ok bool) {
		if ok {
			lp.c.s.releaseOn(sc, lp.l)
		}
		lp.waiting = false
		lp.maybeResume()
	})
}

// serverFailed ends the link when the server's socket failed or it sent a malformed message (err nil):
// the server is closed, the client told (08006) and closed, as relayFailed does; told nothing when it
// has received part of a long message (holdWhole).
func (ln *loopLink) serverFailed(err error) {
	lp, c := ln.lp, ln.lp.c
	cut := ln.rem > 0 // the client has part of a message: anything more would be read as its rest
	ln.detach()
	c.s.closeServer(ln.sc, "server connection failed: "+errString(err))
	e := pgwire.NewFatal(pgerrcode.ConnectionFailure, "server closed the connection unexpectedly: %s", errString(err))
	if cut {
		lp.close(e)
		return
	}
	lp.fail(e)
}
