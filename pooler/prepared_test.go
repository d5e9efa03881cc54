package pooler

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestStmtRegistryShares(t *testing.T) {
	var r stmtRegistry
	a := r.get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x17"))
	b := r.get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x17"))
	c := r.get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x19")) // same text, another parameter type
	if a != b || a == c {
		t.Fatalf("sharing: a=%s b=%s c=%s", a.serverName, b.serverName, c.serverName)
	}
	name, rest, ok := cstring(a.parse[5:])
	if !ok || name != a.serverName || !strings.HasPrefix(string(rest), "SELECT $1\x00") {
		t.Fatalf("parse message %q", a.parse)
	}
	if a.closeMsg[0] != 'C' || string(a.closeMsg[5:]) != "S"+a.serverName+"\x00" {
		t.Fatalf("close message %q", a.closeMsg)
	}
}

func TestServerStmtsLRU(t *testing.T) {
	var r stmtRegistry
	var ss serverStmts
	st := make([]*preparedStmt, 4)
	for i := range st {
		st[i] = r.get([]byte{byte('a' + i), 0, 0, 0})
		ss.add(st[i])
	}
	ss.has(st[0]) // used: now the most recent
	closes := ss.evict(2)
	if ss.len() != 2 || !ss.has(st[0]) || !ss.has(st[3]) || ss.has(st[1]) || ss.has(st[2]) {
		t.Fatalf("after eviction: %d statements", ss.len())
	}
	want := []pgproto3.FrontendMessage{
		&pgproto3.Close{ObjectType: 'S', Name: st[1].serverName},
		&pgproto3.Close{ObjectType: 'S', Name: st[2].serverName},
	}
	if !reflect.DeepEqual(closes, want) {
		t.Fatalf("eviction sends %v, want %v", closes, want)
	}
	if closes := ss.evict(2); len(closes) != 0 {
		t.Fatalf("nothing to evict, yet %v", closes)
	}
}

func TestDropsStatements(t *testing.T) {
	for sql, want := range map[string]bool{
		"DEALLOCATE ALL":                   true,
		"deallocate prepare all;":          true,
		"DISCARD ALL":                      true,
		"DEALLOCATE s1":                    false,
		"DISCARD PLANS":                    false,
		"SELECT 'DEALLOCATE ALL'":          false,
		"BEGIN; DISCARD ALL":               true,
		"DEALLOCATE pgpooler_3":            true,
		`DEALLOCATE PREPARE "pgpooler_12"`: true,
		"DEALLOCATE pgpooler":              false,
	} {
		if got := dropsStatements(sql); got != want {
			t.Errorf("dropsStatements(%q) = %v, want %v", sql, got, want)
		}
	}
}

// TestClientNamedError: an error naming one of the pooler's server-side statements reaches the client
// with the client's own name for it; other errors are unchanged.
func TestClientNamedError(t *testing.T) {
	var r stmtRegistry
	st := r.get([]byte("SELECT 1\x00\x00\x00"))
	c := &clientConn{stmts: map[string]*preparedStmt{"mine": st}}
	encode := func(msg string) (pgproto3.ErrorResponse, []byte) {
		er := pgproto3.ErrorResponse{Severity: "ERROR", Code: "26000", Message: msg}
		b, err := er.Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return er, b
	}
	er, in := encode(`prepared statement "` + st.serverName + `" does not exist`)
	var got pgproto3.ErrorResponse
	if err := got.Decode(c.clientNamedErrorLocked(er, in)[5:]); err != nil {
		t.Fatal(err)
	}
	if got.Message != `prepared statement "mine" does not exist` || got.Code != "26000" {
		t.Errorf("rewritten error: %s %q", got.Code, got.Message)
	}
	er, in = encode(`prepared statement "pgpooler_999999" does not exist`)
	if out := c.clientNamedErrorLocked(er, in); !bytes.Equal(out, in) {
		t.Errorf("an error naming a statement the client has no name for was rewritten: %q", out)
	}
}
