package pooler

import (
	"bytes"
	"container/list"
	"encoding/binary"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// Protocol-level prepared statements in transaction and statement mode (PgBouncer doc/config.md,
// max_prepared_statements; its src/prepare.c for the idea, not the code).
//
// A client's named statement is mapped to a statement shared by every client whose query text and
// parameter types are the same, prepared on a server under a name of the pooler's ("pgpooler_N") when a
// client that uses it gets that server. The client's messages are rewritten on their way:
//
//   - Parse "name": Close + Parse under the server name (the Close's CloseComplete is swallowed; closing a
//     statement that does not exist is not an error), so the client's own ParseComplete still comes
//     from the server, in order. A name the client already uses: a Parse that fails, whose error the
//     relay turns into PostgreSQL's 42P05 "prepared statement ... already exists".
//   - Bind and Describe of a known name: the server name instead; when the server lacks the statement a
//     Close + Parse is injected first and both answers are swallowed.
//   - Close of a known name: forgotten by the client only; the server is sent a Close of a name that does
//     not exist, whose CloseComplete the client gets.
//   - Unnamed statements and unknown names pass unchanged, so PostgreSQL itself answers them (26000 for a
//     Bind to an unknown name).
//
// Answers to the messages sent are matched in order (respQueue); after an ErrorResponse the server skips
// to Sync, and so does the queue.

// preparedStmt is a statement shared by the clients whose query text and parameter types are equal.
type preparedStmt struct {
	// valid is set once a server has accepted the statement: a client between transactions that only
	// prepares it (Parse, Sync: pgbench -M prepared, PQprepare) is then answered without a server.
	valid      atomic.Bool
	serverName string
	nameZ      []byte // serverName and its NUL, as it goes into a Bind or Describe
	parse      []byte // the Parse message under serverName, ready to send
	closeMsg   []byte // Close of serverName
	drops      bool   // executing it drops the server's prepared statements (DISCARD ALL, DEALLOCATE ALL)
}

// stmtRegistry maps (query, parameter types) to shared statements.
type stmtRegistry struct {
	mu    sync.Mutex
	byKey map[string]*preparedStmt
	bytes int64 // what byKey holds: keys, Parse and Close messages
	next  uint64
}

// The registry's bounds: past either, it starts over (new server names for old texts; statements that
// clients and servers still use stay theirs, uncounted here).
const (
	maxRegistry      = 100000   // statements
	maxRegistryBytes = 64 << 20 // bytes of keys and messages
)

// maxCarriedParse is the longest Parse message, in bytes, read whole: an unnamed one that long is kept
// to be re-sent to the client's next server (ensureUnnamed); a longer unnamed Parse is streamed and not
// carried. Named Parses are always read whole, their text being shared (stmtRegistry).
const maxCarriedParse = 1 << 20

// serverStmtPrefix starts the names of the pooler's statements on servers.
const serverStmtPrefix = "pgpooler_"

// get returns the shared statement for a Parse body's query and parameter types (body after the name).
func (r *stmtRegistry) get(rest []byte) *preparedStmt {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.byKey[string(rest)]; ok {
		return st
	}
	if r.byKey == nil || len(r.byKey) >= maxRegistry || r.bytes+3*int64(len(rest)) > maxRegistryBytes {
		r.byKey, r.bytes = map[string]*preparedStmt{}, 0
	}
	r.next++
	name := serverStmtPrefix + strconv.FormatUint(r.next, 10)
	query, _, _ := bytes.Cut(rest, []byte{0})
	st := &preparedStmt{serverName: name, drops: mayChangeSession(query) && dropsStatements(string(query))}
	st.nameZ = append([]byte(name), 0)
	body := append(append([]byte(name), 0), rest...)
	st.parse = frame('P', body)
	st.closeMsg = frame('C', append(append([]byte{'S'}, name...), 0))
	r.byKey[string(rest)] = st
	r.bytes += int64(len(rest) + len(st.parse) + len(st.closeMsg))
	return st
}

// size returns how many statements the registry holds and their size in bytes.
func (r *stmtRegistry) size() (statements int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey), r.bytes
}

// frame builds a message: type byte, length, body.
func frame(typ byte, body []byte) []byte {
	msg := make([]byte, pgwire.HeaderSize+len(body))
	msg[0] = typ
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	copy(msg[pgwire.HeaderSize:], body)
	return msg
}

// cstring splits a NUL-terminated string off the front of b.
func cstring(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}

// serverStmts are the shared statements prepared on one server, least recently used first.
type serverStmts struct {
	lru   *list.List // of *preparedStmt
	byKey map[*preparedStmt]*list.Element
}

func (ss *serverStmts) has(st *preparedStmt) bool {
	if ss.byKey == nil {
		return false
	}
	e, ok := ss.byKey[st]
	if ok {
		ss.lru.MoveToBack(e)
	}
	return ok
}

func (ss *serverStmts) add(st *preparedStmt) {
	if ss.byKey == nil {
		ss.byKey, ss.lru = map[*preparedStmt]*list.Element{}, list.New()
	}
	if e, ok := ss.byKey[st]; ok {
		ss.lru.MoveToBack(e)
		return
	}
	ss.byKey[st] = ss.lru.PushBack(st)
}

func (ss *serverStmts) remove(st *preparedStmt) {
	if e, ok := ss.byKey[st]; ok {
		ss.lru.Remove(e)
		delete(ss.byKey, st)
	}
}

func (ss *serverStmts) clear() { ss.byKey, ss.lru = nil, nil }

func (ss *serverStmts) len() int { return len(ss.byKey) }

// evict removes the least recently used statements beyond limit and returns the Close messages that
// drop them on the server (none when nothing is beyond the limit). A Close of a statement the server no
// longer has is not an error, unlike DEALLOCATE.
func (ss *serverStmts) evict(limit int) []pgproto3.FrontendMessage {
	var closes []pgproto3.FrontendMessage
	for ss.len() > limit {
		st := ss.lru.Remove(ss.lru.Front()).(*preparedStmt)
		delete(ss.byKey, st)
		closes = append(closes, &pgproto3.Close{ObjectType: 'S', Name: st.serverName})
	}
	return closes
}

// respKind is what the relay does with the answer to one message sent to the server.
type respKind uint8

const (
	respParse     respKind = iota // ParseComplete: forward
	respParseSkip                 // ParseComplete of an injected Parse: swallow
	respParseDup                  // the failing Parse standing for a client's duplicate name: rewrite its error
	respClose                     // CloseComplete: forward
	respCloseSkip                 // CloseComplete of an injected Close: swallow
	respSync                      // ReadyForQuery of a Sync
	respQuery                     // ReadyForQuery of a Query or FunctionCall
)

// respEntry is one message awaiting its answer.
type respEntry struct {
	kind    respKind
	stmt    *preparedStmt // for respParseSkip: unrecorded on the server if the Parse fails
	dupName string        // for respParseDup: the client's statement name
}

// dupSentinel is the query of the Parse sent for a client's duplicate statement name: a syntax error the
// relay recognises and turns into 42P05.
const dupSentinel = "pgpooler_duplicate_prepared_statement"

// dropFrontLocked removes the oldest entry of the answer queue, keeping the queue's array (a few
// entries) so that the next message's entry needs no allocation.
func (c *clientConn) dropFrontLocked() {
	c.respQ = c.respQ[:copy(c.respQ, c.respQ[1:])]
}

// pushResp queues the answer handling of a message about to be sent to the linked server.
func (c *clientConn) pushResp(e respEntry) {
	c.mu.Lock()
	c.respQ = append(c.respQ, e)
	c.mu.Unlock()
}

// forwardPrepared forwards the current message (type typ) to sc, rewriting statement names as described
// at the top of this file. It is used in transaction and statement mode with max_prepared_statements > 0.
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
// maxScannedQuery, or an unnamed Parse longer than maxCarriedParse: such a Query is not scanned for SET
// (nor for reject_session_features), such an unnamed Parse is not carried to another server, and a Bind
// of a named statement has only its first fields rewritten. It reports whether it did; other messages
// are read whole by the caller.
func (c *clientConn) forwardLarge(sc *serverConn, typ byte) (bool, error) {
	_, n, err := c.rd.Next()
	if err != nil {
		return false, err
	}
	if typ != 'F' && n <= maxScannedQuery {
		return false, nil
	}
	head, err := c.rd.Peek(1024)
	if err != nil {
		return false, err
	}
	switch typ {
	case 'F':
		c.pushResp(respEntry{kind: respQuery})
	case 'Q':
		c.mu.Lock()
		c.respQ = append(c.respQ, respEntry{kind: respQuery})
		sc.unnamedVer++ // a query replaces the unnamed statement, the client's own included
		c.unnamedParse = nil
		c.mu.Unlock()
	case 'P':
		if name, _, ok := cstring(head); !ok || name != "" {
			return false, nil
		}
		c.mu.Lock()
		c.respQ = append(c.respQ, respEntry{kind: respParse})
		sc.unnamedVer++
		c.unnamedParse = nil
		c.mu.Unlock()
	case 'B':
		portalZ, name, ok := bindNames(head)
		if !ok {
			return false, nil // names longer than the peek: read whole
		}
		return true, c.sendBind(sc, portalZ, name, nil)
	default:
		return false, nil
	}
	return true, c.rd.Forward(sc.wr)
}

// bindNames splits a Bind's body (or its first bytes) into the portal name with its NUL and the
// statement name; ok is false when they are not both there.
func bindNames(body []byte) (portalZ, name []byte, ok bool) {
	i := bytes.IndexByte(body, 0)
	if i < 0 {
		return nil, nil, false
	}
	j := bytes.IndexByte(body[i+1:], 0)
	if j < 0 {
		return nil, nil, false
	}
	return body[:i+1], body[i+1 : i+1+j], true
}

// sendBind sends a Bind of the client's statement name (portalZ and name being the Bind's first fields):
// a known name under its server name, prepared there first if need be. With msg nil the message is still
// unread and is streamed (pgwire.Reader.ForwardWithPrefix); else msg is the whole message. A Bind of a
// statement that drops the server's statements makes the pooler forget them.
func (c *clientConn) sendBind(sc *serverConn, portalZ, name []byte, msg []byte) error {
	st := c.clientStmt(name)
	skip := len(portalZ) + len(name) + 1
	var err error
	switch {
	case len(name) == 0:
		if err = c.ensureUnnamed(sc); err == nil {
			err = c.writeOrForward(sc, msg)
		}
	case st == nil: // unknown: PostgreSQL answers 26000
		err = c.writeOrForward(sc, msg)
	default:
		if err = c.ensurePrepared(sc, st); err != nil {
			return err
		}
		if msg == nil {
			err = c.rd.ForwardWithPrefix(append(append([]byte{}, portalZ...), st.nameZ...), skip, sc.wr)
		} else {
			err = sc.wr.WriteMessage('B', portalZ, st.nameZ, msg[pgwire.HeaderSize+skip:])
		}
	}
	if len(name) == 0 && c.unnamedDrops || st != nil && st.drops { // unnamedDrops: only this goroutine writes it
		c.mu.Lock()
		c.stmts = nil // as on a direct connection, the client's names are gone too
		c.forgetServerStmtsLocked(sc)
		c.mu.Unlock()
	}
	return err
}

// writeOrForward sends msg, or the current unread message when msg is nil.
func (c *clientConn) writeOrForward(sc *serverConn, msg []byte) error {
	if msg == nil {
		return c.rd.Forward(sc.wr)
	}
	return sc.wr.Write(msg)
}

// sendPrepared is forwardPrepared for a message already read.
func (c *clientConn) sendPrepared(sc *serverConn, msg []byte) error {
	typ, body := msg[0], msg[pgwire.HeaderSize:]
	switch typ {
	case 'S':
		c.pushResp(respEntry{kind: respSync})
		return sc.wr.Write(msg)
	case 'F':
		c.pushResp(respEntry{kind: respQuery})
		return sc.wr.Write(msg)
	case 'Q':
		text := body
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		e := respEntry{kind: respQuery}
		c.mu.Lock()
		sc.unnamedVer++ // a simple query replaces the unnamed statement, the client's own included
		c.unnamedParse = nil
		c.mu.Unlock()
		if f := c.rejectedFeature(text); f != featureNone {
			c.pushResp(e)
			return c.sendRejected(sc, rejectQuery(f))
		}
		if mayChangeSession(text) {
			c.mu.Lock()
			scanSessionSets(string(text), &c.sets)
			c.mu.Unlock()
			if dropsStatements(string(text)) {
				c.mu.Lock()
				c.stmts = nil // DEALLOCATE ALL, DISCARD ALL: the client's statements are gone
				c.forgetServerStmtsLocked(sc)
				c.mu.Unlock()
			}
		}
		c.pushResp(e)
		return sc.wr.Write(msg)
	case 'P':
		name, rest, ok := cstring(body)
		if !ok {
			return pgwire.ProtocolViolation("malformed Parse message")
		}
		q, _, ok := bytes.Cut(rest, []byte{0}) // the query text, not copied
		if f := c.rejectedFeature(q); ok && f != featureNone {
			c.mu.Lock()
			c.respQ = append(c.respQ, respEntry{kind: respParse})
			if name == "" {
				c.unnamedParse = nil
				sc.unnamedVer++
			}
			c.mu.Unlock()
			return c.sendRejected(sc, rejectParse(f, name == ""))
		}
		if ok && mayChangeSession(q) {
			c.mu.Lock()
			scanSessionSets(string(q), &c.sets)
			c.mu.Unlock()
		}
		if name == "" {
			c.mu.Lock()
			c.respQ = append(c.respQ, respEntry{kind: respParse})
			if cap(c.unnamedParse) > 64*1024 && len(msg) <= 64*1024 {
				c.unnamedParse = nil // do not keep a large query's buffer for small ones
			}
			c.unnamedParse = append(c.unnamedParse[:0], msg...)
			c.unnamedDrops = ok && mayChangeSession(q) && dropsStatements(string(q))
			sc.unnamedVer++
			c.unnamedSrv, c.unnamedVer = sc, sc.unnamedVer
			c.mu.Unlock()
			return sc.wr.Write(msg)
		}
		st := c.s.stmts.get(rest)
		c.mu.Lock()
		if _, dup := c.stmts[name]; dup {
			c.respQ = append(c.respQ, respEntry{kind: respParseDup, dupName: name})
			c.mu.Unlock()
			return sc.wr.Write(frame('P', append([]byte("\x00"+dupSentinel+"\x00"), 0, 0)))
		}
		if c.stmts == nil {
			c.stmts = map[string]*preparedStmt{}
		}
		c.stmts[name] = st
		sc.stmts.add(st)
		c.respQ = append(c.respQ, respEntry{kind: respCloseSkip}, respEntry{kind: respParse, stmt: st, dupName: name})
		c.mu.Unlock()
		if err := sc.wr.Write(st.closeMsg); err != nil {
			return err
		}
		return sc.wr.Write(st.parse)
	case 'B':
		portalZ, name, ok := bindNames(body)
		if !ok {
			return pgwire.ProtocolViolation("malformed Bind message")
		}
		return c.sendBind(sc, portalZ, name, msg)
	case 'D':
		if len(body) < 2 || body[0] != 'S' {
			return sc.wr.Write(msg)
		}
		name, _, ok := bytes.Cut(body[1:], []byte{0})
		st := c.clientStmt(name)
		if ok && len(name) == 0 {
			if err := c.ensureUnnamed(sc); err != nil {
				return err
			}
		}
		if !ok || len(name) == 0 || st == nil {
			return sc.wr.Write(msg)
		}
		if err := c.ensurePrepared(sc, st); err != nil {
			return err
		}
		return sc.wr.WriteMessage('D', []byte{'S'}, st.nameZ)
	default: // 'C'
		if len(body) >= 2 && body[0] == 'S' {
			if name, _, ok := cstring(body[1:]); ok && name != "" && c.clientStmt([]byte(name)) != nil {
				c.mu.Lock()
				delete(c.stmts, name) // the shared statement stays on the server for others
				c.respQ = append(c.respQ, respEntry{kind: respClose})
				c.mu.Unlock()
				return sc.wr.Write(frame('C', []byte("S"+dupSentinel+"_none\x00")))
			}
		}
		c.pushResp(respEntry{kind: respClose})
		return sc.wr.Write(msg)
	}
}

// clientStmt returns the shared statement of the client's statement name, nil when unknown.
func (c *clientConn) clientStmt(name []byte) *preparedStmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[string(name)]
}

// ensurePrepared injects Close + Parse of st when the linked server lacks it; both answers are swallowed.
func (c *clientConn) ensurePrepared(sc *serverConn, st *preparedStmt) error {
	c.mu.Lock()
	has := sc.stmts.has(st)
	if !has {
		sc.stmts.add(st)
		c.respQ = append(c.respQ, respEntry{kind: respCloseSkip}, respEntry{kind: respParseSkip, stmt: st})
	}
	c.mu.Unlock()
	if has {
		return nil
	}
	if err := sc.wr.Write(st.closeMsg); err != nil {
		return err
	}
	return sc.wr.Write(st.parse)
}

// ensureUnnamed re-sends the client's last Parse of the unnamed statement when the linked server no
// longer has it: in transaction mode a client that parses in one round trip and binds in the next (pgx
// describe_exec, lib/pq) may get another server in between, or its server may have run another client's
// unnamed statement. The ParseComplete is swallowed.
func (c *clientConn) ensureUnnamed(sc *serverConn) error {
	c.mu.Lock()
	if c.unnamedParse == nil || (c.unnamedSrv == sc && c.unnamedVer == sc.unnamedVer) {
		c.mu.Unlock()
		return nil
	}
	msg := c.unnamedParse
	c.respQ = append(c.respQ, respEntry{kind: respParseSkip})
	sc.unnamedVer++
	c.unnamedSrv, c.unnamedVer = sc, sc.unnamedVer
	c.mu.Unlock()
	return sc.wr.Write(msg)
}

// dropsStatements reports whether a query's text holds DEALLOCATE ALL or DISCARD ALL, or a DEALLOCATE
// of one of the pooler's own server-side statements ("pgpooler_N", which a client has no business
// dropping, but can).
func dropsStatements(sql string) bool {
	for _, stmt := range splitStatements(sql) {
		if len(stmt) >= 2 && (strings.EqualFold(stmt[0], "deallocate") || strings.EqualFold(stmt[0], "discard")) {
			w := stmt[1]
			if strings.EqualFold(w, "prepare") && len(stmt) >= 3 {
				w = stmt[2]
			}
			if strings.EqualFold(w, "all") ||
				strings.EqualFold(stmt[0], "deallocate") && strings.HasPrefix(paramName(w), serverStmtPrefix) {
				return true
			}
		}
	}
	return false
}

// forgetServerStmtsLocked is called, with c.mu held, once a message that drops the server's prepared
// statements has been sent: the messages after it prepare again what they use (a Close + Parse of a
// statement that is still there is harmless, should the drop fail).
func (c *clientConn) forgetServerStmtsLocked(sc *serverConn) { sc.stmts.clear() }

// popResp takes the queued entry a ParseComplete ('1') or CloseComplete ('3') answers and reports
// whether the message is to be swallowed.
func (c *clientConn) popResp(typ byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.respQ) == 0 {
		return false
	}
	e := c.respQ[0]
	want := e.kind == respParse || e.kind == respParseSkip
	if typ == '3' {
		want = e.kind == respClose || e.kind == respCloseSkip
	}
	if !want {
		c.s.logger.Warn("prepared statements: unexpected answer from server; queue reset", "client", c.id, "type", string(typ))
		c.respQ = c.respQ[:0]
		return false
	}
	c.dropFrontLocked()
	if typ == '1' && e.stmt != nil {
		e.stmt.valid.Store(true)
	}
	return e.kind == respParseSkip || e.kind == respCloseSkip
}

// popReady takes the entry a ReadyForQuery answers (a Sync, a Query or a FunctionCall); a query that
// dropped every prepared statement (DISCARD ALL, DEALLOCATE ALL) leaves the server with none.
func (c *clientConn) popReadyLocked(sc *serverConn) {
	for len(c.respQ) > 0 {
		e := c.respQ[0]
		c.dropFrontLocked()
		if e.kind == respSync || e.kind == respQuery {
			return
		}
		// Anything before it went unanswered (skipped after an error): forget it.
		c.forgetFailedLocked(sc, e)
	}
}

// forgetFailedLocked undoes the bookkeeping of a Parse that was not carried out.
func (c *clientConn) forgetFailedLocked(sc *serverConn, e respEntry) {
	if e.stmt == nil {
		return
	}
	sc.stmts.remove(e.stmt)
	if e.kind == respParse && c.stmts[e.dupName] == e.stmt {
		delete(c.stmts, e.dupName)
	}
}

// serverError handles an ErrorResponse msg from the linked server and returns the message for the
// client. Unless it answers a Query, the server now skips to the next Sync, and so does the queue: the
// Parses and Closes it skips are forgotten. The error of a duplicate-name Parse becomes PostgreSQL's
// 42P05; an error saying a shared statement is gone or stale makes the server forget them all, so that
// they are prepared again.
func (c *clientConn) serverError(sc *serverConn, msg []byte) []byte {
	var er pgproto3.ErrorResponse
	if err := er.Decode(msg[pgwire.HeaderSize:]); err != nil {
		return msg
	}
	out := c.rejectedError(msg)
	c.mu.Lock()
	defer c.mu.Unlock()
	if er.Code == pgerrcode.FeatureNotSupported && strings.Contains(er.Message, "cached plan must not change result type") {
		sc.stmts.clear()
	}
	if er.Code == pgerrcode.InvalidSQLStatementName && strings.Contains(er.Message, serverStmtPrefix) {
		sc.stmts.clear()
		out = c.clientNamedErrorLocked(er, out)
	}
	if len(c.respQ) > 0 && c.respQ[0].kind == respQuery {
		return out
	}
	for i := 0; len(c.respQ) > 0 && c.respQ[0].kind != respSync; i++ {
		e := c.respQ[0]
		c.dropFrontLocked()
		if i == 0 && e.kind == respParseDup && strings.Contains(er.Message, dupSentinel) {
			out = pgwire.NewError(pgerrcode.DuplicatePreparedStatement, "prepared statement %q already exists", e.dupName).AppendTo(nil)
		}
		c.forgetFailedLocked(sc, e)
	}
	return out
}

// clientNamedErrorLocked returns the client's version of an error (er, encoded as msg) that names one of
// the pooler's server-side statements, e.g. 26000 prepared statement "pgpooler_3" does not exist: the
// client's own name for that statement instead, so that the client sees what PostgreSQL would have told
// it. msg is returned unchanged when the client has no name for it.
func (c *clientConn) clientNamedErrorLocked(er pgproto3.ErrorResponse, msg []byte) []byte {
	for name, st := range c.stmts {
		quoted := `"` + st.serverName + `"`
		if strings.Contains(er.Message, quoted) {
			er.Message = strings.Replace(er.Message, quoted, `"`+name+`"`, 1)
			out, err := er.Encode(nil)
			if err != nil {
				return msg
			}
			return out
		}
	}
	return msg
}

// parseLocally answers a Parse of a named statement without a server, when the client holds none and
// the statement's text is known to be valid: it records the name and sends ParseComplete at once, since
// nothing else is awaited. A Sync that ends such a batch is answered with ReadyForQuery (syncLocally).
// Without this, pgbench -M prepared with fewer threads than clients deadlocks on a small pool: its
// blocking prepare of one client stalls the clients of its thread that hold servers. It reports whether
// msg was answered; msg is a Parse message.
func (c *clientConn) parseLocally(msg []byte) (bool, error) {
	name, rest, ok := cstring(msg[pgwire.HeaderSize:])
	if !ok || name == "" {
		return false, nil
	}
	if q, _, _ := cstring(rest); c.rejectedFeature([]byte(q)) != featureNone {
		return false, nil // refused by the server's answer to the sentinel, in order
	}
	st := c.s.stmts.get(rest)
	if !st.valid.Load() {
		return false, nil
	}
	c.mu.Lock()
	c.awaitRelayLocked('P') // the ReadyForQuery of a link that has just ended goes first
	if c.sc != nil || c.pending > 0 || c.stmts[name] != nil {
		c.mu.Unlock()
		return false, nil
	}
	if c.stmts == nil {
		c.stmts = map[string]*preparedStmt{}
	}
	c.stmts[name] = st
	c.localBatch = true
	c.mu.Unlock()
	return true, c.writeLocal([]byte{'1', 0, 0, 0, 4})
}

// syncLocally answers a Sync that ends a batch parseLocally answered, when the client still holds no
// server; it reports whether it did.
func (c *clientConn) syncLocally() (bool, error) {
	c.mu.Lock()
	c.awaitRelayLocked('S')
	local := c.localBatch && c.sc == nil
	c.localBatch = false
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
