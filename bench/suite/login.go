package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/xdg-go/scram"
)

// loginer logs clients in as appUser with SCRAM-SHA-256. It shares one xdg-go/scram client, which
// caches the salted password per salt and iteration count: the PBKDF2 of SCRAM is paid once, not per
// login, so the client's cost stays out of what the measurements compare.
type loginer struct {
	scram *scram.Client
}

func newLoginer() (*loginer, error) {
	c, err := scram.SHA256.NewClient(appUser, appPassword, "")
	if err != nil {
		return nil, err
	}
	return &loginer{scram: c}, nil
}

// login connects to e and logs in to appDB (StartupMessage, SCRAM-SHA-256 exchange, up to
// ReadyForQuery; PostgreSQL protocol docs, "Start-up" and "SASL Authentication"), within ctx. It
// returns the logged-in connection, on which nothing is buffered.
func (l *loginer) login(ctx context.Context, e endpoint) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", e.addr())
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if err := l.handshake(conn); err != nil {
		conn.Close()
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, nil
}

func (l *loginer) handshake(conn net.Conn) error {
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{
		ProtocolVersion: pgproto3.ProtocolVersionNumber,
		Parameters:      map[string]string{"user": appUser, "database": appDB},
	})
	if err := fe.Flush(); err != nil {
		return err
	}
	conv := l.scram.NewConversation()
	for {
		msg, err := fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.AuthenticationSASL:
			first, err := conv.Step("")
			if err != nil {
				return err
			}
			fe.Send(&pgproto3.SASLInitialResponse{AuthMechanism: "SCRAM-SHA-256", Data: []byte(first)})
		case *pgproto3.AuthenticationSASLContinue:
			final, err := conv.Step(string(m.Data))
			if err != nil {
				return err
			}
			fe.Send(&pgproto3.SASLResponse{Data: []byte(final)})
		case *pgproto3.AuthenticationSASLFinal:
			if _, err := conv.Step(string(m.Data)); err != nil {
				return fmt.Errorf("server's SCRAM signature: %w", err)
			}
			continue
		case *pgproto3.AuthenticationOk, *pgproto3.ParameterStatus, *pgproto3.BackendKeyData, *pgproto3.NoticeResponse:
			continue
		case *pgproto3.ReadyForQuery:
			return nil
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("%s %s: %s", m.Severity, m.Code, m.Message)
		default:
			return fmt.Errorf("unexpected %T during login", msg)
		}
		if err := fe.Flush(); err != nil {
			return err
		}
	}
}

// selectOne logs in to e, runs SELECT 1 and closes: a warm-up that makes the pooler open its first
// server connection.
func (l *loginer) selectOne(ctx context.Context, e endpoint) error {
	conn, err := l.login(ctx, e)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.Query{String: "SELECT 1"})
	if err := fe.Flush(); err != nil {
		return err
	}
	var failed error
	for {
		msg, err := fe.Receive()
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			failed = errors.New(m.Message)
		case *pgproto3.ReadyForQuery:
			fe.Send(&pgproto3.Terminate{})
			_ = fe.Flush()
			return failed
		}
	}
}

// terminate sends Terminate and closes conn.
func terminate(conn net.Conn) {
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write([]byte{'X', 0, 0, 0, 4})
	conn.Close()
}
