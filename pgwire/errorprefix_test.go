package pgwire

import (
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgproto3"
)

// TestErrorPrefix: the fields of an ErrorResponse's first bytes decode, the last one cut where the bytes
// end, wherever they end.
func TestErrorPrefix(t *testing.T) {
	msg := `invalid input syntax for type integer: "` + strings.Repeat("x", 100) + `"`
	full, err := (&pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "22P02",
		Message: msg, Detail: "d"}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	body := full[HeaderSize:]
	for n := 0; n <= len(body); n++ {
		var er pgproto3.ErrorResponse
		p := ErrorPrefix(body[:n])
		if len(p) > n+HeaderSize+2 || p[0] != 'E' || int(p[1])<<24|int(p[2])<<16|int(p[3])<<8|int(p[4]) != len(p)-1 {
			t.Fatalf("ErrorPrefix of %d bytes: %q", n, p)
		}
		if err := er.Decode(p[HeaderSize:]); err != nil {
			t.Fatalf("ErrorPrefix of %d bytes: %q does not decode: %v", n, p, err)
		}
		switch {
		case n == len(body):
			if er.Code != "22P02" || er.Detail != "d" || er.Message != msg {
				t.Fatalf("the whole body: %+v", er)
			}
		case n >= 21: // "SERROR\0VERROR\0C22P02\0" and more
			if er.Code != "22P02" || er.Severity != "ERROR" || !strings.HasPrefix(msg, er.Message) {
				t.Fatalf("%d bytes: %+v", n, er)
			}
		}
	}
}
