package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
)

// scramFor builds the SCRAM-SHA-256 verifier PostgreSQL would store for
// password, with the keys it holds.
func scramFor(t testing.TB, password string, salt []byte, iterations int) (secret string, storedKey, serverKey []byte) {
	t.Helper()
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	server := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	secret = fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, b64(salt), b64(stored[:]), b64(server))
	return secret, stored[:], server
}

func parse(t *testing.T, text string) *Userlist {
	t.Helper()
	u, err := ParseUserlist(strings.NewReader(text), "userlist.txt")
	if err != nil {
		t.Fatalf("ParseUserlist: %v", err)
	}
	return u
}

func TestParseUserlist(t *testing.T) {
	scram, stored, server := scramFor(t, "pencil", []byte("0123456789abcdef"), 4096)
	text := strings.Join([]string{
		`; a comment`,
		`# another comment`,
		`   ; indented comment`,
		``,
		"\t  ",
		`"alice" "wonderland"`,
		`"bob" "md545f2603610af569b6155c45067268c6b"`,
		`"carol" "` + scram + `"`,
		`  "dave"   "dave's pass" "extra field" and more ; ignored`,
		`"eve""quote" "pa""ss"`, // "" is an escaped quote
		"\"crlf\" \"secret\"\r", // Windows line ending
		`"upper" "md545F2603610AF569B6155C45067268C6B"`,
		`"empty" ""`,
		`"gap"xyz"between"`,     // PgBouncer skips anything before the second quote
		`"alice" "second wins"`, // a repeated user: the later line wins
		`"semi;colon" "#hash"`,
	}, "\n")
	u := parse(t, text)

	want := map[string]Secret{
		"alice":      {Kind: SecretPlain, Plain: "second wins"},
		"bob":        {Kind: SecretMD5, MD5: "md545f2603610af569b6155c45067268c6b"},
		"carol":      {Kind: SecretSCRAM, SCRAM: &SCRAMSecret{Iterations: 4096, Salt: []byte("0123456789abcdef"), StoredKey: stored, ServerKey: server}},
		"dave":       {Kind: SecretPlain, Plain: "dave's pass"},
		`eve"quote`:  {Kind: SecretPlain, Plain: `pa"ss`},
		"crlf":       {Kind: SecretPlain, Plain: "secret"},
		"upper":      {Kind: SecretMD5, MD5: "md545f2603610af569b6155c45067268c6b"},
		"empty":      {Kind: SecretPlain, Plain: ""},
		"gap":        {Kind: SecretPlain, Plain: "between"},
		"semi;colon": {Kind: SecretPlain, Plain: "#hash"},
	}
	if u.Len() != len(want) {
		t.Errorf("Len() = %d, want %d", u.Len(), len(want))
	}
	for user, w := range want {
		got, ok := u.Lookup(user)
		if !ok {
			t.Errorf("Lookup(%q): missing", user)
			continue
		}
		if !sameSecret(got, w) {
			t.Errorf("Lookup(%q) = kind %v plain %q md5 %q scram %+v, want kind %v plain %q md5 %q scram %+v",
				user, got.Kind, got.Plain, got.MD5, scramFields(got.SCRAM), w.Kind, w.Plain, w.MD5, scramFields(w.SCRAM))
		}
	}
	if _, ok := u.Lookup("nobody"); ok {
		t.Error(`Lookup("nobody") found a user`)
	}
}

func sameSecret(a, b Secret) bool {
	if a.Kind != b.Kind || a.Plain != b.Plain || a.MD5 != b.MD5 || (a.SCRAM == nil) != (b.SCRAM == nil) {
		return false
	}
	if a.SCRAM == nil {
		return true
	}
	return a.SCRAM.Iterations == b.SCRAM.Iterations && bytes.Equal(a.SCRAM.Salt, b.SCRAM.Salt) &&
		bytes.Equal(a.SCRAM.StoredKey, b.SCRAM.StoredKey) && bytes.Equal(a.SCRAM.ServerKey, b.SCRAM.ServerKey)
}

// scramFields shows a verifier's fields in test failures, which String hides.
func scramFields(s *SCRAMSecret) string {
	if s == nil {
		return "nil"
	}
	return fmt.Sprintf("{%d %x %x %x}", s.Iterations, s.Salt, s.StoredKey, s.ServerKey)
}

func TestParseUserlistEmpty(t *testing.T) {
	for _, text := range []string{"", "\n\n", "; only comments\n# here\n"} {
		if u := parse(t, text); u.Len() != 0 {
			t.Errorf("ParseUserlist(%q).Len() = %d, want 0", text, u.Len())
		}
	}
}

func TestParseUserlistErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"no quote", "alice \"pw\"", "userlist.txt:1: " + reasonNoUser},
		{"unterminated user", "\"alice pw", "userlist.txt:1: " + reasonOpenUser},
		{"one field only", "\"alice\"", "userlist.txt:1: " + reasonNoSecret},
		{"one field, trailing text", "\"alice\" pw", "userlist.txt:1: " + reasonNoSecret},
		{"unterminated secret", "\"alice\" \"pw", "userlist.txt:1: " + reasonOpenSecret},
		{"secret split over lines", "\"alice\" \"pw\nrest\"", "userlist.txt:1: " + reasonOpenSecret + "\nuserlist.txt:2: " + reasonNoUser},
		{"field on the next line", "\"alice\"\n\"pw\"", "userlist.txt:1: " + reasonNoSecret + "\nuserlist.txt:2: " + reasonNoSecret},
		{"empty user", "\"\" \"pw\"", "userlist.txt:1: " + reasonEmptyUser},
		{"NUL in user", "\"al\x00ice\" \"pw\"", "userlist.txt:1: " + reasonNULUser},
		{"NUL in secret", "\"alice\" \"p\x00w\"", "userlist.txt:1: " + reasonNULSecret},
		{"md5 not hex", "\"alice\" \"md5zzf2603610af569b6155c45067268c6b\"", "userlist.txt:1: " + reasonMD5},
		{"bad SCRAM", "\"alice\" \"SCRAM-SHA-256$4096:c2FsdA==$nope\"", "userlist.txt:1: malformed SCRAM-SHA-256 secret: " + errSCRAMForm.Error()},
		{"line numbers", "; comment\n\"ok\" \"pw\"\n\n\"bad", "userlist.txt:4: " + reasonOpenUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUserlist(strings.NewReader(tc.text), "userlist.txt")
			if err == nil || err.Error() != tc.want {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.want)
			}
			if u != nil {
				t.Errorf("returned a Userlist with its error")
			}
		})
	}
}

func TestParseUserlistManyErrors(t *testing.T) {
	text := strings.Repeat("broken\n", 13)
	_, err := ParseUserlist(strings.NewReader(text), "users.txt")
	lines := strings.Split(fmt.Sprint(err), "\n")
	if len(lines) != 11 || lines[9] != "users.txt:10: "+reasonNoUser || lines[10] != "users.txt: 3 more malformed lines" {
		t.Errorf("error:\n%v", err)
	}
}

func TestParseUserlistReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseUserlist(iotest.ErrReader(boom), "users.txt")
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "users.txt: ") {
		t.Errorf("error %v, want users.txt: boom", err)
	}
	_, err = ParseUserlist(strings.NewReader("x"), "")
	if err == nil || !strings.HasPrefix(err.Error(), "userlist:1: ") {
		t.Errorf("unnamed error %v, want it to start userlist:1:", err)
	}
}

// TestUserlistErrorsHideSecrets checks that no error quotes the secret
// field, whatever is wrong with the line.
func TestUserlistErrorsHideSecrets(t *testing.T) {
	const secret = "TopSecretPassword123"
	for _, line := range []string{
		`"alice" "` + secret,                                    // unterminated
		`"alice" "SCRAM-SHA-256$` + secret + `"`,                // bad SCRAM
		`"alice" "SCRAM-SHA-256$4096:` + secret + `$AAAA:AAAA"`, // bad salt
		`"alice" "md5` + secret + `TopSecretPas"`,               // bad md5, 35 bytes
		`"" "` + secret + `"`,                                   // empty user
		`"a` + "\x00" + `" "` + secret + `"`,                    // NUL in user
		`"` + secret + `"`,                                      // one field
		secret,                                                  // no quotes
		`"alice" "` + secret + "\x00" + `"`,                     // NUL in secret
		`"alice" "SCRAM-SHA-256$4096:c2FsdA==$` + secret + `:` + secret + `"`, // bad keys
	} {
		_, err := ParseUserlist(strings.NewReader(line), "users.txt")
		if err == nil {
			t.Errorf("%q: no error", line)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "TopSecret") {
			t.Errorf("error shows the secret: %v", err)
		}
	}
}

func TestSecretPrintingIsRedacted(t *testing.T) {
	const pw = "hunter2-is-my-password"
	scram, _, _ := scramFor(t, pw, []byte("salt-salt-salt"), 4096)
	u := parse(t, `"p" "`+pw+`"`+"\n"+`"m" "md545f2603610af569b6155c45067268c6b"`+"\n"+`"s" "`+scram+`"`)
	p, _ := u.Lookup("p")
	m, _ := u.Lookup("m")
	s, _ := u.Lookup("s")
	forbidden := []string{pw, "45f2603610af569b6155c45067268c6b", scram[len("SCRAM-SHA-256$4096:"):][:10],
		fmt.Sprintf("%x", s.SCRAM.StoredKey[:8]), fmt.Sprintf("%v", s.SCRAM.ServerKey[:4])}
	for _, v := range []any{p, m, s, &p, s.SCRAM, *s.SCRAM, u, []Secret{p}, map[string]Secret{"p": p}, struct{ S Secret }{p}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%T %v"} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Errorf("Sprintf(%q, %T) = %q shows a secret", verb, v, out)
				}
			}
		}
	}
	for _, tc := range []struct {
		s    Secret
		want string
	}{{p, "plain secret (redacted)"}, {m, "md5 secret (redacted)"}, {s, "SCRAM-SHA-256 secret (redacted)"}} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
	if got := fmt.Sprint(u); got != "userlist userlist.txt (3 users)" {
		t.Errorf("Userlist prints as %q", got)
	}
}

func TestLookupReturnsACopy(t *testing.T) {
	scram, stored, _ := scramFor(t, "pw", []byte("salty"), 10)
	u := parse(t, `"s" "`+scram+`"`)
	a, _ := u.Lookup("s")
	a.SCRAM.StoredKey[0] ^= 0xff
	a.SCRAM.Iterations = 1
	b, _ := u.Lookup("s")
	if !bytes.Equal(b.SCRAM.StoredKey, stored) || b.SCRAM.Iterations != 10 {
		t.Error("changing a looked-up secret changed the userlist")
	}
}

func TestNilUserlist(t *testing.T) {
	var u *Userlist
	if _, ok := u.Lookup("x"); ok || u.Len() != 0 {
		t.Error("nil Userlist is not empty")
	}
	if got := u.String(); got != "userlist userlist (0 users)" {
		t.Errorf("nil Userlist prints as %q", got)
	}
}

func TestLoadUserlist(t *testing.T) {
	path := filepath.Join(t.TempDir(), "userlist.txt")
	if err := os.WriteFile(path, []byte(`"alice" "pw"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := LoadUserlist(path)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := u.Lookup("alice"); !ok || s.Plain != "pw" {
		t.Errorf("Lookup(alice) = %v, %v", s, ok)
	}
	if err := os.WriteFile(path, []byte(`"alice" "pw`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadUserlist(path); err == nil || !strings.HasPrefix(err.Error(), path+":1: ") {
		t.Errorf("LoadUserlist(broken) = %v, want an error naming %s:1", err, path)
	}
	if _, err := LoadUserlist(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadUserlist(missing) = %v, want ErrNotExist", err)
	}
}

func TestParseSCRAMSecret(t *testing.T) {
	secret, stored, server := scramFor(t, "pencil", []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 4096)
	s, err := ParseSCRAMSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	if s.Iterations != 4096 || len(s.Salt) != 16 || !bytes.Equal(s.StoredKey, stored) || !bytes.Equal(s.ServerKey, server) {
		t.Errorf("ParseSCRAMSecret = %s", scramFields(s))
	}
}

func TestParseSCRAMSecretErrors(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(make([]byte, 32))
	short := base64.StdEncoding.EncodeToString(make([]byte, 31))
	for _, tc := range []struct {
		in   string
		want error
	}{
		{"", errSCRAMForm},
		{"scram-sha-256$4096:c2FsdA==$" + key + ":" + key, errSCRAMForm},
		{"SCRAM-SHA-1$4096:c2FsdA==$" + key + ":" + key, errSCRAMForm},
		{"SCRAM-SHA-256$4096:c2FsdA==", errSCRAMForm},
		{"SCRAM-SHA-256$4096c2FsdA==$" + key + ":" + key, errSCRAMForm},
		{"SCRAM-SHA-256$4096:c2FsdA==$" + key + key, errSCRAMForm},
		{"SCRAM-SHA-256$0:c2FsdA==$" + key + ":" + key, errSCRAMIterations},
		{"SCRAM-SHA-256$-1:c2FsdA==$" + key + ":" + key, errSCRAMIterations},
		{"SCRAM-SHA-256$+5:c2FsdA==$" + key + ":" + key, errSCRAMIterations},
		{"SCRAM-SHA-256$abc:c2FsdA==$" + key + ":" + key, errSCRAMIterations},
		{"SCRAM-SHA-256$4294967296:c2FsdA==$" + key + ":" + key, errSCRAMIterations},
		{"SCRAM-SHA-256$4096:$" + key + ":" + key, errSCRAMSalt},
		{"SCRAM-SHA-256$4096:c2FsdA$" + key + ":" + key, errSCRAMSalt}, // no padding
		{"SCRAM-SHA-256$4096:c2FsdA==$" + short + ":" + key, errSCRAMStoredKey},
		{"SCRAM-SHA-256$4096:c2FsdA==$!!!!:" + key, errSCRAMStoredKey},
		{"SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + short, errSCRAMServerKey},
		{"SCRAM-SHA-256$4096:c2FsdA==$" + key + ":" + key + "$", errSCRAMServerKey},
	} {
		s, err := ParseSCRAMSecret(tc.in)
		if !errors.Is(err, tc.want) || s != nil {
			t.Errorf("ParseSCRAMSecret(%q) = %v, %v; want %v", tc.in, s, err, tc.want)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "malformed SCRAM-SHA-256 secret: ") {
			t.Errorf("error %q lacks its prefix", err)
		}
	}
}

func TestSecretKindString(t *testing.T) {
	for k, want := range map[SecretKind]string{SecretPlain: "plain", SecretMD5: "md5", SecretSCRAM: "SCRAM-SHA-256", 7: "SecretKind(7)"} {
		if got := k.String(); got != want {
			t.Errorf("SecretKind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
