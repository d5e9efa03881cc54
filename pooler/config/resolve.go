package config

import (
	"cmp"
	"errors"
	"fmt"
)

// PoolConfig is what one pool, keyed by (database, user), runs with: every
// setting resolved from the [databases.NAME] table (or the "*" fallback),
// the [users.NAME] table and [pooler], in PgBouncer's order of precedence.
type PoolConfig struct {
	// Database is the database name the client asked for (the pool key).
	Database string
	// User is the name the client logged in as (the pool key).
	User string

	// Host is the server's host or IP address; a value starting with "/" is
	// a Unix socket directory. Never "".
	Host string
	// Port is the server's port. Never 0.
	Port int
	// DBName is the database name to ask the server for.
	DBName string

	// ServerUser is the user to log in to the server as: the database's
	// forced user, or else the client's user.
	ServerUser string
	// Password is the database table's password, "" if it has none (the
	// caller may then look ServerUser up in auth_file).
	Password string

	// PoolMode is session, transaction or statement.
	PoolMode string
	// PoolSize is the maximum number of server connections of this pool.
	PoolSize int
	// MinPoolSize is the number of server connections kept open even when
	// idle; never more than PoolSize.
	MinPoolSize int
	// ReservePoolSize is how many connections the pool may add beyond
	// PoolSize after reserve_pool_timeout.
	ReservePoolSize int
	// MaxDBConnections caps server connections over all pools of Database;
	// 0 is unlimited.
	MaxDBConnections int
	// MaxUserConnections caps server connections over all pools of User; 0
	// is unlimited.
	MaxUserConnections int

	// ConnectQuery is run on every new server connection; "" for none.
	ConnectQuery string
	// ApplicationName is sent to the server at start-up; "" for none.
	ApplicationName string
	// ClientEncoding, DateStyle and TimeZone are sent to the server at
	// start-up as client_encoding, datestyle and timezone (the database's
	// keys of those names); "" for none.
	ClientEncoding, DateStyle, TimeZone string

	// AuthUser is the server user that looks up the secret of a client
	// user not in auth_file, by running AuthQuery: the database's
	// auth_user, else [pooler]'s; "" for no lookup.
	AuthUser string
	// AuthQuery is the query AuthUser runs, with the user name as $1: the
	// database's auth_query, else [pooler]'s.
	AuthQuery string
	// AuthDBName is the name of the database whose connection settings
	// AuthQuery runs on (resolve them with PoolConfig(AuthDBName,
	// AuthUser)): the database's auth_dbname, else [pooler]'s, else
	// Database, the name the client asked for. Never "".
	AuthDBName string
}

// ErrUnknownDatabase is returned, wrapped, by [Config.PoolConfig] when the
// configuration has neither a [databases.NAME] table for the name asked for
// nor a [databases."*"] fallback. Test for it with errors.Is.
var ErrUnknownDatabase = errors.New("no such database")

// Defaults of a [databases.NAME] table's host and port.
const (
	defaultHost = "127.0.0.1"
	defaultPort = 5432
)

// PoolConfig resolves the settings of the pool for a client asking for
// database as user. Precedence, as in PgBouncer doc/config.md:
//
//   - pool_mode: [users.USER], then [databases.DB], then [pooler]
//   - pool_size: [users.USER], then [databases.DB], then default_pool_size
//   - min_pool_size, reserve_pool_size, max_db_connections: [databases.DB],
//     then [pooler]; min_pool_size is capped at the pool size
//   - max_user_connections: [users.USER], then [pooler]
//   - auth_user, auth_query, auth_dbname: [databases.DB], then [pooler];
//     auth_dbname then defaults to database
//
// [databases.DB] is the table named database, or else [databases."*"].
// [users.USER] is the table named after the client's user, not the forced
// server user. The error wraps ErrUnknownDatabase when there is neither.
// c is assumed valid (see [Config.Validate]).
func (c *Config) PoolConfig(database, user string) (PoolConfig, error) {
	db, ok := c.Databases[database]
	if !ok {
		if db, ok = c.Databases["*"]; !ok {
			return PoolConfig{}, fmt.Errorf("%w: %q (no [databases] table of that name and no \"*\" fallback)", ErrUnknownDatabase, database)
		}
	}
	u := c.Users[user] // the zero User inherits everything

	pc := PoolConfig{
		Database:           database,
		User:               user,
		Host:               cmp.Or(db.Host, defaultHost),
		Port:               cmp.Or(db.Port, defaultPort),
		DBName:             cmp.Or(db.DBName, database),
		ServerUser:         cmp.Or(db.User, user),
		Password:           db.Password,
		PoolMode:           cmp.Or(u.PoolMode, db.PoolMode, c.Pooler.PoolMode),
		PoolSize:           first(u.PoolSize, db.PoolSize, c.Pooler.DefaultPoolSize),
		MinPoolSize:        first(db.MinPoolSize, nil, c.Pooler.MinPoolSize),
		ReservePoolSize:    first(db.ReservePoolSize, nil, c.Pooler.ReservePoolSize),
		MaxDBConnections:   first(db.MaxDBConnections, nil, c.Pooler.MaxDBConnections),
		MaxUserConnections: first(u.MaxUserConnections, nil, c.Pooler.MaxUserConnections),
		ConnectQuery:       db.ConnectQuery,
		ApplicationName:    db.ApplicationName,
		ClientEncoding:     db.ClientEncoding,
		DateStyle:          db.DateStyle,
		TimeZone:           db.TimeZone,
		AuthUser:           cmp.Or(db.AuthUser, c.Pooler.AuthUser),
		AuthQuery:          cmp.Or(db.AuthQuery, c.Pooler.AuthQuery),
		AuthDBName:         cmp.Or(db.AuthDBName, c.Pooler.AuthDBName, database),
	}
	pc.MinPoolSize = min(pc.MinPoolSize, pc.PoolSize)
	return pc, nil
}

// first returns *a, else *b, else def: the first optional value set.
func first(a, b *int, def int) int {
	switch {
	case a != nil:
		return *a
	case b != nil:
		return *b
	}
	return def
}
