package tests

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestEventLoopsUnixSocket: clients on the Unix socket are served on the event loops too (SHOW
// CLIENTS still says where they came from): pgbench over the socket in transaction mode, and a pgx
// client enrolled on the loops while it is logged in. The test serves a Unix listener of its own on the
// pooler beside the harness's TCP one.
func TestEventLoopsUnixSocket(t *testing.T) {
	pgbenchInit(t)
	dir := t.TempDir()
	tp := startPooler(t, func(c *config.Config) {
		withConsoleUsers(c)
		c.Pooler.UnixSocketDir = dir
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 5
		c.Pooler.ServerTLSSSLMode = "disable"
		c.Pooler.EventLoops = true
	})
	ln, err := net.Listen("unix", filepath.Join(dir, fmt.Sprintf(".s.PGSQL.%d", tp.cfg.Pooler.ListenPort)))
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- tp.srv.Serve(ln) }()
	t.Cleanup(func() { ln.Close(); <-served }) // before the harness's Shutdown

	out := runCommand(t, []string{"PGPASSWORD=" + appPassword}, "pgbench", "-n", "-S", "-c", "8", "-j", "2", "-t", "100",
		"-h", dir, "-p", fmt.Sprint(tp.cfg.Pooler.ListenPort), "-U", appUser, appDB)
	if !strings.Contains(out, "number of transactions actually processed: 800/800") {
		t.Fatalf("pgbench over the Unix socket on the loops:\n%s", out)
	}

	ctx := context.Background()
	before := tp.srv.LoopConns()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%d", appUser, appPassword, appDB, dir, tp.cfg.Pooler.ListenPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	eventually(t, 5*time.Second, "the Unix-socket client enrolled on the loops", func() bool { return tp.srv.LoopConns() > before })
	var sum int
	if err := conn.QueryRow(ctx, "SELECT $1::int + $2::int", 40, 2).Scan(&sum); err != nil || sum != 42 {
		t.Fatalf("query over the Unix socket on the loops: %d, %v", sum, err)
	}
	con := openConsole(t, tp, consoleAdmin)
	rows := con.rows(t, "SHOW CLIENTS")
	unix := 0
	for _, r := range rows {
		if r["database"] == appDB && r["addr"] == "unix" {
			unix++
		}
	}
	if unix != 1 {
		t.Fatalf("SHOW CLIENTS: %d clients of %s with addr unix, want 1 (the pgx client): %v", unix, appDB, rows)
	}
}
