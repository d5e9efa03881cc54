package prepare

import (
	"container/list"

	"github.com/jackc/pgx/v5/pgproto3"
)

// ServerStmts are the shared statements prepared on one server connection, least recently used first,
// and the version of its unnamed statement. The zero value is a server with none. It is owned by the
// server's current borrower (no lock inside).
type ServerStmts struct {
	lru   *list.List // of *Stmt
	byKey map[*Stmt]*list.Element
	// unnamedVer is bumped by every Parse of the unnamed statement and every Query sent to the server:
	// a client's unnamed statement is still there only if the version is the one it left.
	unnamedVer uint64
}

func (ss *ServerStmts) has(st *Stmt) bool {
	if ss.byKey == nil {
		return false
	}
	e, ok := ss.byKey[st]
	if ok {
		ss.lru.MoveToBack(e)
	}
	return ok
}

func (ss *ServerStmts) add(st *Stmt) {
	if ss.byKey == nil {
		ss.byKey, ss.lru = map[*Stmt]*list.Element{}, list.New()
	}
	if e, ok := ss.byKey[st]; ok {
		ss.lru.MoveToBack(e)
		return
	}
	ss.byKey[st] = ss.lru.PushBack(st)
}

func (ss *ServerStmts) remove(st *Stmt) {
	if e, ok := ss.byKey[st]; ok {
		ss.lru.Remove(e)
		delete(ss.byKey, st)
	}
}

// Clear forgets every statement, once a message or query that drops the server's prepared statements
// has been sent (DISCARD ALL, DEALLOCATE ALL): the messages after it prepare again what they use (a
// Close + Parse of a statement that is still there is harmless, should the drop fail).
func (ss *ServerStmts) Clear() { ss.byKey, ss.lru = nil, nil }

// Len returns how many shared statements the server has (SHOW SERVERS prepared_statements).
func (ss *ServerStmts) Len() int { return len(ss.byKey) }

// Evict removes the least recently used statements beyond limit (max_prepared_statements) and returns
// the Close messages that drop them on the server, to be sent with a Sync before the server is lent
// (none when nothing is beyond the limit). A Close of a statement the server no longer has is not an
// error, unlike DEALLOCATE.
func (ss *ServerStmts) Evict(limit int) []pgproto3.FrontendMessage {
	var closes []pgproto3.FrontendMessage
	for ss.Len() > limit {
		st := ss.lru.Remove(ss.lru.Front()).(*Stmt)
		delete(ss.byKey, st)
		closes = append(closes, &pgproto3.Close{ObjectType: 'S', Name: st.serverName})
	}
	return closes
}
