package auth

import (
	"bytes"
	"io/fs"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// hbaFuzzErrorLine is what every line of a ParseHBA error must look like
// in FuzzParseHBA: a file it read, a line number unless the problem is
// about the whole file, and the problem, on one line.
var hbaFuzzErrorLine = regexp.MustCompile(`^(fuzz\.conf|users|nested|loop)(:[1-9][0-9]*)?: [^\n]+$`)

// FuzzParseHBA parses an hba file and an @file ("users", also reached
// through "nested"; "loop" names itself) and checks that parsing never
// panics; that an error comes without an HBA and names file:line on each of
// its lines; and that a parsed file holds only well-formed rules, which
// print back to lines that parse to the same rules, and which Match can
// try against a few requests.
func FuzzParseHBA(f *testing.F) {
	f.Add([]byte("local all postgres trust\nhost all all 10.0.0.0/8 md5\n"), []byte("alice bob\n"))
	f.Add([]byte("hostssl \"all\",sales +admins,@users ::1/128 cert # c\n"), []byte("# users\n\"carol\", +ops\n"))
	f.Add([]byte("host sameuser,samerole all 10.0.0.0 255.0.0.0 scram-sha-256\r\nhostnossl replication all all reject"), []byte(""))
	f.Add([]byte("host all @nested \\\n ::ffff:10.0.0.0/104 password\n"), []byte("x,y\\\n z"))
	f.Add([]byte("host all @loop all md5\nhost all all samehost md5\nlocal all all peer\n"), []byte("@loop"))
	f.Add([]byte("host a\"b c\"d,al\"l\" x\"+\"y 1.2.3.4/32 trust\ninclude x\n"), []byte("\"unterminated\n"))
	f.Add([]byte("host all all all md5 clientcert=verify-ca\nhost ,a,,b all all md5,\n\"\" \x00"), []byte("/regex"))
	f.Add([]byte("host all all fe80::1%eth0 ffff:: md5\nhost all all 10.0.0.0 255.0.255.0 md5"), []byte("@"))

	files := func(users []byte) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			switch name {
			case "users":
				return users, nil
			case "nested":
				return []byte("@users, nested_user\n"), nil
			case "loop":
				return []byte("@loop\n"), nil
			}
			return nil, fs.ErrNotExist
		}
	}
	member := func(user, role string) bool { return len(user)%2 == len(role)%2 }
	requests := []HBARequest{
		{Local: true, Database: "postgres", User: "postgres"},
		{Addr: netip.MustParseAddr("10.1.2.3"), Database: "sales", User: "alice"},
		{Addr: netip.MustParseAddr("::ffff:10.1.2.3"), TLS: true, Database: "all", User: "all"},
		{Addr: netip.MustParseAddr("::1"), Database: "x", User: "x"},
		{Addr: netip.MustParseAddr("fe80::1%eth0"), Database: "+ops", User: "+ops"},
		{Database: "a\"b", User: "my role"},
	}

	f.Fuzz(func(t *testing.T, hba, users []byte) {
		h, err := ParseHBA(bytes.NewReader(hba), "fuzz.conf", files(users))
		if err != nil {
			if h != nil {
				t.Fatal("returned an HBA with an error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !hbaFuzzErrorLine.MatchString(line) {
					t.Fatalf("error line %q does not name file:line", line)
				}
			}
			return
		}
		var text []string
		for i, r := range h.Rules {
			checkHBARule(t, r)
			text = append(text, r.text())
			if i > 0 && r.Line <= h.Rules[i-1].Line {
				t.Fatalf("rules out of order: line %d after %d", r.Line, h.Rules[i-1].Line)
			}
		}
		again, err := ParseHBA(strings.NewReader(strings.Join(text, "\n")), "fuzz.conf", nil)
		if err != nil {
			t.Fatalf("printed rules do not parse: %v\n%s", err, strings.Join(text, "\n"))
		}
		if len(again.Rules) != len(h.Rules) {
			t.Fatalf("printed rules parse to %d rules, not %d", len(again.Rules), len(h.Rules))
		}
		for i := range h.Rules {
			a, b := h.Rules[i], again.Rules[i]
			a.Line, b.Line = 0, 0
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("rule %d printed as %q parses back as\n%#v\nnot\n%#v", i, text[i], b, a)
			}
		}
		for _, req := range requests {
			for _, m := range []func(string, string) bool{nil, member} {
				r, ok := h.Match(req, m)
				if ok != (r != nil) {
					t.Fatalf("Match returned %v, %v", r, ok)
				}
			}
		}
		_ = h.String()
	})
}

// checkHBARule checks that a parsed rule is one HBARule documents.
func checkHBARule(t *testing.T, r HBARule) {
	t.Helper()
	if r.File != "fuzz.conf" || r.Line < 1 {
		t.Fatalf("rule at %s:%d", r.File, r.Line)
	}
	switch r.Type {
	case "local":
		if r.AllAddrs || r.Prefix.IsValid() {
			t.Fatalf("local rule with an address: %v", r)
		}
	case "host", "hostssl", "hostnossl":
		if r.AllAddrs == r.Prefix.IsValid() {
			t.Fatalf("host rule needs exactly one of AllAddrs and Prefix: %#v", r)
		}
		if r.Prefix.IsValid() && (r.Prefix != r.Prefix.Masked() || r.Prefix.Addr().Zone() != "" ||
			r.Prefix.Addr().Is4In6() && r.Prefix.Bits() >= 96) {
			t.Fatalf("prefix %v not in canonical form", r.Prefix)
		}
	default:
		t.Fatalf("type %q", r.Type)
	}
	switch r.Method {
	case "trust", "reject", "md5", "scram-sha-256", "password":
	case "cert":
		if r.Type != "hostssl" {
			t.Fatalf("cert on a %s rule", r.Type)
		}
	default:
		t.Fatalf("method %q", r.Method)
	}
	if len(r.Databases) == 0 || len(r.Users) == 0 {
		t.Fatalf("empty column: %#v", r)
	}
	for _, names := range [][]string{r.Databases, r.Users} {
		for _, n := range names {
			if n == "" || strings.HasPrefix(n, "@") || strings.HasPrefix(n, "/") {
				t.Fatalf("name %q in %#v", n, r)
			}
		}
	}
	for _, n := range r.Users {
		if n == "+" || n == "+\"\"" {
			t.Fatalf("role without a name in %#v", r)
		}
	}
}
