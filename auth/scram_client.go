package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// SCRAMClient is the client side of one SCRAM-SHA-256 exchange (RFC 5802,
// RFC 7677) without channel binding, for SCRAM passthrough: the pooler logs
// in to PostgreSQL with a ClientKey (recovered by [SCRAMServer.ClientKey],
// or from [ClientKeyFromPassword]) and the user's secret, not a password.
// No SaltedPassword is needed, since
//
//	ClientProof     = ClientKey XOR HMAC(H(ClientKey), AuthMessage)
//	ServerSignature = HMAC(ServerKey, AuthMessage)
//
// Use: send SASLInitialResponse("SCRAM-SHA-256", [SCRAMClient.First]); on
// AuthenticationSASLContinue send SASLResponse([SCRAMClient.Final] of its
// data); on AuthenticationSASLFinal call [SCRAMClient.Verify] with its data
// before trusting the AuthenticationOk that follows. PostgreSQL reports a
// wrong proof with an ErrorResponse (28P01), not with "e=".
//
// A SCRAMClient is used for one exchange by one goroutine.
type SCRAMClient struct {
	clientKey []byte
	secret    SCRAMSecret
	state     scramClientState

	// newNonce returns a client nonce; tests replace it.
	newNonce func() string

	nonce           string // the client nonce
	clientFirstBare string
	serverSignature []byte // expected in the server-final-message
}

type scramClientState int

const (
	clientStart     scramClientState = iota // First not called yet
	clientFirstSent                         // waiting for Final
	clientFinalSent                         // waiting for Verify
	clientVerified                          // Verify succeeded
	clientFailed                            // a call failed; nothing more is accepted
)

// NewSCRAMClient prepares an exchange that logs in with clientKey (32
// bytes) and the user's secret, of which the salt, iteration count and
// ServerKey are used. Both are copied. When they are not usable (nil
// secret, a key not 32 bytes), Final fails with [ErrSCRAMSecretMismatch].
func NewSCRAMClient(clientKey []byte, secret *SCRAMSecret) *SCRAMClient {
	c := &SCRAMClient{clientKey: bytes.Clone(clientKey), newNonce: clientNonce}
	if secret != nil {
		c.secret = secret.clone()
	}
	return c
}

// clientNonce is 24 random bytes in base64 (32 characters).
func clientNonce() string { return newNonce(scramClientNonceLen) }

// First returns the client-first-message, "n,,n=,r=<nonce>": no channel
// binding, no authzid, an empty user name (PostgreSQL ignores it and uses
// the StartupMessage's; libpq sends it empty too) and a nonce of 24 random
// bytes in base64 (32 characters). Later calls return the same message.
func (c *SCRAMClient) First() []byte {
	if c.state == clientStart {
		c.nonce = c.newNonce()
		c.clientFirstBare = "n=,r=" + c.nonce
		c.state = clientFirstSent
	}
	return []byte("n,," + c.clientFirstBare)
}

// Final takes the server-first-message,
// "r=<nonce>,s=<salt>,i=<iterations>[,extensions]", and returns the
// client-final-message, "c=biws,r=<nonce>,p=<proof>".
//
// It fails with [ErrSCRAMProtocol] when not called once after First, for
// a message that is empty, longer than 4096 bytes or malformed, a mandatory
// extension ("m="), or a nonce that does not extend the client's with
// printable characters. It fails with [ErrSCRAMSecretMismatch] when the
// salt or iteration count differs from the secret's, or the ClientKey or
// secret is unusable; then no proof has been computed.
func (c *SCRAMClient) Final(serverFirst []byte) ([]byte, error) {
	if c.state != clientFirstSent {
		c.state = clientFailed
		return nil, protocolError("unexpected server-first-message")
	}
	c.state = clientFailed
	msg, err := checkMessage(serverFirst, "server-first-message")
	if err != nil {
		return nil, err
	}
	nonce, salt, iterations, err := parseServerFirst(msg)
	if err != nil {
		return nil, err
	}
	if len(nonce) <= len(c.nonce) || nonce[:len(c.nonce)] != c.nonce || !isPrintable(nonce) {
		return nil, protocolError("the server nonce does not extend the client nonce with printable characters")
	}
	if len(c.clientKey) != scramKeyLen || len(c.secret.ServerKey) != scramKeyLen {
		return nil, secretMismatch("the ClientKey or the secret's ServerKey is not " + strconv.Itoa(scramKeyLen) + " bytes")
	}
	if !bytes.Equal(salt, c.secret.Salt) || iterations != c.secret.Iterations {
		return nil, secretMismatch("the server's salt or iteration count (" + strconv.Itoa(iterations) +
			") differs from the secret's (" + strconv.Itoa(c.secret.Iterations) + "); the password was changed")
	}

	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	authMessage := c.clientFirstBare + "," + msg + "," + withoutProof
	storedKey := sha256.Sum256(c.clientKey)
	proof := xorBytes(c.clientKey, hmacSHA256(storedKey[:], authMessage))
	c.serverSignature = hmacSHA256(c.secret.ServerKey, authMessage)
	c.state = clientFinalSent
	return []byte(withoutProof + ",p=" + b64(proof)), nil
}

// secretMismatch wraps ErrSCRAMSecretMismatch with a detail.
func secretMismatch(detail string) error {
	return fmt.Errorf("%w: %s", ErrSCRAMSecretMismatch, detail)
}

// parseServerFirst reads server-first-message (RFC 5802 §7):
// [reserved-mext ","] nonce "," salt "," iteration-count ["," extensions].
func parseServerFirst(msg string) (nonce string, salt []byte, iterations int, err error) {
	if len(msg) >= 2 && msg[0] == 'm' && msg[1] == '=' {
		return "", nil, 0, protocolError("the server requires an unsupported SCRAM extension")
	}
	r := attrReader{s: msg}
	if nonce, err = r.expect('r'); err != nil {
		return "", nil, 0, err
	}
	s, err := r.expect('s')
	if err != nil {
		return "", nil, 0, err
	}
	if salt, err = base64.StdEncoding.Strict().DecodeString(s); err != nil || len(salt) == 0 {
		return "", nil, 0, protocolError("the salt in the server-first-message is not base64")
	}
	i, err := r.expect('i')
	if err != nil {
		return "", nil, 0, err
	}
	n, err := strconv.ParseInt(i, 10, 32)
	if err != nil || n < 1 || i[0] < '0' || i[0] > '9' {
		return "", nil, 0, protocolError("the iteration count in the server-first-message is not a positive whole number")
	}
	for !r.done() {
		if _, _, err := r.next(); err != nil {
			return "", nil, 0, err
		}
	}
	return nonce, salt, int(n), nil
}

// Verify checks the server-final-message, "v=<ServerSignature>" (optionally
// followed by extensions), proving that the server knows the secret.
//
// It fails with [ErrSCRAMProtocol] when not called once after a successful
// Final and for a message that is empty, too long or malformed (including a
// signature that is not 32 bytes of base64). It fails with [ErrSCRAMAuth]
// when the server sent "e=<error>" (the error's name, sanitized, is in the
// message) or a wrong signature.
func (c *SCRAMClient) Verify(serverFinal []byte) error {
	if c.state != clientFinalSent {
		c.state = clientFailed
		return protocolError("unexpected server-final-message")
	}
	c.state = clientFailed
	msg, err := checkMessage(serverFinal, "server-final-message")
	if err != nil {
		return err
	}
	r := attrReader{s: msg}
	name, value, err := r.next()
	if err != nil {
		return err
	}
	switch name {
	case 'e':
		return authError("the server reported " + strconv.Quote(sanitizeServerError(value)))
	case 'v':
	default:
		return protocolError("expected attribute 'v' or 'e' in the server-final-message")
	}
	for !r.done() {
		if _, _, err := r.next(); err != nil {
			return err
		}
	}
	sig, err := base64.StdEncoding.Strict().DecodeString(value)
	if err != nil || len(sig) != scramKeyLen {
		return protocolError("malformed server signature in the server-final-message")
	}
	if !hmac.Equal(sig, c.serverSignature) {
		return authError("the server's signature is wrong: it does not know the secret")
	}
	c.state = clientVerified
	return nil
}

// sanitizeServerError keeps at most 64 characters of a server's "e="
// value, each printable ASCII or replaced by '?'.
func sanitizeServerError(s string) string {
	b := []byte(s[:min(len(s), 64)])
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
