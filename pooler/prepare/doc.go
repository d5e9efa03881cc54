// Package prepare tracks protocol-level prepared statements for clients whose server changes between
// transactions (transaction and statement mode; PgBouncer doc/config.md, max_prepared_statements; its
// src/prepare.c for the idea, not the code). It rewrites the extended-query messages a client sends
// (PostgreSQL protocol docs, "Extended Query") and accounts for the server's answers; the relay does the
// I/O.
//
// A client's named statement is mapped to a statement shared by every client whose query text and
// parameter types are the same (Registry), prepared on a server under a name of the pooler's
// ("pgpooler_N") when a client that uses it gets that server (ServerStmts, least recently used first out
// beyond max_prepared_statements). A client's Tracker rewrites its messages on their way (Tracker.Send):
//
//   - Parse "name": Close + Parse under the server name (the Close's CloseComplete is dropped; closing a
//     statement that does not exist is not an error), so the client's own ParseComplete still comes
//     from the server, in order. A name the client already uses: a Parse that fails, whose error
//     ServerError turns into PostgreSQL's 42P05 "prepared statement ... already exists".
//   - Bind and Describe of a known name: the server name instead; when the server lacks the statement a
//     Close + Parse is injected first and both answers are dropped.
//   - Close of a known name: forgotten by the client only; the server is sent a Close of a name that does
//     not exist, whose CloseComplete the client gets.
//   - Unnamed statements and unknown names pass unchanged, so PostgreSQL itself answers them (26000 for a
//     Bind to an unknown name); the client's last unnamed Parse is re-sent to a server that no longer
//     has it.
//
// Answers to the messages sent are matched in order (the Tracker's answer queue: Answer, Ready,
// ServerError); after an ErrorResponse the server skips to Sync, and so does the queue. An ErrorResponse
// too large for the relay to read whole is accounted for from its first fields (ServerErrorPrefix).
//
// Nothing here locks but the Registry, which every client shares: a Tracker and the ServerStmts of its
// linked server are owned by one caller at a time, which serialises its calls.
package prepare
