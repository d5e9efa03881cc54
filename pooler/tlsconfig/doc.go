// Package tlsconfig builds the crypto/tls configurations pgpooler uses from PgBouncer's TLS settings
// (PgBouncer doc/config.md, "TLS settings"):
//
//   - client_tls_* ([ClientSide], [ForClients]): TLS between clients and pgpooler, where pgpooler is the
//     TLS server and presents client_tls_cert_file.
//   - server_tls_* ([ServerSide], [ForServers]): TLS between pgpooler and PostgreSQL, where pgpooler is
//     the TLS client and checks the server's certificate as libpq's sslmode would.
//
// The *_protocols settings become tls.Config's MinVersion and MaxVersion, the *_ciphers settings its
// CipherSuites ([Ciphers]). Both sides offer the ALPN protocol "postgresql", as PostgreSQL 17 and libpq 17
// do.
//
// Certificate and key files are read when a configuration is built, so building it again (on a reload)
// picks up renewed files, as a PgBouncer RELOAD does. Errors name the setting and the file, never what the
// file holds.
//
// PgBouncer settings this package does not take: client_tls13_ciphers and server_tls13_ciphers (Go
// always enables its TLS 1.3 suites), client_tls_ecdhcurve (Go negotiates X25519 and the NIST curves
// itself) and client_tls_dheparams (Go has no finite-field DHE suites).
package tlsconfig
