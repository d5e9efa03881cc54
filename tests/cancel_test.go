package tests

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestCancel: pg_sleep(30) cancelled through the pooler (pgx sends a CancelRequest with the key the
// pooler gave it) fails with 57014 within a second, in session and transaction mode, and the connection
// is usable afterwards.
func TestCancel(t *testing.T) {
	for _, mode := range []string{"session", "transaction"} {
		t.Run(mode, func(t *testing.T) {
			tp := startPooler(t, withMode(mode))
			conn := tp.connect(t)
			done := make(chan error, 1)
			go func() {
				_, err := conn.Exec(context.Background(), "SELECT pg_sleep(30)")
				done <- err
			}()
			super := superConn(t, pg)
			eventually(t, 5*time.Second, "pg_sleep running", func() bool {
				var n int
				_ = super.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'").Scan(&n)
				return n == 1
			})
			start := time.Now()
			if err := conn.PgConn().CancelRequest(context.Background()); err != nil {
				t.Fatalf("CancelRequest: %v", err)
			}
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("query not cancelled within 5s")
			}
			var pgErr *pgconn.PgError
			if !errors.As(err, &pgErr) || pgErr.Code != "57014" {
				t.Fatalf("got %v, want SQLSTATE 57014", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("cancel took %s, want under 1s", d)
			}
			var one int
			if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
				t.Fatalf("connection after cancel: %v", err)
			}
		})
	}
}

// TestForgedCancelKey: a CancelRequest with the right process ID and a wrong secret, or an unknown
// process ID, cancels nothing.
func TestForgedCancelKey(t *testing.T) {
	tp := startPooler(t, withMode("transaction"))
	conn := tp.connect(t)
	pid := conn.PgConn().PID()
	done := make(chan error, 1)
	go func() {
		_, err := conn.Exec(context.Background(), "SELECT pg_sleep(1)")
		done <- err
	}()
	super := superConn(t, pg)
	eventually(t, 5*time.Second, "pg_sleep running", func() bool {
		var n int
		_ = super.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(1)' AND state = 'active'").Scan(&n)
		return n == 1
	})
	for _, key := range []struct {
		pid    uint32
		secret []byte
	}{{pid, []byte{0, 0, 0, 0}}, {pid + 1, []byte{1, 2, 3, 4}}, {pid, []byte{1, 2, 3, 4, 5, 6, 7, 8}}} {
		sendCancel(t, tp.addr(), key.pid, key.secret)
	}
	if err := <-done; err != nil {
		t.Fatalf("query with forged cancels: %v; want success", err)
	}
}

// sendCancel sends one CancelRequest and waits for the pooler to close the connection.
func sendCancel(t *testing.T, addr string, pid uint32, secret []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf, err := (&pgproto3.CancelRequest{ProcessID: pid, SecretKey: secret}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(buf); err != nil {
		t.Fatal(err)
	}
	var b [1]byte
	if n, _ := c.Read(b[:]); n != 0 {
		t.Fatalf("cancel connection answered %d bytes; want none", n)
	}
}

// TestBackendKeyDataPID: the process ID of the BackendKeyData pgpooler gives its clients is within
// 1..2^31-1, as PostgreSQL's are, so that clients may pass it where SQL wants an int4 (pgx's own suite
// runs SELECT pg_terminate_backend($1) with it) or store it as a signed 32-bit number (issue 12): 48
// clients of the pooler, each sending its PID back as an int4 parameter, and 16 of the console. Before,
// the PID was any 32-bit value, above 2^31-1 for half of the clients ("... is greater than maximum value
// for int4").
func TestBackendKeyDataPID(t *testing.T) {
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		transactionPool(2)(c)
	})
	ctx := context.Background()
	inRange := func(who string, pid uint32) {
		t.Helper()
		if pid < 1 || pid > math.MaxInt32 {
			t.Fatalf("%s: BackendKeyData process ID %d; want 1..%d", who, pid, math.MaxInt32)
		}
	}
	for i := range 48 {
		c := tp.connect(t)
		pid := c.PgConn().PID()
		inRange(fmt.Sprintf("client %d", i), pid)
		var back int64
		if err := c.QueryRow(ctx, "SELECT $1::int4", int64(pid)).Scan(&back); err != nil || back != int64(pid) {
			t.Fatalf("client %d: SELECT $1::int4 with its PID %d: %d, %v", i, pid, back, err)
		}
	}
	for i := range 16 {
		inRange(fmt.Sprintf("console %d", i), openConsole(t, tp, consoleAdmin).PID())
	}
}
