// Package session holds what pgpooler knows of a client's session state in transaction and statement
// mode, without touching a connection: the scanners of a query's text (SET, RESET, DISCARD ALL,
// PREPARE, DEALLOCATE: Sets.Scan; the session-only features that reject_session_features refuses and
// the leak report counts: FindFeature), the start-up parameters (StartupParams), the SQL that makes a server's parameters
// match a client's (SyncSQL) and the read-back of what a transaction left on its server (ReadBack,
// ApplySettings, PreparedReadBack, ApplyPrepared, CarryPrepared).
//
// The pooler runs the SQL on its servers; this package only builds it and interprets the answers, so
// it is unit-tested without PostgreSQL. Nothing here locks: every value is owned by its caller.
//
// Behaviour follows PgBouncer where it has one (doc/config.md: track_extra_parameters,
// ignore_startup_parameters; doc/features.md for the session-only features) and PostgreSQL's own
// session semantics (SET, RESET, DISCARD, "options" as pg_split_opts reads it).
package session
