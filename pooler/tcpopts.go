package pooler

import (
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// tcpOptions are the socket options of PgBouncer's tcp_keepalive, tcp_keepidle, tcp_keepintvl,
// tcp_keepcnt and tcp_user_timeout (doc/config.md), which it sets on client and server sockets alike.
// A zero idle, interval, count or user timeout means the operating system's value.
type tcpOptions struct {
	keepalive   bool
	idle        time.Duration // TCP_KEEPIDLE, whole seconds
	interval    time.Duration // TCP_KEEPINTVL, whole seconds
	count       int           // TCP_KEEPCNT
	userTimeout time.Duration // TCP_USER_TIMEOUT, milliseconds
}

// tcpOptionsOf returns the options p configures.
func tcpOptionsOf(p *config.Pooler) tcpOptions {
	return tcpOptions{
		keepalive:   p.TCPKeepalive,
		idle:        p.TCPKeepidle.D(),
		interval:    p.TCPKeepintvl.D(),
		count:       p.TCPKeepcnt,
		userTimeout: time.Duration(p.TCPUserTimeout) * time.Millisecond,
	}
}

// keepAliveConfig is o for net's KeepAliveConfig, where 0 means Go's own default (15 s, 15 s, 9) and a
// negative value leaves the socket's setting alone: each 0 of o becomes os's value, or -1 when os does
// not know it (a fresh socket then keeps the operating system's).
func (o tcpOptions) keepAliveConfig(os tcpOptions) net.KeepAliveConfig {
	pick := func(v, def time.Duration) time.Duration {
		switch {
		case v > 0:
			return v
		case def > 0:
			return def
		}
		return -1
	}
	kc := net.KeepAliveConfig{Enable: o.keepalive, Idle: pick(o.idle, os.idle), Interval: pick(o.interval, os.interval)}
	kc.Count = int(pick(time.Duration(o.count), time.Duration(os.count)))
	return kc
}

// dialer returns a net.Dialer that sets o on the sockets it opens (server connections): keepalive
// through KeepAliveConfig, whose zeros stay the operating system's on a fresh socket, and
// TCP_USER_TIMEOUT through Control before connecting.
func (o tcpOptions) dialer() *net.Dialer {
	d := &net.Dialer{KeepAlive: -1}
	if o.keepalive {
		d.KeepAliveConfig = o.keepAliveConfig(tcpOptions{})
	}
	if o.userTimeout > 0 {
		d.Control = func(network, _ string, c syscall.RawConn) error {
			if !strings.HasPrefix(network, "tcp") {
				return nil
			}
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setUserTimeout(fd, o.userTimeout) }); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// apply sets o on an accepted client connection. Go's listeners turn keepalive on with 15 s timings for
// every accepted connection; here the configured values win, tcp_keepalive = false turns it off, and a
// timing left at 0 is set to the operating system's default (read from /proc/sys/net/ipv4 on Linux).
func (o tcpOptions) apply(c *net.TCPConn) error {
	if !o.keepalive {
		if err := c.SetKeepAlive(false); err != nil {
			return err
		}
	} else if err := c.SetKeepAliveConfig(o.keepAliveConfig(osKeepAlive())); err != nil {
		return err
	}
	if o.userTimeout <= 0 {
		return nil // accepted sockets start at the operating system's value
	}
	return o.setUserTimeoutOn(c)
}

// freshListener is a TCP listener whose accepted sockets start at the operating system's options: Listen
// opens it with KeepAlive -1, so Go sets TCP_NODELAY on an accepted socket and nothing else, and the socket
// has keepalive off and the system's timings (a socket inherits its listener's options; this one has none
// set). Serve then sets only what the configuration changes from that (applyFresh).
type freshListener struct{ net.Listener }

// applyFresh sets o on a connection accepted from a freshListener: SO_KEEPALIVE when tcp_keepalive is on,
// the timings that are not 0 and tcp_user_timeout when it is not 0, and nothing for the values the socket
// already has. With PgBouncer's defaults that is one setsockopt instead of apply's four, the cost of every
// login (pgbench -C: a login per transaction).
func (o tcpOptions) applyFresh(c *net.TCPConn) error {
	if o.keepalive {
		pick := func(v time.Duration) time.Duration {
			if v > 0 {
				return v
			}
			return -1 // the socket's own: the operating system's
		}
		kc := net.KeepAliveConfig{Enable: true, Idle: pick(o.idle), Interval: pick(o.interval), Count: -1}
		if o.count > 0 {
			kc.Count = o.count
		}
		if err := c.SetKeepAliveConfig(kc); err != nil {
			return err
		}
	}
	if o.userTimeout <= 0 {
		return nil
	}
	return o.setUserTimeoutOn(c)
}

// setUserTimeoutOn sets tcp_user_timeout on c.
func (o tcpOptions) setUserTimeoutOn(c *net.TCPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setUserTimeout(fd, o.userTimeout) }); err != nil {
		return err
	}
	return serr
}

// osKeepAliveOnce caches osKeepAlive's answer: the system-wide defaults do not change under a running
// pooler, and reading them per connection would cost three files.
var (
	osKeepAliveOnce sync.Once
	osKeepAliveOpts tcpOptions
)

// osKeepAlive returns the operating system's keepalive timings (Linux: net.ipv4.tcp_keepalive_time,
// tcp_keepalive_intvl and tcp_keepalive_probes; 7200 s, 75 s and 9 by default), zero where they cannot
// be read.
func osKeepAlive() tcpOptions {
	osKeepAliveOnce.Do(func() {
		read := func(name string) int {
			b, err := os.ReadFile("/proc/sys/net/ipv4/" + name)
			if err != nil {
				return 0
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil || n < 0 {
				return 0
			}
			return n
		}
		osKeepAliveOpts = tcpOptions{
			idle:     time.Duration(read("tcp_keepalive_time")) * time.Second,
			interval: time.Duration(read("tcp_keepalive_intvl")) * time.Second,
			count:    read("tcp_keepalive_probes"),
		}
	})
	return osKeepAliveOpts
}
