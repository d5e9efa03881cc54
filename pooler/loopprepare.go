package pooler

import (
	"bytes"
	"encoding/binary"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/prepare"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// Protocol-level prepared statements (PgBouncer doc/config.md, max_prepared_statements) on the event-loop
// relay, in transaction and statement mode: the same rewriting and answer queue as the goroutine relay's (prepared.go,
// package prepare's Tracker), done on the loop in OnData (client messages) and fromServer (the server's
// answers). The Tracker is still guarded by c.mu (SHOW CLIENTS reads it); sc.stmts belongs to the link.
//
// A client message the tracker rewrites is rewritten whole, from the loop's buffer: one of at most
// session.MaxScannedQuery bytes waits until it is whole there, as a scanned Query does; a longer
// FunctionCall, Query, unnamed Parse or Bind whose names lie in its first 1024 bytes is streamed with its
// first fields rewritten (prepare.Tracker.Stream), as the goroutine relay streams it; any other longer
// one (a named Parse, a Bind with longer names) waits until it is whole up to loopMaxRewritten; of one
// longer than that the loop reads that much (a client that declares a length and sends less keeps
// waiting, as on the goroutine relay) and then ends the client with 54000, where the goroutine relay
// reads it whole up to max_packet_size.

// loopMaxRewritten is the longest client message, in bytes (type byte included), that the loop waits for
// whole to rewrite it: below the loop's default InboundLimit (1 MiB, loop.Config) by more than one read
// (ReadBufferSize, 64 KiB), so that what OnData leaves unconsumed while it waits stays under the limit.
const loopMaxRewritten = 1<<20 - 128<<10

// streamHead is how much of a long message's body the tracker sees to rewrite its first fields
// (prepare.Tracker.Stream), as the goroutine relay peeks it (forwardLarge).
const streamHead = 1024

// The messages the pooler answers itself for a client between transactions (parseLocally, syncLocally).
var (
	loopParseComplete = []byte{'1', 0, 0, 0, 4}
	loopReadyIdle     = []byte{'Z', 0, 0, 0, 5, 'I'}
)

// trackedType reports whether the tracker accounts for client messages of type typ (Parse, Bind,
// Describe, Close, Query, FunctionCall, Sync); others go to the server raw.
func trackedType(typ byte) bool {
	switch typ {
	case 'P', 'B', 'D', 'C', 'Q', 'F', 'S':
		return true
	}
	return false
}

// Gathering: the messages of a client with statement tracking that one OnData forwards go to the server
// in one write at its end (flushGathered), as the goroutine relay's buffered Writer sends them, instead
// of one write each; a message piece over gatherMax bytes is written on its own, and what is gathered
// is written as soon as it passes gatherLimit bytes.
const (
	gatherMax   = 16 << 10
	gatherLimit = 64 << 10
)

// gather queues b for the linked server (copied).
func (lp *loopClient) gather(b []byte) {
	if lp.pend == nil {
		lp.pend = lp.l.Scratch() // the loop's: taken and given back within one OnData
	}
	lp.pend = append(lp.pend, b...)
}

// flushGathered writes what gather queued, if anything; false when the write failed (the link has
// then failed). Nothing is written once the link or the client is gone.
func (lp *loopClient) flushGathered() bool {
	bp := lp.pend
	if bp == nil {
		return true
	}
	lp.pend = nil
	ok := true
	if lp.ln != nil && !lp.done && len(bp) > 0 {
		ok = lp.toServer(bp)
	}
	lp.l.PutScratch(bp) // one grown past loop.ScratchSize is left to the garbage collector
	return ok
}

// sendRaw sends b, a client message or its first bytes, to the server: gathered when small, else after
// what is gathered, written on its own.
func (lp *loopClient) sendRaw(b []byte) bool {
	if len(b) <= gatherMax {
		lp.gather(b)
		if len(lp.pend) > gatherLimit {
			return lp.flushGathered()
		}
		return true
	}
	return lp.flushGathered() && lp.toServer(b)
}

// answerLocally is parseLocally and syncLocally on the loop, for message typ (length n; data starts with
// it) of a client that holds no server: a Parse of a named statement some server has accepted is
// answered with ParseComplete, and the Sync that ends a batch of only such Parses with ReadyForQuery,
// without a server (prepare.Tracker.AddLocal). It returns the bytes consumed (the message, answered), or
// wait when the message is not whole yet; 0 and false send it to a server. Any other message ends the
// local batch.
func (lp *loopClient) answerLocally(typ byte, n int, data []byte) (consumed int, wait bool) {
	c := lp.c
	switch typ {
	case 'P':
		if 1+n > loopMaxRewritten {
			break
		}
		if len(data) < 1+n {
			return 0, true
		}
		name, rest, ok := bytes.Cut(data[pgwire.HeaderSize:1+n], []byte{0})
		if !ok || len(name) == 0 {
			break
		}
		if lp.refusesParse(rest) { // refused by the server's answer to the sentinel, in order (loopreject.go)
			break
		}
		st := c.s.stmts.Get(rest)
		if !st.Valid() {
			break
		}
		c.mu.Lock()
		local := c.sc == nil && c.pending == 0 && c.prepared.AddLocal(string(name), st)
		c.mu.Unlock()
		if !local {
			break
		}
		c.pool.stats.countClientMessage(typ, n)
		_ = lp.write(loopParseComplete)
		return 1 + n, false
	case 'S':
		if len(data) < 1+n {
			return 0, true
		}
		c.mu.Lock()
		local := c.prepared.EndLocalBatch() && c.sc == nil
		c.mu.Unlock()
		if !local {
			return 0, false
		}
		c.pool.stats.countClientMessage(typ, n)
		_ = lp.write(loopReadyIdle)
		return 1 + n, false
	case 'H':
		return 0, false
	}
	c.mu.Lock()
	c.prepared.EndLocalBatch() // a message that needs the server: the Sync goes to it
	c.mu.Unlock()
	return 0, false
}

// sendTracked is forwardPrepared on the loop: it accounts for message typ (length n; data starts with
// it) on its way to the linked server and sends what the tracker makes of it (trackedType; others
// raw), streaming a long one (lp.rem is the rest; what was gathered is written first). It returns the
// bytes consumed, 0 when the message is not whole yet in data (ok true), and ok false when the client
// has been failed or the link failed.
func (lp *loopClient) sendTracked(typ byte, n int, data []byte) (consumed int, ok bool) {
	c := lp.c
	if !trackedType(typ) {
		c.pool.stats.countClientMessage(typ, n)
		lp.account(typ)
		m := min(1+n, len(data))
		lp.rem = 1 + n - m
		ok := lp.sendRaw(data[:m])
		if ok && lp.rem > 0 {
			ok = lp.flushGathered() // the rest follows raw (OnData), after what is gathered
		}
		return m, ok
	}
	sv := &lp.ln.sc.stmts
	if typ == 'F' || n > session.MaxScannedQuery {
		h := min(n-4, streamHead)
		if len(data) < pgwire.HeaderSize+h {
			return 0, true
		}
		c.mu.Lock()
		out, streamed := c.prepared.Stream(sv, typ, data[pgwire.HeaderSize:pgwire.HeaderSize+h])
		c.mu.Unlock()
		if streamed {
			c.pool.stats.countClientMessage(typ, n)
			lp.account(typ)
			m := min(1+n, len(data))
			lp.rem = 1 + n - m
			ok := lp.writeTracked(&out, data[:m], 1+n)
			if ok && lp.rem > 0 {
				ok = lp.flushGathered() // the rest follows raw (OnData), after what is gathered
			}
			return m, ok
		}
	}
	if 1+n > loopMaxRewritten {
		if len(data) < loopMaxRewritten {
			return 0, true // read on as the goroutine relay would, up to what the loop holds
		}
		lp.fail(pgwire.NewFatal(pgerrcode.ProgramLimitExceeded,
			"event_loops: a message of type %q of %d bytes is over the %d bytes that prepared-statement tracking rewrites on the event loops (max_prepared_statements)", typ, 1+n, loopMaxRewritten))
		return 0, false
	}
	if len(data) < 1+n {
		return 0, true
	}
	msg := data[:1+n]
	if typ == 'P' && bytes.IndexByte(msg[pgwire.HeaderSize:], 0) < 0 {
		lp.fail(pgwire.ProtocolViolation("malformed Parse message"))
		return 0, false
	}
	c.pool.stats.countClientMessage(typ, n)
	lp.account(typ)
	if typ == 'Q' || typ == 'P' {
		if refused, ok := lp.sendTrackedIfRefused(msg); refused { // loopreject.go
			return 1 + n, ok
		}
		lp.scanSets(msg)
	}
	c.mu.Lock()
	out, err := c.prepared.Send(&c.s.stmts, sv, msg)
	c.mu.Unlock()
	if err != nil {
		lp.failErr(err)
		return 0, false
	}
	return 1 + n, lp.writeTracked(&out, msg, 1+n)
}

// writeTracked sends the server what the tracker made of a client message (prepare.Out), gathered
// (sendRaw when it is the client's message unchanged): msg is the message, or its first bytes when it
// is streamed (total is its whole length, in bytes; the rest follows raw). It reports false when a
// write failed.
func (lp *loopClient) writeTracked(out *prepare.Out, msg []byte, total int) bool {
	if out.Pre[0] == nil && out.Pre[1] == nil && out.Msg == nil && out.Head == nil {
		return lp.sendRaw(msg)
	}
	lp.gather(out.Pre[0])
	lp.gather(out.Pre[1])
	switch {
	case out.Msg != nil:
		lp.gather(out.Msg)
	case out.Head != nil:
		length := total - 1 - out.Skip + len(out.Head) // the length word counts itself, not the type byte
		b := append(lp.pend, msg[0])
		lp.pend = binary.BigEndian.AppendUint32(b, uint32(length))
		lp.gather(out.Head)
		lp.gather(msg[pgwire.HeaderSize+out.Skip:])
	default:
		lp.gather(msg)
	}
	if len(lp.pend) > gatherLimit {
		return lp.flushGathered()
	}
	return true
}

// evictDue reports whether sc holds more shared statements than max_prepared_statements allows, so that
// prepareServer must close some before it is lent to c (on the loop: loopClient.prepareOnLoop).
func (c *clientConn) evictDue(sc *serverConn) bool {
	return c.prep && sc.stmts.Len() > c.s.config().Pooler.MaxPreparedStatements
}

// trackAnswer is the relay's handling of a ParseComplete, CloseComplete or ErrorResponse (typ '1', '3',
// 'E'; length n; data starts with it) from the linked server of a client with statement tracking
// (popResp, serverError, relayLargeError): drop tells to drop the server's message and send out (when
// not nil) to the client in its place; wait that more of the message is needed first (bounded by
// maxWholeError, or pgwire.BufferSize for a longer error); neither, to forward it as it is.
func (ln *loopLink) trackAnswer(typ byte, n int, data []byte) (out []byte, drop, wait bool) {
	c, sv := ln.lp.c, &ln.sc.stmts
	if typ != 'E' {
		c.mu.Lock()
		drop, err := c.prepared.Answer(typ)
		c.mu.Unlock()
		if err != nil {
			c.s.logger.Warn(err.Error(), "client", c.id, "type", string(typ))
		}
		return nil, drop, false
	}
	if n <= maxWholeError {
		if len(data) < 1+n {
			return nil, false, true
		}
		c.mu.Lock()
		out, rewritten := c.prepared.ServerError(sv, data[:1+n])
		c.mu.Unlock()
		if !rewritten {
			return nil, false, false
		}
		c.pool.stats.sent.Add(int64(len(out)))
		return out, true, false
	}
	if len(data) < pgwire.BufferSize {
		return nil, false, true
	}
	prefix := pgwire.ErrorPrefix(data[pgwire.HeaderSize:pgwire.BufferSize])
	c.mu.Lock()
	out = c.prepared.ServerErrorPrefix(sv, prefix)
	c.mu.Unlock()
	if out == nil {
		return nil, false, false
	}
	c.pool.stats.sent.Add(int64(len(out)))
	return out, true, false
}

// trackReady accounts for a ReadyForQuery from the linked server in the client's tracker (prepare's
// Tracker.Ready), before the link may end and the server go back to its pool.
func (ln *loopLink) trackReady() {
	c := ln.lp.c
	c.mu.Lock()
	c.prepared.Ready(&ln.sc.stmts)
	c.mu.Unlock()
}
