package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// deadPeerApp is the application_name of the servers TestTCPDeadServer opens, to find their backends.
const deadPeerApp = "pgpooler-dead-peer-test"

// plainProxy forwards TCP connections on a loopback port to target; the port is the one to blackhole.
type plainProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startPlainProxy(t testing.TB, target string) *plainProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &plainProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); s.Close() }()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *plainProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// blackhole makes every TCP packet to and from port on loopback vanish (iptables DROP: no FIN, no RST),
// as a peer does whose machine or network is gone. The returned func (also run at Cleanup) restores the
// path. It skips the test, saying why, without root or a working iptables.
func blackhole(t testing.TB, port int) (restore func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("blackholing a port needs root (iptables)")
	}
	path, err := exec.LookPath("iptables")
	if err != nil {
		t.Skip("iptables is not installed (apt-get install iptables): cannot make a peer vanish")
	}
	if out, err := exec.Command(path, "-w", "-n", "-L", "INPUT").CombinedOutput(); err != nil {
		t.Skipf("iptables does not work here: %v\n%s", err, out)
	}
	p := strconv.Itoa(port)
	rules := [][]string{
		{"INPUT", "-i", "lo", "-p", "tcp", "--dport", p, "-j", "DROP"},
		{"INPUT", "-i", "lo", "-p", "tcp", "--sport", p, "-j", "DROP"},
	}
	var once sync.Once
	restore = func() {
		once.Do(func() {
			for _, r := range rules {
				if out, err := exec.Command(path, append([]string{"-w", "-D"}, r...)...).CombinedOutput(); err != nil {
					t.Errorf("iptables -D %v: %v\n%s", r, err, out)
				}
			}
		})
	}
	for i, r := range rules {
		if out, err := exec.Command(path, append([]string{"-w", "-I"}, r...)...).CombinedOutput(); err != nil {
			rules = rules[:i]
			restore()
			t.Fatalf("iptables -I %v: %v\n%s", r, err, out)
		}
	}
	t.Cleanup(restore)
	return restore
}

// allAcked reports whether every established loopback TCP connection to port has its sent data
// acknowledged (tx_queue 0 in /proc/net/tcp).
func allAcked(t testing.TB, port int) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Skipf("cannot read /proc/net/tcp: %v", err)
	}
	want := fmt.Sprintf(":%04X", port)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		// sl local_address rem_address st tx_queue:rx_queue ...; st 01 is ESTABLISHED
		if len(f) < 5 || !strings.HasSuffix(f[2], want) || f[3] != "01" {
			continue
		}
		if tx, _, _ := strings.Cut(f[4], ":"); strings.TrimLeft(tx, "0") != "" {
			return false
		}
	}
	return true
}

// TestTCPDeadServer: a server connection whose peer silently vanishes (its packets dropped, no FIN, no
// RST) is detected by tcp_user_timeout when a query is sent into it, and by tcp_keepalive with
// tcp_keepidle/tcp_keepintvl/tcp_keepcnt while a query runs; either way the client gets FATAL 08006
// within seconds instead of hanging (with the operating system's defaults: about 15 minutes and 2 hours),
// the server is discarded, and once the path is back a new client is served by a new server.
func TestTCPDeadServer(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*config.Pooler)
		// running: the query is in flight on the server when the path dies; otherwise it is sent into
		// the dead path, inside a transaction that already has the server.
		running bool
	}{
		{"tcp_user_timeout", func(p *config.Pooler) { p.TCPUserTimeout = 1000 }, false},
		{"tcp_keepalive", func(p *config.Pooler) {
			p.TCPKeepidle, p.TCPKeepintvl, p.TCPKeepcnt = config.Duration(time.Second), config.Duration(time.Second), 2
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			super := superConn(t, pg)
			t.Cleanup(func() { // a backend left running pg_sleep behind the dead path
				_, _ = super.Exec(context.Background(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", deadPeerApp)
			})
			proxy := startPlainProxy(t, net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)))
			tp := startPooler(t, func(c *config.Config) {
				c.Pooler.PoolMode = config.PoolModeTransaction
				c.Pooler.ServerTLSSSLMode = config.SSLModeDisable
				c.Databases = map[string]config.Database{"*": {Host: "127.0.0.1", Port: proxy.port(), Password: appPassword, ApplicationName: deadPeerApp}}
				tc.set(&c.Pooler)
			})
			conn := tp.connect(t)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var pid uint32
			if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}

			var restore func()
			errc := make(chan error, 1)
			if tc.running {
				go func() {
					_, err := conn.Exec(ctx, "SELECT pg_sleep(60)")
					errc <- err
				}()
				eventually(t, 10*time.Second, "pg_sleep running on the server", func() bool {
					var n int
					_ = super.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'", pid).Scan(&n)
					return n == 1
				})
				// The proxy may not have acknowledged the query yet (delayed ACK): sent data still unacknowledged
				// when the path dies is tcp_user_timeout's case, not keepalive's.
				eventually(t, 10*time.Second, "the query acknowledged", func() bool { return allAcked(t, proxy.port()) })
				restore = blackhole(t, proxy.port())
			} else {
				if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
					t.Fatal(err)
				}
				if _, err := conn.Exec(ctx, "SELECT 1"); err != nil {
					t.Fatal(err)
				}
				restore = blackhole(t, proxy.port())
				go func() {
					_, err := conn.Exec(ctx, "SELECT 2")
					errc <- err
				}()
			}
			start := time.Now()
			var code string
			var detected time.Duration
			select {
			case err := <-errc:
				if err == nil {
					t.Fatal("the query succeeded over a dead path")
				}
				code = wantPgError(t, err, "query over a dead path", "08006").Code
				detected = time.Since(start)
				t.Logf("dead server detected after %v: %v", detected.Round(10*time.Millisecond), err)
			case <-time.After(40 * time.Second):
				t.Fatalf("no error within 40s of the server's path going dead: the client hangs\n%s", tp.logs.String())
			}
			eventually(t, 10*time.Second, "the dead server discarded", func() bool {
				return len(tp.srv.Snapshot().Servers) == 0
			})

			restore()
			fresh := tp.connect(t)
			var newPid uint32
			if err := fresh.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&newPid); err != nil {
				t.Fatalf("after the path came back: %v", err)
			}
			if newPid == pid {
				t.Errorf("the new client got the dead server's backend %d", pid)
			}
			if !conn.IsClosed() {
				t.Errorf("the first client's connection is still open after FATAL 08006")
			}
			when := "sent into the dead path inside a transaction"
			if tc.running {
				when = "running when the path died"
			}
			t.Logf("reliability: dead server (%s; packets dropped, no FIN or RST; query %s): the client got %s after %s, then its connection closed; hung 0; the server was discarded, and once the path was back a new client was served by a new backend",
				tc.name, when, code, roundTime(detected))
		})
	}
}
