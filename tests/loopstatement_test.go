package tests

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsStatementMode: pool_mode = statement (PgBouncer doc/config.md) on the event loops
// (event_loops), with max_prepared_statements 0 and > 0, the clients enrolled there (LoopConns): simple
// and extended queries answered; a BEGIN answered with 0A000 and ReadyForQuery 'I', the server rolled
// back and lent again (pool of 1: the same backend, no row of the rolled-back INSERT); statements
// written in one go (simple and extended) each on a link of their own, in order; COPY in and out, and a
// statement written right behind CopyDone answered after the COPY.
func TestEventLoopsStatementMode(t *testing.T) {
	for _, maxPrepared := range []int{0, 100} {
		t.Run(fmt.Sprintf("max_prepared_statements=%d", maxPrepared), func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeStatement
				c.Pooler.DefaultPoolSize = 1
				c.Pooler.MaxPreparedStatements = maxPrepared
				c.Pooler.ServerTLSSSLMode = "disable"
				c.Pooler.EventLoops = true
			})
			ctx := context.Background()
			base := tp.srv.LoopConns()
			app := tp.connect(t)
			eventually(t, 5*time.Second, "the statement-mode client enrolled on the loops (LoopConns above its count before)", func() bool {
				return tp.srv.LoopConns() > base
			})
			modes := []pgx.QueryExecMode{pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec}
			if maxPrepared > 0 {
				modes = append(modes, pgx.QueryExecModeCacheStatement)
			}
			for _, mode := range modes {
				for i := range 5 {
					var got int
					if err := app.QueryRow(ctx, "SELECT $1::int + 1", mode, i).Scan(&got); err != nil || got != i+1 {
						t.Fatalf("%s query %d: %d, %v", mode, i, got, err)
					}
				}
			}
			table := fmt.Sprintf("loop_statement_%d_%d", maxPrepared, time.Now().UnixNano())
			mustExec(t, app, "CREATE TABLE "+table+" (v int)")
			t.Cleanup(func() { _, _ = superConnTo(t, appDB).Exec(context.Background(), "DROP TABLE IF EXISTS "+table) })

			// A transaction block: 0A000, rolled back, the same server lent again.
			pid := serverPID(t, app)
			for _, mode := range modes[:2] {
				_, err := app.Exec(ctx, "BEGIN", mode)
				wantPgError(t, err, "BEGIN "+mode.String(), pgerrcode.FeatureNotSupported, "transaction blocks are not allowed in statement pooling mode")
			}
			_, err := app.Exec(ctx, "BEGIN; INSERT INTO "+table+" VALUES (1)", pgx.QueryExecModeSimpleProtocol)
			wantPgError(t, err, "BEGIN; INSERT", pgerrcode.FeatureNotSupported, "the transaction was rolled back")
			var n int
			if err := app.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
				t.Fatalf("rows after the refused transaction block: %d, %v; want 0 (rolled back)", n, err)
			}
			if got := serverPID(t, app); got != pid {
				t.Fatalf("backend %d after the rolled-back transaction blocks, want %d (the same server, back in its pool)", got, pid)
			}

			// COPY in and out.
			if _, err := app.PgConn().CopyFrom(ctx, strings.NewReader("7\n8\n"), "COPY "+table+" FROM STDIN"); err != nil {
				t.Fatalf("COPY FROM STDIN: %v", err)
			}
			var out bytes.Buffer
			if _, err := app.PgConn().CopyTo(ctx, &out, "COPY "+table+" TO STDOUT"); err != nil || out.String() != "7\n8\n" {
				t.Fatalf("COPY TO STDOUT: %q, %v; want the two rows", out.String(), err)
			}

			// Written in one go, each answered on a link of its own.
			base = tp.srv.LoopConns()
			conn, fe := rawLogin(t, tp.addr())
			_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
			eventually(t, 5*time.Second, "the raw statement-mode client enrolled on the loops", func() bool { return tp.srv.LoopConns() > base })
			fe.Send(&pgproto3.Query{String: "BEGIN; INSERT INTO " + table + " VALUES (2)"})
			orderExpect(t, fe, "pipelined simple statements", "SELECT count(*), 0 FROM "+table+" WHERE v = 2",
				"CommandComplete(BEGIN)", "CommandComplete(INSERT 0 1)", "ErrorResponse(0A000)", "ReadyForQuery(I)", "RowDescription(2)", "DataRow(0,0)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
			for _, q := range []string{"BEGIN", "SELECT 5, 6"} {
				fe.Send(&pgproto3.Parse{Query: q})
				fe.Send(&pgproto3.Bind{})
				fe.Send(&pgproto3.Execute{})
				fe.Send(&pgproto3.Sync{})
			}
			orderExpect(t, fe, "pipelined extended statements", "SELECT 7, 8",
				"ParseComplete", "BindComplete", "CommandComplete(BEGIN)", "ErrorResponse(0A000)", "ReadyForQuery(I)",
				"ParseComplete", "BindComplete", "DataRow(5,6)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)",
				"RowDescription(2)", "DataRow(7,8)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")

			// COPY data, CopyDone and the next statement in one write, once the server asked for the data.
			orderExpect(t, fe, "copy", "COPY "+table+" FROM STDIN", "*pgproto3.CopyInResponse")
			fe.Send(&pgproto3.CopyData{Data: []byte("9\n")})
			fe.Send(&pgproto3.CopyDone{})
			orderExpect(t, fe, "copy and the next statement", "SELECT 1, 2", "CommandComplete(COPY 1)", "ReadyForQuery(I)",
				"RowDescription(2)", "DataRow(1,2)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
			orderExpect(t, fe, "after", "SELECT count(*), 0 FROM "+table, "RowDescription(2)", "DataRow(3,0)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
		})
	}
}

// TestEventLoopsStatementModeTLS: a TLS client (client_tls_sslmode = require) in statement mode with
// reject_session_features on the event loops (looptls.go decrypts it there): a BEGIN gets 0A000 and its
// server is rolled back and lent again (pool of 1: the same backend, outside a transaction), a LISTEN
// gets 0A000, and a query after them is answered.
func TestEventLoopsStatementModeTLS(t *testing.T) {
	certs := newTLSCerts(t)
	tp := startPooler(t, func(c *config.Config) {
		clientTLS(c, certs, config.SSLModeRequire)
		c.Pooler.PoolMode = config.PoolModeStatement
		c.Pooler.DefaultPoolSize = 1
		c.Pooler.RejectSessionFeatures = true
		c.Pooler.EventLoops = true
	})
	ctx := context.Background()
	base := tp.srv.LoopConns()
	conn, err := tryConnect(poolerURLAt(tp, "127.0.0.1", appUser, appPassword, appDB, "sslmode", "require"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, ok := conn.PgConn().Conn().(*tls.Conn); !ok {
		t.Fatalf("the client's connection is %T, not TLS", conn.PgConn().Conn())
	}
	eventually(t, 5*time.Second, "the TLS statement-mode client enrolled on the loops", func() bool { return tp.srv.LoopConns() > base })
	pid := serverPID(t, conn)
	_, err = conn.Exec(ctx, "BEGIN", pgx.QueryExecModeSimpleProtocol)
	wantPgError(t, err, "BEGIN over TLS", pgerrcode.FeatureNotSupported, "transaction blocks are not allowed in statement pooling mode")
	_, err = conn.Exec(ctx, "LISTEN loop_tls_jobs", pgx.QueryExecModeExec)
	wantPgError(t, err, "LISTEN over TLS", pgerrcode.FeatureNotSupported, "statement pooling mode")
	var one int // on a server still in the transaction block this would get 0A000 too
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("a query after the refused BEGIN: %d, %v; want 1", one, err)
	}
	if got := serverPID(t, conn); got != pid {
		t.Fatalf("backend %d after the rolled-back BEGIN, want %d (the same server, back in its pool)", got, pid)
	}

	// Statements written in one go over TLS: the second waits for the first's link to end.
	base = tp.srv.LoopConns()
	fe := rawTLSLogin(t, tp.addr())
	eventually(t, 5*time.Second, "the raw TLS statement-mode client enrolled on the loops", func() bool { return tp.srv.LoopConns() > base })
	fe.Send(&pgproto3.Query{String: "BEGIN"})
	orderExpect(t, fe, "pipelined statements over TLS", "SELECT 5, 6",
		"CommandComplete(BEGIN)", "ErrorResponse(0A000)", "ReadyForQuery(I)", "RowDescription(2)", "DataRow(5,6)", "CommandComplete(SELECT 1)", "ReadyForQuery(I)")
}

// rawTLSLogin logs in to the pooler at addr over TLS (SSLRequest, then a handshake that does not check
// the test certificate) as rawLogin does in plain TCP, and returns the frontend on the TLS connection.
func rawTLSLogin(t *testing.T, addr string) *pgproto3.Frontend {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write([]byte{0, 0, 0, 8, 4, 210, 22, 47}); err != nil { // SSLRequest
		t.Fatal(err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(conn, answer[:]); err != nil || answer[0] != 'S' {
		t.Fatalf("SSLRequest answered %q, %v; want S", answer[0], err)
	}
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
	fe := pgproto3.NewFrontend(tc, tc)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": appUser, "database": appDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	readUntilReady(t, fe)
	return fe
}
