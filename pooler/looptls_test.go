package pooler

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/loop"
)

// record is a TLS record header for n bytes of payload, and the payload.
func record(n int, fill byte) []byte {
	r := []byte{23, 3, 3, byte(n >> 8), byte(n)}
	return append(r, bytes.Repeat([]byte{fill}, n)...)
}

// TestTLSTransportWholeRecords: enrolled, the transport gives crypto/tls whole records only, however
// its reads are cut, and a temporary error where no whole record is left; an oversized header alone.
func TestTLSTransportWholeRecords(t *testing.T) {
	tr := newTLSTransport(nil)
	tr.enrolled(&loop.Conn{}) // Read does not touch the conn
	in := append(append(record(1000, 'a'), record(300, 'b')...), record(2000, 'c')[:700]...)
	tr.in = in
	var got []byte
	p := make([]byte, 517) // what crypto/tls offers first: bytes.MinRead more than the header
	for {
		n, err := tr.Read(p)
		got = append(got, p[:n]...)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Temporary() || n != 0 {
				t.Fatalf("Read at the partial record: %d, %v; want 0 and a temporary net.Error", n, err)
			}
			break
		}
		if n == 0 {
			t.Fatal("Read returned 0 bytes and no error")
		}
	}
	if want := 5 + 1000 + 5 + 300; len(got) != want || tr.taken != want || !bytes.Equal(got, in[:want]) {
		t.Fatalf("gave %d bytes (taken %d), want the two whole records, %d", len(got), tr.taken, want)
	}
	if n, err := tr.Read(p); n != 0 || err == nil {
		t.Fatalf("Read again at the partial record: %d, %v", n, err)
	}

	tr.in, tr.taken = []byte{23, 3, 3, 0xff, 0xff, 1, 2, 3}, 0 // 65535 bytes: over any TLS record
	if n, err := tr.Read(p); n != 5 || err != nil {
		t.Fatalf("Read of an oversized record: %d, %v; want its 5-byte header alone", n, err)
	}
}

// testCert is a self-signed certificate for 127.0.0.1.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// chunkedTLS is a Handler for a TLS conn on a loop: it consumes the plaintext in whole chunks of
// chunk bytes only, and pauses its conn each time pauseEvery more bytes have been consumed, for the
// test to resume it.
type chunkedTLS struct {
	rt         *loopTLS
	chunk      int
	pauseEvery int
	got        []byte
	paused     chan *loop.Conn
	closed     chan error
}

func (h *chunkedTLS) OnData(c *loop.Conn, data []byte) int { return h.rt.onData(c, data, h) }
func (h *chunkedTLS) OnDrained(*loop.Conn)                 {}
func (h *chunkedTLS) OnClose(_ *loop.Conn, err error) {
	if err == nil {
		err = h.rt.err
	}
	h.closed <- err
}

func (h *chunkedTLS) onPlain(c *loop.Conn, data []byte) int {
	toPause := h.pauseEvery - len(h.got)%h.pauseEvery // a multiple of chunk
	n := min(len(data)/h.chunk*h.chunk, toPause)
	h.got = append(h.got, data[:n]...)
	if n == toPause {
		c.Pause()
		h.paused <- c
	}
	return n
}

// TestResidentTLS: a TLS connection logged in blocking (its handshake and a first exchange), then
// enrolled on a loop, receives a large stream decrypted there, with its framing consuming part of
// what it is offered and pausing: what it leaves is offered again when the conn resumes, even when
// no more ciphertext comes (the peer waits for an answer); it answers through the loop, is detached
// for a blocking exchange over the same tls.Conn, and enrolled again.
func TestResidentTLS(t *testing.T) {
	cert := testCert(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The last pause comes inside the peer's last record, with 3 whole chunks after it: they are
	// decrypted already when the conn pauses, and no more ciphertext comes until they are consumed.
	const chunk, pauseEvery, last = 1000, 256000, 10000
	payload := make([]byte, 12*pauseEvery+3*chunk+123)
	rand.Read(payload)
	peerErr := make(chan error, 1)
	detached := make(chan struct{})
	go func() { // the peer: PostgreSQL's part
		peerErr <- func() error {
			raw, err := ln.Accept()
			if err != nil {
				return err
			}
			defer raw.Close()
			_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
			tc := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
			expect := func(want string) error {
				b := make([]byte, len(want))
				if _, err := io.ReadFull(tc, b); err != nil || string(b) != want {
					return errors.New("peer: got " + string(b) + ", want " + want)
				}
				return nil
			}
			if err := expect("hello"); err != nil {
				return err
			}
			for off := 0; off < len(payload)-last; { // writes of varied sizes: records of varied sizes
				n := min(len(payload)-last-off, 1+off%40000)
				if _, err := tc.Write(payload[off : off+n]); err != nil {
					return err
				}
				off += n
			}
			if _, err := tc.Write(payload[len(payload)-last:]); err != nil { // one record
				return err
			}
			if err := expect("ack"); err != nil {
				return err
			}
			<-detached // what comes now is for the blocking socket
			if _, err := tc.Write([]byte("pong")); err != nil {
				return err
			}
			if err := expect("again"); err != nil {
				return err
			}
			_, err = tc.Write(bytes.Repeat([]byte("z"), 70))
			return err
		}()
	}()

	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tt := newTLSTransport(raw)
	tc := tls.Client(tt, &tls.Config{InsecureSkipVerify: true})
	_ = tc.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := tc.Write([]byte("hello")); err != nil { // the handshake, then a record, blocking
		t.Fatal(err)
	}
	_ = tc.SetDeadline(time.Time{})

	g, err := loop.Start(loop.Config{Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Stop()
	l := g.Loop(0)
	h := &chunkedTLS{rt: &loopTLS{tc: tc, tr: tt}, chunk: chunk, pauseEvery: pauseEvery,
		paused: make(chan *loop.Conn, 64), closed: make(chan error, 1)}
	run := func(f func()) {
		done := make(chan struct{})
		if err := l.Run(func() { f(); close(done) }); err != nil {
			t.Fatal(err)
		}
		<-done
	}
	var lc *loop.Conn
	run(func() {
		lc, err = l.Enroll(raw, h)
		if err == nil {
			tt.enrolled(lc)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := len(payload) / h.chunk * h.chunk // the rest is never whole
	deadline := time.After(20 * time.Second) // before the peer's own
	for got := 0; got < want; {
		select {
		case c := <-h.paused:
			run(func() { c.Resume(); got = len(h.got) })
		case err := <-h.closed:
			t.Fatalf("closed while reading: %v", err)
		case <-deadline:
			run(func() { got = len(h.got) })
			t.Fatalf("got %d of %d bytes: stuck", got, want)
		case <-time.After(5 * time.Millisecond): // polls got
		}
		run(func() { got = len(h.got) })
	}
	var rest int
	run(func() { rest = len(h.rt.pin) })
	if rest != len(payload)-want {
		t.Fatalf("%d bytes kept, want the last partial chunk, %d", rest, len(payload)-want)
	}
	run(func() {
		if !bytes.Equal(h.got, payload[:want]) {
			t.Error("the plaintext differs from what the peer sent")
		}
		if err := h.rt.write([]byte("ack")); err != nil {
			t.Error(err)
		}
	})

	// Detach: the same tls.Conn reads and writes a blocking socket again.
	run(func() { h.rt.pin = nil }) // the framing is done with the partial chunk
	var nc net.Conn
	eventually := time.Now().Add(10 * time.Second)
	for {
		run(func() { nc, err = lc.Detach() }) // fails while the "ack" is still outbound
		if err == nil || time.Now().After(eventually) {
			break
		}
	}
	if err != nil {
		t.Fatalf("Detach: %v", err)
	}
	tt.detached(nc)
	close(detached)
	_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 4)
	if _, err := io.ReadFull(tc, b); err != nil || string(b) != "pong" {
		t.Fatalf("blocking read after Detach: %q, %v", b, err)
	}
	if _, err := tc.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	_ = tc.SetDeadline(time.Time{})

	// Enrolled again: the peer's last 70 bytes arrive there.
	h.got, h.chunk = nil, 10
	run(func() {
		lc, err = l.Enroll(nc, h)
		if err == nil {
			tt.enrolled(lc)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-peerErr; err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); ; {
		var got []byte
		run(func() { got = append([]byte(nil), h.got...) })
		if string(got) == string(bytes.Repeat([]byte("z"), 70)) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("got %q after enrolling again", got)
		}
	}
	// The peer closed: crypto/tls's EOF closes the conn.
	select {
	case <-h.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the peer's close was not seen")
	}
}
