package prepare

import (
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// bigErrorPrefix encodes er with a 64 KiB Detail and returns what the relay makes of its first KiB
// (pgwire.ErrorPrefix).
func bigErrorPrefix(t *testing.T, er pgproto3.ErrorResponse) []byte {
	t.Helper()
	er.Severity, er.Detail = "ERROR", strings.Repeat("x", 64<<10)
	b, err := er.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return pgwire.ErrorPrefix(b[pgwire.HeaderSize : pgwire.HeaderSize+1024])
}

// TestServerErrorPrefix: an error too large to read whole is accounted for from its first fields as
// ServerError accounts for a whole one: a failed Parse is forgotten and the queue skips to the Sync; the
// error of a duplicate name is replaced by 42P05; one naming a pooler statement makes the server forget
// its statements, and is forwarded unchanged (nil).
func TestServerErrorPrefix(t *testing.T) {
	t.Run("a failed Parse", func(t *testing.T) {
		var reg Registry
		var sv ServerStmts
		var tr Tracker
		for _, m := range []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "bad", Query: "SELECT 'x'::int"}, &pgproto3.Sync{}} {
			if _, err := tr.Send(&reg, &sv, enc(t, m)); err != nil {
				t.Fatal(err)
			}
		}
		if drop, err := tr.Answer('3'); !drop || err != nil {
			t.Fatalf("the injected Close's answer: drop %v, %v", drop, err)
		}
		out := tr.ServerErrorPrefix(&sv, bigErrorPrefix(t, pgproto3.ErrorResponse{Code: pgerrcode.InvalidTextRepresentation,
			Message: `invalid input syntax for type integer: "x"`}))
		if out != nil || tr.Awaited() != 1 || tr.Lookup([]byte("bad")) != nil || sv.Len() != 0 {
			t.Fatalf("replacement %q, %d awaited (want the Sync), name kept %v, server has %d statements",
				out, tr.Awaited(), tr.Lookup([]byte("bad")) != nil, sv.Len())
		}
		tr.Ready(&sv)
		if tr.Awaited() != 0 {
			t.Fatalf("%d awaited after ReadyForQuery", tr.Awaited())
		}
	})
	t.Run("a duplicate name", func(t *testing.T) {
		var reg Registry
		var sv ServerStmts
		var tr Tracker
		for _, m := range []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "s1", Query: "SELECT 1"}, &pgproto3.Sync{}} {
			if _, err := tr.Send(&reg, &sv, enc(t, m)); err != nil {
				t.Fatal(err)
			}
		}
		_, _ = tr.Answer('3')
		_, _ = tr.Answer('1')
		tr.Ready(&sv)
		for _, m := range []pgproto3.FrontendMessage{&pgproto3.Parse{Name: "s1", Query: "SELECT 2"}, &pgproto3.Sync{}} {
			if _, err := tr.Send(&reg, &sv, enc(t, m)); err != nil {
				t.Fatal(err)
			}
		}
		out := tr.ServerErrorPrefix(&sv, bigErrorPrefix(t, pgproto3.ErrorResponse{Code: pgerrcode.SyntaxError,
			Message: `syntax error at or near "` + dupSentinel + `"`}))
		var er pgproto3.ErrorResponse
		if out == nil || er.Decode(out[pgwire.HeaderSize:]) != nil || er.Code != pgerrcode.DuplicatePreparedStatement ||
			er.Message != `prepared statement "s1" already exists` || tr.Awaited() != 1 {
			t.Fatalf("replacement %q, %d awaited; want 42P05 for s1 and the Sync", out, tr.Awaited())
		}
		if tr.Lookup([]byte("s1")) == nil {
			t.Fatal("the first s1 was forgotten")
		}
	})
	t.Run("a pooler statement named", func(t *testing.T) {
		var reg Registry
		var sv ServerStmts
		var tr Tracker
		st := reg.Get([]byte("SELECT 1\x00\x00\x00"))
		tr.AddLocal("mine", st)
		sv.add(st)
		out := tr.ServerErrorPrefix(&sv, bigErrorPrefix(t, pgproto3.ErrorResponse{Code: pgerrcode.InvalidSQLStatementName,
			Message: `prepared statement "` + st.serverName + `" does not exist`}))
		if out != nil || sv.Len() != 0 {
			t.Fatalf("replacement %q, the server still has %d statements; want nil and none", out, sv.Len())
		}
	})
}
