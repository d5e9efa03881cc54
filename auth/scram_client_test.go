package auth

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// newTestClient returns a client for the test user whose nonce is "cnonce".
func newTestClient() *SCRAMClient {
	c := NewSCRAMClient(testClientKey(), testSecret())
	c.newNonce = fixedNonce("cnonce")
	return c
}

func TestSCRAMClientFirst(t *testing.T) {
	c := NewSCRAMClient(testClientKey(), testSecret())
	first := c.First()
	if !regexp.MustCompile(`^n,,n=,r=[A-Za-z0-9+/]{32}$`).Match(first) {
		t.Fatalf("First() = %q", first)
	}
	if again := c.First(); !bytes.Equal(again, first) {
		t.Errorf("First() changed: %q, then %q", first, again)
	}
	if other := NewSCRAMClient(testClientKey(), testSecret()).First(); bytes.Equal(other, first) {
		t.Error("two clients use the same nonce")
	}
}

// TestSCRAMClientServer logs in with a ClientKey through our own server.
func TestSCRAMClientServer(t *testing.T) {
	c := NewSCRAMClient(testClientKey(), testSecret())
	srv := NewSCRAMServer(testSecret(), nil)
	serverFirst, err := srv.Start(MechSCRAMSHA256, c.First())
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	serverFinal, err := srv.Finish(final)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(serverFinal); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(srv.ClientKey(), testClientKey()) {
		t.Error("the server recovered another ClientKey")
	}

	// A wrong ClientKey gets a wrong proof.
	wrong := bytes.Clone(testClientKey())
	wrong[0] ^= 1
	c = NewSCRAMClient(wrong, testSecret())
	srv = NewSCRAMServer(testSecret(), nil)
	serverFirst, _ = srv.Start(MechSCRAMSHA256, c.First())
	final, err = c.Final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Finish(final); !errors.Is(err, ErrSCRAMAuth) {
		t.Errorf("wrong ClientKey: %v, want ErrSCRAMAuth", err)
	}
}

// TestSCRAMClientXDGServer logs in through github.com/xdg-go/scram's server,
// which knows only the stored secret.
func TestSCRAMClientXDGServer(t *testing.T) {
	sec := testSecret()
	server, err := scram.SHA256.NewServer(func(string) (scram.StoredCredentials, error) {
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(sec.Salt), Iters: sec.Iterations},
			StoredKey:  sec.StoredKey,
			ServerKey:  sec.ServerKey,
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conv := server.NewConversation()
	c := NewSCRAMClient(testClientKey(), sec)
	serverFirst, err := conv.Step(string(c.First()))
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Final([]byte(serverFirst))
	if err != nil {
		t.Fatal(err)
	}
	serverFinal, err := conv.Step(string(final))
	if err != nil || !conv.Valid() {
		t.Fatalf("xdg-go/scram server refuses the proof: %v", err)
	}
	if err := c.Verify([]byte(serverFinal)); err != nil {
		t.Fatal(err)
	}
}

func TestSCRAMClientFinalErrors(t *testing.T) {
	salt, otherSalt := b64(testSalt), b64([]byte("another salt 16b"))
	for _, tc := range []struct {
		name string
		msg  string
		want error // nil: success
	}{
		{"valid", "r=cnonceSN,s=" + salt + ",i=4096", nil},
		{"valid with extensions", "r=cnonceSN,s=" + salt + ",i=4096,x=1,y=", nil},

		{"other salt", "r=cnonceSN,s=" + otherSalt + ",i=4096", ErrSCRAMSecretMismatch},
		{"other iterations", "r=cnonceSN,s=" + salt + ",i=4097", ErrSCRAMSecretMismatch},

		{"client nonce only", "r=cnonce,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"another nonce", "r=xnonceSN,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"prefix of the nonce", "r=cnon,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"non-printable nonce", "r=cnonce S,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"non-ASCII nonce", "r=cnonce\u00e9,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"mandatory extension", "m=x,r=cnonceSN,s=" + salt + ",i=4096", ErrSCRAMProtocol},
		{"salt not base64", "r=cnonceSN,s=!!!!,i=4096", ErrSCRAMProtocol},
		{"empty salt", "r=cnonceSN,s=,i=4096", ErrSCRAMProtocol},
		{"iterations 0", "r=cnonceSN,s=" + salt + ",i=0", ErrSCRAMProtocol},
		{"negative iterations", "r=cnonceSN,s=" + salt + ",i=-4096", ErrSCRAMProtocol},
		{"iterations with +", "r=cnonceSN,s=" + salt + ",i=+4096", ErrSCRAMProtocol},
		{"iterations not a number", "r=cnonceSN,s=" + salt + ",i=many", ErrSCRAMProtocol},
		{"iterations too large", "r=cnonceSN,s=" + salt + ",i=4294967296", ErrSCRAMProtocol},
		{"empty iterations", "r=cnonceSN,s=" + salt + ",i=", ErrSCRAMProtocol},
		{"no iterations", "r=cnonceSN,s=" + salt, ErrSCRAMProtocol},
		{"no salt", "r=cnonceSN,i=4096", ErrSCRAMProtocol},
		{"swapped", "s=" + salt + ",r=cnonceSN,i=4096", ErrSCRAMProtocol},
		{"trailing comma", "r=cnonceSN,s=" + salt + ",i=4096,", ErrSCRAMProtocol},
		{"server error", "e=other-error", ErrSCRAMProtocol},
		{"empty", "", ErrSCRAMProtocol},
		{"NUL", "r=cnonceSN,s=" + salt + ",i=4096\x00", ErrSCRAMProtocol},
		{"too long", "r=cnonceSN,s=" + salt + ",i=4096,x=" + strings.Repeat("a", scramMaxMessage), ErrSCRAMProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient()
			c.First()
			final, err := c.Final([]byte(tc.msg))
			if tc.want == nil {
				if err != nil || !strings.HasPrefix(string(final), "c=biws,r=cnonceSN,p=") {
					t.Fatalf("Final = %q, %v", final, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || final != nil {
				t.Fatalf("Final = %q, %v; want %v", final, err, tc.want)
			}
			checkNoSecrets(t, err)
			if err := c.Verify([]byte("v=" + b64(make([]byte, 32)))); !errors.Is(err, ErrSCRAMProtocol) {
				t.Errorf("Verify after a failed Final: %v", err)
			}
		})
	}
}

func TestSCRAMClientUnusable(t *testing.T) {
	sec := testSecret()
	serverFirst := []byte("r=cnonceSN,s=" + b64(sec.Salt) + ",i=4096")
	for name, c := range map[string]*SCRAMClient{
		"nil secret":      NewSCRAMClient(testClientKey(), nil),
		"short ClientKey": NewSCRAMClient(testClientKey()[:31], sec),
		"no ClientKey":    NewSCRAMClient(nil, sec),
		"short ServerKey": NewSCRAMClient(testClientKey(), &SCRAMSecret{Iterations: 4096, Salt: sec.Salt, StoredKey: sec.StoredKey, ServerKey: sec.ServerKey[:8]}),
	} {
		c.newNonce = fixedNonce("cnonce")
		c.First()
		if _, err := c.Final(serverFirst); !errors.Is(err, ErrSCRAMSecretMismatch) {
			t.Errorf("%s: Final = %v, want ErrSCRAMSecretMismatch", name, err)
		}
	}
}

func TestSCRAMClientVerifyErrors(t *testing.T) {
	// The right server-final-message, from our server with the same nonces.
	srv := NewSCRAMServer(testSecret(), nil)
	srv.newNonce = fixedNonce("SN")
	c := newTestClient()
	serverFirst, err := srv.Start(MechSCRAMSHA256, c.First())
	if err != nil {
		t.Fatal(err)
	}
	final, err := c.Final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	good, err := srv.Finish(final)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		msg  string
		want error // nil: success
	}{
		{"valid", string(good), nil},
		{"valid with extension", string(good) + ",x=1", nil},

		{"server error", "e=invalid-proof", ErrSCRAMAuth},
		{"server error, unprintable", "e=bad\x01\xff", ErrSCRAMAuth},
		{"wrong signature", "v=" + b64(make([]byte, 32)), ErrSCRAMAuth},

		{"short signature", "v=" + b64(make([]byte, 31)), ErrSCRAMProtocol},
		{"signature not base64", "v=*", ErrSCRAMProtocol},
		{"empty signature", "v=", ErrSCRAMProtocol},
		{"unknown attribute", "x=1", ErrSCRAMProtocol},
		{"no attribute", "v", ErrSCRAMProtocol},
		{"trailing comma", string(good) + ",", ErrSCRAMProtocol},
		{"empty", "", ErrSCRAMProtocol},
		{"NUL", string(good) + "\x00", ErrSCRAMProtocol},
		{"too long", string(good) + ",x=" + strings.Repeat("a", scramMaxMessage), ErrSCRAMProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient()
			c.First()
			if _, err := c.Final(serverFirst); err != nil {
				t.Fatal(err)
			}
			err := c.Verify([]byte(tc.msg))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
			if tc.name == "server error" && !strings.Contains(err.Error(), "invalid-proof") {
				t.Errorf("Verify = %v, does not name the server's error", err)
			}
			checkNoSecrets(t, err)
		})
	}
}

func TestSCRAMClientOutOfOrder(t *testing.T) {
	serverFirst := []byte("r=cnonceSN,s=" + b64(testSalt) + ",i=4096")
	c := newTestClient()
	if _, err := c.Final(serverFirst); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Final before First: %v", err)
	}
	c = newTestClient()
	if err := c.Verify([]byte("v=" + b64(make([]byte, 32)))); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Verify before First: %v", err)
	}
	c = newTestClient()
	c.First()
	if err := c.Verify([]byte("v=" + b64(make([]byte, 32)))); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Verify before Final: %v", err)
	}
	c = newTestClient()
	c.First()
	if _, err := c.Final(serverFirst); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Final(serverFirst); !errors.Is(err, ErrSCRAMProtocol) {
		t.Errorf("Final twice: %v", err)
	}
}

func TestSCRAMClientCopiesInputs(t *testing.T) {
	key := bytes.Clone(testClientKey())
	sec := *testSecret()
	sec.ServerKey = bytes.Clone(sec.ServerKey)
	c := NewSCRAMClient(key, &sec)
	key[0] ^= 1
	sec.ServerKey[0] ^= 1
	srv := NewSCRAMServer(testSecret(), nil)
	serverFirst, _ := srv.Start(MechSCRAMSHA256, c.First())
	final, err := c.Final(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	serverFinal, err := srv.Finish(final)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(serverFinal); err != nil {
		t.Fatal(err)
	}
}

// TestServerFirstIterations: the iteration count of a server-first-message is read as SCRAMClient reads
// it, and a count over MaxSCRAMIterations fails with ErrSCRAMIterations (an ErrSCRAMProtocol) naming
// both numbers, before anyone computes PBKDF2 with it.
func TestServerFirstIterations(t *testing.T) {
	salt := b64(testSalt)
	for _, tt := range []struct {
		iterations string
		want       int
		err        error
	}{
		{"4096", 4096, nil},
		{"1", 1, nil},
		{"1000000", MaxSCRAMIterations, nil},
		{"1000001", 0, ErrSCRAMIterations},
		{"2000000000", 0, ErrSCRAMIterations},
		{"2147483647", 0, ErrSCRAMIterations},
		{"2147483648", 0, ErrSCRAMProtocol},
		{"0", 0, ErrSCRAMProtocol},
		{"-1", 0, ErrSCRAMProtocol},
		{"+5", 0, ErrSCRAMProtocol},
		{"", 0, ErrSCRAMProtocol},
	} {
		n, err := ServerFirstIterations([]byte("r=abc,s=" + salt + ",i=" + tt.iterations))
		if n != tt.want || (tt.err == nil) != (err == nil) || tt.err != nil && !errors.Is(err, tt.err) {
			t.Errorf("i=%s: %d, %v; want %d, %v", tt.iterations, n, err, tt.want, tt.err)
		}
		if errors.Is(err, ErrSCRAMIterations) && (!errors.Is(err, ErrSCRAMProtocol) || !strings.Contains(err.Error(), tt.iterations) || !strings.Contains(err.Error(), "1000000")) {
			t.Errorf("i=%s: %v does not wrap ErrSCRAMProtocol or name the count and the limit", tt.iterations, err)
		}
	}
}
