package prepare

import (
	"errors"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// ErrUnexpectedAnswer is Answer's error for a ParseComplete or CloseComplete that does not answer the
// oldest message awaiting one: the queue has been reset, and the message is forwarded.
var ErrUnexpectedAnswer = errors.New("prepared statements: unexpected answer from server; queue reset")

// Answer accounts for a ParseComplete ('1') or CloseComplete ('3') from the server and reports whether
// it answers a message the pooler injected, so that the relay drops it instead of forwarding it. A
// ParseComplete makes its statement Valid. The error is ErrUnexpectedAnswer (drop is then false).
func (t *Tracker) Answer(typ byte) (drop bool, err error) {
	if len(t.queue) == 0 {
		return false, nil
	}
	e := t.queue[0]
	want := e.kind == answerParse || e.kind == answerParseSkip
	if typ == '3' {
		want = e.kind == answerClose || e.kind == answerCloseSkip
	}
	if !want {
		t.queue = t.queue[:0]
		return false, ErrUnexpectedAnswer
	}
	t.dropFront()
	if typ == '1' && e.stmt != nil {
		e.stmt.valid.Store(true)
	}
	return e.kind == answerParseSkip || e.kind == answerCloseSkip, nil
}

// Ready accounts for a ReadyForQuery from sv, the answer to a Sync, a Query or a FunctionCall: the
// Parses queued before it went unanswered (skipped after an error) and are forgotten.
func (t *Tracker) Ready(sv *ServerStmts) {
	for len(t.queue) > 0 {
		e := t.queue[0]
		t.dropFront()
		if e.kind == answerSync || e.kind == answerQuery {
			return
		}
		t.forgetFailed(sv, e)
	}
}

// forgetFailed undoes the bookkeeping of a Parse that was not carried out.
func (t *Tracker) forgetFailed(sv *ServerStmts, e awaited) {
	if e.stmt == nil {
		return
	}
	sv.remove(e.stmt)
	if e.kind == answerParse && t.names[e.dupName] == e.stmt {
		delete(t.names, e.dupName)
	}
}

// ServerError accounts for an ErrorResponse msg (with its header) from sv and returns the client's
// version of it, rewritten reporting whether it differs from msg. Unless it answers a Query, the server
// now skips to the next Sync, and so does the queue: the Parses and Closes it skips are forgotten. The
// error of a duplicate-name Parse becomes PostgreSQL's 42P05 "prepared statement ... already exists"; an
// error naming one of the pooler's statements (26000) names the client's instead; an error saying a
// shared statement is gone or stale (26000, or 0A000 "cached plan must not change result type") makes sv
// forget them all, so that they are prepared again. A message that does not decode is returned as it is.
func (t *Tracker) ServerError(sv *ServerStmts, msg []byte) (out []byte, rewritten bool) {
	var er pgproto3.ErrorResponse
	if err := er.Decode(msg[pgwire.HeaderSize:]); err != nil {
		return msg, false
	}
	return t.serverError(sv, &er, msg)
}

// ServerErrorPrefix is ServerError for an ErrorResponse from sv too large to read whole: prefix is a
// whole ErrorResponse made of its first fields (pgwire.ErrorPrefix), the last one cut short. The
// accounting is ServerError's, decided from those fields. It returns the message to send to the client
// in place of the server's, or nil to forward the server's unchanged: the 42P05 of a duplicate-name Parse
// replaces it, but an error naming one of the pooler's statements keeps the server's name for it, since
// that rewrite needs the whole message (PostgreSQL's such errors are short, and never come this way).
func (t *Tracker) ServerErrorPrefix(sv *ServerStmts, prefix []byte) (replace []byte) {
	var er pgproto3.ErrorResponse
	if err := er.Decode(prefix[pgwire.HeaderSize:]); err != nil {
		return nil
	}
	replace, _ = t.serverError(sv, &er, nil)
	return replace
}

// serverError is ServerError for er, decoded from msg; msg nil means that the whole message is not at
// hand (ServerErrorPrefix), and then out is nil unless it replaces the message.
func (t *Tracker) serverError(sv *ServerStmts, er *pgproto3.ErrorResponse, msg []byte) (out []byte, rewritten bool) {
	out = msg
	if er.Code == pgerrcode.FeatureNotSupported && strings.Contains(er.Message, "cached plan must not change result type") {
		sv.Clear()
	}
	if er.Code == pgerrcode.InvalidSQLStatementName && strings.Contains(er.Message, ServerStmtPrefix) {
		sv.Clear()
		if msg != nil {
			if named, ok := t.clientNamedError(*er); ok {
				out, rewritten = named, true
			}
		}
	}
	if len(t.queue) > 0 && t.queue[0].kind == answerQuery {
		return out, rewritten
	}
	for i := 0; len(t.queue) > 0 && t.queue[0].kind != answerSync; i++ {
		e := t.queue[0]
		t.dropFront()
		if i == 0 && e.kind == answerParseDup && strings.Contains(er.Message, dupSentinel) {
			out = pgwire.NewError(pgerrcode.DuplicatePreparedStatement, "prepared statement %q already exists", e.dupName).AppendTo(nil)
			rewritten = true
		}
		t.forgetFailed(sv, e)
	}
	return out, rewritten
}

// clientNamedError returns the client's version of an error er that names one of the pooler's
// server-side statements, e.g. 26000 prepared statement "pgpooler_3" does not exist: the client's own
// name for that statement instead, so that the client sees what PostgreSQL would have told it. ok is
// false when the client has no name for it.
func (t *Tracker) clientNamedError(er pgproto3.ErrorResponse) (msg []byte, ok bool) {
	for name, st := range t.names {
		quoted := `"` + st.serverName + `"`
		if strings.Contains(er.Message, quoted) {
			er.Message = strings.Replace(er.Message, quoted, `"`+name+`"`, 1)
			out, err := er.Encode(nil)
			if err != nil {
				return nil, false
			}
			return out, true
		}
	}
	return nil, false
}
