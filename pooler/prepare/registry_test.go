package prepare

import (
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

func TestRegistryShares(t *testing.T) {
	var r Registry
	a := r.Get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x17"))
	b := r.Get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x17"))
	c := r.Get([]byte("SELECT $1\x00\x00\x01\x00\x00\x00\x19")) // same text, another parameter type
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
	if n, size := r.Size(); n != 2 || size <= 0 {
		t.Fatalf("Size = %d statements, %d bytes; want 2 and some", n, size)
	}
	if d := r.Get([]byte("DISCARD ALL\x00\x00\x00")); !d.drops || a.drops {
		t.Fatalf("drops: DISCARD ALL %v, SELECT %v", d.drops, a.drops)
	}
}

func TestServerStmtsLRU(t *testing.T) {
	var r Registry
	var ss ServerStmts
	st := make([]*Stmt, 4)
	for i := range st {
		st[i] = r.Get([]byte{byte('a' + i), 0, 0, 0})
		ss.add(st[i])
	}
	ss.has(st[0]) // used: now the most recent
	closes := ss.Evict(2)
	if ss.Len() != 2 || !ss.has(st[0]) || !ss.has(st[3]) || ss.has(st[1]) || ss.has(st[2]) {
		t.Fatalf("after eviction: %d statements", ss.Len())
	}
	want := []pgproto3.FrontendMessage{
		&pgproto3.Close{ObjectType: 'S', Name: st[1].serverName},
		&pgproto3.Close{ObjectType: 'S', Name: st[2].serverName},
	}
	if !reflect.DeepEqual(closes, want) {
		t.Fatalf("eviction sends %v, want %v", closes, want)
	}
	if closes := ss.Evict(2); len(closes) != 0 {
		t.Fatalf("nothing to evict, yet %v", closes)
	}
}
