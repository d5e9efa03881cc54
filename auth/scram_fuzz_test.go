package auth

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// checkSentinel fails the test unless err wraps exactly one of allowed.
func checkSentinel(t *testing.T, err error, allowed ...error) {
	t.Helper()
	n := 0
	for _, s := range allowed {
		if errors.Is(err, s) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("error %v wraps %d of %v", err, n, allowed)
	}
	checkNoSecrets(t, err)
}

// FuzzSCRAMServerStart feeds Start any mechanism and client-first-message,
// over TLS or not. It never panics, fails only with ErrSCRAMProtocol, and a
// mock exchange answers exactly like a real one.
func FuzzSCRAMServerStart(f *testing.F) {
	for _, seed := range []struct {
		mech, msg string
		tls       bool
	}{
		{MechSCRAMSHA256, "n,,n=,r=cnonce", false},
		{MechSCRAMSHA256, "n,,n=user,r=rOprNGfwEbeRWgbNEkqO,x=ext", true},
		{MechSCRAMSHA256, "y,,n=,r=cnonce", false},
		{MechSCRAMSHA256, "y,,n=,r=cnonce", true},
		{MechSCRAMSHA256Plus, "p=tls-server-end-point,,n=,r=cnonce", true},
		{MechSCRAMSHA256Plus, "p=tls-unique,,n=,r=cnonce", true},
		{MechSCRAMSHA256, "n,a=admin,n=,r=cnonce", false},
		{MechSCRAMSHA256, "n,,m=ext,n=,r=cnonce", false},
		{MechSCRAMSHA256, "n,,n=,r=", false},
		{MechSCRAMSHA256, "n,,n=,r=cnonce,", false},
		{"SCRAM-SHA-1", "n,,n=,r=cnonce", false},
	} {
		f.Add(seed.mech, []byte(seed.msg), seed.tls)
	}
	f.Fuzz(func(t *testing.T, mech string, msg []byte, tls bool) {
		var ep []byte
		if tls {
			ep = testEndPoint
		}
		srv := NewSCRAMServer(testSecret(), ep)
		srv.newNonce = fixedNonce("snonce")
		first, err := srv.Start(mech, msg)
		mock := NewSCRAMMock("nobody", []byte("key"), ep)
		mock.newNonce = fixedNonce("snonce")
		mockFirst, mockErr := mock.Start(mech, msg)
		if (err == nil) != (mockErr == nil) || err != nil && err.Error() != mockErr.Error() {
			t.Fatalf("real: %v, mock: %v", err, mockErr)
		}
		if err != nil {
			checkSentinel(t, err, ErrSCRAMProtocol, ErrSCRAMAuth, ErrSCRAMSecretMismatch)
			if !errors.Is(err, ErrSCRAMProtocol) || first != nil || mockFirst != nil {
				t.Fatalf("Start = %q, %v", first, err)
			}
			return
		}
		nonce, _, _ := strings.Cut(strings.TrimPrefix(string(first), "r="), ",")
		if !strings.HasPrefix(string(first), "r=") || !strings.HasSuffix(nonce, "snonce") || !isPrintable(nonce) {
			t.Fatalf("server-first-message %q", first)
		}
		if !bytes.HasSuffix(first, []byte(",i=4096")) || !bytes.HasSuffix(mockFirst, []byte(",i=4096")) {
			t.Fatalf("iterations: %q, %q", first, mockFirst)
		}
	})
}

// FuzzSCRAMServerFinish feeds Finish any client-final-message after a valid
// start (n, y or p=tls-server-end-point). It never panics, fails only with
// ErrSCRAMProtocol or ErrSCRAMAuth, succeeds only with the right ClientKey,
// and a mock exchange never succeeds.
func FuzzSCRAMServerFinish(f *testing.F) {
	const nonce = "cnoncesnonce"
	serverFirst := "r=" + nonce + ",s=" + b64(testSalt) + ",i=4096"
	pHeader := "p=tls-server-end-point,,"
	headers := []string{"n,,", "y,,", pHeader}
	valid := func(cbind, extra string) string {
		return clientFinalFor(testClientKey(), "n=,r=cnonce", serverFirst, cbind, nonce, extra)
	}
	biws := b64([]byte("n,,"))
	for _, seed := range []struct {
		header uint8
		msg    string
	}{
		{0, valid(biws, "")},
		{0, valid(biws, ",x=ext")},
		{1, valid(b64([]byte("y,,")), "")},
		{2, valid(b64(append([]byte(pHeader), testEndPoint...)), "")},
		{2, valid(b64([]byte(pHeader)), "")},
		{0, clientFinalFor(make([]byte, 32), "n=,r=cnonce", serverFirst, biws, nonce, "")},
		{0, "c=biws,r=" + nonce + ",p=" + b64(make([]byte, 31))},
		{0, "c=biws,r=cnonce,p=" + b64(make([]byte, 32))},
		{0, "c=biws,r=" + nonce},
		{0, "c=biws,r=" + nonce + ",p=,"},
		{0, ""},
	} {
		f.Add(seed.header, []byte(seed.msg))
	}
	f.Fuzz(func(t *testing.T, h uint8, msg []byte) {
		header := headers[int(h)%len(headers)]
		var ep []byte
		mech := MechSCRAMSHA256
		if header == pHeader {
			ep, mech = testEndPoint, MechSCRAMSHA256Plus
		}
		srv := NewSCRAMServer(testSecret(), ep)
		srv.newNonce = fixedNonce("snonce")
		mock := NewSCRAMMock("nobody", nil, ep)
		mock.newNonce = fixedNonce("snonce")
		mock.secret.Salt = testSalt // the same server-first-message
		for _, s := range []*SCRAMServer{srv, mock} {
			if first, err := s.Start(mech, []byte(header+"n=,r=cnonce")); err != nil || string(first) != serverFirst {
				t.Fatalf("Start = %q, %v", first, err)
			}
		}
		final, err := srv.Finish(msg)
		if err != nil {
			checkSentinel(t, err, ErrSCRAMProtocol, ErrSCRAMAuth)
			if final != nil || srv.ClientKey() != nil || srv.ChannelBound() {
				t.Fatal("a failed Finish left results")
			}
		} else {
			key := srv.ClientKey()
			if stored := sha256.Sum256(key); !bytes.Equal(stored[:], testSecret().StoredKey) || !bytes.HasPrefix(final, []byte("v=")) {
				t.Fatalf("Finish succeeded with a wrong ClientKey or answer %q", final)
			}
			if srv.ChannelBound() != (header == pHeader) {
				t.Fatal("ChannelBound is wrong")
			}
		}
		_, mockErr := mock.Finish(msg)
		if mockErr == nil {
			t.Fatal("a mock exchange succeeded")
		}
		checkSentinel(t, mockErr, ErrSCRAMProtocol, ErrSCRAMAuth)
		if err != nil && mockErr.Error() != err.Error() {
			t.Fatalf("real: %v, mock: %v", err, mockErr)
		}
	})
}

// FuzzSCRAMClient feeds a client any server-first-message and, when Final
// accepts it, any server-final-message. It never panics, Final fails only
// with ErrSCRAMProtocol or ErrSCRAMSecretMismatch, Verify only with
// ErrSCRAMProtocol or ErrSCRAMAuth.
func FuzzSCRAMClient(f *testing.F) {
	// A real exchange with fixed nonces gives the right answers.
	srv := NewSCRAMServer(testSecret(), nil)
	srv.newNonce = fixedNonce("SN")
	c := newTestClient()
	serverFirst, err := srv.Start(MechSCRAMSHA256, c.First())
	if err != nil {
		f.Fatal(err)
	}
	final, err := c.Final(serverFirst)
	if err != nil {
		f.Fatal(err)
	}
	serverFinal, err := srv.Finish(final)
	if err != nil {
		f.Fatal(err)
	}
	salt := b64(testSalt)
	f.Add(serverFirst, serverFinal)
	f.Add(serverFirst, []byte("e=invalid-proof"))
	f.Add(serverFirst, []byte("v="+b64(make([]byte, 32))))
	f.Add(append(bytes.Clone(serverFirst), ",x=1"...), serverFinal)
	f.Add([]byte("r=cnonceSN,s="+b64([]byte("other salt"))+",i=4096"), serverFinal)
	f.Add([]byte("r=cnonceSN,s="+salt+",i=10000"), serverFinal)
	f.Add([]byte("r=cnonce,s="+salt+",i=4096"), serverFinal)
	f.Add([]byte("m=x,r=cnonceSN,s="+salt+",i=4096"), serverFinal)
	f.Add([]byte("r=cnonceSN,s="+salt+",i=-1"), serverFinal)
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("r=cnonceSN,s="+salt+",i=2000000000"), serverFinal)
	f.Fuzz(func(t *testing.T, first, last []byte) {
		// ServerFirstIterations, which bounds the PBKDF2 work a password login does, reads the same.
		n, nerr := ServerFirstIterations(first)
		if nerr != nil {
			checkSentinel(t, nerr, ErrSCRAMProtocol)
		} else if n < 1 || n > MaxSCRAMIterations {
			t.Fatalf("ServerFirstIterations(%q) = %d", first, n)
		}
		c := newTestClient()
		c.First()
		final, err := c.Final(first)
		if err == nil && nerr != nil && !errors.Is(nerr, ErrSCRAMIterations) {
			t.Fatalf("Final accepts %q, ServerFirstIterations refuses it: %v", first, nerr)
		}
		if err != nil {
			checkSentinel(t, err, ErrSCRAMProtocol, ErrSCRAMSecretMismatch)
			if final != nil {
				t.Fatal("a failed Final returned a message")
			}
			return
		}
		if !bytes.HasPrefix(final, []byte("c=biws,r=cnonce")) {
			t.Fatalf("client-final-message %q", final)
		}
		if err := c.Verify(last); err != nil {
			checkSentinel(t, err, ErrSCRAMProtocol, ErrSCRAMAuth)
		} else if !bytes.HasPrefix(last, []byte("v=")) {
			t.Fatalf("Verify accepted %q", last)
		}
	})
}
