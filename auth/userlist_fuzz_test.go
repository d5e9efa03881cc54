package auth

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

// userlistMessages are all the reasons ParseUserlist gives; an error line
// is "fuzz.txt:N: " and one of them, or the count of lines not shown.
var userlistMessages = []string{
	reasonNoUser, reasonOpenUser, reasonNoSecret, reasonOpenSecret,
	reasonEmptyUser, reasonNULUser, reasonNULSecret, reasonMD5,
	"malformed SCRAM-SHA-256 secret: " + errSCRAMForm.Error(),
	"malformed SCRAM-SHA-256 secret: " + errSCRAMIterations.Error(),
	"malformed SCRAM-SHA-256 secret: " + errSCRAMSalt.Error(),
	"malformed SCRAM-SHA-256 secret: " + errSCRAMStoredKey.Error(),
	"malformed SCRAM-SHA-256 secret: " + errSCRAMServerKey.Error(),
}

var userlistErrorLine = func() *regexp.Regexp {
	quoted := make([]string, len(userlistMessages))
	for i, m := range userlistMessages {
		quoted[i] = regexp.QuoteMeta(m)
	}
	return regexp.MustCompile(`^fuzz\.txt(:[0-9]+: (` + strings.Join(quoted, "|") + `)|: [0-9]+ more malformed lines)$`)
}()

// messageBytes are the bytes that can appear in an error message.
var messageBytes = func() [256]bool {
	var set [256]bool
	for _, b := range []byte(strings.Join(userlistMessages, "") + "fuzz.txt: 0123456789 more malformed lines") {
		set[b] = true
	}
	return set
}()

// quoteField writes s as a userlist field.
func quoteField(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// FuzzParseUserlist parses a line "user" "secret" followed by arbitrary
// lines, and checks that parsing never panics, that error messages are
// made only of fixed text (so no secret can leak into them), that a long
// secret never shows in them, and that a line that parses is found again.
func FuzzParseUserlist(f *testing.F) {
	f.Add("alice", "wonderland", []byte(nil))
	f.Add("bob", "md545f2603610af569b6155c45067268c6b", []byte("; comment\n\"carol\" \"pw\"\n"))
	f.Add("carol", "SCRAM-SHA-256$4096:c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", []byte(nil))
	f.Add("dave", "SCRAM-SHA-256$4096:!!$x:y", []byte("\"unterminated"))
	f.Add("e\"ve", "pa\"ss word", []byte("\"x\"\n\n#\n\"\" \"y\""))
	f.Add("", "md5zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", []byte("\x00\"\r\n"))

	f.Fuzz(func(t *testing.T, user, secret string, rest []byte) {
		// Arbitrary bytes on their own must not panic either.
		ParseUserlist(bytes.NewReader(rest), "fuzz.txt")

		input := quoteField(user) + " " + quoteField(secret)
		if len(rest) > 0 {
			input += "\n" + string(rest)
		}
		u, err := ParseUserlist(strings.NewReader(input), "fuzz.txt")
		if err != nil {
			if u != nil {
				t.Fatal("returned a Userlist with an error")
			}
			msg := err.Error()
			for _, line := range strings.Split(msg, "\n") {
				if !userlistErrorLine.MatchString(line) {
					t.Fatalf("error line %q is not made of fixed text", line)
				}
			}
			if len(secret) >= 8 && strings.Contains(msg, secret) && !onlyMessageBytes(secret) {
				t.Fatalf("error shows the secret: %q", msg)
			}
			return
		}
		for _, name := range []string{user, "nobody"} {
			if s, ok := u.Lookup(name); ok {
				if str := s.String(); str != s.Kind.String()+" secret (redacted)" {
					t.Fatalf("Secret.String() = %q", str)
				}
			}
		}
		if len(rest) > 0 {
			return // a later line may name the same user
		}
		s, ok := u.Lookup(user)
		if !ok || u.Len() != 1 {
			t.Fatalf("parsed without error but Lookup(%q) = %v, Len() = %d", user, ok, u.Len())
		}
		switch s.Kind {
		case SecretPlain:
			if s.Plain != secret {
				t.Fatalf("plain secret changed in parsing")
			}
		case SecretMD5:
			if s.MD5 != strings.ToLower(secret) {
				t.Fatalf("md5 secret changed in parsing")
			}
		case SecretSCRAM:
			if s.SCRAM == nil || s.SCRAM.Iterations < 1 || len(s.SCRAM.StoredKey) != 32 || len(s.SCRAM.ServerKey) != 32 {
				t.Fatalf("bad SCRAM secret %+v", s.SCRAM)
			}
		default:
			t.Fatalf("unknown kind %v", s.Kind)
		}
	})
}

// onlyMessageBytes reports whether every byte of s can occur in an error
// message anyway, so that finding s in one proves nothing.
func onlyMessageBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if !messageBytes[s[i]] {
			return false
		}
	}
	return true
}
