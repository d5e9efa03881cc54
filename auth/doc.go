// Package auth decides who may connect to pgpooler and holds the secrets used to log in to servers.
//
// This version reads PgBouncer's auth_file (userlist.txt: plain, md5 and SCRAM-SHA-256 secrets; see
// PgBouncer doc/config.md, "Authentication file format") and supports auth_type trust. md5,
// scram-sha-256 (with SCRAM passthrough), plain, cert, hba and auth_query come in a later change.
package auth
