package tests

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

func transactionPool(size int) func(*config.Config) {
	return func(c *config.Config) {
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = size
	}
}

// TestTransactionIsolation: in transaction mode with a pool of 2, one client's open transaction is never
// seen by other clients' statements, and the statements of other clients never run inside it (they see
// their own txid, not the open transaction's).
func TestTransactionIsolation(t *testing.T) {
	tp := startPooler(t, transactionPool(2))
	ctx := context.Background()
	setup := tp.connect(t)
	mustExec(t, setup, "DROP TABLE IF EXISTS iso")
	mustExec(t, setup, "CREATE TABLE iso (id int)")

	a := tp.connect(t)
	tx, err := a.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO iso VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var openTxid int64
	if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&openTxid); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 8*25)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := tp.connect(t)
			for i := range 25 {
				var n int
				var txid int64
				if err := conn.QueryRow(ctx, "SELECT count(*), txid_current() FROM iso").Scan(&n, &txid); err != nil {
					errs <- fmt.Errorf("client %d query %d: %w", g, i, err)
					return
				}
				if n != 0 {
					errs <- fmt.Errorf("client %d saw %d uncommitted rows of another client", g, n)
				}
				if txid == openTxid {
					errs <- fmt.Errorf("client %d ran inside another client's transaction %d", g, txid)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var inOwn int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM iso").Scan(&inOwn); err != nil || inOwn != 1 {
		t.Fatalf("own transaction sees %d rows, %v; want 1", inOwn, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := setup.QueryRow(ctx, "SELECT count(*) FROM iso").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after commit: %d rows, %v; want 1", n, err)
	}
}

// rawLogin opens a raw protocol connection through the pooler and completes the login.
func rawLogin(t *testing.T, addr string) (net.Conn, *pgproto3.Frontend) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	fe := pgproto3.NewFrontend(conn, conn)
	fe.Send(&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: map[string]string{"user": appUser, "database": appDB}})
	if err := fe.Flush(); err != nil {
		t.Fatal(err)
	}
	readUntilReady(t, fe)
	return conn, fe
}

// readUntilReady reads messages until ReadyForQuery and returns its status; an ErrorResponse fails the test.
func readUntilReady(t *testing.T, fe *pgproto3.Frontend) byte {
	t.Helper()
	for {
		msg, err := fe.Receive()
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			t.Fatalf("server error: %s %s", m.Code, m.Message)
		case *pgproto3.ReadyForQuery:
			return m.TxStatus
		}
	}
}

// TestClientDiesMidTransaction: a client that vanishes inside a transaction (transaction and session
// mode) leaves no open transaction behind, its uncommitted row is gone, and the pool keeps working.
func TestClientDiesMidTransaction(t *testing.T) {
	for _, mode := range []string{"transaction", "session"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = mode
				c.Pooler.DefaultPoolSize = 1
			})
			super := superConn(t, pg)
			table := "dies_" + mode
			setup := tp.connect(t)
			mustExec(t, setup, "DROP TABLE IF EXISTS "+table)
			mustExec(t, setup, "CREATE TABLE "+table+" (id int)")
			setup.Close(context.Background())

			conn, fe := rawLogin(t, tp.addr())
			fe.Send(&pgproto3.Query{String: "BEGIN; INSERT INTO " + table + " VALUES (1)"})
			if err := fe.Flush(); err != nil {
				t.Fatal(err)
			}
			if st := readUntilReady(t, fe); st != 'T' {
				t.Fatalf("status after BEGIN = %q, want T", st)
			}
			if n := backendCount(t, super, appDB, "idle in transaction"); n != 1 {
				t.Fatalf("idle in transaction servers = %d, want 1", n)
			}
			conn.Close() // the client dies without COMMIT or Terminate

			eventually(t, 5*time.Second, "no server left idle in transaction", func() bool {
				return backendCount(t, super, appDB, "idle in transaction") == 0
			})
			next := tp.connect(t) // pool_size 1: this client gets the same or a fresh server
			var n int
			if err := next.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != 0 {
				t.Fatalf("rows after the dead client: %d, %v; want 0", n, err)
			}
		})
	}
}
