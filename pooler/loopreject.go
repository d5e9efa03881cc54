package pooler

import (
	"bytes"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// reject_session_features (pgpooler's own key; sessionfeature.go, package session's feature.go) on the
// event-loop relay, as the goroutine relay does it (client.go forwardScanned, prepared.go sendPrepared,
// relay.go, servererror.go): a whole Query or Parse whose text uses a session-only feature goes to the
// server as the feature's sentinel, and the server's error for the sentinel reaches the client as ERROR
// 0A000. The texts scanned are those the loop scans for SET: without max_prepared_statements, Query and
// Parse messages of up to session.MaxScannedQuery bytes (longer ones are forwarded unscanned, as
// forwardScanned's bound); with it, those the tracker rewrites whole (loopprepare.go sendTracked: what
// forwardLarge streams is not scanned on either relay).

// queryText returns the query text of msg, a whole Query or Parse message.
func queryText(msg []byte) []byte {
	text := msg[pgwire.HeaderSize:]
	if msg[0] == 'P' { // Parse: statement name, NUL, query text, NUL, parameter types
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[i+1:]
		}
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	return text
}

// sendIfRefused is forwardScanned's refusal on the loop, for msg, a whole Query or Parse message of a
// client without statement tracking: when reject_session_features refuses its text, the sentinel goes
// to the server in its place (refused true; ok false when the write failed: the link has failed).
func (lp *loopClient) sendIfRefused(msg []byte) (refused, ok bool) {
	c := lp.c
	f := c.sessionFeature(queryText(msg)) // counted; refused by reject_session_features (leakreport.go)
	if f == session.FeatureNone {
		return false, true
	}
	c.mu.Lock()
	c.rejecting = true // the link's fromServer rewrites the sentinel's error (serverAnswer)
	c.mu.Unlock()
	if msg[0] == 'Q' {
		return true, lp.sendRaw(session.RejectQuery(f))
	}
	return true, lp.sendRaw(session.RejectParse(f, msg[pgwire.HeaderSize] == 0))
}

// sendTrackedIfRefused is sendPrepared's refusal on the loop, for msg, a whole Query or well-formed
// Parse message of a client with statement tracking: the tracker accounts for the sentinel
// (prepare.Tracker.Refused) sent in the message's place.
func (lp *loopClient) sendTrackedIfRefused(msg []byte) (refused, ok bool) {
	c := lp.c
	f := c.sessionFeature(queryText(msg)) // counted; refused by reject_session_features (leakreport.go)
	if f == session.FeatureNone {
		return false, true
	}
	unnamed := msg[0] == 'P' && msg[pgwire.HeaderSize] == 0
	c.mu.Lock()
	c.prepared.Refused(&lp.ln.sc.stmts, msg[0], unnamed)
	c.rejecting = true
	c.mu.Unlock()
	if msg[0] == 'Q' {
		return true, lp.sendRaw(session.RejectQuery(f))
	}
	return true, lp.sendRaw(session.RejectParse(f, unnamed))
}

// refusesParse reports whether reject_session_features refuses the text of a Parse (rest: its body
// after the statement name), which is then not answered on the loop (parseLocally's rule): the
// server's answer to the sentinel refuses it, in order.
func (lp *loopClient) refusesParse(rest []byte) bool {
	q, _, _ := bytes.Cut(rest, []byte{0})
	return lp.c.rejectedFeature(q) != session.FeatureNone
}

// serverAnswer handles a ParseComplete, CloseComplete or ErrorResponse (typ '1', '3', 'E'; length n; data
// starts with it) from the linked server of a client with statement tracking or whose statements
// reject_session_features has refused: the tracker's answer (trackAnswer) first, then for an error the
// sentinel's 0A000 (rejectedAnswer), as serverError and relayLargeError do. out, drop and wait are
// trackAnswer's.
func (ln *loopLink) serverAnswer(typ byte, n int, data []byte) (out []byte, drop, wait bool) {
	if ln.lp.c.prep {
		if out, drop, wait = ln.trackAnswer(typ, n, data); drop || wait || typ != 'E' {
			return out, drop, wait
		}
	}
	if typ != 'E' {
		return nil, false, false
	}
	return ln.rejectedAnswer(n, data)
}

// rejectedAnswer turns the server's ErrorResponse (length n; data starts with it) for a refused
// statement's sentinel into the client's 0A000 (rejectedError): drop tells to send out in its place;
// wait that more of it is needed first (the whole of one up to maxWholeError, else the first
// pgwire.BufferSize bytes, whose fields decide, as relayLargeError's); neither, to forward it.
func (ln *loopLink) rejectedAnswer(n int, data []byte) (out []byte, drop, wait bool) {
	c := ln.lp.c
	var msg []byte
	if n <= maxWholeError {
		if len(data) < 1+n {
			return nil, false, true
		}
		msg = data[:1+n]
	} else {
		if len(data) < pgwire.BufferSize {
			return nil, false, true
		}
		msg = pgwire.ErrorPrefix(data[pgwire.HeaderSize:pgwire.BufferSize])
	}
	out = c.rejectedError(msg)
	if bytes.Equal(out, msg) {
		return nil, false, false
	}
	c.pool.stats.sent.Add(int64(len(out)))
	return out, true, false
}
