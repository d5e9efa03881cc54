package pooler

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/pgpooler/pgpooler/pooler/loop"
)

// A server connection that uses TLS (server_tls_sslmode) is served on the event loops like a plain one,
// with Go's crypto/tls over a transport that can be switched (tlsTransport): during the blocking login
// and while the server is detached (for a goroutine client or another loop) it is the socket itself;
// while the server is enrolled on a loop, Read serves the ciphertext the loop read (residentServer.OnData), whole records
// only, and Write hands ciphertext to loop.Conn.Write. The loop decrypts into a bounded plaintext
// buffer (loopTLS) and runs the same framing (loopLink.fromServer) on plaintext. A client that uses TLS
// (client_tls_sslmode) goes the same way (startTLS, serveOnLoop, loopClient.OnData and write); it is
// never detached.
//
// This relies on crypto/tls not recording a temporary error as the connection's own: in
// crypto/tls/conn.go (Go 1.26) readRecordOrCCS calls c.in.setErrorLocked only when the transport's
// error is not a net.Error whose Temporary() is true ("if e, ok := err.(net.Error); !ok ||
// !e.Temporary() { c.in.setErrorLocked(err) }", after both readFromUntil calls), and readFromUntil
// keeps what it read in c.rawInput. The transport gives crypto/tls only whole records, so a Read that
// finds none fails before it reads anything, and nothing is ever left in rawInput between two reads:
// a detach finds no ciphertext there.

// Sizes of TLS records (RFC 8446 section 5.1; RFC 5246 section 6.2.3 allows 2048 bytes of expansion
// in TLS 1.2, the larger bound).
const (
	tlsHeaderLen     = 5
	tlsMaxCiphertext = 16384 + 2048
	tlsMaxPlaintext  = 16384
)

// tlsPlainLimit is the most decrypted bytes a TLS connection on a loop keeps unconsumed (loopTLS.pin),
// in bytes: what loop.Config.InboundLimit is for a plain one (its default). The framing waits for no
// more than pgwire.BufferSize of a server's message (and the loop client's for 896 KiB at most), so a
// peer over it is out of step and is closed.
const tlsPlainLimit = 1 << 20

// errNoRecord is what tlsTransport.Read returns on a loop when no whole TLS record is left of what the
// loop read: temporary, so crypto/tls keeps the connection usable and the read is tried again with the
// next bytes.
var errNoRecord net.Error = noRecordError{}

type noRecordError struct{}

func (noRecordError) Error() string   { return "pgpooler: no whole TLS record read yet" }
func (noRecordError) Timeout() bool   { return false }
func (noRecordError) Temporary() bool { return true }

// tlsTransport is the net.Conn under a server's tls.Conn (startServerTLS) or a client's (startTLS).
// Read and Write are its owner's (the goroutine that owns the connection, or its loop while enrolled); the deadlines may be set by
// other goroutines (a client's kill or finish wakes a relay that way), so the socket they act on is
// read under mu.
type tlsTransport struct {
	mu     sync.Mutex
	sock   net.Conn   // the blocking socket; once enrolled, the closed one (its addresses stay)
	onLoop bool       // enrolled (or being enrolled): reads and writes go through the loop
	lc     *loop.Conn // the loop's conn while enrolled; nil otherwise, and until known (enrolling)

	in      []byte // while enrolled, within residentServer.OnData: the ciphertext the loop read
	taken   int    // bytes of in given to crypto/tls
	recLeft int    // bytes of the record being given still to give
}

func newTLSTransport(sock net.Conn) *tlsTransport { return &tlsTransport{sock: sock} }

// enrolled switches to lc, the loop's conn of the socket (loop.Enroll closed sock); on the loop.
func (t *tlsTransport) enrolled(lc *loop.Conn) {
	t.enrolling()
	t.lc = lc
}

// enrolling switches to the loop before the socket's loop.Conn is known (loop.Enroll from a goroutine
// other than the loop's, whose registration may read before Enroll returns): reads serve OnData's
// bytes, and the first OnData names the conn (loopTLS.onData).
func (t *tlsTransport) enrolling() {
	t.mu.Lock()
	t.onLoop = true
	t.mu.Unlock()
	t.in, t.taken, t.recLeft = nil, 0, 0
}

// detached switches back to a blocking socket (loop.Conn.Detach's); on the loop.
func (t *tlsTransport) detached(sock net.Conn) {
	t.mu.Lock()
	t.sock, t.onLoop, t.lc = sock, false, nil
	t.mu.Unlock()
	t.in, t.taken, t.recLeft = nil, 0, 0
}

// Read reads the socket when blocking; enrolled, it gives the next bytes of the whole records in in,
// and errNoRecord when no whole record is left.
func (t *tlsTransport) Read(p []byte) (int, error) {
	if !t.onLoop {
		return t.sock.Read(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	avail := t.in[t.taken:]
	if t.recLeft == 0 {
		if len(avail) < tlsHeaderLen {
			return 0, errNoRecord
		}
		n := tlsHeaderLen + int(binary.BigEndian.Uint16(avail[3:5]))
		if n > tlsHeaderLen+tlsMaxCiphertext {
			n = tlsHeaderLen // crypto/tls refuses the record from its header (alertRecordOverflow)
		}
		if len(avail) < n {
			return 0, errNoRecord
		}
		t.recLeft = n
	}
	m := copy(p, avail[:t.recLeft])
	t.taken += m
	t.recLeft -= m
	return m, nil
}

// Write writes the socket when blocking; enrolled, it queues p on the loop's conn (it does not block).
func (t *tlsTransport) Write(p []byte) (int, error) {
	if !t.onLoop {
		return t.sock.Write(p)
	}
	if t.lc == nil {
		return 0, loop.ErrClosed // enrolling, and no callback has named the conn yet
	}
	if err := t.lc.Write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the blocking socket; enrolled, the loop closes its conn itself (residentServer.close).
func (t *tlsTransport) Close() error {
	if !t.onLoop {
		return t.sock.Close()
	}
	return nil
}

func (t *tlsTransport) LocalAddr() net.Addr  { return t.sock.LocalAddr() }
func (t *tlsTransport) RemoteAddr() net.Addr { return t.sock.RemoteAddr() }

// SetDeadline and the others act on the blocking socket; enrolled, the loop sets no deadlines and they
// do nothing.
func (t *tlsTransport) SetDeadline(d time.Time) error {
	return t.deadline(func(c net.Conn) error { return c.SetDeadline(d) })
}

func (t *tlsTransport) SetReadDeadline(d time.Time) error {
	return t.deadline(func(c net.Conn) error { return c.SetReadDeadline(d) })
}

func (t *tlsTransport) SetWriteDeadline(d time.Time) error {
	return t.deadline(func(c net.Conn) error { return c.SetWriteDeadline(d) })
}

func (t *tlsTransport) deadline(set func(net.Conn) error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.onLoop {
		return nil
	}
	return set(t.sock)
}

// loopTLS is the TLS layer of a connection on a loop (a resident server, or a client served there):
// its fields are the loop's.
type loopTLS struct {
	tc  *tls.Conn
	tr  *tlsTransport
	pin []byte // decrypted bytes the framing has not consumed; nil or empty when none
	err error  // why it closed the conn (a TLS error, the plaintext over tlsPlainLimit), for OnClose
}

// plainBufs holds the buffers a loop decrypts into (one record's plaintext at most), taken for one
// OnData.
var plainBufs = sync.Pool{New: func() any { b := make([]byte, tlsMaxPlaintext); return &b }}

// plainHandler takes a TLS connection's decrypted bytes on its loop, as loop.Handler's OnData takes a
// plain one's: it returns how many it consumed.
type plainHandler interface {
	onPlain(c *loop.Conn, data []byte) int
}

// onData decrypts the whole records of data (ciphertext the loop read; with nil, the resumed conn's
// decrypted bytes only) and offers the plaintext to h as loop.Conn offers bytes to its handler: what h
// leaves is offered again, with more, up to tlsPlainLimit. It stops while c is paused or closed, and
// returns the ciphertext consumed: a partial record stays in the loop's buffer.
func (rt *loopTLS) onData(c *loop.Conn, data []byte, h plainHandler) int {
	tr := rt.tr
	tr.lc = c // enrolling: the conn is known from its first callback on
	tr.in, tr.taken, tr.recLeft = data, 0, 0
	if len(rt.pin) > 0 {
		rt.deliver(c, nil, h)
	}
	if !c.Paused() && !c.Closed() {
		bp := plainBufs.Get().(*[]byte)
		for !c.Paused() && !c.Closed() {
			n, err := rt.tc.Read(*bp)
			if n > 0 {
				rt.deliver(c, (*bp)[:n], h)
			}
			if err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Temporary() {
					rt.fail(c, err)
				}
				break
			}
		}
		plainBufs.Put(bp)
	}
	taken := tr.taken
	tr.in, tr.taken = nil, 0
	if !c.Closed() {
		c.Hold(len(rt.pin) > 0)
	}
	return taken
}

// deliver offers the kept plaintext followed by plain to h and keeps what h leaves.
func (rt *loopTLS) deliver(c *loop.Conn, plain []byte, h plainHandler) {
	data, pinned := plain, len(rt.pin) > 0
	if pinned {
		rt.pin = append(rt.pin, plain...)
		data = rt.pin
	}
	n := h.onPlain(c, data)
	if c.Closed() {
		rt.pin = nil
		return
	}
	if n < 0 || n > len(data) {
		n = len(data) // not fromServer's: it returns at most what it got
	}
	rest := data[n:]
	switch {
	case len(rest) == 0:
		rt.dropPin()
	case len(rest) >= tlsPlainLimit:
		rt.fail(c, loop.ErrInboundLimit)
	case pinned:
		rt.pin = rt.pin[:copy(rt.pin, rest)]
	default:
		rt.pin = append(rt.pin[:0], rest...)
	}
}

// dropPin empties pin, keeping its array while it is no bigger than two records.
func (rt *loopTLS) dropPin() {
	if cap(rt.pin) > 2*tlsMaxPlaintext {
		rt.pin = nil
		return
	}
	rt.pin = rt.pin[:0]
}

// fail closes c for err (OnClose reports it).
func (rt *loopTLS) fail(c *loop.Conn, err error) {
	rt.err = err
	rt.pin = nil
	_ = c.Close()
}

// write encrypts p for the server and queues it on the loop.
func (rt *loopTLS) write(p []byte) error {
	_, err := rt.tc.Write(p)
	return err
}

// clientTLSTransport returns the transport under a TLS client's stream (startTLS), nil for a client
// without TLS.
func clientTLSTransport(c *clientConn) *tlsTransport {
	if tc, ok := c.stream.(*tls.Conn); ok {
		tt, _ := tc.NetConn().(*tlsTransport)
		return tt
	}
	return nil
}
