package config

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// FixedKeys are the [pooler] keys that only a restart changes: the listening sockets, what the metrics
// endpoint serves (cmd/pgpooler starts it once), event_loops and event_loop_count. A reload or SET keeps their running values
// (PgBouncer doc/usage.md, RELOAD; its SHOW CONFIG "changeable" column).
var FixedKeys = map[string]bool{"listen_addr": true, "listen_port": true, "unix_socket_dir": true, "metrics_addr": true, "debug_pprof": true, "event_loops": true, "event_loop_count": true}

// ErrNotChangeable is returned, wrapped, by [Config.With] for a key in FixedKeys.
var ErrNotChangeable = errors.New("cannot be changed while running")

// With returns a copy of c with the [pooler] key set to value, validated, as the admin console's
// `SET key = value` does (PgBouncer doc/usage.md, SET). value is written as in PgBouncer: a
// single-quoted string ('md5', with ” for a quote), or a bare TOML value (20, true, "15s"); a bare
// word that is not a TOML value is taken as a string. Errors name the key: an unknown key, a value of the
// wrong type, a fixed key (ErrNotChangeable), or whatever Validate finds.
func (c *Config) With(key, value string) (*Config, error) {
	key = strings.ToLower(strings.TrimSpace(key))
	fields := tomlFields(reflect.TypeFor[Pooler]())
	i, ok := fields[key]
	if !ok {
		return nil, fmt.Errorf("unknown setting %q", key)
	}
	if FixedKeys[key] {
		return nil, fmt.Errorf("%s %w (restart pgpooler)", key, ErrNotChangeable)
	}
	v, err := parseSetValue(value)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	n := *c
	n.Databases, n.Users = c.Databases, c.Users // shared, never modified
	if err := setField(reflect.ValueOf(&n.Pooler).Elem().Field(i), v); err != nil {
		return nil, fmt.Errorf("%s: %v", key, err)
	}
	if err := n.Validate(); err != nil {
		return nil, err
	}
	return &n, nil
}

// parseSetValue turns the text after "=" into a TOML value: a string, int64, float64 or bool.
func parseSetValue(s string) (any, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	var doc struct{ V any }
	if _, err := toml.Decode("v = "+s, &doc); err == nil {
		return doc.V, nil
	}
	if s == "" || strings.ContainsAny(s, "\n\"") {
		return nil, fmt.Errorf("cannot read the value %q", s)
	}
	return s, nil
}
