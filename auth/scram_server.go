package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strconv"
)

// SCRAMServer runs the server side of one SCRAM-SHA-256 exchange: RFC 5802
// (SCRAM), RFC 7677 (SCRAM-SHA-256), RFC 5929 (tls-server-end-point channel
// binding), with PostgreSQL's choices (protocol docs, "SASL
// Authentication"; src/backend/libpq/auth-scram.c):
//
//  1. The server sends AuthenticationSASL with [SCRAMServer.Mechanisms].
//  2. The client's SASLInitialResponse carries the chosen mechanism and the
//     client-first-message: pass both to [SCRAMServer.Start] and send the
//     server-first-message back in AuthenticationSASLContinue.
//  3. The client's SASLResponse carries the client-final-message: pass it
//     to [SCRAMServer.Finish] and send the server-final-message in
//     AuthenticationSASLFinal, then AuthenticationOk.
//
// On an error the caller sends an ErrorResponse (08P01 for
// [ErrSCRAMProtocol], 28P01 for [ErrSCRAMAuth]) and closes the connection;
// the exchange cannot continue. A call out of order fails with
// [ErrSCRAMProtocol] and ends an unfinished exchange; it leaves a finished
// one (its ClientKey) as it was. As in PostgreSQL, the user name in the
// client-first-message is ignored (the StartupMessage's counts) and so are
// optional extensions; an authzid or a mandatory extension is refused.
//
// A SCRAMServer is used for one exchange by one goroutine.
type SCRAMServer struct {
	secret   SCRAMSecret
	endPoint []byte // tls-server-end-point data; empty without TLS
	doomed   bool   // a mock exchange, or an unusable secret: Finish fails
	unusable bool   // the secret given to NewSCRAMServer is unusable
	state    scramServerState

	// newNonce returns a server nonce; tests replace it.
	newNonce func() string

	header          gs2Header
	clientFirstBare string
	clientNonce     string
	serverNonce     string
	serverFirst     string

	clientKey    []byte // after a successful Finish
	channelBound bool
}

type scramServerState int

const (
	serverStart     scramServerState = iota // waiting for Start
	serverFirstSent                         // waiting for Finish
	serverDone                              // Finish succeeded
	serverFailed                            // a call failed; nothing more is accepted
)

// NewSCRAMServer prepares the exchange for a user whose verifier is
// secret. endPoint is the tls-server-end-point channel-binding data of the
// client's TLS connection (see [EndPointHash]), nil or empty without TLS:
// when present, SCRAM-SHA-256-PLUS is offered and a client that asks for
// no binding while saying it could bind ("y") is refused.
//
// NewSCRAMServer copies secret and endPoint. A secret that is nil or not
// usable (iterations < 1, no salt, keys not 32 bytes) makes Start fail
// with [ErrSCRAMAuth]; for a user without a usable secret use
// [NewSCRAMMock] instead, which does not tell the client.
func NewSCRAMServer(secret *SCRAMSecret, endPoint []byte) *SCRAMServer {
	s := &SCRAMServer{endPoint: bytes.Clone(endPoint), newNonce: serverNonce}
	if secret == nil || secret.Iterations < 1 || len(secret.Salt) == 0 ||
		len(secret.StoredKey) != scramKeyLen || len(secret.ServerKey) != scramKeyLen {
		s.unusable, s.doomed = true, true
		return s
	}
	s.secret = secret.clone()
	return s
}

// NewSCRAMMock prepares an exchange that looks like a real one to the
// client but always fails, for a user that does not exist or has no usable
// SCRAM secret, so that an unknown user cannot be told from a wrong
// password (PostgreSQL: scram_mock_salt and the "doomed" exchange). The
// salt is the first 16 bytes of HMAC-SHA-256(mockKey, user), the same for
// every attempt at the same user; the iteration count is 4096. mockKey
// should be random, at least 32 bytes, and kept for the life of the
// process. Finish checks the proof like a real exchange, then fails with
// [ErrSCRAMAuth]; all other errors are those of a real exchange.
func NewSCRAMMock(user string, mockKey []byte, endPoint []byte) *SCRAMServer {
	mac := hmac.New(sha256.New, mockKey)
	mac.Write([]byte(user))
	salt := mac.Sum(nil)[:scramMockSaltLen]
	return &SCRAMServer{
		secret: SCRAMSecret{
			Iterations: scramMockIterations,
			Salt:       salt,
			// Never used for success: PostgreSQL uses zeros too.
			StoredKey: make([]byte, scramKeyLen),
			ServerKey: make([]byte, scramKeyLen),
		},
		endPoint: bytes.Clone(endPoint),
		doomed:   true,
		newNonce: serverNonce,
	}
}

// serverNonce is the server's part of the nonce: 18 random bytes in base64
// (24 characters), as PostgreSQL sends.
func serverNonce() string { return newNonce(scramServerNonceLen) }

// Mechanisms returns the SASL mechanisms to offer in AuthenticationSASL, in
// PostgreSQL's order: SCRAM-SHA-256-PLUS first when the connection has
// channel-binding data, then SCRAM-SHA-256.
func (s *SCRAMServer) Mechanisms() []string {
	if len(s.endPoint) > 0 {
		return []string{MechSCRAMSHA256Plus, MechSCRAMSHA256}
	}
	return []string{MechSCRAMSHA256}
}

// Start takes the mechanism the client chose and its
// client-first-message (the SASLInitialResponse) and returns the
// server-first-message, "r=<client nonce><server nonce>,s=<salt, base64>,i=<iterations>".
//
// It fails with [ErrSCRAMProtocol] when called twice, for a mechanism not
// offered, a message that is empty, longer than 4096 bytes or malformed, a
// nonce that is not printable ASCII, an authzid, a mandatory extension
// ("m="), and channel-binding flags that do not fit the mechanism:
// SCRAM-SHA-256-PLUS without "p=tls-server-end-point", "p=" with
// SCRAM-SHA-256, any binding type other than tls-server-end-point, and
// "y" when this server offered SCRAM-SHA-256-PLUS (a downgrade attack). It
// fails with [ErrSCRAMAuth] when [NewSCRAMServer] was given an unusable
// secret.
func (s *SCRAMServer) Start(mechanism string, clientFirst []byte) ([]byte, error) {
	if s.state != serverStart {
		if s.state != serverDone {
			s.state = serverFailed
		}
		return nil, protocolError("unexpected client-first-message")
	}
	s.state = serverFailed
	var plus bool
	switch mechanism {
	case MechSCRAMSHA256:
	case MechSCRAMSHA256Plus:
		if len(s.endPoint) == 0 {
			return nil, protocolError("the client selected SCRAM-SHA-256-PLUS, which is offered only over TLS")
		}
		plus = true
	default:
		return nil, protocolError("the client selected an invalid SASL authentication mechanism")
	}
	if s.unusable {
		return nil, authError("the user has no usable SCRAM secret")
	}
	msg, err := checkMessage(clientFirst, "client-first-message")
	if err != nil {
		return nil, err
	}
	header, bare, err := parseGS2Header(msg)
	if err != nil {
		return nil, err
	}
	if err := s.checkBindingFlag(header.flag, plus); err != nil {
		return nil, err
	}
	nonce, err := parseClientFirstBare(bare)
	if err != nil {
		return nil, err
	}
	s.header, s.clientFirstBare, s.clientNonce = header, bare, nonce
	s.serverNonce = s.newNonce()
	s.serverFirst = "r=" + nonce + s.serverNonce +
		",s=" + b64(s.secret.Salt) +
		",i=" + strconv.Itoa(s.secret.Iterations)
	s.state = serverFirstSent
	return []byte(s.serverFirst), nil
}

// checkBindingFlag checks the GS2 channel-binding flag against the
// mechanism, as read_client_first_message does.
func (s *SCRAMServer) checkBindingFlag(flag byte, plus bool) error {
	switch {
	case plus && flag != 'p':
		return protocolError("the client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data")
	case !plus && flag == 'p':
		return protocolError("the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data")
	case flag == 'y' && len(s.endPoint) > 0:
		return protocolError("SCRAM channel binding negotiation error: the client supports channel binding but thinks the server does not, and this server does")
	}
	return nil
}

// parseClientFirstBare reads client-first-message-bare (RFC 5802 §7):
// [reserved-mext ","] username "," nonce ["," extensions]. It returns the
// client nonce; the user name and extensions are ignored.
func parseClientFirstBare(bare string) (string, error) {
	if len(bare) >= 2 && bare[0] == 'm' && bare[1] == '=' {
		return "", protocolError("the client requires an unsupported SCRAM extension")
	}
	r := attrReader{s: bare}
	if _, err := r.expect('n'); err != nil {
		return "", err
	}
	nonce, err := r.expect('r')
	if err != nil {
		return "", err
	}
	if !isPrintable(nonce) {
		return "", protocolError("the client nonce is empty or has non-printable characters")
	}
	for !r.done() {
		if _, _, err := r.next(); err != nil {
			return "", err
		}
	}
	return nonce, nil
}

// Finish takes the client-final-message (the SASLResponse),
// "c=<channel binding>,r=<nonce>[,extensions],p=<proof>", checks it and
// returns the server-final-message, "v=<ServerSignature, base64>".
//
// It fails with [ErrSCRAMProtocol] when not called once after a
// successful Start, for a message that is empty, too long or malformed, a
// c= that does not repeat the GS2 header, a nonce other than the client's
// nonce followed by the server's (a replayed message), or a proof that is
// not 32 bytes of base64. It fails with [ErrSCRAMAuth] when the
// channel-binding data in c= is not this connection's (PostgreSQL answers
// 28000 there), when the proof is wrong, and always for a mock exchange.
func (s *SCRAMServer) Finish(clientFinal []byte) ([]byte, error) {
	if s.state != serverFirstSent {
		if s.state != serverDone {
			s.state = serverFailed
		}
		return nil, protocolError("unexpected client-final-message")
	}
	s.state = serverFailed
	msg, err := checkMessage(clientFinal, "client-final-message")
	if err != nil {
		return nil, err
	}
	final, err := parseClientFinal(msg)
	if err != nil {
		return nil, err
	}
	if err := s.checkChannelBinding(final.cbind); err != nil {
		return nil, err
	}
	if final.nonce != s.clientNonce+s.serverNonce {
		return nil, protocolError("invalid SCRAM response: the nonce does not match")
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(final.proof)
	if err != nil || len(proof) != scramKeyLen {
		return nil, protocolError("malformed proof in the client-final-message")
	}

	// RFC 5802 §3. The work is the same for a mock exchange.
	authMessage := s.clientFirstBare + "," + s.serverFirst + "," + final.withoutProof
	clientKey := xorBytes(proof, hmacSHA256(s.secret.StoredKey, authMessage))
	storedKey := sha256.Sum256(clientKey)
	if !hmac.Equal(storedKey[:], s.secret.StoredKey) || s.doomed {
		return nil, authError("password authentication failed: the proof does not match")
	}
	s.clientKey = clientKey
	s.channelBound = s.header.flag == 'p'
	s.state = serverDone
	return []byte("v=" + b64(hmacSHA256(s.secret.ServerKey, authMessage))), nil
}

// checkChannelBinding checks c= of the client-final-message: the base64
// of the GS2 header, followed by this connection's tls-server-end-point
// data when the client binds (RFC 5802 §7, cbind-input).
func (s *SCRAMServer) checkChannelBinding(cbind string) error {
	want := []byte(s.header.raw)
	if s.header.flag == 'p' {
		want = append(want, s.endPoint...)
	}
	got, err := base64.StdEncoding.Strict().DecodeString(cbind)
	switch {
	case err == nil && hmac.Equal(got, want):
		return nil
	case err == nil && s.header.flag == 'p' && bytes.HasPrefix(got, []byte(s.header.raw)):
		return fmt.Errorf("%w: the binding data is not this connection's", ErrSCRAMChannelBinding)
	}
	return protocolError("unexpected SCRAM channel-binding attribute in the client-final-message")
}

// clientFinal is a parsed client-final-message.
type clientFinal struct {
	cbind, nonce, proof string
	withoutProof        string // client-final-message-without-proof
}

// parseClientFinal reads client-final-message (RFC 5802 §7):
// channel-binding "," nonce ["," extensions] "," proof.
func parseClientFinal(msg string) (clientFinal, error) {
	var f clientFinal
	r := attrReader{s: msg}
	var err error
	if f.cbind, err = r.expect('c'); err != nil {
		return f, err
	}
	if f.nonce, err = r.expect('r'); err != nil {
		return f, err
	}
	for {
		start := r.pos
		name, value, err := r.next()
		if err != nil {
			return f, err
		}
		if name != 'p' {
			continue // an extension, ignored
		}
		if !r.done() {
			return f, protocolError("garbage found at the end of the client-final-message")
		}
		f.proof, f.withoutProof = value, msg[:start-1]
		return f, nil
	}
}

// ClientKey returns the client's ClientKey (32 bytes), recovered from its
// proof as ClientProof XOR HMAC(StoredKey, AuthMessage) and verified
// (SHA-256(ClientKey) = StoredKey), or nil before a successful Finish. With
// the secret's ServerKey it lets the pooler log in to PostgreSQL as the
// client (SCRAM passthrough; see [NewSCRAMClient]). The result is a copy.
func (s *SCRAMServer) ClientKey() []byte {
	if s.state != serverDone {
		return nil
	}
	return bytes.Clone(s.clientKey)
}

// ChannelBound reports whether the exchange succeeded with
// SCRAM-SHA-256-PLUS, that is bound to the TLS connection.
func (s *SCRAMServer) ChannelBound() bool {
	return s.state == serverDone && s.channelBound
}
