// Package status holds the plain structs of a running pooler's picture: the Snapshot that the admin
// console's SHOW commands (package admin) and the metrics endpoint (package metrics) read, the
// statistics counters in it (PgBouncer doc/usage.md, SHOW STATS), and the PAUSE/DISABLE state (SHOW
// STATE, SHOW DATABASES). pooler.Server fills them (Snapshot); they have no behaviour beyond summing
// counters, so their readers need not import the pooler, which imports the console.
package status
