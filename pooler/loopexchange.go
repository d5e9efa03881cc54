package pooler

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/loop"
)

// Internal queries on the loop: the queries pgpooler itself sends to a loop-resident server around a
// lending (a parameter sync, server_check_query, the read-back of a transaction's SETs and PREPAREs,
// the carry of SQL-level prepared statements, the Close of statements beyond max_prepared_statements,
// and the ROLLBACK and server_reset_query of a server whose client left) are exchanges on the server's
// loop: the messages are written, the answer is read in the server's OnData up to its ReadyForQuery,
// and a function continues the lending there. The server is never detached for them (it was, to run
// them blocking in a goroutine: a detach, a goroutine and an enrollment per lending that syncs), and a
// client and the server lent to it stay on one loop. What they do is what serverConn.exchange and
// queryRows do in goroutine code: ParameterStatus kept, an ErrorResponse an ERROR *pgwire.Error given
// after the ReadyForQuery (the server stays usable), COPY refused, and the whole exchange bounded by
// server_connect_timeout (the deadline the goroutine code sets); a server that fails, closes or sends
// something malformed is closed, with the same errors for the client as there.

// exchangeMaxMessage is the longest server message, in bytes, an exchange keeps whole to read it (an
// ErrorResponse, ParameterStatus or ReadyForQuery is far shorter, BackendLimit; a DataRow of a read-back
// may be long): below the loop's InboundLimit by more than one read, as loopMaxRewritten. Messages it
// does not need (CommandComplete, RowDescription, the DataRow of a check query) are dropped as they come.
const exchangeMaxMessage = loopMaxRewritten

// exchangeMaxRows bounds, in bytes of values, the rows an exchange keeps (a read-back of pg_settings or
// pg_prepared_statements): a server that sends more is closed.
const exchangeMaxRows = 8 << 20

// loopExchange is the internal query in progress on a resident server (residentServer.x), made once per
// server and reused.
type loopExchange struct {
	rs     *residentServer
	waiter *loopClient // the client whose lending waits for it (nil: none, returnOnLoop)
	active bool
	inDone bool   // its done runs now: a panic there closes the server (OnClose, afterPanic)
	what   string // the query, for errors
	rows   bool   // keep the DataRow values
	got    [][][]byte
	kept   int // bytes of values in got
	skip   int // bytes of a message not needed still to drop
	qerr   *pgwire.Error
	cause  error // why the exchange closed the server (fail)
	done   func(rows [][][]byte, err error)
	timer  *loop.Timer // server_connect_timeout
	expire func()      // expired, made once: the timer's function
}

// exchangeTimeout is the error of an exchange that got no ReadyForQuery within server_connect_timeout:
// a net.Error whose Timeout is true, as the goroutine code's passed deadline (asClientError).
type exchangeTimeout struct {
	what string
	d    time.Duration
}

func (e exchangeTimeout) Error() string {
	return fmt.Sprintf("internal query %q got no answer within server_connect_timeout (%s): i/o timeout", e.what, e.d)
}
func (e exchangeTimeout) Timeout() bool   { return true }
func (e exchangeTimeout) Temporary() bool { return false }

// exchange writes msg (frontend messages ending with a Query or a Sync) to the server, which is resident
// on its loop and lent to nobody, and calls done on the loop with its answer: the rows' values (when
// rows is set) or the error. waiter is the client whose lending waits for it (nil when none does): should
// done panic, it is failed (afterPanic). On the loop, by the server's owner; done runs later, never
// within exchange.
func (rs *residentServer) exchange(waiter *loopClient, what string, msg []byte, rows bool, done func(rows [][][]byte, err error)) {
	x := rs.x
	if x == nil {
		x = &loopExchange{rs: rs}
		x.expire = x.expired
		rs.x = x
	}
	*x = loopExchange{rs: rs, waiter: waiter, what: what, rows: rows, done: done, timer: x.timer, expire: x.expire}
	rs.conn.Resume() // a server paused for a full client whose link ended
	if err := rs.write(msg); err != nil {
		x.done = nil
		if rs.l.Run(func() { done(nil, err) }) != nil {
			done(nil, err) // the loops have stopped
		}
		return
	}
	x.active = true
	if d := rs.sc.pool.srv.config().Pooler.ServerConnectTimeout.D(); d > 0 {
		if x.timer == nil {
			x.timer = rs.l.AfterFunc(d, x.expire)
		} else {
			x.timer.Reset(d)
		}
	}
}

// exec is exchange of a simple Query, its rows dropped.
func (rs *residentServer) exec(waiter *loopClient, sql string, done func(err error)) {
	msg, _ := (&pgproto3.Query{String: sql}).Encode(nil)
	rs.exchange(waiter, sql, msg, false, func(_ [][][]byte, err error) { done(err) })
}

// queryRows is exchange of queryRows' messages (sql with text parameters on the unnamed statement).
func (rs *residentServer) queryRows(waiter *loopClient, sql string, args []string, done func(rows [][][]byte, err error)) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	var msg []byte
	for _, m := range []pgproto3.FrontendMessage{&pgproto3.Parse{Query: sql}, &pgproto3.Bind{Parameters: params}, &pgproto3.Execute{}, &pgproto3.Sync{}} {
		msg, _ = m.Encode(msg)
	}
	rs.exchange(waiter, sql, msg, true, done)
}

// onData reads the server's answer; it returns the bytes consumed. At the ReadyForQuery the exchange
// ends (done runs), and anything the server sent after it closes the server.
func (x *loopExchange) onData(data []byte) int {
	sc := x.rs.sc
	off := 0
	for off < len(data) && x.active {
		if x.skip > 0 {
			n := min(x.skip, len(data)-off)
			x.skip -= n
			off += n
			continue
		}
		if len(data)-off < pgwire.HeaderSize {
			return off
		}
		typ := data[off]
		n := int(binary.BigEndian.Uint32(data[off+1:]))
		if n < 4 || n > pgwire.BackendLimit(typ) || (typ == 'Z' && n != 5) {
			x.fail(pgwire.ProtocolViolation("server sent an invalid message (type %q, length %d) answering internal query %q", typ, n, x.what))
			return len(data)
		}
		switch typ {
		case 'G', 'H', 'W':
			x.fail(pgwire.ProtocolViolation("internal query %q started COPY", x.what))
			return len(data)
		case 'E', 'S', 'Z':
		case 'D':
			if x.rows {
				break
			}
			fallthrough
		default: // not needed: dropped as it comes
			m := min(1+n, len(data)-off)
			x.skip = 1 + n - m
			off += m
			continue
		}
		if 1+n > exchangeMaxMessage {
			x.fail(pgwire.ProtocolViolation("server sent a message of %d bytes answering internal query %q, over %d", 1+n, x.what, exchangeMaxMessage))
			return len(data)
		}
		if off+1+n > len(data) {
			return off // the rest comes: bounded by exchangeMaxMessage
		}
		body := data[off+pgwire.HeaderSize : off+1+n]
		off += 1 + n
		switch typ {
		case 'E':
			qerr := decodeServerError("", body)
			qerr.Severity = pgwire.SeverityError
			qerr.Message = strings.TrimPrefix(qerr.Message, ": ")
			x.qerr = qerr
		case 'S':
			sc.noteParameterStatus(body)
		case 'D':
			if !x.keepRow(body) {
				return len(data)
			}
		case 'Z':
			if !validReadyForQuery(body) {
				x.fail(pgwire.ProtocolViolation("server sent a malformed ReadyForQuery answering internal query %q", x.what))
				return len(data)
			}
			sc.txStatus = body[0]
			if off < len(data) {
				x.fail(pgwire.ProtocolViolation("server sent data after the ReadyForQuery of internal query %q", x.what))
				return len(data)
			}
			var err error
			if x.qerr != nil {
				err = x.qerr
			}
			x.end(x.got, err)
			return off
		}
	}
	return off
}

// keepRow keeps a DataRow's values (copied), within exchangeMaxRows; false when it closed the server.
func (x *loopExchange) keepRow(body []byte) bool {
	var dr pgproto3.DataRow
	if err := dr.Decode(body); err != nil {
		x.fail(pgwire.ProtocolViolation("malformed DataRow from server"))
		return false
	}
	if x.kept += len(body); x.kept > exchangeMaxRows {
		x.fail(pgwire.ProtocolViolation("server sent more than %d bytes of rows answering internal query %q", exchangeMaxRows, x.what))
		return false
	}
	row := make([][]byte, len(dr.Values))
	for i, v := range dr.Values {
		if v != nil {
			row[i] = append([]byte{}, v...)
		}
	}
	x.got = append(x.got, row)
	return true
}

// end ends the exchange and calls its done. A panic in done leaves inDone set: the loop closes the
// server for it (pooler/loop panic.go) and OnClose calls afterPanic. done may start the next exchange
// (which clears inDone: a panic after that ends the new one, closed).
func (x *loopExchange) end(rows [][][]byte, err error) {
	done := x.done
	x.active, x.done, x.got, x.qerr, x.cause = false, nil, nil, nil, nil
	if x.timer != nil {
		x.timer.Stop()
	}
	x.inDone = true
	if panicHook != nil {
		panicPoint("exchange", []byte(x.what))
	}
	done(rows, err)
	x.inDone = false
}

// afterPanic: done panicked (the panic is logged by the loop, which closed the server; on the loop, from
// the server's OnClose). The lending it continued is in an unknown state: the server is closed and
// dropped from its pool unless done had already disposed of it (linked: the link fails it, serverFailed;
// back in its pool: swept; closed: closeServer once), and the waiting client, unless it is linked or
// gone, gets FATAL XX000 and is closed, rather than waiting for ever.
func (x *loopExchange) afterPanic(err error) {
	x.inDone = false
	rs, sc := x.rs, x.rs.sc
	switch {
	case rs.ln != nil:
		rs.ln.serverFailed(err)
	case len(sc.pool.q.Sweep(func(s *serverConn, _ int) bool { return s == sc })) > 0, !sc.dropped.Load():
		sc.pool.srv.closeServer(sc, "panic in an internal query's continuation")
	}
	if lp := x.waiter; lp != nil && !lp.done && lp.ln == nil {
		lp.waiting = false
		lp.fail(pgwire.NewFatal(pgerrcode.InternalError, "pgpooler: internal error while preparing a server connection"))
	}
}

// fail closes the server for err (a malformed answer, the timeout): the exchange ends with err, from the
// server's OnClose (closed).
func (x *loopExchange) fail(err error) {
	if !x.active {
		return
	}
	x.cause = err
	_ = x.rs.conn.Close()
}

// expired: server_connect_timeout passed with no ReadyForQuery.
func (x *loopExchange) expired() {
	if x.active {
		x.fail(exchangeTimeout{what: x.what, d: x.rs.sc.pool.srv.config().Pooler.ServerConnectTimeout.D()})
	}
}

// closed: the server's socket closed during the exchange (OnClose): it ends with the cause, or err.
func (x *loopExchange) closed(err error) {
	switch {
	case x.cause != nil:
		err = x.cause
	case err == nil:
		err = errors.New("server closed the connection")
	}
	x.end(nil, err)
}
