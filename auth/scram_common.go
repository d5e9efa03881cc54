package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
)

// SASL mechanism names of SCRAM-SHA-256 (RFC 7677) and its channel-binding
// variant, as PostgreSQL advertises them in AuthenticationSASL.
const (
	MechSCRAMSHA256     = "SCRAM-SHA-256"
	MechSCRAMSHA256Plus = "SCRAM-SHA-256-PLUS"
)

// Errors of a SCRAM exchange. Every error the SCRAM code returns wraps
// exactly one of them (test with errors.Is); the text after it names the
// cause and never contains a password, key, proof or secret.
var (
	// ErrSCRAMProtocol: a message is malformed, too long, out of order, has
	// the wrong nonce, or the channel-binding negotiation is wrong (an
	// unsupported mechanism or binding type, a downgrade attempt). The
	// caller answers SQLSTATE 08P01 (protocol_violation), as PostgreSQL does.
	ErrSCRAMProtocol = errors.New("SCRAM protocol violation")
	// ErrSCRAMAuth: the proof is wrong (a wrong password), the exchange was
	// a mock one (unknown user), the channel-binding data does not match
	// the TLS connection, or, on the client side, the server's signature is
	// wrong or the server sent "e=". The caller answers SQLSTATE 28P01
	// (invalid_password).
	ErrSCRAMAuth = errors.New("SCRAM authentication failed")
	// ErrSCRAMSecretMismatch: on the client side, the server's salt or
	// iteration count differs from the secret's (the password was changed
	// on the server), or the ClientKey or secret given is not usable. No
	// proof has been computed.
	ErrSCRAMSecretMismatch = errors.New("SCRAM secret does not match the server's")
	// ErrSCRAMChannelBinding: the client bound the exchange to another TLS
	// connection than this one (a man in the middle terminated TLS). It
	// wraps ErrSCRAMAuth; PostgreSQL answers SQLSTATE 28000 "SCRAM channel
	// binding check failed" (auth-scram.c, read_client_final_message).
	ErrSCRAMChannelBinding = fmt.Errorf("%w: SCRAM channel binding check failed", ErrSCRAMAuth)
	// ErrSCRAMIterations: a server-first-message asks for more PBKDF2
	// iterations than [MaxSCRAMIterations]. It wraps ErrSCRAMProtocol; the
	// caller answers SQLSTATE 08P01 and computes nothing.
	ErrSCRAMIterations = fmt.Errorf("%w: SCRAM iteration count over the limit", ErrSCRAMProtocol)
)

// MaxSCRAMIterations is the largest PBKDF2 iteration count the pooler
// computes a SaltedPassword with, for a SCRAM login to a server with a
// password and for checking a cleartext password against a SCRAM secret.
// A server (or an auth_query answer) can otherwise ask for up to 2^31-1
// iterations, minutes of CPU per login that no deadline interrupts.
// PostgreSQL's default (scram_iterations) is 4096, libpq and PgBouncer
// 1.25 set no limit; one million is 244 times the default and above
// OWASP's 600,000 for PBKDF2-HMAC-SHA256, so any count chosen for safety
// still works, and costs about 0.3 s of one core.
const MaxSCRAMIterations = 1_000_000

// ServerFirstIterations returns the iteration count of a
// server-first-message, "r=<nonce>,s=<salt>,i=<iterations>[,extensions]"
// (RFC 5802 §7), for a client that is about to compute PBKDF2 with it. It
// fails with [ErrSCRAMProtocol] for a message that is empty, longer than
// 4096 bytes or malformed, and with [ErrSCRAMIterations] (naming the
// count and the limit) for a count over [MaxSCRAMIterations].
func ServerFirstIterations(serverFirst []byte) (int, error) {
	msg, err := checkMessage(serverFirst, "server-first-message")
	if err != nil {
		return 0, err
	}
	_, _, n, err := parseServerFirst(msg)
	if err != nil {
		return 0, err
	}
	if n > MaxSCRAMIterations {
		return 0, fmt.Errorf("%w: the server asks for %d iterations, more than the limit of %d", ErrSCRAMIterations, n, MaxSCRAMIterations)
	}
	return n, nil
}

const (
	// scramKeyLen is the length of SHA-256 keys and proofs.
	scramKeyLen = sha256.Size
	// scramMaxMessage bounds every SCRAM message, in bytes. Real messages
	// are under 300 bytes; PostgreSQL itself accepts up to 64 kB.
	scramMaxMessage = 4096
	// scramServerNonceLen is the random bytes of a server nonce, as in
	// PostgreSQL (SCRAM_RAW_NONCE_LEN).
	scramServerNonceLen = 18
	// scramClientNonceLen is the random bytes of a client nonce.
	scramClientNonceLen = 24
	// scramMockSaltLen and scramMockIterations are PostgreSQL's defaults
	// (SCRAM_DEFAULT_SALT_LEN, scram_iterations), which a mock exchange
	// shows.
	scramMockSaltLen    = 16
	scramMockIterations = 4096
)

// protocolError wraps ErrSCRAMProtocol with a detail.
func protocolError(detail string) error {
	return fmt.Errorf("%w: %s", ErrSCRAMProtocol, detail)
}

// authError wraps ErrSCRAMAuth with a detail.
func authError(detail string) error {
	return fmt.Errorf("%w: %s", ErrSCRAMAuth, detail)
}

// checkMessage returns msg as a string after checking that it is not
// empty, not longer than scramMaxMessage and free of NUL bytes (PostgreSQL
// treats a message as a C string and refuses one with a NUL inside). what
// names the message in errors.
func checkMessage(msg []byte, what string) (string, error) {
	switch {
	case len(msg) == 0:
		return "", protocolError(what + " is empty")
	case len(msg) > scramMaxMessage:
		return "", protocolError(what + " is longer than " + strconv.Itoa(scramMaxMessage) + " bytes")
	case strings.IndexByte(string(msg), 0) >= 0:
		return "", protocolError(what + " contains a NUL byte")
	}
	return string(msg), nil
}

// attrReader reads the attribute-value pairs of a SCRAM message,
// "a=value,b=value" (RFC 5802 §7: attr-val = ALPHA "=" value), like
// read_attr_value and read_any_attr in PostgreSQL's auth-scram.c, except
// that a message may not end in a comma.
type attrReader struct {
	s     string
	pos   int
	comma bool // the last attribute ended with a comma
}

// done reports whether the whole message has been read.
func (r *attrReader) done() bool { return r.pos >= len(r.s) && !r.comma }

// next reads one attribute and its value.
func (r *attrReader) next() (byte, string, error) {
	if r.pos >= len(r.s) {
		return 0, "", protocolError("attribute expected, but found the end of the message")
	}
	name := r.s[r.pos]
	if !isAlpha(name) {
		return 0, "", protocolError("attribute expected, but found an invalid character")
	}
	if r.pos+1 >= len(r.s) || r.s[r.pos+1] != '=' {
		return 0, "", protocolError(fmt.Sprintf("expected \"=\" after attribute %q", name))
	}
	start := r.pos + 2
	end := strings.IndexByte(r.s[start:], ',')
	if end < 0 {
		r.pos, r.comma = len(r.s), false
		return name, r.s[start:], nil
	}
	r.pos, r.comma = start+end+1, true
	return name, r.s[start : start+end], nil
}

// expect reads the attribute name and returns its value.
func (r *attrReader) expect(name byte) (string, error) {
	if r.pos >= len(r.s) || r.s[r.pos] != name {
		return "", protocolError(fmt.Sprintf("expected attribute %q", name))
	}
	_, value, err := r.next()
	return value, err
}

func isAlpha(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' }

// isPrintable reports whether s is a valid nonce: one or more characters
// from %x21-2B and %x2D-7E, printable ASCII except the comma (RFC 5802 §7).
func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == ',' {
			return false
		}
	}
	return true
}

// newNonce returns n random bytes from crypto/rand in standard base64.
func newNonce(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (Go 1.24 and later)
	return base64.StdEncoding.EncodeToString(b)
}

// b64 is standard padded base64.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// hmacSHA256 returns HMAC-SHA-256(key, msg).
func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// xorBytes returns a XOR b; they have the same length.
func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range out {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// SCRAMSecretFromPassword derives the SCRAM-SHA-256 verifier that
// PostgreSQL stores in pg_authid.rolpassword for password with the given
// salt and iteration count (RFC 5802 §3; PostgreSQL
// src/common/scram-common.c, scram_build_secret):
//
//	SaltedPassword = PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iterations), 32 bytes
//	StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
//	ServerKey      = HMAC(SaltedPassword, "Server Key")
//
// The password is SASLprep'ed (RFC 4013) as PostgreSQL's pg_saslprep does
// it, and used as given when that fails (not UTF-8, prohibited characters,
// empty after mapping), as PostgreSQL does. An iteration count below 1 is
// taken as 1. The returned secret has copies of salt and of the keys.
func SCRAMSecretFromPassword(password string, salt []byte, iterations int) *SCRAMSecret {
	salted := saltedPassword(password, salt, iterations)
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return &SCRAMSecret{
		Iterations: max(iterations, 1),
		Salt:       append([]byte(nil), salt...),
		StoredKey:  stored[:],
		ServerKey:  hmacSHA256(salted, "Server Key"),
	}
}

// ClientKeyFromPassword returns the 32-byte ClientKey,
// HMAC(SaltedPassword, "Client Key"), of password for the given salt and
// iteration count, with SaltedPassword computed as in
// [SCRAMSecretFromPassword]. With the ServerKey of the matching secret it
// is what [NewSCRAMClient] needs to log in to PostgreSQL.
func ClientKeyFromPassword(password string, salt []byte, iterations int) []byte {
	return hmacSHA256(saltedPassword(password, salt, iterations), "Client Key")
}

// saltedPassword is Hi(SASLprep(password), salt, iterations) of RFC 5802
// §2.2: PBKDF2 (RFC 8018) with HMAC-SHA-256 and a single 32-byte block.
// It is written out, as PostgreSQL's scram_SaltedPassword is, because it
// cannot fail (crypto/pbkdf2 refuses some inputs in FIPS 140-only mode).
func saltedPassword(password string, salt []byte, iterations int) []byte {
	mac := hmac.New(sha256.New, []byte(pgSASLprep(password)))
	mac.Write(salt)
	mac.Write([]byte{0, 0, 0, 1}) // INT(1), the first block
	u := mac.Sum(nil)
	result := append([]byte(nil), u...)
	for i := 1; i < iterations; i++ {
		mac.Reset()
		mac.Write(u)
		u = mac.Sum(u[:0])
		for j := range result {
			result[j] ^= u[j]
		}
	}
	return result
}

// pgSASLprep is PostgreSQL's SASLprep (src/common/saslprep.c, pg_saslprep)
// with its fallback: it returns password prepared, or password itself when
// PostgreSQL would use it as given. It follows PostgreSQL where that
// differs from RFC 4013 as other libraries implement it:
//   - pure ASCII is returned unchanged (control characters included);
//   - U+200B ZERO WIDTH SPACE maps to a space (C.1.2 is checked before B.1);
//   - empty after mapping counts as a failure;
//   - prohibited, unassigned (Unicode 3.2) and bidirectional checks are
//     made on the mapped string before normalization, not after.
func pgSASLprep(password string) string {
	if isASCII(password) || !utf8.ValidString(password) {
		return password
	}
	mapped := make([]rune, 0, len(password))
	for _, r := range password {
		if stringprep.TableC1_2.Contains(r) {
			mapped = append(mapped, ' ')
		} else if _, toNothing := stringprep.TableB1.Map(r); !toNothing {
			mapped = append(mapped, r)
		}
	}
	if len(mapped) == 0 {
		return password
	}
	randAL := false
	for _, r := range mapped {
		if saslProhibited(r) {
			return password
		}
		randAL = randAL || stringprep.TableD1.Contains(r)
	}
	if randAL {
		for _, r := range mapped {
			if stringprep.TableD2.Contains(r) {
				return password
			}
		}
		if !stringprep.TableD1.Contains(mapped[0]) || !stringprep.TableD1.Contains(mapped[len(mapped)-1]) {
			return password
		}
	}
	out, err := stringprep.Profile{Normalize: true}.Prepare(string(mapped)) // NFKC only
	if err != nil {
		return password
	}
	return out
}

// saslProhibitedSets are the characters SASLprep forbids (RFC 4013 §2.3,
// §2.5): PostgreSQL's prohibited_output_ranges and
// unassigned_codepoint_ranges.
var saslProhibitedSets = []stringprep.Set{
	stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2, stringprep.TableC3,
	stringprep.TableC4, stringprep.TableC5, stringprep.TableC6, stringprep.TableC7,
	stringprep.TableC8, stringprep.TableC9, stringprep.TableA1,
}

func saslProhibited(r rune) bool {
	for _, set := range saslProhibitedSets {
		if set.Contains(r) {
			return true
		}
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
