package config

import (
	"fmt"
	"strings"
)

// The [databases] and [users] sections of pgbouncer.ini: NAME = a string of
// key=value pairs as PgBouncer's src/loader.c reads it (parse_database,
// parse_user): pairs separated by blank space, a value in single quotes when
// it holds spaces, with '' for a quote inside; a value must not be empty.
// Unlike libpq, a backslash is an ordinary character.

// connPair is one key=value of a connection string.
type connPair struct{ key, value string }

// parseConnString splits a [databases] or [users] value into its pairs.
func parseConnString(s string) ([]connPair, error) {
	var pairs []connPair
	i := 0
	skip := func() {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
	}
	for {
		skip()
		if i >= len(s) {
			return pairs, nil
		}
		start := i
		for i < len(s) && s[i] != '=' && !isSpace(s[i]) {
			i++
		}
		key := s[start:i]
		skip()
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%q has no =value", key)
		}
		if key == "" {
			return nil, fmt.Errorf("a value has no key before its =")
		}
		i++ // '='
		skip()
		var val strings.Builder
		if i < len(s) && s[i] == '\'' {
			i++
			for {
				if i >= len(s) {
					return nil, fmt.Errorf("the value of %s has no closing quote", key)
				}
				if s[i] == '\'' {
					if i+1 < len(s) && s[i+1] == '\'' {
						val.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				val.WriteByte(s[i])
				i++
			}
			if i < len(s) && !isSpace(s[i]) {
				return nil, fmt.Errorf("the quoted value of %s is followed by %q without a space", key, s[i])
			}
		} else {
			for i < len(s) && !isSpace(s[i]) {
				val.WriteByte(s[i])
				i++
			}
		}
		if val.Len() == 0 {
			return nil, fmt.Errorf("%s has an empty value", key)
		}
		pairs = append(pairs, connPair{key, val.String()})
	}
}

// connUnsupported are the [databases] keys PgBouncer has and pgpooler lacks:
// each is an error, as ignoring it would change what clients get.
var connUnsupported = map[string]string{
	"query_wait_timeout":        "not supported yet per database: set query_wait_timeout in [pgbouncer]",
	"server_lifetime":           "not supported yet per database: set server_lifetime in [pgbouncer]",
	"max_db_client_connections": "not supported yet: the limit would not be enforced",
}

// userUnsupported are the [users] keys PgBouncer has and pgpooler lacks.
var userUnsupported = map[string]string{
	"reserve_pool_size":           "not supported yet per user: set reserve_pool_size in [pgbouncer] or per database",
	"max_user_client_connections": "not supported yet: the limit would not be enforced",
	"transaction_timeout":         "not supported yet: the timeout would not be enforced",
	"idle_transaction_timeout":    "not supported yet per user: set idle_transaction_timeout in [pgbouncer]",
	"query_timeout":               "not supported yet per user: set query_timeout in [pgbouncer]",
	"query_wait_timeout":          "not supported yet per user: set query_wait_timeout in [pgbouncer]",
	"client_idle_timeout":         "not supported yet per user: set client_idle_timeout in [pgbouncer]",
}

// iniDatabase reads one [databases] entry into a Database. noHost reports
// that it names no host, which PgBouncer takes as its unix_socket_dir.
func (l *iniLoader) iniDatabase(e iniEntry) (db Database, noHost bool, ok bool) {
	pairs, err := parseConnString(e.value)
	if err != nil {
		l.errorf(e.pos, "database %q: %v", e.key, err)
		return db, false, false
	}
	ok = true
	bad := func(format string, args ...any) {
		l.errorf(e.pos, "database %q: "+format, append([]any{e.key}, args...)...)
		ok = false
	}
	num := func(p connPair) *int {
		n, err := connInt(p)
		if err != nil {
			bad("%v", err)
		}
		return n
	}
	noHost = true
	for _, p := range pairs {
		switch p.key {
		case "dbname":
			db.DBName = p.value
		case "host":
			if strings.Contains(p.value, ",") {
				bad("host: several hosts (%q) are not supported yet", p.value)
			}
			db.Host, noHost = p.value, false
		case "port":
			if n := num(p); n != nil {
				if *n == 0 {
					bad("port: %q is not a port", p.value)
				}
				db.Port = *n
			}
		case "user":
			db.User = p.value
		case "password":
			db.Password = p.value
		case "auth_user":
			db.AuthUser = p.value
		case "auth_query":
			db.AuthQuery = p.value
		case "auth_dbname":
			db.AuthDBName = p.value
		case "pool_size":
			db.PoolSize = num(p)
		case "min_pool_size":
			db.MinPoolSize = num(p)
		case "reserve_pool_size", "reserve_pool": // reserve_pool: PgBouncer's older name
			db.ReservePoolSize = num(p)
		case "max_db_connections":
			db.MaxDBConnections = num(p)
		case "pool_mode":
			db.PoolMode = strings.ToLower(p.value)
		case "connect_query":
			db.ConnectQuery = p.value
		case "application_name":
			db.ApplicationName = p.value
		case "client_encoding":
			db.ClientEncoding = p.value
		case "datestyle":
			db.DateStyle = p.value
		case "timezone":
			db.TimeZone = p.value
		case "load_balance_hosts":
			l.warnf(e.pos, "database %q: load_balance_hosts is ignored: pgpooler connects to one host", e.key)
		default:
			if why, known := connUnsupported[p.key]; known {
				bad("%s: %s", p.key, why)
			} else {
				bad("unknown key %q (PgBouncer refuses it too)", p.key)
			}
		}
	}
	return db, noHost, ok
}

// iniUser reads one [users] entry into a User.
func (l *iniLoader) iniUser(e iniEntry) (u User, ok bool) {
	pairs, err := parseConnString(e.value)
	if err != nil {
		l.errorf(e.pos, "user %q: %v", e.key, err)
		return u, false
	}
	ok = true
	bad := func(format string, args ...any) {
		l.errorf(e.pos, "user %q: "+format, append([]any{e.key}, args...)...)
		ok = false
	}
	num := func(p connPair) *int {
		n, err := connInt(p)
		if err != nil {
			bad("%v", err)
		}
		return n
	}
	for _, p := range pairs {
		switch p.key {
		case "pool_mode":
			u.PoolMode = strings.ToLower(p.value)
		case "pool_size":
			u.PoolSize = num(p)
		case "max_user_connections":
			u.MaxUserConnections = num(p)
		default:
			if why, known := userUnsupported[p.key]; known {
				bad("%s: %s", p.key, why)
			} else {
				bad("unknown key %q (PgBouncer refuses it too)", p.key)
			}
		}
	}
	return u, ok
}

// connInt reads the integer value of a connection-string pair.
func connInt(p connPair) (*int, error) {
	n, err := iniInt(p.value)
	if err != nil || n != int64(int(n)) {
		return nil, fmt.Errorf("%s: %q is not an integer", p.key, p.value)
	}
	v := int(n)
	return &v, nil
}
