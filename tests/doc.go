// Package tests holds pgpooler's end-to-end tests: a real PostgreSQL started by tests/pgtest, a real
// pgpooler (pooler.Server, in process, on a 127.0.0.1:0 listener) and real clients (pgx, psql, pgbench,
// raw sockets for malformed input). Run them with `make test`.
package tests
