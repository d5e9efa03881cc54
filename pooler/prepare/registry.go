package prepare

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/session"
)

// ServerStmtPrefix starts the names of the pooler's statements on servers.
const ServerStmtPrefix = "pgpooler_"

// MaxCarriedParse is the longest Parse message, in bytes, read whole: an unnamed one that long is kept
// to be re-sent to the client's next server; a longer unnamed Parse is streamed (Tracker.Stream) and not
// carried. Named Parses are always read whole, their text being shared (Registry).
const MaxCarriedParse = 1 << 20

// The registry's bounds: past either, it starts over (new server names for old texts; statements that
// clients and servers still use stay theirs, uncounted here).
const (
	maxRegistry      = 100000   // statements
	maxRegistryBytes = 64 << 20 // bytes of keys and messages
)

// Stmt is a statement shared by the clients whose query text and parameter types are equal. Its
// messages never change once made.
type Stmt struct {
	// valid is set once a server has accepted the statement: a client between transactions that only
	// prepares it (Parse, Sync: pgbench -M prepared, PQprepare) is then answered without a server.
	valid      atomic.Bool
	serverName string
	nameZ      []byte // serverName and its NUL, as it goes into a Bind or Describe
	parse      []byte // the Parse message under serverName, ready to send
	closeMsg   []byte // Close of serverName
	drops      bool   // executing it drops the server's prepared statements (DISCARD ALL, DEALLOCATE ALL)
}

// ServerName returns the name the statement has on servers ("pgpooler_N").
func (st *Stmt) ServerName() string { return st.serverName }

// Valid reports whether a server has accepted the statement (a ParseComplete answered its Parse), so
// that a client's Parse of it may be answered without a server (Tracker.AddLocal).
func (st *Stmt) Valid() bool { return st.valid.Load() }

// Registry maps (query, parameter types) to shared statements, for every client of a Server. It is
// bounded (100,000 statements, 64 MiB of texts and messages) and safe for concurrent use; its zero
// value is empty.
type Registry struct {
	mu    sync.Mutex
	byKey map[string]*Stmt
	bytes int64 // what byKey holds: keys, Parse and Close messages
	next  uint64
}

// Get returns the shared statement for a Parse body's query and parameter types (rest: the body after
// the statement name), making it if need be.
func (r *Registry) Get(rest []byte) *Stmt {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.byKey[string(rest)]; ok {
		return st
	}
	if r.byKey == nil || len(r.byKey) >= maxRegistry || r.bytes+3*int64(len(rest)) > maxRegistryBytes {
		r.byKey, r.bytes = map[string]*Stmt{}, 0
	}
	r.next++
	name := ServerStmtPrefix + strconv.FormatUint(r.next, 10)
	query, _, _ := bytes.Cut(rest, []byte{0})
	st := &Stmt{serverName: name, drops: session.MayChange(query) && DropsStatements(string(query))}
	st.nameZ = append([]byte(name), 0)
	body := append(append([]byte(name), 0), rest...)
	st.parse = frame('P', body)
	st.closeMsg = frame('C', append(append([]byte{'S'}, name...), 0))
	r.byKey[string(rest)] = st
	r.bytes += int64(len(rest) + len(st.parse) + len(st.closeMsg))
	return st
}

// Size returns how many statements the registry holds and their size in bytes (SHOW MEM).
func (r *Registry) Size() (statements int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byKey), r.bytes
}

// DropsStatements reports whether a query's text holds DEALLOCATE ALL or DISCARD ALL, or a DEALLOCATE
// of one of the pooler's own server-side statements ("pgpooler_N", which a client has no business
// dropping, but can): after it has run, the server has none of the pooler's statements.
func DropsStatements(sql string) bool { return session.DropsStatements(sql, ServerStmtPrefix) }

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
