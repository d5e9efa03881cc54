package prepare

import (
	"bytes"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// Tracker is one client's prepared statements: its names for shared statements, its unnamed statement
// (the last Parse of it, re-sent to a server that lacks it) and the answers awaited from its linked
// server. The zero value is a client with none. It is owned by one caller at a time (no lock inside):
// today the client's goroutine and its relay, serialised by the client's mutex.
type Tracker struct {
	names map[string]*Stmt // the client's statement names
	// The client's unnamed statement: its last Parse, and the server (and that server's unnamedVer) that
	// has it.
	unnamedParse []byte
	unnamedDrops bool // executing it drops the server's prepared statements (DISCARD ALL)
	unnamedOn    *ServerStmts
	unnamedVer   uint64
	queue        []awaited // answers awaited from the linked server, oldest first
	localBatch   bool      // since the last Sync, only Parses answered without a server (AddLocal)
	head         []byte    // Out.Head's bytes
}

// Out is what the relay sends to the server for one client message, in this order: each non-nil
// message of Pre (messages of the pooler's: a Close and Parse of a statement the server lacks, or the
// client's unnamed Parse); then Msg when it is not nil (a message of the pooler's in place of the
// client's); else the client's message, with the first Skip bytes of its body replaced by Head when
// Head is not nil (the message's type and the rest of its body unchanged, its length recomputed). The
// slices stay valid until the Tracker's next Send or Stream; none is to be modified.
type Out struct {
	Pre  [2][]byte
	Msg  []byte
	Head []byte
	Skip int
}

// Len returns how many statement names the client has (SHOW CLIENTS prepared_statements).
func (t *Tracker) Len() int { return len(t.names) }

// Lookup returns the shared statement of the client's statement name, nil when unknown.
func (t *Tracker) Lookup(name []byte) *Stmt { return t.names[string(name)] }

// Send accounts for msg, a whole client message (type byte, length, body) about to go to the server sv,
// and returns what to send instead (Out). Parse, Bind, Describe and Close are rewritten as the package
// documentation says; Query, FunctionCall and Sync are sent unchanged and await their ReadyForQuery; a
// Query replaces the unnamed statement, and one that drops every prepared statement (DISCARD ALL,
// DEALLOCATE ALL) makes the client and sv forget theirs. Other types are sent unchanged. reg shares the
// statements of named Parses. The error, for a malformed Parse or Bind, is a *pgwire.Error (08P01).
func (t *Tracker) Send(reg *Registry, sv *ServerStmts, msg []byte) (Out, error) {
	typ, body := msg[0], msg[pgwire.HeaderSize:]
	switch typ {
	case 'S':
		t.push(awaited{kind: answerSync})
	case 'F':
		t.push(awaited{kind: answerQuery})
	case 'Q':
		text := body
		if i := bytes.IndexByte(text, 0); i >= 0 {
			text = text[:i]
		}
		sv.unnamedVer++ // a simple query replaces the unnamed statement, the client's own included
		t.unnamedParse = nil
		if session.MayChange(text) && DropsStatements(string(text)) {
			t.names = nil // DEALLOCATE ALL, DISCARD ALL: the client's statements are gone
			sv.Clear()
		}
		t.push(awaited{kind: answerQuery})
	case 'P':
		return t.parse(reg, sv, msg)
	case 'B':
		portalZ, name, ok := bindNames(body)
		if !ok {
			return Out{}, pgwire.ProtocolViolation("malformed Bind message")
		}
		return t.bind(sv, portalZ, name), nil
	case 'D':
		if len(body) < 2 || body[0] != 'S' {
			return Out{}, nil
		}
		name, _, ok := bytes.Cut(body[1:], []byte{0})
		st := t.Lookup(name)
		var out Out
		if ok && len(name) == 0 {
			out.Pre[0] = t.ensureUnnamed(sv)
		}
		if !ok || len(name) == 0 || st == nil {
			return out, nil
		}
		out.Pre = t.ensurePrepared(sv, st)
		t.head = append(append(t.head[:0], 'S'), st.nameZ...)
		out.Head, out.Skip = t.head, len(body)
		return out, nil
	case 'C':
		if len(body) >= 2 && body[0] == 'S' {
			if name, _, ok := cstring(body[1:]); ok && name != "" && t.names[name] != nil {
				delete(t.names, name) // the shared statement stays on the server for others
				t.push(awaited{kind: answerClose})
				return Out{Msg: closeNone}, nil
			}
		}
		t.push(awaited{kind: answerClose})
	}
	return Out{}, nil
}

// closeNone is the Close sent for a client's Close of a known name: of a statement that never exists,
// so that the client gets its CloseComplete from the server, in order.
var closeNone = frame('C', []byte("S"+dupSentinel+"_none\x00"))

// parse is Send for a Parse.
func (t *Tracker) parse(reg *Registry, sv *ServerStmts, msg []byte) (Out, error) {
	name, rest, ok := cstring(msg[pgwire.HeaderSize:])
	if !ok {
		return Out{}, pgwire.ProtocolViolation("malformed Parse message")
	}
	if name == "" {
		q, _, ok := bytes.Cut(rest, []byte{0})
		t.push(awaited{kind: answerParse})
		if cap(t.unnamedParse) > 64*1024 && len(msg) <= 64*1024 {
			t.unnamedParse = nil // do not keep a large query's buffer for small ones
		}
		t.unnamedParse = append(t.unnamedParse[:0], msg...)
		t.unnamedDrops = ok && session.MayChange(q) && DropsStatements(string(q))
		sv.unnamedVer++
		t.unnamedOn, t.unnamedVer = sv, sv.unnamedVer
		return Out{}, nil
	}
	st := reg.Get(rest)
	if _, dup := t.names[name]; dup {
		t.push(awaited{kind: answerParseDup, dupName: name})
		return Out{Msg: dupParse}, nil
	}
	if t.names == nil {
		t.names = map[string]*Stmt{}
	}
	t.names[name] = st
	sv.add(st)
	t.push(awaited{kind: answerCloseSkip}, awaited{kind: answerParse, stmt: st, dupName: name})
	return Out{Pre: [2][]byte{st.closeMsg}, Msg: st.parse}, nil
}

// dupParse is the Parse sent for a client's duplicate statement name: it fails on the server, in order.
var dupParse = frame('P', append([]byte("\x00"+dupSentinel+"\x00"), 0, 0))

// Refused accounts for a Query or Parse (typ 'Q' or 'P'; unnamed: a Parse of the unnamed statement) that
// the relay replaces by a sentinel that fails on the server (reject_session_features): its answer is
// awaited, and it replaces the unnamed statement as the client's would have.
func (t *Tracker) Refused(sv *ServerStmts, typ byte, unnamed bool) {
	if typ == 'Q' {
		sv.unnamedVer++
		t.unnamedParse = nil
		t.push(awaited{kind: answerQuery})
		return
	}
	t.push(awaited{kind: answerParse})
	if unnamed {
		t.unnamedParse = nil
		sv.unnamedVer++
	}
}

// Stream is Send for a message that the relay streams to sv without reading it whole: a FunctionCall,
// or a Query, Parse or Bind too long to read whole. head is the start of its body (up to 1024 bytes or
// the whole body). It reports false when the message must be read whole and given to Send instead (a
// named Parse, a Bind whose names are not both in head, any other type). Out.Msg is always nil: the
// relay streams the client's message, with Head in place of its first Skip bytes when Head is not nil.
// A streamed Parse of the unnamed statement is not carried to another server.
func (t *Tracker) Stream(sv *ServerStmts, typ byte, head []byte) (Out, bool) {
	switch typ {
	case 'F':
		t.push(awaited{kind: answerQuery})
	case 'Q':
		t.push(awaited{kind: answerQuery})
		sv.unnamedVer++ // a query replaces the unnamed statement, the client's own included
		t.unnamedParse = nil
	case 'P':
		if name, _, ok := cstring(head); !ok || name != "" {
			return Out{}, false
		}
		t.push(awaited{kind: answerParse})
		sv.unnamedVer++
		t.unnamedParse = nil
	case 'B':
		portalZ, name, ok := bindNames(head)
		if !ok {
			return Out{}, false // names longer than the peek: read whole
		}
		return t.bind(sv, portalZ, name), true
	default:
		return Out{}, false
	}
	return Out{}, true
}

// bind is Send (whole) or Stream for a Bind whose first fields are portalZ (the portal name and its NUL)
// and name (the statement name): a known name under its server name, prepared there first if need be;
// the unnamed statement re-sent first if sv lacks it. A Bind of a statement that drops the server's
// statements makes the client and sv forget theirs.
func (t *Tracker) bind(sv *ServerStmts, portalZ, name []byte) Out {
	st := t.Lookup(name)
	var out Out
	switch {
	case len(name) == 0:
		out.Pre[0] = t.ensureUnnamed(sv)
	case st == nil: // unknown: PostgreSQL answers 26000
	default:
		out.Pre = t.ensurePrepared(sv, st)
		t.head = append(append(t.head[:0], portalZ...), st.nameZ...)
		out.Head, out.Skip = t.head, len(portalZ)+len(name)+1
	}
	if len(name) == 0 && t.unnamedDrops || st != nil && st.drops {
		t.names = nil // as on a direct connection, the client's names are gone too
		sv.Clear()
	}
	return out
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

// ensurePrepared returns the Close + Parse of st to inject when sv lacks it, whose answers are dropped;
// none when sv has it.
func (t *Tracker) ensurePrepared(sv *ServerStmts, st *Stmt) [2][]byte {
	if sv.has(st) {
		return [2][]byte{}
	}
	sv.add(st)
	t.push(awaited{kind: answerCloseSkip}, awaited{kind: answerParseSkip, stmt: st})
	return [2][]byte{st.closeMsg, st.parse}
}

// ensureUnnamed returns the client's last Parse of the unnamed statement to re-send when sv no longer
// has it (nil when it has, or the client has none): in transaction mode a client that parses in one
// round trip and binds in the next (pgx describe_exec, lib/pq) may get another server in between, or
// its server may have run another client's unnamed statement. The ParseComplete is dropped.
func (t *Tracker) ensureUnnamed(sv *ServerStmts) []byte {
	if t.unnamedParse == nil || (t.unnamedOn == sv && t.unnamedVer == sv.unnamedVer) {
		return nil
	}
	t.push(awaited{kind: answerParseSkip})
	sv.unnamedVer++
	t.unnamedOn, t.unnamedVer = sv, sv.unnamedVer
	return t.unnamedParse
}

// AddLocal records the client's Parse of a named statement (name, st: a Valid statement) that the relay
// answers itself with ParseComplete, the client holding no server; a Sync that ends such a batch is
// answered with ReadyForQuery too (EndLocalBatch). Without this, pgbench -M prepared with fewer threads
// than clients deadlocks on a small pool: its blocking prepare of one client stalls the clients of its
// thread that hold servers. It reports false, recording nothing, when the client already uses name (the
// server must answer 42P05).
func (t *Tracker) AddLocal(name string, st *Stmt) bool {
	if t.names[name] != nil {
		return false
	}
	if t.names == nil {
		t.names = map[string]*Stmt{}
	}
	t.names[name] = st
	t.localBatch = true
	return true
}

// EndLocalBatch ends the batch of locally answered Parses (a Sync, or any message that needs the
// server) and reports whether there was one: only then may a Sync be answered without a server.
func (t *Tracker) EndLocalBatch() bool {
	local := t.localBatch
	t.localBatch = false
	return local
}
