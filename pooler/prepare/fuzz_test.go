package prepare

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// FuzzPrepared sends any stream of client messages through the prepared-statement rewriting
// (Tracker.Send, as the relay calls it for Parse, Bind, Describe, Close, Query, FunctionCall and Sync;
// other messages pass unchanged) to one server, with nothing answered. It checks that:
//   - what reaches the server is whole, well-framed messages;
//   - the answer queue holds exactly one entry per message that the server answers in order (each Parse,
//     Close, Sync, Query and FunctionCall sent), so that answers can never be matched to the wrong one;
//   - a Bind or Describe keeps every byte but the statement name, which is the client's own (unnamed or
//     unknown to the pooler) or the server name of the client's statement, prepared on this server
//     earlier in the stream;
//   - only a malformed Parse or Bind is refused, with 08P01.
func FuzzPrepared(f *testing.F) {
	enc := func(ms ...pgproto3.FrontendMessage) []byte {
		var b []byte
		for _, m := range ms {
			var err error
			if b, err = m.Encode(b); err != nil {
				f.Fatal(err)
			}
		}
		return b
	}
	f.Add(enc(&pgproto3.Parse{Name: "s1", Query: "SELECT $1", ParameterOIDs: []uint32{23}},
		&pgproto3.Bind{PreparedStatement: "s1", Parameters: [][]byte{[]byte("1")}}, &pgproto3.Describe{ObjectType: 'P'},
		&pgproto3.Execute{}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Parse{Name: "s1", Query: "SELECT 1"}, &pgproto3.Parse{Name: "s1", Query: "SELECT 2"}, &pgproto3.Sync{},
		&pgproto3.Describe{ObjectType: 'S', Name: "s1"}, &pgproto3.Close{ObjectType: 'S', Name: "s1"},
		&pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Sync{}))
	f.Add(enc(&pgproto3.Parse{Query: "SELECT 1"}, &pgproto3.Bind{}, &pgproto3.Execute{}, &pgproto3.Sync{},
		&pgproto3.Query{String: "DISCARD ALL"}, &pgproto3.Bind{PreparedStatement: "s1"}, &pgproto3.Describe{ObjectType: 'S'}))
	f.Add(enc(&pgproto3.Parse{Name: "a", Query: "DEALLOCATE ALL"}, &pgproto3.Bind{PreparedStatement: "a"}, &pgproto3.Execute{},
		&pgproto3.Query{String: "SET search_path = x; PREPARE p AS SELECT 1"}, &pgproto3.FunctionCall{Function: 1}, &pgproto3.Sync{}))
	f.Add([]byte{'P', 0, 0, 0, 5, 'x'})
	f.Add([]byte{'B', 0, 0, 0, 6, 0, 'x'})
	f.Add([]byte{'D', 0, 0, 0, 5, 'S'})
	f.Add([]byte{'C', 0, 0, 0, 7, 'S', 'x', 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		var reg Registry
		var sv ServerStmts
		var tr Tracker
		var out []byte
		rd := pgwire.NewReader(bytes.NewReader(in))
		rd.MaxMessageSize = 1 << 16
		prepared := map[string]bool{} // server names Parsed on sv in the output so far
		answered := 0                 // messages sent that the server answers in order
		for {
			msg, err := rd.ReadMsg()
			if err != nil {
				break
			}
			msg = bytes.Clone(msg)
			typ := msg[0]
			var bindName []byte
			var known *Stmt
			if typ == 'B' || typ == 'D' {
				body := msg[pgwire.HeaderSize:]
				if typ == 'D' && len(body) >= 2 && body[0] == 'S' {
					// A name without its NUL is malformed: forwarded as it is, for PostgreSQL to refuse (08P01).
					if name, _, found := bytes.Cut(body[1:], []byte{0}); found {
						bindName = name
					}
				} else if _, name, ok := bindNames(body); ok && typ == 'B' {
					bindName = name
				}
				known = tr.Lookup(bindName)
			}
			before := len(out)
			switch typ {
			case 'P', 'B', 'D', 'C', 'Q', 'F', 'S':
				var o Out
				if o, err = tr.Send(&reg, &sv, msg); err == nil {
					out = appendOut(out, o, msg)
				}
			default:
				out = append(out, msg...)
			}
			if err != nil {
				checkClientError(t, err)
				if typ != 'P' && typ != 'B' {
					t.Fatalf("message %q refused: %v", typ, err)
				}
				break
			}
			sent := splitMessages(t, out[before:])
			for _, m := range sent {
				switch m[0] {
				case 'P':
					name, _, _ := cstring(m[pgwire.HeaderSize:])
					prepared[name] = true
					answered++
				case 'C', 'S', 'Q', 'F':
					answered++
				}
			}
			if typ == 'B' || typ == 'D' {
				checkRewritten(t, msg, sent[len(sent)-1], bindName, known, prepared)
			}
		}
		if queued := tr.Awaited(); queued != answered {
			t.Fatalf("%d answers queued for %d messages sent that the server answers", queued, answered)
		}
	})
}

// checkClientError checks that err, refusing a client's message, is a protocol violation (08P01).
func checkClientError(t *testing.T, err error) {
	t.Helper()
	var pe *pgwire.Error
	if !errors.As(err, &pe) || pe.Code != pgerrcode.ProtocolViolation {
		t.Fatalf("refused with %v, want a *pgwire.Error 08P01", err)
	}
}

// splitMessages splits b into whole messages, failing on anything else.
func splitMessages(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var msgs [][]byte
	for len(b) > 0 {
		if len(b) < pgwire.HeaderSize {
			t.Fatalf("partial header %x sent to the server", b)
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		if n < 4 || 1+n > len(b) {
			t.Fatalf("message %q of length %d with %d bytes sent to the server", b[0], n, len(b))
		}
		msgs = append(msgs, b[:1+n])
		b = b[1+n:]
	}
	return msgs
}

// checkRewritten checks the Bind or Describe out sent for the client's in: the same type and bytes but
// for the statement name, which is the client's name (unnamed, or unknown) or known's server name, a
// statement prepared on the server before.
func checkRewritten(t *testing.T, in, out, name []byte, known *Stmt, prepared map[string]bool) {
	t.Helper()
	if out[0] != in[0] {
		t.Fatalf("%q sent as %q", in[0], out[0])
	}
	if known == nil || len(name) == 0 {
		if !bytes.Equal(in, out) {
			t.Fatalf("%q of statement %q (not the pooler's) rewritten: %x sent as %x", in[0], name, in, out)
		}
		return
	}
	want := []byte(known.serverName)
	if !prepared[known.serverName] || !strings.HasPrefix(known.serverName, ServerStmtPrefix) {
		t.Fatalf("%q of %q sent as %s, which is not prepared on the server", in[0], name, known.serverName)
	}
	rewritten := bytes.Replace(in[pgwire.HeaderSize:], append(append([]byte{0}, name...), 0), append(append([]byte{0}, want...), 0), 1)
	if in[0] == 'D' {
		rewritten = append(append([]byte{'S'}, want...), 0)
	}
	if !bytes.Equal(out[pgwire.HeaderSize:], rewritten) {
		t.Fatalf("%q of %q: %x sent as %x", in[0], name, in, out)
	}
}
