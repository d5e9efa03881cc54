package pooler

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/tlsconfig"
)

// tlsState is the TLS configuration of both sides, built from client_tls_* and server_tls_* at start and
// at every reload, so that renewed certificate files take effect on SIGHUP.
type tlsState struct {
	clientMode string      // client_tls_sslmode
	clients    *tls.Config // nil when client_tls_sslmode is disable
	endPoint   []byte      // tls-server-end-point hash of the certificate clients get (RFC 5929)

	serverMode string                        // server_tls_sslmode
	servers    func(host string) *tls.Config // nil when server_tls_sslmode is disable
}

// loadTLS builds the TLS state of cfg, loading every certificate and key file it names.
func loadTLS(cfg *config.Config) (*tlsState, error) {
	p := cfg.Pooler
	st := &tlsState{clientMode: p.ClientTLSSSLMode, serverMode: p.ServerTLSSSLMode}
	var err error
	st.clients, err = tlsconfig.ForClients(tlsconfig.ClientSide{
		SSLMode: p.ClientTLSSSLMode, KeyFile: p.ClientTLSKeyFile, CertFile: p.ClientTLSCertFile,
		CAFile: p.ClientTLSCAFile, Protocols: p.ClientTLSProtocols, Ciphers: p.ClientTLSCiphers,
	})
	if err != nil {
		return nil, err
	}
	if st.clients != nil && len(st.clients.Certificates) > 0 {
		cert := st.clients.Certificates[0]
		leaf := cert.Leaf
		if leaf == nil && len(cert.Certificate) > 0 {
			leaf, _ = x509.ParseCertificate(cert.Certificate[0])
		}
		if leaf != nil {
			st.endPoint = auth.EndPointHash(leaf)
		}
	}
	st.servers, err = tlsconfig.ForServers(tlsconfig.ServerSide{
		SSLMode: p.ServerTLSSSLMode, CAFile: p.ServerTLSCAFile, CertFile: p.ServerTLSCertFile,
		KeyFile: p.ServerTLSKeyFile, Protocols: p.ServerTLSProtocols, Ciphers: p.ServerTLSCiphers,
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// clientTLSRequired reports whether client_tls_sslmode refuses clients that do not use TLS.
func (st *tlsState) clientTLSRequired() bool {
	switch st.clientMode {
	case "require", "verify-ca", "verify-full":
		return true
	}
	return false
}

// startTLS runs the server side of a TLS handshake on the client's connection, after an SSLRequest
// answered 'S' or on a direct TLS connection (direct: the client opened with a ClientHello, and must
// negotiate ALPN "postgresql", as PostgreSQL 17 requires). On success c.stream, c.rd and c.wr use TLS.
func (c *clientConn) startTLS(cfg *tls.Config, stream net.Conn, direct bool) error {
	tc := tls.Server(newTLSTransport(stream), cfg) // switched to the loop's conn there (looptls.go)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake failed: %w", err)
	}
	st := tc.ConnectionState()
	if direct && st.NegotiatedProtocol != pgwire.ALPNProtocol {
		// PostgreSQL closes such connections; a FATAL over the TLS stream says why.
		c.setStream(tc)
		return pgwire.NewFatal(pgerrcode.ProtocolViolation, "direct TLS connection without ALPN protocol %q", pgwire.ALPNProtocol)
	}
	c.setStream(tc)
	c.tls = &st
	return nil
}

// setStream makes the client's reads and writes go through stream (the connection itself or TLS on it).
// Only login calls it, before the client is visible to other goroutines.
func (c *clientConn) setStream(stream net.Conn) {
	c.stream = stream
	c.rd = c.s.newClientReader(stream)
	c.wr = pgwire.NewWriter(stream)
}

// isUnix reports whether the client came in over the Unix socket.
func (c *clientConn) isUnix() bool { return c.conn.LocalAddr().Network() == "unix" }

// startServerTLS asks a server for TLS (SSLRequest) according to server_tls_sslmode: disable sends no
// request; allow and prefer fall back to plain TCP when the server answers 'N'; require, verify-ca and
// verify-full fail then (PgBouncer doc/config.md, server_tls_sslmode). Unix sockets never use TLS, as in
// libpq. On success sc.conn, sc.rd and sc.wr use TLS.
func (sc *serverConn) startServerTLS(st *tlsState, host string, deadline time.Time) error {
	if st == nil || st.servers == nil || sc.network == "unix" {
		return nil
	}
	req := []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f} // SSLRequest: length 8, code 80877103
	if _, err := sc.conn.Write(req); err != nil {
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "could not send SSLRequest to server %s: %v", sc.addr, err)
	}
	var b [1]byte
	if _, err := sc.conn.Read(b[:]); err != nil {
		if isTimeout(err) {
			return sc.loginTimedOut()
		}
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server %s closed the connection after SSLRequest: %v", sc.addr, err)
	}
	switch b[0] {
	case 'S':
	case 'N':
		switch st.serverMode {
		case "allow", "prefer":
			return nil
		}
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server %s does not support TLS, and server_tls_sslmode is %s", sc.addr, st.serverMode)
	default:
		return pgwire.ProtocolViolation("server %s answered SSLRequest with %q", sc.addr, b[0])
	}
	tt := newTLSTransport(sc.conn) // switched to the loop's conn while enrolled (looptls.go)
	tc := tls.Client(tt, st.servers(host))
	if !deadline.IsZero() {
		_ = tc.SetDeadline(deadline)
	}
	if err := tc.Handshake(); err != nil {
		if isTimeout(err) {
			return sc.loginTimedOut()
		}
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "TLS handshake with server %s failed (server_tls_sslmode %s): %v", sc.addr, st.serverMode, err)
	}
	sc.conn = tc
	sc.rd = newServerReader(tc)
	sc.wr = pgwire.NewWriter(tc)
	sc.tls, sc.tt = true, tt
	return nil
}
