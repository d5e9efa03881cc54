// Package pooler is pgpooler's policy: it accepts PostgreSQL clients, keeps pools of server connections
// keyed by (database, user), lends a server to a client per session, per transaction or per statement
// (pool_mode), and relays the protocol between them.
//
// The shape follows net/http: a Server whose fields are its configuration, Serve per listener, a
// goroutine per client connection for its login (clientConn.serve), Shutdown for a graceful stop. Once
// logged in, a client is served on an event loop of package loop (event_loops, on by default: loop*.go,
// docs/architecture.md), with no goroutine of its own: the loop frames its messages, lends it a server
// (lend, takeResident), relays the server's answer (loopLink.fromServer) and releases the server at the
// ReadyForQuery that ends the transaction; the servers lent on a loop stay resident there, and the
// internal queries of a lending run there as exchanges (loopexchange.go, loopsettle.go). With
// event_loops = false, or for a client the loop cannot take, a second goroutine
// (clientConn.relayServer, relay.go) copies the server's messages while the client holds it.
//
// Concepts with a small API of their own live in sub-packages: pools (one pool's idle servers, waiters and
// limits), prepare (prepared-statement tracking), session (SET scanning and parameter sync), admin (the
// console over admin.Server), status (snapshot structs), loop (event loops), config, tlsconfig, metrics.
//
// Behaviour and names follow PgBouncer (doc/config.md, doc/usage.md); differences are listed in the README.
package pooler
