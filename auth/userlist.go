package auth

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SecretKind tells how a userlist secret is stored.
type SecretKind int

const (
	// SecretPlain is a clear-text password.
	SecretPlain SecretKind = iota
	// SecretMD5 is PostgreSQL's MD5 hash: "md5" followed by the hex of
	// md5(password + user name).
	SecretMD5
	// SecretSCRAM is a SCRAM-SHA-256 verifier as PostgreSQL stores it
	// (RFC 5803).
	SecretSCRAM
)

// String names the kind: "plain", "md5" or "SCRAM-SHA-256".
func (k SecretKind) String() string {
	switch k {
	case SecretPlain:
		return "plain"
	case SecretMD5:
		return "md5"
	case SecretSCRAM:
		return "SCRAM-SHA-256"
	}
	return "SecretKind(" + strconv.Itoa(int(k)) + ")"
}

// Secret is what a userlist holds for one user: the second field of its
// line. Exactly one of Plain, MD5 and SCRAM is meaningful, as Kind says.
// Printing a Secret with any fmt verb shows only its kind.
type Secret struct {
	Kind SecretKind
	// Plain is the password, for SecretPlain; it may be "".
	Plain string
	// MD5 is "md5" followed by 32 lower-case hex digits, for SecretMD5.
	MD5 string
	// SCRAM is the parsed verifier, for SecretSCRAM.
	SCRAM *SCRAMSecret
}

// String describes the secret without showing it, e.g.
// "plain secret (redacted)".
func (s Secret) String() string { return s.Kind.String() + " secret (redacted)" }

// Format prints s.String() whatever the verb, so that no fmt verb (%d,
// %#v, ...) can print the secret itself.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// SCRAMSecret is a parsed SCRAM-SHA-256 verifier,
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> with the last
// three in base64. Printing it with any fmt verb shows only its iteration
// count.
type SCRAMSecret struct {
	// Iterations is the PBKDF2 iteration count, at least 1.
	Iterations int
	// Salt is the PBKDF2 salt, not empty.
	Salt []byte
	// StoredKey is H(ClientKey), 32 bytes.
	StoredKey []byte
	// ServerKey is HMAC(SaltedPassword, "Server Key"), 32 bytes.
	ServerKey []byte
}

// clone returns a copy of s that shares no memory with it.
func (s *SCRAMSecret) clone() SCRAMSecret {
	return SCRAMSecret{
		Iterations: s.Iterations,
		Salt:       bytes.Clone(s.Salt),
		StoredKey:  bytes.Clone(s.StoredKey),
		ServerKey:  bytes.Clone(s.ServerKey),
	}
}

// String describes the verifier without showing its keys.
func (s SCRAMSecret) String() string {
	return "SCRAM-SHA-256 secret (redacted, " + strconv.Itoa(s.Iterations) + " iterations)"
}

// Format prints s.String() whatever the verb.
func (s SCRAMSecret) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// scramPrefix starts every SCRAM-SHA-256 secret.
const scramPrefix = "SCRAM-SHA-256$"

// Reasons a SCRAM secret is refused. They never quote the secret.
var (
	errSCRAMForm       = errors.New("not of the form SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")
	errSCRAMIterations = errors.New("the iteration count is not a whole number from 1 to 2147483647")
	errSCRAMSalt       = errors.New("the salt is not non-empty base64")
	errSCRAMStoredKey  = errors.New("StoredKey is not 32 bytes of base64")
	errSCRAMServerKey  = errors.New("ServerKey is not 32 bytes of base64")
)

// ParseSCRAMSecret parses a SCRAM-SHA-256 verifier in PostgreSQL's form,
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, the last three
// in standard padded base64. Its errors never include s.
func ParseSCRAMSecret(s string) (*SCRAMSecret, error) {
	sec, err := parseSCRAM(s)
	if err != nil {
		return nil, fmt.Errorf("malformed SCRAM-SHA-256 secret: %w", err)
	}
	return sec, nil
}

func parseSCRAM(s string) (*SCRAMSecret, error) {
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return nil, errSCRAMForm
	}
	iterSalt, keys, ok1 := strings.Cut(rest, "$")
	iter, salt, ok2 := strings.Cut(iterSalt, ":")
	stored, server, ok3 := strings.Cut(keys, ":")
	if !ok1 || !ok2 || !ok3 {
		return nil, errSCRAMForm
	}
	n, err := strconv.ParseInt(iter, 10, 32)
	if err != nil || n < 1 || iter[0] == '+' {
		return nil, errSCRAMIterations
	}
	sec := &SCRAMSecret{Iterations: int(n)}
	if sec.Salt = decodeBase64(salt, -1); len(sec.Salt) == 0 {
		return nil, errSCRAMSalt
	}
	if sec.StoredKey = decodeBase64(stored, sha256.Size); sec.StoredKey == nil {
		return nil, errSCRAMStoredKey
	}
	if sec.ServerKey = decodeBase64(server, sha256.Size); sec.ServerKey == nil {
		return nil, errSCRAMServerKey
	}
	return sec, nil
}

// decodeBase64 decodes standard padded base64 of want bytes (any length
// when want < 0); nil if s is not that.
func decodeBase64(s string, want int) []byte {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || (want >= 0 && len(b) != want) {
		return nil
	}
	return b
}

// Userlist is a parsed auth_file: user names and their secrets. It is not
// changed after it is loaded and is safe for concurrent use. A nil
// *Userlist is empty.
type Userlist struct {
	name    string
	secrets map[string]Secret
}

// Lookup returns the secret of user and whether the list has the user. The
// returned Secret is the caller's own copy.
func (u *Userlist) Lookup(user string) (Secret, bool) {
	if u == nil {
		return Secret{}, false
	}
	s, ok := u.secrets[user]
	if ok && s.SCRAM != nil {
		c := s.SCRAM.clone()
		s.SCRAM = &c
	}
	return s, ok
}

// Len returns the number of users in the list.
func (u *Userlist) Len() int {
	if u == nil {
		return 0
	}
	return len(u.secrets)
}

// String describes the list without its secrets: its file and size.
func (u *Userlist) String() string {
	return fmt.Sprintf("userlist %s (%d users)", fileLabel(u.fileName()), u.Len())
}

// Format prints u.String() whatever the verb.
func (u *Userlist) Format(f fmt.State, _ rune) { io.WriteString(f, u.String()) }

func (u *Userlist) fileName() string {
	if u == nil {
		return ""
	}
	return u.name
}

// LoadUserlist reads the auth_file at path; see [ParseUserlist].
func LoadUserlist(path string) (*Userlist, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	defer f.Close()
	return ParseUserlist(f, path)
}

// Reasons a userlist line is refused. They never quote the line.
const (
	reasonNoUser       = "expected a double-quoted user name at the start of the line"
	reasonOpenUser     = "the user name's closing double quote is missing"
	reasonNoSecret     = "expected a double-quoted secret after the user name"
	reasonOpenSecret   = "the secret's closing double quote is missing"
	reasonEmptyUser    = "the user name is empty"
	reasonNULUser      = "the user name contains a NUL byte"
	reasonNULSecret    = "the secret contains a NUL byte"
	reasonMD5          = `malformed md5 secret: "md5" must be followed by 32 hex digits`
	maxReportedProblem = 10
)

// ParseUserlist reads a PgBouncer auth_file (userlist.txt) from r. name is
// the file's name, used in error messages. The format, per PgBouncer
// doc/config.md "Authentication file format" and its loader:
//
//	"user" "secret" anything else on the line is ignored
//
// Each field is in double quotes, with "" standing for one double quote
// inside it. Blank lines and lines whose first non-blank character is ';'
// or '#' are skipped. The secret is a plain password, "md5" and 32 hex
// digits, or a SCRAM-SHA-256 verifier (see [ParseSCRAMSecret]). When a
// user appears twice, the later line wins, as in PgBouncer.
//
// Unlike PgBouncer, which stops reading at the first broken line and keeps
// what it read so far, ParseUserlist refuses the whole file: it returns an
// error naming file:line for every malformed line (the first ten), and no
// Userlist. A field must end on the line it starts on. Errors never
// include a secret.
func ParseUserlist(r io.Reader, name string) (*Userlist, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fileLabel(name), err)
	}
	u := &Userlist{name: name, secrets: make(map[string]Secret)}
	var errs []error
	bad := 0
	for i, line := range bytes.Split(data, []byte("\n")) {
		user, secret, reason := parseUserlistLine(line)
		if reason == "" && user != nil {
			var s Secret
			if s, reason = classify(*secret); reason == "" {
				u.secrets[*user] = s
			}
		}
		if reason == "" {
			continue
		}
		if bad++; bad <= maxReportedProblem {
			errs = append(errs, fmt.Errorf("%s:%d: %s", fileLabel(name), i+1, reason))
		}
	}
	if bad > maxReportedProblem {
		errs = append(errs, fmt.Errorf("%s: %d more malformed lines", fileLabel(name), bad-maxReportedProblem))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return u, nil
}

// fileLabel is how error messages name a userlist.
func fileLabel(name string) string {
	if name == "" {
		return "userlist"
	}
	return name
}

// parseUserlistLine splits one line into its user name and secret, both
// unquoted. It returns nil fields for a blank or comment line and a reason
// for a malformed one.
func parseUserlistLine(line []byte) (user, secret *string, reason string) {
	i := 0
	for i < len(line) && isCSpace(line[i]) {
		i++
	}
	if i == len(line) || line[i] == ';' || line[i] == '#' {
		return nil, nil, ""
	}
	if line[i] != '"' {
		return nil, nil, reasonNoUser
	}
	u, next, ok := unquoteField(line, i+1)
	if !ok {
		return nil, nil, reasonOpenUser
	}
	// Like PgBouncer, skip whatever stands before the next quote.
	open := bytes.IndexByte(line[next:], '"')
	if open < 0 {
		return nil, nil, reasonNoSecret
	}
	s, _, ok := unquoteField(line, next+open+1)
	if !ok {
		return nil, nil, reasonOpenSecret
	}
	switch {
	case u == "":
		return nil, nil, reasonEmptyUser
	case strings.IndexByte(u, 0) >= 0:
		return nil, nil, reasonNULUser
	case strings.IndexByte(s, 0) >= 0:
		return nil, nil, reasonNULSecret
	}
	return &u, &s, ""
}

// unquoteField reads a quoted field whose opening quote is just before
// start: "" inside it is one quote, a lone " ends it. It returns the
// field, the index after the closing quote, and false if the line ends
// first.
func unquoteField(line []byte, start int) (string, int, bool) {
	var b strings.Builder
	for i := start; i < len(line); i++ {
		if line[i] != '"' {
			b.WriteByte(line[i])
			continue
		}
		if i+1 < len(line) && line[i+1] == '"' {
			b.WriteByte('"')
			i++
			continue
		}
		return b.String(), i + 1, true
	}
	return "", 0, false
}

// isCSpace is C's isspace in the C locale, which PgBouncer's loader uses.
func isCSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// classify tells a plain password from an md5 hash and a SCRAM verifier.
// ParseSecret classifies a secret as stored in pg_authid.rolpassword, returned by auth_query or written in
// auth_file: "SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>", "md5" and 32 hex digits, or
// else a plain password. A value that starts like a hash but is not a valid one is an error, which never
// quotes the value.
func ParseSecret(s string) (Secret, error) {
	sec, reason := classify(s)
	if reason != "" {
		return Secret{}, errors.New(reason)
	}
	return sec, nil
}

// A secret that starts like a hash but is not a valid one is refused
// rather than taken as a plain password (which PostgreSQL would do):
// a truncated hash is a mistake, not a password.
func classify(s string) (Secret, string) {
	switch {
	case strings.HasPrefix(s, scramPrefix):
		sec, err := ParseSCRAMSecret(s)
		if err != nil {
			return Secret{}, err.Error()
		}
		return Secret{Kind: SecretSCRAM, SCRAM: sec}, ""
	case strings.HasPrefix(s, "md5") && len(s) == 35:
		if !isHex(s[3:]) {
			return Secret{}, reasonMD5
		}
		return Secret{Kind: SecretMD5, MD5: strings.ToLower(s)}, ""
	}
	return Secret{Kind: SecretPlain, Plain: s}, ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
