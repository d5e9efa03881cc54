// Package auth decides who may connect to pgpooler and holds the secrets used to log in to servers.
//
//   - userlist.go: PgBouncer's auth_file (userlist.txt: plain, md5 and SCRAM-SHA-256 secrets; PgBouncer
//     doc/config.md, "Authentication file format") and ParseSecret for pg_authid.rolpassword values.
//   - scram_server.go: the server side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, 7677, 5929),
//     which also recovers the client's ClientKey; scram_client.go logs in to PostgreSQL with that
//     ClientKey instead of a password (SCRAM passthrough).
//   - hba.go: auth_hba_file, a pg_hba.conf subset (PostgreSQL docs, "The pg_hba.conf File").
//
// The pooler package runs the exchanges over the wire; this package holds no connection state.
package auth
