package prepare

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// appendOut appends to b the bytes the relay sends to the server for msg, a whole client message, as
// Out says.
func appendOut(b []byte, o Out, msg []byte) []byte {
	for _, m := range o.Pre {
		b = append(b, m...)
	}
	switch {
	case o.Msg != nil:
		return append(b, o.Msg...)
	case o.Head != nil:
		rest := msg[pgwire.HeaderSize+o.Skip:]
		b = append(b, msg[0], 0, 0, 0, 0)
		binary.BigEndian.PutUint32(b[len(b)-4:], uint32(4+len(o.Head)+len(rest)))
		b = append(append(b, o.Head...), rest...)
		return b
	}
	return append(b, msg...)
}

// enc encodes a client message.
func enc(t *testing.T, m pgproto3.FrontendMessage) []byte {
	t.Helper()
	b, err := m.Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// describe renders the messages of b for comparison: type, then for Parse, Bind, Describe and Close
// the names they carry ("P pgpooler_1 SELECT 1", "B  pgpooler_1", "D S pgpooler_1", "C S name").
func describe(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		if len(b) < pgwire.HeaderSize {
			t.Fatalf("partial header %x", b)
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		if n < 4 || 1+n > len(b) {
			t.Fatalf("message %q of length %d with %d bytes", b[0], n, len(b))
		}
		msg := b[:1+n]
		b = b[1+n:]
		body := msg[pgwire.HeaderSize:]
		switch msg[0] {
		case 'P':
			name, rest, _ := cstring(body)
			q, _, _ := cstring(rest)
			out = append(out, "P "+name+" "+q)
		case 'B':
			portal, rest, _ := cstring(body)
			name, _, _ := cstring(rest)
			out = append(out, "B "+portal+" "+name)
		case 'D', 'C':
			name, _, _ := cstring(body[1:])
			out = append(out, string(msg[0])+" "+string(body[0])+" "+name)
		default:
			out = append(out, string(msg[0]))
		}
	}
	return out
}

// step is one event of a tracking sequence: a client message sent to server srv (0 or 1), or an answer
// from it.
type step struct {
	srv    int
	send   pgproto3.FrontendMessage // a client message; want: what reaches the server
	answer byte                     // '1', '3', 'Z' or 'E' (with err): from the server
	err    *pgproto3.ErrorResponse
	want   []string // for send: the messages sent; for '1' and '3': "drop" or "forward"; for 'E': "SQLSTATE message"
}

func TestTracker(t *testing.T) {
	sel := func(name string) *pgproto3.Parse { return &pgproto3.Parse{Name: name, Query: "SELECT 1"} }
	errResp := func(code, msg string) *pgproto3.ErrorResponse {
		return &pgproto3.ErrorResponse{Severity: "ERROR", Code: code, Message: msg}
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"named Parse: Close and Parse under the server name, the Close's answer dropped", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "s1"}, want: []string{"B  pgpooler_1"}},
			{send: &pgproto3.Describe{ObjectType: 'S', Name: "s1"}, want: []string{"D S pgpooler_1"}},
		}},
		{"a known name on another server: prepared there first, both answers dropped", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
			{srv: 1, send: &pgproto3.Bind{Parameters: [][]byte{[]byte("x")}, PreparedStatement: "s1"}, want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1", "B  pgpooler_1"}},
			{srv: 1, send: &pgproto3.Execute{}, want: []string{"E"}},
			{srv: 1, send: &pgproto3.Sync{}, want: []string{"S"}},
			{srv: 1, answer: '3', want: []string{"drop"}},
			{srv: 1, answer: '1', want: []string{"drop"}},
			{srv: 1, answer: 'Z'},
			{srv: 1, send: &pgproto3.Bind{PreparedStatement: "s1"}, want: []string{"B  pgpooler_1"}},
		}},
		{"a duplicate name: a failing Parse, its error 42P05", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Parse{Name: "s1", Query: "SELECT 2"}, want: []string{"P  " + dupSentinel}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'E', err: errResp(pgerrcode.SyntaxError, `syntax error at or near "`+dupSentinel+`"`),
				want: []string{pgerrcode.DuplicatePreparedStatement + ` prepared statement "s1" already exists`}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "s1"}, want: []string{"B  pgpooler_1"}},
		}},
		{"a failed Parse is forgotten: the name is unknown after the Sync", []step{
			{send: &pgproto3.Parse{Name: "bad", Query: "SELEC 1"}, want: []string{"C S pgpooler_1", "P pgpooler_1 SELEC 1"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: 'E', err: errResp(pgerrcode.SyntaxError, `syntax error at or near "SELEC"`),
				want: []string{pgerrcode.SyntaxError + ` syntax error at or near "SELEC"`}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "bad"}, want: []string{"B  bad"}},
		}},
		{"unknown and unnamed statements pass unchanged", []step{
			{send: &pgproto3.Bind{PreparedStatement: "nope"}, want: []string{"B  nope"}},
			{send: &pgproto3.Describe{ObjectType: 'S', Name: "nope"}, want: []string{"D S nope"}},
			{send: &pgproto3.Close{ObjectType: 'S', Name: "nope"}, want: []string{"C S nope"}},
			{send: &pgproto3.Parse{Query: "SELECT 3"}, want: []string{"P  SELECT 3"}},
			{send: &pgproto3.Bind{}, want: []string{"B  "}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"forward"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
		}},
		{"the unnamed statement follows the client to another server, its ParseComplete dropped", []step{
			{send: &pgproto3.Parse{Query: "SELECT 3"}, want: []string{"P  SELECT 3"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
			{srv: 1, send: &pgproto3.Bind{}, want: []string{"P  SELECT 3", "B  "}},
			{srv: 1, send: &pgproto3.Describe{ObjectType: 'S'}, want: []string{"D S "}},
			{srv: 1, send: &pgproto3.Sync{}, want: []string{"S"}},
			{srv: 1, answer: '1', want: []string{"drop"}},
			{srv: 1, answer: 'Z'},
			{srv: 1, send: &pgproto3.Query{String: "SELECT 4"}, want: []string{"Q"}}, // replaces the unnamed statement
			{srv: 1, answer: 'Z'},
			{srv: 1, send: &pgproto3.Bind{}, want: []string{"B  "}}, // the client's is gone too, as on a direct connection
		}},
		{"Close of a known name: forgotten by the client only", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Close{ObjectType: 'S', Name: "s1"}, want: []string{"C S " + dupSentinel + "_none"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: '3', want: []string{"forward"}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "s1"}, want: []string{"B  s1"}},
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}}, // the same shared statement
		}},
		{"DISCARD ALL: the client's names and the server's statements are gone", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
			{send: &pgproto3.Query{String: "DISCARD ALL"}, want: []string{"Q"}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "s1"}, want: []string{"B  s1"}},
			{send: sel("s2"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
		}},
		{"an error naming a server statement names the client's; the server's are prepared again", []step{
			{send: sel("mine"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{send: &pgproto3.Sync{}, want: []string{"S"}},
			{answer: '3', want: []string{"drop"}},
			{answer: '1', want: []string{"forward"}},
			{answer: 'Z'},
			{send: &pgproto3.Query{String: "DEALLOCATE pgpooler_1"}, want: []string{"Q"}},
			{answer: 'Z'},
			{send: &pgproto3.Bind{PreparedStatement: "mine"}, want: []string{"B  mine"}},
		}},
		{"an unexpected answer resets the queue and is forwarded", []step{
			{send: sel("s1"), want: []string{"C S pgpooler_1", "P pgpooler_1 SELECT 1"}},
			{answer: '1', want: []string{"unexpected"}},
			{answer: '3', want: []string{"forward"}},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var reg Registry
			var servers [2]ServerStmts
			var tr Tracker
			for i, s := range tt.steps {
				sv := &servers[s.srv]
				where := fmt.Sprintf("step %d", i)
				switch {
				case s.send != nil:
					msg := enc(t, s.send)
					o, err := tr.Send(&reg, sv, msg)
					if err != nil {
						t.Fatalf("%s: %v", where, err)
					}
					if got := describe(t, appendOut(nil, o, msg)); strings.Join(got, " | ") != strings.Join(s.want, " | ") {
						t.Fatalf("%s: sent %q, want %q", where, got, s.want)
					}
				case s.answer == 'Z':
					tr.Ready(sv)
				case s.answer == 'E':
					msg, err := s.err.Encode(nil)
					if err != nil {
						t.Fatal(err)
					}
					out, _ := tr.ServerError(sv, msg)
					var er pgproto3.ErrorResponse
					if err := er.Decode(out[pgwire.HeaderSize:]); err != nil {
						t.Fatal(err)
					}
					if got := er.Code + " " + er.Message; got != s.want[0] {
						t.Fatalf("%s: client gets %q, want %q", where, got, s.want[0])
					}
				default:
					drop, err := tr.Answer(s.answer)
					got := map[bool]string{true: "drop", false: "forward"}[drop]
					if errors.Is(err, ErrUnexpectedAnswer) {
						got = "unexpected"
					} else if err != nil {
						t.Fatal(err)
					}
					if got != s.want[0] {
						t.Fatalf("%s: answer %q: %s, want %s", where, s.answer, got, s.want[0])
					}
				}
			}
		})
	}
}

// TestServerErrorClientName: an error naming one of the pooler's server-side statements reaches the
// client with the client's own name for it; other errors are unchanged.
func TestServerErrorClientName(t *testing.T) {
	var reg Registry
	var sv ServerStmts
	var tr Tracker
	st := reg.Get([]byte("SELECT 1\x00\x00\x00"))
	if !tr.AddLocal("mine", st) {
		t.Fatal("AddLocal refused a new name")
	}
	sv.add(st)
	encode := func(msg string) []byte {
		b, err := (&pgproto3.ErrorResponse{Severity: "ERROR", Code: "26000", Message: msg}).Encode(nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	out, rewritten := tr.ServerError(&sv, encode(`prepared statement "`+st.serverName+`" does not exist`))
	var got pgproto3.ErrorResponse
	if err := got.Decode(out[5:]); err != nil {
		t.Fatal(err)
	}
	if !rewritten || got.Message != `prepared statement "mine" does not exist` || got.Code != "26000" {
		t.Errorf("rewritten error: %v %s %q", rewritten, got.Code, got.Message)
	}
	if sv.Len() != 0 {
		t.Errorf("the server still has %d statements after an error saying one is gone", sv.Len())
	}
	in := encode(`prepared statement "pgpooler_999999" does not exist`)
	if out, rewritten := tr.ServerError(&sv, in); rewritten || !bytes.Equal(out, in) {
		t.Errorf("an error naming a statement the client has no name for was rewritten: %q", out)
	}
}

// TestLocalParse: a name answered without a server is the client's, once; the batch ends once.
func TestLocalParse(t *testing.T) {
	var reg Registry
	var tr Tracker
	st := reg.Get([]byte("SELECT 1\x00\x00\x00"))
	if tr.EndLocalBatch() {
		t.Fatal("a batch before any local Parse")
	}
	if !tr.AddLocal("s1", st) || tr.AddLocal("s1", st) {
		t.Fatal("AddLocal: want the first accepted, the duplicate refused")
	}
	if tr.Lookup([]byte("s1")) != st || tr.Len() != 1 {
		t.Fatalf("after AddLocal: Lookup %v, Len %d", tr.Lookup([]byte("s1")), tr.Len())
	}
	if !tr.EndLocalBatch() || tr.EndLocalBatch() {
		t.Fatal("EndLocalBatch: want true once, then false")
	}
}

// TestStream: a long Bind of a known name is streamed with its names replaced; a named Parse and a Bind
// whose names are not in the peeked head are read whole.
func TestStream(t *testing.T) {
	var reg Registry
	var sv ServerStmts
	var tr Tracker
	st := reg.Get([]byte("SELECT $1\x00\x00\x00"))
	tr.AddLocal("s1", st)
	o, ok := tr.Stream(&sv, 'B', []byte("p\x00s1\x00\x00\x00"))
	if !ok || string(o.Head) != "p\x00"+st.serverName+"\x00" || o.Skip != len("p\x00s1\x00") ||
		!bytes.Equal(o.Pre[0], st.closeMsg) || !bytes.Equal(o.Pre[1], st.parse) {
		t.Fatalf("streamed Bind: %v, %q skip %d, pre %q", ok, o.Head, o.Skip, o.Pre)
	}
	if tr.Awaited() != 2 {
		t.Fatalf("%d answers awaited after an injected Close and Parse, want 2", tr.Awaited())
	}
	if _, ok := tr.Stream(&sv, 'P', []byte("s2\x00SELECT")); ok {
		t.Fatal("a named Parse was streamed")
	}
	if _, ok := tr.Stream(&sv, 'B', []byte("p\x00s1")); ok {
		t.Fatal("a Bind without its statement name in the head was streamed")
	}
	if o, ok := tr.Stream(&sv, 'Q', []byte("SELECT")); !ok || o.Head != nil || o.Pre[0] != nil || o.Pre[1] != nil || tr.Awaited() != 3 {
		t.Fatalf("streamed Query: %v %+v, %d awaited", ok, o, tr.Awaited())
	}
}

// TestRefused: a refused Query or Parse awaits its answer and replaces the unnamed statement.
func TestRefused(t *testing.T) {
	var reg Registry
	var sv ServerStmts
	var tr Tracker
	parse := enc(t, &pgproto3.Parse{Query: "SELECT 1"})
	if _, err := tr.Send(&reg, &sv, parse); err != nil {
		t.Fatal(err)
	}
	tr.Refused(&sv, 'P', true)
	bind := enc(t, &pgproto3.Bind{})
	var other ServerStmts
	o, err := tr.Send(&reg, &other, bind)
	if err != nil || o.Pre[0] != nil {
		t.Fatalf("after a refused unnamed Parse the old one is re-sent: %q, %v", o.Pre[0], err)
	}
	if tr.Awaited() != 2 {
		t.Fatalf("%d answers awaited, want 2 (the Parse and the refused one)", tr.Awaited())
	}
	tr.Refused(&sv, 'Q', false)
	if tr.Awaited() != 3 {
		t.Fatalf("%d answers awaited after a refused Query, want 3", tr.Awaited())
	}
}

// TestMalformed: a Parse or Bind without its names is refused with 08P01.
func TestMalformed(t *testing.T) {
	var reg Registry
	var sv ServerStmts
	var tr Tracker
	for _, msg := range [][]byte{{'P', 0, 0, 0, 5, 'x'}, {'B', 0, 0, 0, 6, 0, 'x'}} {
		_, err := tr.Send(&reg, &sv, msg)
		var pe *pgwire.Error
		if !errors.As(err, &pe) || pe.Code != pgerrcode.ProtocolViolation {
			t.Errorf("%q: %v, want 08P01", msg, err)
		}
	}
}

// BenchmarkTrackerBind measures Send for a Bind of a named statement the server has.
func BenchmarkTrackerBind(b *testing.B) {
	var reg Registry
	var sv ServerStmts
	var tr Tracker
	st := reg.Get([]byte("SELECT $1::int\x00\x00\x01\x00\x00\x00\x17"))
	tr.AddLocal("s1", st)
	sv.add(st)
	bind := frame('B', []byte("\x00s1\x00\x00\x00\x00\x01\x00\x00\x00\x011\x00\x00"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.Send(&reg, &sv, bind); err != nil {
			b.Fatal(err)
		}
	}
}
