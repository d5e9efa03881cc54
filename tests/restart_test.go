package tests

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// TestPostgresRestart: while PostgreSQL stops under load, clients get errors, not hangs; while it is
// down, new clients get an error at once; once it is back, new transactions succeed within seconds.
func TestPostgresRestart(t *testing.T) {
	backend := pgtest.StartT(t, pgtest.Options{})
	ctx := context.Background()
	if err := backend.CreateRole(ctx, appUser, appPassword); err != nil {
		t.Fatal(err)
	}
	if err := backend.CreateDatabase(ctx, appDB, appUser); err != nil {
		t.Fatal(err)
	}
	tp := startPoolerFor(t, backend, func(c *config.Config) {
		c.Pooler.PoolMode = "transaction"
		c.Pooler.DefaultPoolSize = 4
		c.Pooler.ServerLoginRetry = config.Duration(500 * time.Millisecond)
	})

	// Load: 6 clients in a loop until each has seen an error.
	var wg sync.WaitGroup
	started := make(chan struct{}, 6)
	results := make(chan error, 6)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := pgx.Connect(ctx, tp.pgxURL(appDB))
			if err != nil {
				results <- err
				started <- struct{}{}
				return
			}
			defer conn.Close(ctx)
			first := true
			for {
				qctx, cancel := context.WithTimeout(ctx, 20*time.Second)
				_, err := conn.Exec(qctx, "SELECT pg_sleep(0.01)")
				cancel()
				if first {
					started <- struct{}{}
					first = false
				}
				if err != nil {
					results <- err
					return
				}
			}
		}()
	}
	for range 6 {
		<-started
	}
	if err := backend.StopKeep(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a client hung until its 20s deadline instead of getting an error")
		}
	}

	// Down: a new client (which may log in from the pooler's cached parameters, as with PgBouncer) gets
	// an error for its first transaction at once.
	for range 3 {
		start := time.Now()
		err := tryQuery(tp)
		if err == nil {
			t.Fatal("a transaction while PostgreSQL is down succeeded")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("a transaction while PostgreSQL is down took %s to fail: %v", d, err)
		}
		t.Logf("while down: %v", err)
	}

	if err := backend.StartAgain(); err != nil {
		t.Fatalf("start PostgreSQL again: %v", err)
	}
	back := time.Now()
	var lastErr error
	for time.Since(back) < 10*time.Second {
		if lastErr = tryQuery(tp); lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("no successful transaction within 10s after PostgreSQL came back: %v", lastErr)
	}
	t.Logf("first successful transaction %s after PostgreSQL was back", time.Since(back).Round(time.Millisecond))
}

func tryQuery(tp *testPooler) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, tp.pgxURL(appDB))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}
