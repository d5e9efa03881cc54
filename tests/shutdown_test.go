package tests

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgpooler/pgpooler/pooler"
)

// TestGracefulShutdown: Shutdown stops accepting at once, closes an idle client with 57P01, lets a
// client inside a transaction commit, then finishes; the committed row is there.
func TestGracefulShutdown(t *testing.T) {
	cfg := baseConfig(pg)
	cfg.Pooler.PoolMode = "transaction"
	srv, err := pooler.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeAll([]net.Listener{ln}) }()
	tp := &testPooler{srv: srv, cfg: cfg, port: ln.Addr().(*net.TCPAddr).Port, logs: &syncBuffer{}}
	ctx := context.Background()

	setup := tp.connect(t)
	mustExec(t, setup, "DROP TABLE IF EXISTS shutdown_rows")
	mustExec(t, setup, "CREATE TABLE shutdown_rows (id int)")
	idle := tp.connect(t)
	busy := tp.connect(t)
	tx, err := busy.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO shutdown_rows VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	shutdownDone := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		shutdownDone <- srv.Shutdown(sctx)
	}()
	eventually(t, 5*time.Second, "listener closed", func() bool {
		c, err := net.DialTimeout("tcp", tp.addr(), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	_, err = idle.Exec(ctx, "SELECT 1")
	var pgErr *pgconn.PgError
	if err == nil || (errors.As(err, &pgErr) && pgErr.Code != "57P01") {
		t.Fatalf("idle client during shutdown: %v; want closed with 57P01", err)
	}
	select {
	case err := <-shutdownDone:
		t.Fatalf("Shutdown returned (%v) while a transaction was open", err)
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit during shutdown: %v", err)
	}
	if err := <-shutdownDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	direct, err := pgx.Connect(ctx, pg.ConnString(appUser, appPassword, appDB))
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	var n int
	if err := direct.QueryRow(ctx, "SELECT count(*) FROM shutdown_rows").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows committed during shutdown: %d, %v; want 1", n, err)
	}
}
