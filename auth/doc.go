// Package auth decides who may connect to pgpooler and holds the secrets used to log in to servers.
//
// This version reads PgBouncer's auth_file (userlist.txt: plain, md5 and SCRAM-SHA-256 secrets; see
// PgBouncer doc/config.md, "Authentication file format") and supports auth_type trust. md5,
// and checks clients with md5, SCRAM-SHA-256 (-PLUS), cleartext passwords, certificates and auth_hba_file rules.
package auth
