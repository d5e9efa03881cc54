// Package config reads pgpooler's configuration file.
//
// The file is TOML with PgBouncer's key names: a [pooler] table holds what
// PgBouncer keeps in its [pgbouncer] section, [databases.NAME] tables route
// client database names to servers (NAME "*" is the fallback for any name)
// and [users.NAME] tables hold per-user overrides. Each key means what
// PgBouncer's doc/config.md says it means and has PgBouncer's default,
// except where a doc comment here says otherwise.
//
//	[pooler]
//	listen_addr = "127.0.0.1"
//	listen_port = 6432
//	pool_mode   = "transaction"
//
//	[databases.app]
//	host   = "127.0.0.1"
//	port   = 5432
//	dbname = "app_production"
//
//	[databases."*"]
//	host = "127.0.0.1"
//
//	[users.reporting]
//	pool_mode = "session"
//
// Durations are written as strings with units ("15s", "10m", "1h30m",
// "250ms") or as plain numbers, which mean seconds as in PgBouncer.
//
// Decoding is strict: a key that pgpooler does not know is an error, as is a
// value of the wrong type or out of range. [Parse] and [Load] report every
// problem they find at once, each naming the file and the full key, and
// never return a partly loaded configuration. [Config.PoolConfig] resolves
// the settings one pool (database, user) runs with.
//
// PgBouncer's own pgbouncer.ini is read into the same Config by [ParseINI]
// ([Load] picks it by the .ini extension or a [pgbouncer] section), with
// PgBouncer's syntax, meanings and defaults; what it ignores is in
// [Config.Warnings]. [ToTOML] writes a Config as config.toml (pgpooler
// convert). docs/pgbouncer-ini.md is the table of every key.
package config
