package pgwire

import (
	"io"
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
// handshake. Errors are those of the read (io.EOF when the peer closed without sending).
func PeekByte(conn net.Conn) (byte, net.Conn, error) {
	var b [1]byte
	if _, err := io.ReadFull(conn, b[:]); err != nil {
		return 0, conn, err
	}
	return b[0], &prefixConn{Conn: conn, prefix: b[:]}, nil
}

// prefixConn is a net.Conn whose first reads return prefix before reading the connection itself.
type prefixConn struct {
	net.Conn
	prefix []byte
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
