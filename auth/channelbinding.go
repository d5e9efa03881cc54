package auth

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"hash"
	"strings"
)

// cbindTLSServerEndPoint is the only channel-binding type PostgreSQL
// supports (RFC 5929 §4).
const cbindTLSServerEndPoint = "tls-server-end-point"

// EndPointHash returns the tls-server-end-point channel-binding data of a
// server certificate (RFC 5929 §4.1): the hash of the certificate's DER
// (cert.Raw) with the hash function of its signature algorithm, SHA-256
// when that is MD5 or SHA-1. That is 32 bytes (SHA-256), 48 (SHA-384) or
// 64 (SHA-512). PostgreSQL computes the same in be_tls_get_certificate_hash.
//
// It returns nil for a nil certificate and for a signature algorithm with
// no single hash function (Ed25519, for which RFC 5929 leaves the binding
// undefined and PostgreSQL cannot bind either) or one it does not know; a
// server with such a certificate does not offer SCRAM-SHA-256-PLUS.
func EndPointHash(cert *x509.Certificate) []byte {
	if cert == nil || len(cert.Raw) == 0 {
		return nil
	}
	var h hash.Hash
	switch cert.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.SHA256WithRSAPSS, x509.DSAWithSHA256, x509.ECDSAWithSHA256:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.SHA384WithRSAPSS, x509.ECDSAWithSHA384:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.SHA512WithRSAPSS, x509.ECDSAWithSHA512:
		h = sha512.New()
	default:
		return nil
	}
	h.Write(cert.Raw)
	return h.Sum(nil)
}

// gs2Header is the GS2 header that starts a client-first-message
// (RFC 5802 §7): gs2-cbind-flag "," [authzid] ",".
type gs2Header struct {
	// flag is 'n' (the client does not support channel binding), 'y' (it
	// does but thinks the server does not) or 'p' (it binds).
	flag byte
	// raw is the header as the client sent it, final comma included, e.g.
	// "p=tls-server-end-point,,"; the client-final-message repeats it.
	raw string
}

// parseGS2Header splits a client-first-message into its GS2 header and the
// client-first-message-bare. It refuses what PostgreSQL's
// read_client_first_message refuses: an unknown flag, a channel-binding
// type other than tls-server-end-point, and an authzid ("a=").
func parseGS2Header(msg string) (gs2Header, string, error) {
	var i int
	switch {
	case strings.HasPrefix(msg, "n,"), strings.HasPrefix(msg, "y,"):
		i = 1
	case strings.HasPrefix(msg, "p="):
		end := strings.IndexByte(msg, ',')
		if end < 0 {
			return gs2Header{}, "", protocolError("the client-first-message ends in its channel-binding flag")
		}
		if msg[2:end] != cbindTLSServerEndPoint {
			return gs2Header{}, "", protocolError("unsupported channel-binding type (only " + cbindTLSServerEndPoint + " is supported)")
		}
		i = end
	case msg != "" && (msg[0] == 'n' || msg[0] == 'y'):
		return gs2Header{}, "", protocolError("expected \",\" after the channel-binding flag")
	default:
		return gs2Header{}, "", protocolError("unexpected channel-binding flag (expected \"n\", \"y\" or \"p=\")")
	}
	// msg[i] is the comma after the flag; an authzid may follow.
	i++
	if i < len(msg) && msg[i] == 'a' {
		return gs2Header{}, "", protocolError("the client uses an authorization identity (a=), which is not supported")
	}
	if i >= len(msg) || msg[i] != ',' {
		return gs2Header{}, "", protocolError("unexpected attribute in the GS2 header of the client-first-message")
	}
	return gs2Header{flag: msg[0], raw: msg[:i+1]}, msg[i+1:], nil
}
