package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"
)

// The test user's password, salt and iteration count (PostgreSQL's
// defaults: 16 bytes, 4096).
const (
	testPassword   = "correct horse battery staple"
	testIterations = 4096
)

var testSalt = []byte("pgpooler-salt-16")

// testKeys derives the test user's secret and ClientKey once.
var testKeys = sync.OnceValues(func() (*SCRAMSecret, []byte) {
	return SCRAMSecretFromPassword(testPassword, testSalt, testIterations),
		ClientKeyFromPassword(testPassword, testSalt, testIterations)
})

func testSecret() *SCRAMSecret { s, _ := testKeys(); return s }
func testClientKey() []byte    { _, k := testKeys(); return k }

// testEndPoint stands for the tls-server-end-point data of a connection.
var testEndPoint = bytes.Repeat([]byte{0xCB}, 32)

// fixedNonce makes a server or client use nonce.
func fixedNonce(nonce string) func() string { return func() string { return nonce } }

// xdgClient returns github.com/xdg-go/scram's client for password.
func xdgClient(t testing.TB, password string) *scram.Client {
	t.Helper()
	c, err := scram.SHA256.NewClient("", password, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// runXDG runs conv against srv with mechanism mech. It returns the
// server's error; a client that rejects the server fails the test.
func runXDG(t *testing.T, srv *SCRAMServer, mech string, conv *scram.ClientConversation) error {
	t.Helper()
	first, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	serverFirst, err := srv.Start(mech, []byte(first))
	if err != nil {
		return err
	}
	final, err := conv.Step(string(serverFirst))
	if err != nil {
		t.Fatalf("xdg client rejects server-first-message %q: %v", serverFirst, err)
	}
	serverFinal, err := srv.Finish([]byte(final))
	if err != nil {
		return err
	}
	if _, err := conv.Step(string(serverFinal)); err != nil || !conv.Valid() {
		t.Fatalf("xdg client rejects server-final-message: %v", err)
	}
	return nil
}

// checkNoSecrets fails the test when err's text contains the password or
// a key.
func checkNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	sec := testSecret()
	for _, s := range []string{testPassword, b64(testClientKey()), b64(sec.StoredKey), b64(sec.ServerKey)} {
		if strings.Contains(msg, s) {
			t.Errorf("error %q shows a secret", msg)
		}
	}
}

func TestSCRAMServerXDGClient(t *testing.T) {
	srv := NewSCRAMServer(testSecret(), nil)
	if got := srv.Mechanisms(); len(got) != 1 || got[0] != MechSCRAMSHA256 {
		t.Errorf("Mechanisms() = %q", got)
	}
	if srv.ClientKey() != nil {
		t.Error("ClientKey before the exchange is not nil")
	}
	if err := runXDG(t, srv, MechSCRAMSHA256, xdgClient(t, testPassword).NewConversation()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(srv.ClientKey(), testClientKey()) {
		t.Error("recovered ClientKey differs from ClientKeyFromPassword")
	}
	if srv.ChannelBound() {
		t.Error("ChannelBound() without channel binding")
	}
}

func TestSCRAMServerWrongPassword(t *testing.T) {
	srv := NewSCRAMServer(testSecret(), nil)
	err := runXDG(t, srv, MechSCRAMSHA256, xdgClient(t, "wrong password").NewConversation())
	if !errors.Is(err, ErrSCRAMAuth) {
		t.Fatalf("err = %v, want ErrSCRAMAuth", err)
	}
	checkNoSecrets(t, err)
	if srv.ClientKey() != nil {
		t.Error("ClientKey after a failed exchange is not nil")
	}
}

// serverFirstShape is a server-first-message for client nonce "cnonce", a
// server nonce of 18 bytes, a 16-byte salt and 4096 iterations.
var serverFirstShape = regexp.MustCompile(`^r=cnonce[A-Za-z0-9+/]{24},s=[A-Za-z0-9+/]{22}==,i=4096$`)

func TestSCRAMMock(t *testing.T) {
	key := []byte("mock key: 32 bytes of randomness")
	for _, ep := range [][]byte{nil, testEndPoint} {
		real, mock := NewSCRAMServer(testSecret(), ep), NewSCRAMMock("nobody", key, ep)
		if got, want := mock.Mechanisms(), real.Mechanisms(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("mock offers %q, a real user %q", got, want)
		}
		realFirst, err1 := real.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce"))
		mockFirst, err2 := mock.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce"))
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !serverFirstShape.Match(realFirst) || !serverFirstShape.Match(mockFirst) {
			t.Errorf("server-first-messages differ in shape: real %q, mock %q", realFirst, mockFirst)
		}
	}

	// Whatever the password, the mock fails like a wrong password.
	for _, pw := range []string{testPassword, "", "anything"} {
		mock := NewSCRAMMock("nobody", key, nil)
		err := runXDG(t, mock, MechSCRAMSHA256, xdgClient(t, pw).NewConversation())
		if !errors.Is(err, ErrSCRAMAuth) {
			t.Errorf("mock exchange: err = %v, want ErrSCRAMAuth", err)
		}
		if mock.ClientKey() != nil || mock.ChannelBound() {
			t.Error("failed mock exchange has a ClientKey or is bound")
		}
	}
	// Also with channel binding.
	mock := NewSCRAMMock("nobody", key, testEndPoint)
	cb := scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: testEndPoint}
	if err := runXDG(t, mock, MechSCRAMSHA256Plus, xdgClient(t, "x").NewConversationWithChannelBinding(cb)); !errors.Is(err, ErrSCRAMAuth) {
		t.Errorf("bound mock exchange: err = %v, want ErrSCRAMAuth", err)
	}

	// The salt is stable for a user and differs between users and keys.
	salt := func(user string, key []byte) string {
		first, err := NewSCRAMMock(user, key, nil).Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce"))
		if err != nil {
			t.Fatal(err)
		}
		_, s, _ := strings.Cut(string(first), ",s=")
		return s
	}
	if salt("alice", key) != salt("alice", key) {
		t.Error("mock salt changes between attempts")
	}
	if salt("alice", key) == salt("bob", key) || salt("alice", key) == salt("alice", []byte("other key")) {
		t.Error("mock salt does not depend on the user and the key")
	}
}

// TestSCRAMServerRFC7677 replays the SCRAM-SHA-256 example of RFC 7677 §3.
func TestSCRAMServerRFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	srv := NewSCRAMServer(SCRAMSecretFromPassword("pencil", salt, 4096), nil)
	srv.newNonce = fixedNonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
	first, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"; string(first) != want {
		t.Fatalf("server-first-message = %q, want %q", first, want)
	}
	final, err := srv.Finish([]byte("c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 7677 prints "v=6rriTRBi23WpRR/wcs+JXLH1wmnjcwGvm5s07F1TAW4=",
	// which does not follow from its own inputs (a typo in the RFC); the
	// value they give, here and in xdg-go/scram's
	// testdata/good/rfc7677.json, is this one.
	if want := "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="; string(final) != want {
		t.Fatalf("server-final-message = %q, want %q", final, want)
	}
	if !bytes.Equal(srv.ClientKey(), ClientKeyFromPassword("pencil", salt, 4096)) {
		t.Error("recovered ClientKey differs from ClientKeyFromPassword")
	}
}

func TestSCRAMServerChannelBinding(t *testing.T) {
	cb := func(data []byte) scram.ChannelBinding {
		return scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: data}
	}
	t.Run("bound", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), testEndPoint)
		if got := srv.Mechanisms(); len(got) != 2 || got[0] != MechSCRAMSHA256Plus || got[1] != MechSCRAMSHA256 {
			t.Errorf("Mechanisms() = %q, want PLUS first", got)
		}
		conv := xdgClient(t, testPassword).NewConversationWithChannelBinding(cb(testEndPoint))
		if err := runXDG(t, srv, MechSCRAMSHA256Plus, conv); err != nil {
			t.Fatal(err)
		}
		if !srv.ChannelBound() || !bytes.Equal(srv.ClientKey(), testClientKey()) {
			t.Error("bound exchange: not ChannelBound or wrong ClientKey")
		}
	})
	t.Run("other connection's data", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), testEndPoint)
		conv := xdgClient(t, testPassword).NewConversationWithChannelBinding(cb(bytes.Repeat([]byte{1}, 32)))
		if err := runXDG(t, srv, MechSCRAMSHA256Plus, conv); !errors.Is(err, ErrSCRAMAuth) {
			t.Fatalf("err = %v, want ErrSCRAMAuth", err)
		}
	})
	t.Run("no binding over TLS", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), testEndPoint)
		if err := runXDG(t, srv, MechSCRAMSHA256, xdgClient(t, testPassword).NewConversation()); err != nil {
			t.Fatal(err)
		}
		if srv.ChannelBound() {
			t.Error("ChannelBound() without binding")
		}
	})
	t.Run("y flag, server offers PLUS", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), testEndPoint)
		conv := xdgClient(t, testPassword).NewConversationAdvertisingChannelBinding()
		if err := runXDG(t, srv, MechSCRAMSHA256, conv); !errors.Is(err, ErrSCRAMProtocol) {
			t.Fatalf("err = %v, want ErrSCRAMProtocol (downgrade)", err)
		}
	})
	t.Run("y flag without TLS", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), nil)
		conv := xdgClient(t, testPassword).NewConversationAdvertisingChannelBinding()
		if err := runXDG(t, srv, MechSCRAMSHA256, conv); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("PLUS without TLS", func(t *testing.T) {
		srv := NewSCRAMServer(testSecret(), nil)
		conv := xdgClient(t, testPassword).NewConversationWithChannelBinding(cb(testEndPoint))
		if err := runXDG(t, srv, MechSCRAMSHA256Plus, conv); !errors.Is(err, ErrSCRAMProtocol) {
			t.Fatalf("err = %v, want ErrSCRAMProtocol", err)
		}
	})
}

// TestSCRAMServerOverTLS binds to a real TLS connection: the server hashes
// its certificate with EndPointHash, the client (xdg-go/scram) reads the
// peer certificate from its connection state.
func TestSCRAMServerOverTLS(t *testing.T) {
	cert, leaf := testCertificate(t, elliptic.P256())
	serverConn, clientConn := net.Pipe()
	defer serverConn.Close()
	defer clientConn.Close()
	srvTLS := tls.Server(serverConn, &tls.Config{Certificates: []tls.Certificate{cert}})
	cliTLS := tls.Client(clientConn, &tls.Config{InsecureSkipVerify: true}) // a self-signed test certificate
	errc := make(chan error, 1)
	go func() { errc <- srvTLS.Handshake() }()
	if err := cliTLS.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	state := cliTLS.ConnectionState()
	cb, err := scram.NewTLSServerEndpointBinding(&state)
	if err != nil {
		t.Fatal(err)
	}
	endPoint := EndPointHash(leaf)
	if !bytes.Equal(endPoint, cb.Data) {
		t.Fatal("EndPointHash differs from xdg-go/scram's tls-server-end-point data")
	}
	srv := NewSCRAMServer(testSecret(), endPoint)
	if err := runXDG(t, srv, MechSCRAMSHA256Plus, xdgClient(t, testPassword).NewConversationWithChannelBinding(cb)); err != nil {
		t.Fatal(err)
	}
	if !srv.ChannelBound() {
		t.Error("not ChannelBound")
	}
}

// testCertificate returns a self-signed ECDSA certificate on curve.
func testCertificate(t *testing.T, curve elliptic.Curve) (tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "pgpooler test"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, leaf
}

func TestEndPointHash(t *testing.T) {
	raw := []byte("not really DER, but EndPointHash only hashes it")
	sum256, sum384, sum512 := sha256.Sum256(raw), sha512.Sum384(raw), sha512.Sum512(raw)
	for _, tc := range []struct {
		alg  x509.SignatureAlgorithm
		want []byte
	}{
		{x509.MD5WithRSA, sum256[:]}, // MD5 and SHA-1 become SHA-256 (RFC 5929 §4.1)
		{x509.SHA1WithRSA, sum256[:]},
		{x509.ECDSAWithSHA1, sum256[:]},
		{x509.DSAWithSHA1, sum256[:]},
		{x509.SHA256WithRSA, sum256[:]},
		{x509.SHA256WithRSAPSS, sum256[:]},
		{x509.ECDSAWithSHA256, sum256[:]},
		{x509.SHA384WithRSA, sum384[:]},
		{x509.ECDSAWithSHA384, sum384[:]},
		{x509.SHA512WithRSAPSS, sum512[:]},
		{x509.ECDSAWithSHA512, sum512[:]},
		{x509.PureEd25519, nil}, // no hash: binding undefined
		{x509.UnknownSignatureAlgorithm, nil},
	} {
		got := EndPointHash(&x509.Certificate{Raw: raw, SignatureAlgorithm: tc.alg})
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%v: EndPointHash = %x, want %x", tc.alg, got, tc.want)
		}
	}
	if EndPointHash(nil) != nil {
		t.Error("EndPointHash(nil) is not nil")
	}
	// A real P-384 certificate is signed with ECDSA-SHA384.
	_, leaf := testCertificate(t, elliptic.P384())
	want := sha512.Sum384(leaf.Raw)
	if leaf.SignatureAlgorithm != x509.ECDSAWithSHA384 || !bytes.Equal(EndPointHash(leaf), want[:]) {
		t.Errorf("P-384 certificate (%v): wrong EndPointHash", leaf.SignatureAlgorithm)
	}
}

func TestSCRAMServerStartErrors(t *testing.T) {
	const plus, plain = MechSCRAMSHA256Plus, MechSCRAMSHA256
	for _, tc := range []struct {
		name     string
		mech     string
		tls      bool
		msg      string
		wantFail bool
	}{
		{"no binding", plain, false, "n,,n=,r=cnonce", false},
		{"no binding over TLS", plain, true, "n,,n=,r=cnonce", false},
		{"user name and extensions ignored", plain, false, "n,,n=someone=2Celse,r=cnonce,x=ext,Y=", false},
		{"y without TLS", plain, false, "y,,n=,r=cnonce", false},
		{"bound", plus, true, "p=tls-server-end-point,,n=,r=cnonce", false},

		{"SCRAM-SHA-1", "SCRAM-SHA-1", false, "n,,n=,r=cnonce", true},
		{"no mechanism", "", false, "n,,n=,r=cnonce", true},
		{"mechanism case", "scram-sha-256", false, "n,,n=,r=cnonce", true},
		{"PLUS without TLS", plus, false, "p=tls-server-end-point,,n=,r=cnonce", true},
		{"PLUS with n", plus, true, "n,,n=,r=cnonce", true},
		{"PLUS with y", plus, true, "y,,n=,r=cnonce", true},
		{"p without PLUS", plain, true, "p=tls-server-end-point,,n=,r=cnonce", true},
		{"p without PLUS or TLS", plain, false, "p=tls-server-end-point,,n=,r=cnonce", true},
		{"tls-unique", plus, true, "p=tls-unique,,n=,r=cnonce", true},
		{"tls-exporter", plus, true, "p=tls-exporter,,n=,r=cnonce", true},
		{"empty binding type", plus, true, "p=,,n=,r=cnonce", true},
		{"y with TLS: downgrade", plain, true, "y,,n=,r=cnonce", true},
		{"authzid", plain, false, "n,a=admin,n=,r=cnonce", true},
		{"empty authzid attribute", plain, false, "n,a=,n=,r=cnonce", true},
		{"mandatory extension", plain, false, "n,,m=ext,n=,r=cnonce", true},
		{"empty", plain, false, "", true},
		{"unknown flag", plain, false, "x,,n=,r=cnonce", true},
		{"flag only", plain, false, "n", true},
		{"no comma after flag", plain, false, "nn,,n=,r=cnonce", true},
		{"p without =", plus, true, "p,,n=,r=cnonce", true},
		{"p unterminated", plus, true, "p=tls-server-end-point", true},
		{"header only", plain, false, "n,,", true},
		{"one comma", plain, false, "n,", true},
		{"no user name", plain, false, "n,,r=cnonce", true},
		{"no nonce", plain, false, "n,,n=", true},
		{"comma after user name", plain, false, "n,,n=,", true},
		{"empty nonce", plain, false, "n,,n=,r=", true},
		{"nonce with a space", plain, false, "n,,n=,r=c nonce", true},
		{"nonce with a tab", plain, false, "n,,n=,r=c\tnonce", true},
		{"non-ASCII nonce", plain, false, "n,,n=,r=cnonc\u00e9", true},
		{"nonce with DEL", plain, false, "n,,n=,r=cnonce\x7f", true},
		{"NUL", plain, false, "n,,n=,r=cnonce\x00", true},
		{"trailing comma", plain, false, "n,,n=,r=cnonce,", true},
		{"bad extension name", plain, false, "n,,n=,r=cnonce,1=2", true},
		{"extension without =", plain, false, "n,,n=,r=cnonce,x", true},
		{"attributes swapped", plain, false, "n,,r=cnonce,n=", true},
		{"too long", plain, false, "n,,n=,r=" + strings.Repeat("a", scramMaxMessage), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ep []byte
			if tc.tls {
				ep = testEndPoint
			}
			srv := NewSCRAMServer(testSecret(), ep)
			srv.newNonce = fixedNonce("snonce")
			first, err := srv.Start(tc.mech, []byte(tc.msg))
			if !tc.wantFail {
				if err != nil || string(first) != "r=cnoncesnonce,s="+b64(testSalt)+",i=4096" {
					t.Fatalf("Start = %q, %v", first, err)
				}
				return
			}
			if !errors.Is(err, ErrSCRAMProtocol) || first != nil {
				t.Fatalf("Start = %q, %v; want ErrSCRAMProtocol", first, err)
			}
			checkNoSecrets(t, err)
			// The mock fails the same way.
			mock := NewSCRAMMock("nobody", nil, ep)
			if _, mockErr := mock.Start(tc.mech, []byte(tc.msg)); mockErr == nil || mockErr.Error() != err.Error() {
				t.Errorf("mock: %v, real: %v", mockErr, err)
			}
			// The exchange is over.
			if _, err := srv.Finish([]byte("c=biws,r=cnoncesnonce,p=" + b64(make([]byte, 32)))); !errors.Is(err, ErrSCRAMProtocol) {
				t.Errorf("Finish after a failed Start: %v", err)
			}
		})
	}
}

// clientFinalFor builds a client-final-message with a correct proof for
// clientKey, from the exchange's first two messages, c= and r=, with
// extra attributes before the proof.
func clientFinalFor(clientKey []byte, clientFirstBare, serverFirst, cbind, nonce, extra string) string {
	withoutProof := "c=" + cbind + ",r=" + nonce + extra
	authMessage := clientFirstBare + "," + serverFirst + "," + withoutProof
	storedKey := sha256.Sum256(clientKey)
	return withoutProof + ",p=" + b64(xorBytes(clientKey, hmacSHA256(storedKey[:], authMessage)))
}

func TestSCRAMServerFinishErrors(t *testing.T) {
	const nonce = "cnoncesnonce"
	serverFirst := "r=" + nonce + ",s=" + b64(testSalt) + ",i=4096"
	ck := testClientKey()
	final := func(cbind, nonce, extra string) string {
		return clientFinalFor(ck, "n=,r=cnonce", serverFirst, cbind, nonce, extra)
	}
	biws := b64([]byte("n,,"))
	pHeader := "p=tls-server-end-point,,"
	bound := b64(append([]byte(pHeader), testEndPoint...))
	wrongKey := bytes.Repeat([]byte{7}, 32)
	for _, tc := range []struct {
		name   string
		header string // the client-first GS2 header
		msg    string
		want   error // nil: success
	}{
		{"valid", "n,,", final(biws, nonce, ""), nil},
		{"valid with extensions", "n,,", final(biws, nonce, ",x=1,y=2"), nil},
		{"valid y", "y,,", final(b64([]byte("y,,")), nonce, ""), nil},
		{"valid bound", pHeader, final(bound, nonce, ""), nil},

		{"wrong key", "n,,", clientFinalFor(wrongKey, "n=,r=cnonce", serverFirst, biws, nonce, ""), ErrSCRAMAuth},
		{"proof for another message", "n,,", strings.Replace(final(biws, nonce, ",x=1"), ",x=1,", ",x=2,", 1), ErrSCRAMAuth},
		{"bound to another connection", pHeader, final(b64(append([]byte(pHeader), make([]byte, 32)...)), nonce, ""), ErrSCRAMAuth},
		{"bound without data", pHeader, final(b64([]byte(pHeader)), nonce, ""), ErrSCRAMAuth},
		{"bound with n header", pHeader, final(biws, nonce, ""), ErrSCRAMProtocol},
		{"y repeated as n", "y,,", final(biws, nonce, ""), ErrSCRAMProtocol},
		{"n repeated as y", "n,,", final(b64([]byte("y,,")), nonce, ""), ErrSCRAMProtocol},
		{"n with binding data", "n,,", final(b64(append([]byte("n,,"), testEndPoint...)), nonce, ""), ErrSCRAMProtocol},
		{"c not base64", "n,,", final("biws!", nonce, ""), ErrSCRAMProtocol},
		{"c empty", "n,,", final("", nonce, ""), ErrSCRAMProtocol},
		{"client nonce only", "n,,", final(biws, "cnonce", ""), ErrSCRAMProtocol},
		{"replayed: another server nonce", "n,,", final(biws, "cnonceOTHER1", ""), ErrSCRAMProtocol},
		{"longer nonce", "n,,", final(biws, nonce+"x", ""), ErrSCRAMProtocol},
		{"no proof", "n,,", "c=" + biws + ",r=" + nonce, ErrSCRAMProtocol},
		{"empty proof", "n,,", "c=" + biws + ",r=" + nonce + ",p=", ErrSCRAMProtocol},
		{"short proof", "n,,", "c=" + biws + ",r=" + nonce + ",p=" + b64(make([]byte, 31)), ErrSCRAMProtocol},
		{"long proof", "n,,", "c=" + biws + ",r=" + nonce + ",p=" + b64(make([]byte, 33)), ErrSCRAMProtocol},
		{"proof not base64", "n,,", "c=" + biws + ",r=" + nonce + ",p=" + strings.Repeat("*", 44), ErrSCRAMProtocol},
		{"garbage after proof", "n,,", final(biws, nonce, "") + ",x=1", ErrSCRAMProtocol},
		{"trailing comma", "n,,", final(biws, nonce, "") + ",", ErrSCRAMProtocol},
		{"r before c", "n,,", "r=" + nonce + ",c=" + biws + ",p=" + b64(make([]byte, 32)), ErrSCRAMProtocol},
		{"no c", "n,,", "r=" + nonce + ",p=" + b64(make([]byte, 32)), ErrSCRAMProtocol},
		{"bad attribute", "n,,", "c=" + biws + ",r=" + nonce + ",=1,p=" + b64(make([]byte, 32)), ErrSCRAMProtocol},
		{"empty", "n,,", "", ErrSCRAMProtocol},
		{"NUL", "n,,", final(biws, nonce, "") + "\x00", ErrSCRAMProtocol},
		{"too long", "n,,", final(biws, nonce, ",x="+strings.Repeat("a", scramMaxMessage)), ErrSCRAMProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ep []byte
			mech := MechSCRAMSHA256
			if tc.header == pHeader {
				ep, mech = testEndPoint, MechSCRAMSHA256Plus
			}
			srv := NewSCRAMServer(testSecret(), ep)
			srv.newNonce = fixedNonce("snonce")
			first, err := srv.Start(mech, []byte(tc.header+"n=,r=cnonce"))
			if err != nil || string(first) != serverFirst {
				t.Fatalf("Start = %q, %v", first, err)
			}
			out, err := srv.Finish([]byte(tc.msg))
			if tc.want == nil {
				if err != nil || !strings.HasPrefix(string(out), "v=") || !bytes.Equal(srv.ClientKey(), ck) {
					t.Fatalf("Finish = %q, %v", out, err)
				}
				if srv.ChannelBound() != (tc.header == pHeader) {
					t.Errorf("ChannelBound() = %v", srv.ChannelBound())
				}
			} else if !errors.Is(err, tc.want) || out != nil || srv.ClientKey() != nil || srv.ChannelBound() {
				t.Fatalf("Finish = %q, %v; want %v", out, err, tc.want)
			}
			checkNoSecrets(t, err)

			// The mock does the same, except that it never succeeds.
			mock := NewSCRAMMock("nobody", nil, ep)
			mock.newNonce = fixedNonce("snonce")
			mock.secret.Salt = testSalt
			if _, err := mock.Start(mech, []byte(tc.header+"n=,r=cnonce")); err != nil {
				t.Fatal(err)
			}
			_, mockErr := mock.Finish([]byte(tc.msg))
			want := tc.want
			if want == nil {
				want = ErrSCRAMAuth
			}
			if !errors.Is(mockErr, want) {
				t.Errorf("mock: %v, want %v", mockErr, want)
			}
		})
	}
}

func TestSCRAMServerOutOfOrder(t *testing.T) {
	start := func() (*SCRAMServer, string) {
		srv := NewSCRAMServer(testSecret(), nil)
		srv.newNonce = fixedNonce("snonce")
		first, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce"))
		if err != nil {
			t.Fatal(err)
		}
		return srv, clientFinalFor(testClientKey(), "n=,r=cnonce", string(first), "biws", "cnoncesnonce", "")
	}
	_, good := start()

	srv := NewSCRAMServer(testSecret(), nil)
	if _, err := srv.Finish([]byte(good)); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Finish before Start: %v", err)
	}
	if _, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce")); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Start after a failed Finish: %v", err)
	}

	srv, _ = start()
	if _, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce")); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Start twice: %v", err)
	}
	if _, err := srv.Finish([]byte(good)); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Finish after Start twice: %v", err)
	}

	srv, _ = start()
	if _, err := srv.Finish([]byte("c=biws,r=cnoncesnonce,p=" + b64(make([]byte, 32)))); !errors.Is(err, ErrSCRAMAuth) {
		t.Fatalf("wrong proof: %v", err)
	}
	if _, err := srv.Finish([]byte(good)); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("a second try after a wrong proof: %v", err)
	}

	srv, _ = start()
	if _, err := srv.Finish([]byte(good)); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Finish([]byte(good)); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Finish replayed: %v", err)
	}
	if _, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce")); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Start after success: %v", err)
	}
	if !bytes.Equal(srv.ClientKey(), testClientKey()) {
		t.Error("a call out of order lost the ClientKey of a finished exchange")
	}

	// A final message from one exchange does not pass in another one.
	other := NewSCRAMServer(testSecret(), nil)
	if _, err := other.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce")); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Finish([]byte(good)); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("replayed into another exchange: %v", err)
	}
}

func TestSCRAMServerUnusableSecret(t *testing.T) {
	sec := testSecret()
	for name, s := range map[string]*SCRAMSecret{
		"nil":           nil,
		"no iterations": {Iterations: 0, Salt: sec.Salt, StoredKey: sec.StoredKey, ServerKey: sec.ServerKey},
		"no salt":       {Iterations: 4096, StoredKey: sec.StoredKey, ServerKey: sec.ServerKey},
		"short key":     {Iterations: 4096, Salt: sec.Salt, StoredKey: sec.StoredKey[:16], ServerKey: sec.ServerKey},
	} {
		srv := NewSCRAMServer(s, nil)
		if _, err := srv.Start(MechSCRAMSHA256, []byte("n,,n=,r=cnonce")); !errors.Is(err, ErrSCRAMAuth) {
			t.Errorf("%s: Start = %v, want ErrSCRAMAuth", name, err)
		}
	}
}

func TestSCRAMServerCopiesInputs(t *testing.T) {
	sec := *testSecret()
	sec.StoredKey = bytes.Clone(sec.StoredKey)
	ep := bytes.Clone(testEndPoint)
	srv := NewSCRAMServer(&sec, ep)
	sec.StoredKey[0] ^= 1
	ep[0] ^= 1
	cb := scram.ChannelBinding{Type: scram.ChannelBindingTLSServerEndpoint, Data: testEndPoint}
	if err := runXDG(t, srv, MechSCRAMSHA256Plus, xdgClient(t, testPassword).NewConversationWithChannelBinding(cb)); err != nil {
		t.Fatal(err)
	}
	k := srv.ClientKey()
	k[0] ^= 1
	if !bytes.Equal(srv.ClientKey(), testClientKey()) {
		t.Error("ClientKey returns the server's own slice")
	}
}

func TestSCRAMSecretFromPassword(t *testing.T) {
	// PostgreSQL 15: CREATE ROLE u PASSWORD 'pencil', with its salt.
	sec := SCRAMSecretFromPassword("pencil", []byte("0123456789abcdef"), 4096)
	if sec.Iterations != 4096 || string(sec.Salt) != "0123456789abcdef" || len(sec.StoredKey) != 32 || len(sec.ServerKey) != 32 {
		t.Fatalf("secret %+v has the wrong shape", sec)
	}
	// The secret and the ClientKey agree, and xdg-go/scram derives the same.
	ck := ClientKeyFromPassword("pencil", sec.Salt, 4096)
	if h := sha256.Sum256(ck); !bytes.Equal(h[:], sec.StoredKey) {
		t.Error("SHA-256(ClientKey) != StoredKey")
	}
	creds := xdgClient(t, "pencil").GetStoredCredentials(scram.KeyFactors{Salt: string(sec.Salt), Iters: 4096})
	if !bytes.Equal(creds.StoredKey, sec.StoredKey) || !bytes.Equal(creds.ServerKey, sec.ServerKey) {
		t.Error("differs from xdg-go/scram's stored credentials")
	}
	if got := SCRAMSecretFromPassword("pencil", sec.Salt, 0); got.Iterations != 1 ||
		!bytes.Equal(got.StoredKey, SCRAMSecretFromPassword("pencil", sec.Salt, 1).StoredKey) {
		t.Error("iterations 0 is not taken as 1")
	}
}

func TestPgSASLprep(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"pencil", "pencil"},
		{"", ""},
		{"ctl\x07\x7f chars", "ctl\x07\x7f chars"},   // ASCII is never changed
		{"I\u00adX", "IX"},                           // soft hyphen maps to nothing
		{"\u2168", "IX"},                             // NFKC
		{"a\u00a0b", "a b"},                          // non-ASCII space
		{"a\u200bb", "a b"},                          // PostgreSQL: ZERO WIDTH SPACE is a space
		{"\u00ad", "\u00ad"},                         // empty after mapping: as given
		{"\xff\xfe", "\xff\xfe"},                     // not UTF-8: as given
		{"\u00e9\x07", "\u00e9\x07"},                 // prohibited (control): as given
		{"\u00e9\ue000", "\u00e9\ue000"},             // prohibited (private use): as given
		{"\u00e9\u0378", "\u00e9\u0378"},             // unassigned in Unicode 3.2: as given
		{"\u0627\u0031\u0628", "\u0627\u0031\u0628"}, // RandALCat at both ends
		{"\u0627\u0031", "\u0627\u0031"},             // RandALCat not last: as given
		{"\u0627a\u0628", "\u0627a\u0628"},           // RandALCat with LCat: as given
		{"e\u0301", "\u00e9"},                        // composed
	} {
		if got := pgSASLprep(tc.in); got != tc.want {
			t.Errorf("pgSASLprep(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}
