package pooler

import (
	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// Statement mode (PgBouncer doc/config.md, pool_mode = statement) on the event-loop relay, with the
// goroutine relay's rules (client.go awaitRelayLocked, relay.go readyForQuery):
//   - a message that starts a new statement while the linked server still owes the last one's
//     ReadyForQuery waits, unconsumed in the loop's inbound buffer with the client paused, until that
//     link has ended, so that every statement gets a link of its own (statementWaits); Flush and COPY
//     messages belong to the running statement and do not wait, nor does anything once the server asks
//     for COPY data (the client is resumed then);
//   - the link ends on every ReadyForQuery when nothing is owed and no batch is open (looplink.go
//     readyForQuery); a status other than 'I' means that a BEGIN opened a transaction block: the client
//     gets ERROR 0A000 and ReadyForQuery 'I' in its place, and the server is rolled back before it goes
//     back to its pool, on the loop, while the client's next link waits
//     (refuseTransactionBlock).

// statementWaits reports whether the client's message of type typ, in statement mode with a server
// linked, must wait until that link has ended (awaitRelayLocked's rule).
func (lp *loopClient) statementWaits(typ byte) bool {
	switch typ {
	case 'H', 'd', 'c', 'f': // Flush and COPY messages belong to the running statement
		return false
	}
	c := lp.c
	c.mu.Lock()
	wait := c.pending > 0 && !c.openBatch && !c.copyIn
	c.mu.Unlock()
	return wait
}

// errTransactionBlock is what a statement-mode client gets for a statement that opened a transaction
// block (relay.go readyForQuery).
var errTransactionBlock = pgwire.NewError(pgerrcode.FeatureNotSupported, "transaction blocks are not allowed in statement pooling mode: the transaction was rolled back")

// refuseTransactionBlock ends a statement-mode link whose last ReadyForQuery has a status other than
// 'I' (a BEGIN opened a transaction block), the link already detached: the client gets what the server
// sent (out) with ERROR 0A000 then ReadyForQuery 'I' in place of that ReadyForQuery, and the server is
// rolled back (closed if that fails), its session state read back (sets), and released, on the loop
// (loopexchange.go), while the client's next link waits. more tells that the
// server sent bytes after the ReadyForQuery: it is closed then.
func (ln *loopLink) refuseTransactionBlock(out []byte, more bool, sets session.Sets) {
	lp, c, sc, rs := ln.lp, ln.lp.c, ln.sc, ln.rs
	b := make([]byte, 0, len(out)+192)
	b = append(b, out[:len(out)-(pgwire.HeaderSize+1)]...)
	b = errTransactionBlock.AppendTo(b)
	b = append(b, readyIdle[:]...)
	_ = lp.write(b) // not toClient (readyForQuery); a client gone by now is closed; its server is still rolled back and goes back
	if more {
		c.s.abortServer(sc, "unexpected data after the ReadyForQuery that ended a statement")
		lp.maybeResume()
		return
	}
	lp.waiting = true
	resume := func() {
		lp.waiting = false
		lp.maybeResume()
	}
	rs.exec(lp, "ROLLBACK", func(err error) { // on the loop (loopexchange.go)
		if err != nil || sc.txStatus != 'I' {
			c.s.closeServer(sc, "rollback after a transaction block in statement mode failed")
			resume()
			return
		}
		if sets.Empty() {
			c.s.releaseOn(sc, lp.l)
			resume()
			return
		}
		lp.syncSessionOnLoop(rs, sets, func(ok bool) {
			if ok {
				c.s.releaseOn(sc, lp.l)
			}
			resume()
		})
	})
}
