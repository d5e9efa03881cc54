package tests

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// stormKeys collects cancel keys for the forgers: those of clients that have left, and those of live
// clients (which the forgers send with a wrong secret).
type stormKeys struct {
	mu   sync.Mutex
	gone []uint32 // process IDs of clients that left
	live []uint32 // process IDs of the bystanders
}

// pick returns a process ID for a forged cancel: one of a client that left, one of a live client, or a
// random one.
func (k *stormKeys) pick() uint32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	switch r := rand.IntN(3); {
	case r == 0 && len(k.gone) > 0:
		return k.gone[rand.IntN(len(k.gone))]
	case r == 1 && len(k.live) > 0:
		return k.live[rand.IntN(len(k.live))]
	}
	return rand.Uint32()
}

func (k *stormKeys) left(pid uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.gone) < 1000 {
		k.gone = append(k.gone, pid)
	}
}

// stormCounts are the outcomes of a cancel storm.
type stormCounts struct {
	bystanderQueries atomic.Int64 // pg_sleep(0.05) of clients that never cancel: all must succeed
	cancelled        atomic.Int64 // deliberate cancels that ended their query with 57014
	racerOK          atomic.Int64 // racing queries that finished before their cancel
	racerCancelled   atomic.Int64 // racing queries cancelled (57014)
	forged           atomic.Int64 // forged CancelRequests sent
	leavers          atomic.Int64 // clients that left mid-query
	logins           atomic.Int64 // client connections opened
}

// TestCancelStorm (issue 10, fault suite "Cancel storms"): for a few seconds, over a transaction pool of
// 10 (for a minute with PGPOOLER_LONG=1), clients that cancel their own queries (deliberately, after the query is known to run, and as
// pgx's CancelRequestContextWatcherHandler does on short context timeouts, racing the query's end),
// clients that never cancel, clients that leave mid-query, and senders of forged CancelRequests (random
// keys, keys of clients that have left, live process IDs with wrong secrets) all run at once, with
// clients coming and going. Nothing crashes; every cancel reaches only its own client's query: every
// query of the clients that never cancel succeeds, each deliberate cancel ends its query with 57014
// and the client keeps working, racing queries end with success or 57014 and nothing else; no forged
// cancel is forwarded; the pool's counts are sane afterwards; and goroutines and file descriptors go
// back to their baseline.
func TestCancelStorm(t *testing.T) {
	const (
		poolSize   = 10
		cancellers = 3
		racers     = 8
		bystanders = 5
		leavers    = 1
		forgers    = 2
	)
	duration := 4 * time.Second
	if os.Getenv("PGPOOLER_LONG") != "" {
		duration = time.Minute
	}
	base := takeResources(t)
	var counts stormCounts
	var counted pooler.CancelCounters // the pooler's counts during the storm
	t.Run("storm", func(t *testing.T) {
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.PoolMode = "transaction"
			c.Pooler.DefaultPoolSize = poolSize
			c.Pooler.LogConnections, c.Pooler.LogDisconnections = false, false
		})
		before := tp.srv.Snapshot().Cancels
		keys := &stormKeys{}
		end := time.Now().Add(duration)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		report := func(err error) {
			select {
			case errs <- err:
			default:
			}
		}
		run := func(n int, f func(i int)) {
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					f(i)
				}()
			}
		}
		connect := func(cfg *pgx.ConnConfig) (*pgx.Conn, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			counts.logins.Add(1)
			return pgx.ConnectConfig(ctx, cfg)
		}
		parse := func() *pgx.ConnConfig {
			cfg, err := pgx.ParseConfig(tp.pgxURL(appDB))
			if err != nil {
				panic(err)
			}
			return cfg
		}

		// Deliberate cancels: once the query's NOTICE says it runs, a CancelRequest with the client's
		// own key; the query must end with 57014 and the next one succeed. A new connection every 5.
		run(cancellers, func(i int) {
			notices := make(chan struct{}, 4)
			cfg := parse()
			cfg.OnNotice = func(*pgconn.PgConn, *pgconn.Notice) {
				select {
				case notices <- struct{}{}:
				default:
				}
			}
			for n := 0; time.Now().Before(end); {
				conn, err := connect(cfg)
				if err != nil {
					report(fmt.Errorf("canceller %d: connect: %w", i, err))
					return
				}
				for k := 0; k < 5 && time.Now().Before(end); k, n = k+1, n+1 {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					done := make(chan error, 1)
					go func() {
						_, err := conn.Exec(ctx, sleepNotice)
						done <- err
					}()
					select {
					case <-notices:
					case err := <-done:
						cancel()
						report(fmt.Errorf("canceller %d query %d: ended before it ran: %v", i, n, err))
						conn.Close(context.Background())
						return
					}
					if err := conn.PgConn().CancelRequest(ctx); err != nil {
						report(fmt.Errorf("canceller %d query %d: CancelRequest: %w", i, n, err))
					}
					err := <-done
					if !is57014(err) {
						cancel()
						report(fmt.Errorf("canceller %d query %d: %v; want 57014", i, n, err))
						conn.Close(context.Background())
						return
					}
					counts.cancelled.Add(1)
					var one int
					err = conn.QueryRow(ctx, "SELECT 1").Scan(&one)
					cancel()
					if err != nil {
						report(fmt.Errorf("canceller %d: query after a cancel: %w", i, err))
						conn.Close(context.Background())
						return
					}
				}
				keys.left(conn.PgConn().PID())
				conn.Close(context.Background())
			}
		})

		// Racing cancels, as pgx's CancelRequestContextWatcherHandler sends them when a context ends:
		// a context of 10 to 60 ms over pg_sleep of 0 to 80 ms. A new connection every 10 queries.
		run(racers, func(i int) {
			cfg := parse()
			cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
				return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: 10 * time.Second}
			}
			for n := 0; time.Now().Before(end); {
				conn, err := connect(cfg)
				if err != nil {
					report(fmt.Errorf("racer %d: connect: %w", i, err))
					return
				}
				for k := 0; k < 10 && time.Now().Before(end); k, n = k+1, n+1 {
					timeout := time.Duration(10+rand.IntN(50)) * time.Millisecond
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					_, err := conn.Exec(ctx, fmt.Sprintf("SELECT pg_sleep(%.3f)", float64(rand.IntN(80))/1000))
					cancel()
					switch {
					case err == nil:
						counts.racerOK.Add(1)
					case is57014(err):
						counts.racerCancelled.Add(1)
					case strings.Contains(err.Error(), "context already done"):
						// pgconn found the context over before it sent the query (this goroutine was not
						// scheduled for the whole 10-60 ms on a loaded machine): nothing reached the pooler.
					default:
						report(fmt.Errorf("racer %d query %d: %v; want success or 57014", i, n, err))
						conn.Close(context.Background())
						return
					}
				}
				keys.left(conn.PgConn().PID())
				conn.Close(context.Background())
			}
		})

		// Clients that never cancel: every query must succeed.
		run(bystanders, func(i int) {
			conn, err := connect(parse())
			if err != nil {
				report(fmt.Errorf("bystander %d: connect: %w", i, err))
				return
			}
			defer conn.Close(context.Background())
			keys.mu.Lock()
			keys.live = append(keys.live, conn.PgConn().PID())
			keys.mu.Unlock()
			for n := 0; time.Now().Before(end); n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := conn.Exec(ctx, "SELECT pg_sleep(0.05)")
				cancel()
				if err != nil {
					report(fmt.Errorf("bystander %d query %d (it sent no cancel): %w", i, n, err))
					return
				}
				counts.bystanderQueries.Add(1)
			}
		})

		// Clients that leave mid-query: the pooler cancels their queries itself.
		run(leavers, func(i int) {
			notices := make(chan struct{}, 4)
			cfg := parse()
			cfg.OnNotice = func(*pgconn.PgConn, *pgconn.Notice) {
				select {
				case notices <- struct{}{}:
				default:
				}
			}
			for time.Now().Before(end) {
				conn, err := connect(cfg)
				if err != nil {
					report(fmt.Errorf("leaver %d: connect: %w", i, err))
					return
				}
				done := make(chan error, 1)
				go func() {
					_, err := conn.Exec(context.Background(), sleepNotice)
					done <- err
				}()
				select {
				case <-notices:
					counts.leavers.Add(1)
					_ = conn.PgConn().Conn().Close()
					<-done
				case err := <-done:
					report(fmt.Errorf("leaver %d (it sent no cancel): query ended before it ran: %v", i, err))
					conn.Close(context.Background())
					return
				}
				keys.left(conn.PgConn().PID())
			}
		})

		// Forged CancelRequests.
		run(forgers, func(i int) {
			for time.Now().Before(end) {
				packet := forgedCancel() // its random secret matches no client
				binary.BigEndian.PutUint32(packet[8:], keys.pick())
				if err := floodConn(tp.addr(), packet); err != nil {
					report(fmt.Errorf("forger %d: %w", i, err))
					return
				}
				counts.forged.Add(1)
			}
		})

		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		t.Logf("logins %d; bystander queries %d; deliberate cancels %d; racing queries: %d finished, %d cancelled; clients left mid-query %d; forged cancels %d",
			counts.logins.Load(), counts.bystanderQueries.Load(), counts.cancelled.Load(), counts.racerOK.Load(), counts.racerCancelled.Load(), counts.leavers.Load(), counts.forged.Load())
		if t.Failed() {
			return
		}
		if counts.bystanderQueries.Load() == 0 || counts.cancelled.Load() == 0 || counts.racerCancelled.Load() == 0 || counts.leavers.Load() == 0 || counts.forged.Load() == 0 {
			t.Fatal("some part of the storm did not run (a count above is 0)")
		}

		after := tp.srv.Snapshot().Cancels
		counted = pooler.CancelCounters{Received: after.Received - before.Received, Forwarded: after.Forwarded - before.Forwarded,
			UnknownKey: after.UnknownKey - before.UnknownKey, Failed: after.Failed - before.Failed}
		if got, want := after.UnknownKey-before.UnknownKey, counts.forged.Load(); got < want {
			t.Errorf("cancel requests with unknown key: %d; want at least the %d forged", got, want)
		}
		if got, want := after.Forwarded-before.Forwarded, counts.cancelled.Load(); got < want {
			t.Errorf("cancel requests forwarded: %d; want at least the %d deliberate ones", got, want)
		}
		if got := after.Failed - before.Failed; got != 0 {
			t.Errorf("cancel requests that failed: %d; want 0", got)
		}
		// A client can send cancels as fast as it likes: their log lines are bounded too (20 per 10 s).
		lines, limit := strings.Count(tp.logs.String(), `msg="cancel request forwarded"`), 20*(int(duration/(10*time.Second))+1)
		if lines > limit {
			t.Errorf("%d log lines about forwarded cancel requests for %d of them; want at most %d", lines, after.Forwarded-before.Forwarded, limit)
		}
		eventually(t, 15*time.Second, "pool idle: no client waiting, no server active or being canceled, no cancel in flight, at most pool_size servers", func() bool {
			p, ok := poolOf(tp.srv)
			return ok && p.ClWaiting == 0 && p.SvActive == 0 && p.SvBeingCanceled == 0 && p.ClActiveCancelReq == 0 && p.SvLogin == 0 &&
				p.SvIdle+p.SvUsed <= poolSize
		})
		super := superConn(t, pg)
		eventually(t, 15*time.Second, "no query of the storm still running in PostgreSQL", func() bool {
			var n int
			err := super.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'", appUser).Scan(&n)
			return err == nil && n == 0
		})
	})
	if !t.Failed() {
		resourcesBack(t, base, 10, 15*time.Second)
		now := takeResources(t)
		racing := counts.racerOK.Load() + counts.racerCancelled.Load()
		t.Logf("reliability: cancel storm for %s (pool_size %d; %d cancellers, %d racers, %d bystanders, %d leaver, %d forgers; %d logins): deliberate cancels %d (57014=%d, other 0); racing queries %d (ok=%d 57014=%d, other 0); forged cancels %d (forwarded 0); clients left mid-query %d; bystander queries ok %d, errors 0; counted received %d forwarded %d unknown key %d failed %d; goroutines %d->%d fds %d->%d",
			duration, poolSize, cancellers, racers, bystanders, leavers, forgers, counts.logins.Load(),
			counts.cancelled.Load(), counts.cancelled.Load(), racing, counts.racerOK.Load(), counts.racerCancelled.Load(),
			counts.forged.Load(), counts.leavers.Load(), counts.bystanderQueries.Load(),
			counted.Received, counted.Forwarded, counted.UnknownKey, counted.Failed, base[0], now[0], base[1], now[1])
	}
}
