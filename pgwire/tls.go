package pgwire

import (
	"net"
)

// TLSHandshakeByte is the first byte of a TLS record carrying a handshake (a ClientHello). A client using
// PostgreSQL 17's direct TLS (libpq sslnegotiation=direct) opens with it instead of an SSLRequest
// (PostgreSQL protocol docs, "SSL Session Encryption").
const TLSHandshakeByte = 0x16

// ALPNProtocol is the ALPN protocol name PostgreSQL 17 negotiates on TLS connections; it is required on
// direct TLS connections (PostgreSQL protocol docs, "SSL Session Encryption").
const ALPNProtocol = "postgresql"

// PeekByte reads the first byte a connection sends and returns it with a net.Conn that yields that byte
// again before the rest of the stream, so a caller can choose between a start-up packet and a TLS
// handshake. It reads what one read returns, up to peekMax bytes (never more than any first packet
// holds), so that an SSLRequest is read whole with it: one system call where a byte-wise peek and the
// packet's two reads cost three. Errors are those of the read (io.EOF when the peer closed without
// sending).
func PeekByte(conn net.Conn) (byte, net.Conn, error) {
	pc := &prefixConn{Conn: conn}
	for {
		n, err := conn.Read(pc.buf[:])
		if n > 0 {
			pc.prefix = pc.buf[:n]
			return pc.buf[0], pc, nil
		}
		if err != nil {
			return 0, conn, err
		}
	}
}

// peekMax is how much PeekByte reads at most: 8 bytes, the shortest start-up packet (an SSLRequest or
// GSSENCRequest; a StartupMessage or CancelRequest is longer, and its length field says so) and less than
// a TLS record's 5-byte header plus the 4-byte header of the handshake message in it. What PeekByte read
// is thus consumed by the first packet's reads, and nothing of what follows it is held in the prefix.
const peekMax = 8

// prefixConn is a net.Conn whose first reads return prefix before reading the connection itself.
type prefixConn struct {
	net.Conn
	prefix []byte
	buf    [peekMax]byte // prefix's storage
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// NetConn returns the wrapped connection.
func (c *prefixConn) NetConn() net.Conn { return c.Conn }
