package tests

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// failingServer is a TCP server on 127.0.0.1 on which every server login fails: it accepts, holds the
// connection for hold without answering (or until the pooler closes it), then closes it; its first
// quick connections it closes at once. It counts connections and the most open at once.
type failingServer struct {
	ln       net.Listener
	hold     time.Duration
	quick    int64
	accepted atomic.Int64
	open     atomic.Int64
	maxOpen  atomic.Int64
	done     chan struct{}
	wg       sync.WaitGroup
}

func startFailingServer(t *testing.T, quick int64, hold time.Duration) *failingServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &failingServer{ln: ln, hold: hold, quick: quick, done: make(chan struct{})}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			hold := f.hold
			if f.accepted.Add(1) <= f.quick {
				hold = 0
			}
			n := f.open.Add(1)
			for m := f.maxOpen.Load(); n > m && !f.maxOpen.CompareAndSwap(m, n); m = f.maxOpen.Load() {
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				gone := make(chan struct{}) // the pooler closed its end
				go func() { _, _ = io.Copy(io.Discard, c); close(gone) }()
				t := time.NewTimer(hold)
				select {
				case <-t.C:
				case <-f.done:
				case <-gone:
				}
				t.Stop()
				c.Close()
				<-gone
				f.open.Add(-1)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		close(f.done)
		f.wg.Wait()
	})
	return f
}

func (f *failingServer) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

// hammer makes n clients log in to database db in a loop until stop is closed; it returns when they
// have all stopped.
func hammer(tp *testPooler, db string, n int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if conn, err := tryConnect(tp.url(db)); err == nil {
					closeBounded(conn)
				}
				time.Sleep(5 * time.Millisecond) // an application's retry delay
			}
		}()
	}
	return &wg
}

// TestServerLoginProbe: while a failed server login is cached, one probe per pool logs in again, one
// attempt at a time, backing off, however many clients ask; it stops when the database leaves the
// configuration and at Shutdown, which it does not hold up even in the middle of a login.
func TestServerLoginProbe(t *testing.T) {
	t.Run("one at a time", func(t *testing.T) {
		f := startFailingServer(t, 0, 150*time.Millisecond)
		tp := startPooler(t, func(c *config.Config) {
			c.Databases["failing"] = config.Database{Host: "127.0.0.1", Port: f.port(), Password: appPassword}
		})
		_, err := tryConnect(tp.url("failing"))
		wantPgError(t, err, "first login to a server that hangs up", "08006")
		first := f.accepted.Load()
		f.maxOpen.Store(f.open.Load())

		stop := make(chan struct{})
		wg := hammer(tp, "failing", 8, stop)
		time.Sleep(1500 * time.Millisecond) // 8 clients asking all along
		close(stop)
		wg.Wait()
		attempts := f.accepted.Load() - first
		t.Logf("probe: %d login attempts in 1.5s under 8 clients asking, at most %d at once", attempts, f.maxOpen.Load())
		if attempts < 1 {
			t.Error("no login attempt while clients asked: the probe does not run")
		}
		// Delays of 100, 200, 400, 500 ms and 150 ms per attempt: 4 in 1.5 s.
		if attempts > 6 {
			t.Errorf("%d login attempts in 1.5s, want at most 6 (one at a time, backing off)", attempts)
		}
		if m := f.maxOpen.Load(); m > 1 {
			t.Errorf("%d login attempts at once, want 1", m)
		}
	})

	t.Run("reload removes the database", func(t *testing.T) {
		f := startFailingServer(t, 0, 0)
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.ServerLoginRetry = config.Duration(10 * time.Second) // clients stay "recent" throughout
			c.Databases = map[string]config.Database{                     // no "*": removing "failing" removes its pool
				"failing": {Host: "127.0.0.1", Port: f.port(), Password: appPassword},
				appDB:     {Host: pg.Host, Port: pg.Port, Password: appPassword},
			}
		})
		_, err := tryConnect(tp.url("failing"))
		wantPgError(t, err, "first login", "08006")
		eventually(t, 5*time.Second, "the probe makes attempts", func() bool { return f.accepted.Load() >= 3 })

		next := *tp.cfg
		next.Databases = map[string]config.Database{appDB: tp.cfg.Databases[appDB]}
		if err := tp.srv.Reload(&next); err != nil {
			t.Fatal(err)
		}
		before := f.accepted.Load()
		time.Sleep(1500 * time.Millisecond) // three times the probe's longest delay
		if n := f.accepted.Load() - before; n > 0 {
			t.Errorf("%d login attempts after the database left the configuration, want 0", n)
		}
	})

	t.Run("shutdown", func(t *testing.T) {
		f := startFailingServer(t, 1, time.Minute) // the first login fails at once, the probe's hangs
		tp := startPooler(t, func(c *config.Config) {
			c.Pooler.ServerConnectTimeout = config.Duration(30 * time.Second)
			c.Databases["failing"] = config.Database{Host: "127.0.0.1", Port: f.port(), Password: appPassword}
		})
		_, err := tryConnect(tp.url("failing"))
		wantPgError(t, err, "first login", "08006")
		eventually(t, 5*time.Second, "the probe is logging in", func() bool { return f.accepted.Load() == 2 && f.open.Load() == 1 })

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		if err := tp.srv.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Shutdown took %s with a probe in the middle of a login (server_connect_timeout 30s)", d)
		}
		eventually(t, 5*time.Second, "the probe's connection is closed", func() bool { return f.open.Load() == 0 })
		before := f.accepted.Load()
		time.Sleep(time.Second) // twice the probe's longest delay
		if n := f.accepted.Load() - before; n > 0 {
			t.Errorf("%d login attempts after Shutdown, want 0", n)
		}
		if !strings.Contains(tp.logs.String(), "server login failed") {
			t.Error("the first failure is not logged")
		}
	})
}
