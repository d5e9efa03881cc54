package pooler

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// sockopts are the socket options tcpOptions sets, as getsockopt reads them back.
type sockopts struct {
	keepalive, idle, intvl, cnt, userTimeout int
}

// matches reports whether o has want's values; a negative one in want matches anything.
func (o sockopts) matches(want sockopts) bool {
	eq := func(got, want int) bool { return want < 0 || got == want }
	return eq(o.keepalive, want.keepalive) && eq(o.idle, want.idle) && eq(o.intvl, want.intvl) &&
		eq(o.cnt, want.cnt) && eq(o.userTimeout, want.userTimeout)
}

func readSockopts(t *testing.T, c syscall.Conn) sockopts {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var o sockopts
	var gerr error
	get := func(fd, level, opt int) int {
		v, err := unix.GetsockoptInt(fd, level, opt)
		if err != nil && gerr == nil {
			gerr = err
		}
		return v
	}
	err = rc.Control(func(fd uintptr) {
		o.keepalive = get(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE)
		o.idle = get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE)
		o.intvl = get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL)
		o.cnt = get(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPCNT)
		o.userTimeout = get(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
	})
	if err == nil {
		err = gerr
	}
	if err != nil {
		t.Fatalf("getsockopt: %v", err)
	}
	return o
}

// osSockopts is what a socket reports with keepalive on and the operating system's timings.
func osSockopts(t *testing.T) sockopts {
	os := osKeepAlive()
	if os.idle == 0 || os.interval == 0 || os.count == 0 {
		t.Skip("cannot read /proc/sys/net/ipv4/tcp_keepalive_*")
	}
	return sockopts{keepalive: 1, idle: int(os.idle / time.Second), intvl: int(os.interval / time.Second), cnt: os.count}
}

func tcpPooler(keepalive bool, idle, intvl time.Duration, cnt, userTimeoutMS int) *config.Pooler {
	p := config.Default().Pooler
	p.TCPKeepalive, p.TCPKeepidle, p.TCPKeepintvl, p.TCPKeepcnt, p.TCPUserTimeout = keepalive, config.Duration(idle), config.Duration(intvl), cnt, userTimeoutMS
	return &p
}

// TestTCPOptionsDial: the dialer of server connections sets tcp_keepalive, tcp_keepidle, tcp_keepintvl,
// tcp_keepcnt and tcp_user_timeout; zeros leave the operating system's values, and tcp_keepalive =
// false turns keepalive off (Go's dialer would turn it on with 15 s timings).
func TestTCPOptionsDial(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	osDefault := osSockopts(t)
	for _, tc := range []struct {
		name string
		p    *config.Pooler
		want sockopts
	}{
		{"set", tcpPooler(true, 3*time.Second, 2*time.Second, 4, 1500), sockopts{1, 3, 2, 4, 1500}},
		{"defaults", tcpPooler(true, 0, 0, 0, 0), osDefault},
		{"off", tcpPooler(false, 0, 0, 0, 0), sockopts{0, osDefault.idle, osDefault.intvl, osDefault.cnt, 0}},
		{"user timeout only", tcpPooler(true, 0, 0, 0, 1000), sockopts{1, osDefault.idle, osDefault.intvl, osDefault.cnt, 1000}},
	} {
		c, err := tcpOptionsOf(tc.p).dialer().DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if got := readSockopts(t, c.(*net.TCPConn)); got != tc.want {
			t.Errorf("%s: socket options %+v, want %+v", tc.name, got, tc.want)
		}
		c.Close()
	}
}

// recordingListener hands a duplicate of every accepted connection's socket to accepted (the caller's
// is closed once it is enrolled on an event loop, whose duplicate has the same socket options).
type recordingListener struct {
	net.Listener
	accepted chan *os.File
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		f, ferr := c.(*net.TCPConn).File() // a duplicate; not net.FileConn, which would set Go's keepalive
		if ferr != nil {
			c.Close()
			return nil, ferr
		}
		l.accepted <- f
	}
	return c, err
}

// TestTCPOptionsAccepted: Serve sets the options in force on each accepted client connection, over
// Go's 15 s keepalive of net.Listen, and a RELOAD changes them for connections accepted after it.
func TestTCPOptionsAccepted(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0") // Go's default: keepalive on, 15 s, 15 s, 9
	if err != nil {
		t.Fatal(err)
	}
	testAcceptedOptions(t, inner, func(ln net.Listener) net.Listener { return ln })
}

// TestTCPOptionsAcceptedFresh: the same on a listener as Listen opens it (KeepAlive -1, a freshListener),
// where Serve sets only what differs from a fresh socket's options (applyFresh).
func TestTCPOptionsAcceptedFresh(t *testing.T) {
	inner, err := (&net.ListenConfig{KeepAlive: -1}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	testAcceptedOptions(t, inner, func(ln net.Listener) net.Listener { return freshListener{ln} })
}

// testAcceptedOptions serves inner (recorded, then wrapped by wrap) and checks the accepted sockets'
// options with the defaults, after a RELOAD that sets every option, and with tcp_keepalive off.
func testAcceptedOptions(t *testing.T, inner net.Listener, wrap func(net.Listener) net.Listener) {
	osDefault := osSockopts(t)
	cfg := config.Default()
	cfg.Pooler.ListenAddr = "127.0.0.1"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln := &recordingListener{Listener: inner, accepted: make(chan *os.File, 1)}
	served := make(chan error, 1)
	go func() { served <- s.Serve(wrap(ln)) }()
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Shutdown(ctx)
		<-served
	}()
	// check connects and waits until the accepted side has the options want (Serve sets them just after
	// Accept returns).
	check := func(what string, want sockopts) {
		t.Helper()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var sc *os.File
		select {
		case sc = <-ln.accepted:
			defer sc.Close()
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: not accepted", what)
		}
		var got sockopts
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if got = readSockopts(t, sc); got.matches(want) {
				return
			}
		}
		t.Errorf("%s: accepted socket options %+v, want %+v", what, got, want)
	}
	check("defaults", osDefault)

	next := *cfg
	next.Pooler = *tcpPooler(true, 5*time.Second, 1*time.Second, 3, 2000)
	next.Pooler.ListenAddr = cfg.Pooler.ListenAddr
	if err := s.Reload(&next); err != nil {
		t.Fatal(err)
	}
	check("after reload", sockopts{1, 5, 1, 3, 2000})

	off := next
	off.Pooler.TCPKeepalive, off.Pooler.TCPUserTimeout = false, 0
	if err := s.Reload(&off); err != nil {
		t.Fatal(err)
	}
	check("tcp_keepalive = false", sockopts{0, -1, -1, -1, 0}) // the timings do not matter when it is off
}
