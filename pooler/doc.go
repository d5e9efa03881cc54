// Package pooler is pgpooler's policy: it accepts PostgreSQL clients, keeps pools of server connections
// keyed by (database, user), lends a server to a client per session, per transaction or per statement
// (pool_mode), and relays the protocol between them.
//
// The shape follows net/http: a Server whose fields are its configuration, Serve per listener, a
// goroutine per client connection (clientConn.serve), Shutdown for a graceful stop. While a client holds
// a server a second goroutine (clientConn.relayServer) copies the server's messages to the client and
// decides, on each ReadyForQuery, whether the server goes back to its pool. With event_loops (experimental,
// loop*.go) a logged-in plain-TCP client is instead served on an event loop of package loop, with no
// goroutine of its own (docs/architecture.md).
//
// Concepts with a small API of their own live in sub-packages: pools (one pool's idle servers, waiters and
// limits), prepare (prepared-statement tracking), session (SET scanning and parameter sync), admin (the
// console over admin.Server), status (snapshot structs), loop (event loops), config, tlsconfig, metrics.
//
// Behaviour and names follow PgBouncer (doc/config.md, doc/usage.md); differences are listed in the README.
package pooler
