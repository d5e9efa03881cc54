// Package pooler is pgpooler's policy: it accepts PostgreSQL clients, keeps pools of server connections
// keyed by (database, user), lends a server to a client per session, per transaction or per statement
// (pool_mode), and relays the protocol between them.
//
// The shape follows net/http: a Server whose fields are its configuration, Serve per listener, a
// goroutine per client connection (clientConn.serve), Shutdown for a graceful stop. While a client holds
// a server a second goroutine (clientConn.relayServer) copies the server's messages to the client and
// decides, on each ReadyForQuery, whether the server goes back to its pool.
//
// Behaviour and names follow PgBouncer (doc/config.md, doc/usage.md); differences are listed in the README.
package pooler
