// Package pgwire implements the parts of the PostgreSQL frontend/backend protocol (version 3) that a pooler
// needs, and nothing of pooling policy.
//
// It frames messages over a connection without decoding them (Reader peeks the 5-byte header, then either
// forwards the raw bytes with Forward or hands out the whole message with ReadMsg for decoding), batches
// outgoing bytes (Writer), parses the first packet a client sends (ReadStartup: StartupMessage, SSLRequest,
// GSSENCRequest, CancelRequest) and builds ErrorResponse messages with SQLSTATE codes (Error).
//
// Buffers are borrowed from a shared pool while bytes are in flight and given back as soon as a connection
// has nothing buffered, so an idle connection holds no read or write buffer (design.md, "Memory per client").
// Lengths are checked from the header before a body is read, against per-type limits as PostgreSQL's and
// libpq's (FrontendLimit, BackendLimit), and a message read whole takes memory only as its bytes arrive.
//
// Message decoding and encoding use github.com/jackc/pgx/v5/pgproto3. The reference for every format here
// is the PostgreSQL documentation, chapter "Frontend/Backend Protocol", sections "Message Flow" and
// "Message Formats".
package pgwire
