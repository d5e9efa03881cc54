// Package admin is the admin console (PgBouncer doc/usage.md, "Admin console"; src/admin.c): a virtual
// database whose "server" is the pooler itself: `psql -p 6432 -U admin pgbouncer -c 'SHOW POOLS'`;
// "pgpooler" is an alias. It takes that name whatever [databases] says.
//
// The package is the console's language: it parses a query (parse.go), answers the SHOW commands with
// PgBouncer 1.25's columns, in its order and with its types (show*.go, rows.go), and checks and runs the
// process-controlling commands (control.go). Two SHOW commands are pgpooler's own, the leak report:
// SESSION_FEATURES (show_features.go) and HOLDERS (show_holders.go). It does so over a narrow Server interface (server.go) that
// the pooler implements: a status.Snapshot to read, and PAUSE, KILL, RELOAD and the rest to call. A
// Session's answer to a query is a function of the query and that interface, so it is tested without
// PostgreSQL.
//
// The pooler keeps the connection: clients log in to the console as to any database (auth_type,
// auth_file and auth_hba_file apply, hba rules matching the database name as asked for; auth_query runs
// on auth_dbname, so console users need an auth_dbname, or an auth_file entry, unless the server has a
// database named like the console). After authentication the user must be in admin_users (every
// command) or stats_users (SHOW and the probes), or the login fails with FATAL 42501. PgBouncer's
// exceptions (the user pgbouncer over the Unix socket from the pooler's own OS user, any user with
// auth_type any) do not exist here; with auth_type trust, anyone who claims a listed name is in, as in
// PgBouncer. The pooler greets the client (Welcome), reads its Query messages, and writes what
// Session.Exec answers.
//
// The console speaks the simple query protocol only (an extended-protocol message is answered FATAL
// 08P01, ErrExtended, and closes the connection, as PgBouncer does). Its connections do not count against
// max_client_conn, and client_idle_timeout applies to them.
package admin
