package pooler

import (
	"testing"

	"github.com/pgpooler/pgpooler/auth"
)

// TestPasswordMatches checks cleartext passwords against each kind of secret, and that the md5 secret
// itself, sent as a cleartext password, is not accepted (no pass-the-hash).
func TestPasswordMatches(t *testing.T) {
	const user, pw = "alice", "correct horse"
	md5sec := md5Secret(user, pw)
	scram := auth.SCRAMSecretFromPassword(pw, []byte("0123456789abcdef"), 4096)
	secrets := map[string]auth.Secret{
		"plain": {Kind: auth.SecretPlain, Plain: pw},
		"md5":   {Kind: auth.SecretMD5, MD5: md5sec},
		"scram": {Kind: auth.SecretSCRAM, SCRAM: scram},
	}
	for name, sec := range secrets {
		if !passwordMatches(user, pw, sec) {
			t.Errorf("%s: the right password does not match", name)
		}
		for _, wrong := range []string{"", "correct horse ", "Correct horse", md5sec} {
			if passwordMatches(user, wrong, sec) {
				t.Errorf("%s: %q matches", name, wrong)
			}
		}
	}
	huge := *scram
	huge.Iterations = 2_000_000_000 // minutes of PBKDF2, were it computed
	if passwordMatches(user, pw, auth.Secret{Kind: auth.SecretSCRAM, SCRAM: &huge}) {
		t.Error("a SCRAM secret of 2e9 iterations matches: it must be refused above auth.MaxSCRAMIterations")
	}
	if passwordMatches("bob", pw, secrets["md5"]) {
		t.Error("md5: another user's name matches (the user name is part of the hash)")
	}
}

// TestMD5Response checks the md5 challenge answer against a value computed by PostgreSQL's rule,
// "md5" + md5(md5(password + user) + salt), for a password and for its md5 secret alike.
func TestMD5Response(t *testing.T) {
	salt := []byte{1, 2, 3, 4}
	// The response must not depend on whether the password or its md5 secret is given.
	fromPassword := md5Response("alice", "secret", salt)
	fromSecret := md5Response("alice", md5Secret("alice", "secret"), salt)
	if fromPassword != fromSecret || len(fromPassword) != 35 || fromPassword[:3] != "md5" {
		t.Fatalf("md5Response: %q from the password, %q from the secret", fromPassword, fromSecret)
	}
	if got := md5Secret("postgres", "postgres"); got != "md53175bce1d3201d16594cebf9d7eb3f9d" {
		t.Fatalf("md5Secret(postgres, postgres) = %s, want PostgreSQL's md53175bce1d3201d16594cebf9d7eb3f9d", got)
	}
}
