package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// TestSCRAMAgainstPostgreSQL checks the SCRAM code against a real
// PostgreSQL: secrets derived like pg_authid's, logins with a ClientKey
// (SCRAM passthrough), and the errors PostgreSQL gives.
func TestSCRAMAgainstPostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	if _, err := pgtest.FindBinDir(); err != nil {
		t.Skip(err)
	}
	pg := pgtest.StartT(t, pgtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	super, err := pgx.Connect(ctx, pg.SuperConnString("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(context.Background())

	// Passwords that exercise SASLprep as PostgreSQL does it.
	roles := []struct{ name, password string }{
		{"scram_ascii", "s3cret pass'word"},
		{"scram_ascii_control", "ctl\x07word\x7f"},                            // ASCII: used as is
		{"scram_mapped", "p\u00e4ss\u00adw\u00f6rd\u00a0\u200b\u2168e\u0301"}, // mapped and NFKC'd
		{"scram_prohibited", "p\u00e4ssword\ue000"},                           // SASLprep fails: used as is
		{"scram_bidi", "\u0627\u0031\u0628"},
	}
	for _, role := range roles {
		t.Run(role.name, func(t *testing.T) {
			if err := pg.CreateRole(ctx, role.name, role.password); err != nil {
				t.Fatal(err)
			}
			var stored string
			err := super.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", role.name).Scan(&stored)
			if err != nil {
				t.Fatal(err)
			}
			sec, err := ParseSCRAMSecret(stored)
			if err != nil {
				t.Fatal(err)
			}
			derived := SCRAMSecretFromPassword(role.password, sec.Salt, sec.Iterations)
			if derived.Iterations != sec.Iterations || !bytes.Equal(derived.Salt, sec.Salt) ||
				!bytes.Equal(derived.StoredKey, sec.StoredKey) || !bytes.Equal(derived.ServerKey, sec.ServerKey) {
				t.Fatal("SCRAMSecretFromPassword differs from pg_authid.rolpassword")
			}
			clientKey := ClientKeyFromPassword(role.password, sec.Salt, sec.Iterations)
			if code, err := pgLogin(t, pg, role.name, NewSCRAMClient(clientKey, sec)); err != nil || code != "" {
				t.Fatalf("login with the ClientKey: %s, %v", code, err)
			}
		})
	}

	name, password := roles[0].name, roles[0].password
	var stored string
	if err := super.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", name).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	sec, err := ParseSCRAMSecret(stored)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("wrong ClientKey", func(t *testing.T) {
		key := ClientKeyFromPassword("not the password", sec.Salt, sec.Iterations)
		if code, err := pgLogin(t, pg, name, NewSCRAMClient(key, sec)); err != nil || code != "28P01" {
			t.Fatalf("got %q, %v; want ErrorResponse 28P01", code, err)
		}
	})

	t.Run("changed salt", func(t *testing.T) {
		other := *sec
		other.Salt = append(bytes.Clone(sec.Salt), 0)
		key := ClientKeyFromPassword(password, other.Salt, other.Iterations)
		if code, err := pgLogin(t, pg, name, NewSCRAMClient(key, &other)); !errors.Is(err, ErrSCRAMSecretMismatch) {
			t.Fatalf("got %q, %v; want ErrSCRAMSecretMismatch", code, err)
		}
	})

	// Passthrough: a client logs in to our server with its password (it
	// knows nothing of ClientKeys), our server recovers the ClientKey, and
	// the pooler logs in to PostgreSQL with it.
	t.Run("passthrough", func(t *testing.T) {
		srv := NewSCRAMServer(sec, nil)
		if err := runXDG(t, srv, MechSCRAMSHA256, xdgClient(t, password).NewConversation()); err != nil {
			t.Fatal(err)
		}
		if code, err := pgLogin(t, pg, name, NewSCRAMClient(srv.ClientKey(), sec)); err != nil || code != "" {
			t.Fatalf("passthrough login: %s, %v", code, err)
		}
	})
}

// pgLogin logs in to pg as user over TCP with c. It returns "" when
// PostgreSQL sent ReadyForQuery, the SQLSTATE of an ErrorResponse, or the
// error of c or of the connection.
func pgLogin(t *testing.T, pg *pgtest.Server, user string, c *SCRAMClient) (string, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), 10*time.Second)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	fe := pgproto3.NewFrontend(nc, nc)
	send := func(msg pgproto3.FrontendMessage) error {
		fe.Send(msg)
		return fe.Flush()
	}
	err = send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": user, "database": "postgres"},
	})
	if err != nil {
		return "", err
	}
	verified := false
	for {
		msg, err := fe.Receive()
		if err != nil {
			return "", err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationSASL:
			if !slices.Contains(m.AuthMechanisms, MechSCRAMSHA256) {
				return "", fmt.Errorf("PostgreSQL offers %q", m.AuthMechanisms)
			}
			err = send(&pgproto3.SASLInitialResponse{AuthMechanism: MechSCRAMSHA256, Data: c.First()})
		case *pgproto3.AuthenticationSASLContinue:
			var final []byte
			if final, err = c.Final(m.Data); err != nil {
				return "", err
			}
			err = send(&pgproto3.SASLResponse{Data: final})
		case *pgproto3.AuthenticationSASLFinal:
			err = c.Verify(m.Data)
			verified = err == nil
		case *pgproto3.AuthenticationOk:
			if !verified {
				return "", errors.New("AuthenticationOk without a verified AuthenticationSASLFinal")
			}
		case *pgproto3.ErrorResponse:
			return m.Code, nil
		case *pgproto3.ReadyForQuery:
			return "", send(&pgproto3.Terminate{})
		case *pgproto3.ParameterStatus, *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
		default:
			return "", fmt.Errorf("unexpected %T", msg)
		}
		if err != nil {
			return "", err
		}
	}
}
