package config

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// IsINI reports whether the configuration file at path, whose text is data,
// is a pgbouncer.ini rather than a config.toml: its name ends in ".ini" (in
// any case), or a line of it is "[pgbouncer]", the section every
// pgbouncer.ini has.
func IsINI(path string, data []byte) bool {
	if strings.EqualFold(filepath.Ext(path), ".ini") {
		return true
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxINIFileSize)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "[pgbouncer]" {
			return true
		}
	}
	return false
}

// ParseINI reads a configuration from PgBouncer's pgbouncer.ini format
// (PgBouncer doc/config.md) into the same [Config] as [Parse] does from
// TOML, and validates it the same way. path is the file it came from (""
// for none): messages name it with the line, relative %include files and
// file paths (auth_file, auth_hba_file, the TLS files) are taken relative to
// its directory, and it becomes [Config.Path].
//
// Every key keeps PgBouncer's meaning and, when left out, PgBouncer's
// default (listen_addr unset, unix_socket_dir /tmp, auth_type md5). A key of
// PgBouncer's that pgpooler lacks is accepted silently with its default
// value; with another value it goes into [Config.Warnings] when ignoring it
// is harmless (logfile, pidfile, user, so_reuseport, ...) and is an error
// otherwise (disable_pqexec, unix_socket_mode, per-user timeouts, ...).
// docs/pgbouncer-ini.md lists every key. Errors are all reported at once,
// joined with errors.Join, each starting with file:line; a nil *Config comes
// with them.
func ParseINI(data []byte, path string) (*Config, error) {
	entries, err := readINI(data, path)
	if err != nil {
		return nil, err
	}
	return loadINIEntries(entries, path)
}

// iniLoader turns entries into a Config, collecting errors and warnings.
type iniLoader struct {
	c        *Config
	errs     []error
	warnings []string
	fields   map[string]int // toml tag -> index of the Pooler field
	// where maps the prefix of a check() message (a key such as
	// "pooler.auth_type" or a table such as databases.app) to the line
	// that set it.
	where map[string]iniPos
	// labels names the tables of where in the ini's terms: database "app".
	labels map[string]string
}

func (l *iniLoader) errorf(pos iniPos, format string, args ...any) {
	l.errs = append(l.errs, errorAt(pos, format, args...))
}

func (l *iniLoader) warnf(pos iniPos, format string, args ...any) {
	l.warnings = append(l.warnings, pos.String()+": "+fmt.Sprintf(format, args...))
}

// reservedDatabases are the names of the admin console: a [databases]
// entry may not take them (PgBouncer reserves "pgbouncer").
var reservedDatabases = []string{"pgbouncer", "pgpooler"}

// loadINIEntries applies entries, as read from the file path, to PgBouncer's
// defaults and validates the result.
func loadINIEntries(entries []iniEntry, path string) (*Config, error) {
	l := &iniLoader{
		c:      iniDefault(),
		fields: tomlFields(reflect.TypeFor[Pooler]()),
		where:  map[string]iniPos{},
		labels: map[string]string{},
	}
	name := cmp.Or(path, "pgbouncer.ini")
	noHost := map[string]iniPos{}
	sawMain, setInMain := false, false
	for _, e := range entries {
		if e.header {
			switch e.section {
			case "pgbouncer":
				if setInMain {
					l.warnf(e.pos, "a second [pgbouncer] section sets every key of the earlier one back to its default first, as in PgBouncer")
					l.c.Pooler = iniDefault().Pooler
				}
				sawMain, setInMain = true, false
			case "databases", "users", "peers":
			default:
				l.errorf(e.pos, "unknown section [%s] (PgBouncer has [pgbouncer], [databases], [users] and [peers])", e.section)
			}
			continue
		}
		switch e.section {
		case "pgbouncer":
			l.poolerKey(e)
			setInMain = true
		case "databases":
			if slices.Contains(reservedDatabases, e.key) {
				l.errorf(e.pos, "database name %q is reserved for the admin console", e.key)
				continue
			}
			db, unset, ok := l.iniDatabase(e)
			if !ok {
				continue
			}
			l.c.Databases[e.key] = db
			k := toml.Key{"databases", e.key}.String()
			l.where[k], l.labels[k] = e.pos, fmt.Sprintf("database %q", e.key)
			delete(noHost, e.key)
			if unset {
				noHost[e.key] = e.pos
			}
		case "users":
			if u, ok := l.iniUser(e); ok {
				l.c.Users[e.key] = u
				k := toml.Key{"users", e.key}.String()
				l.where[k], l.labels[k] = e.pos, fmt.Sprintf("user %q", e.key)
			}
		case "peers":
			l.errorf(e.pos, "[peers]: peering is not supported: cancel requests for other processes would be lost")
		}
	}
	if !sawMain && len(l.errs) == 0 {
		l.errs = append(l.errs, fmt.Errorf("%s: no [pgbouncer] section (PgBouncer refuses such a file too)", name))
	}
	l.hostless(noHost)
	l.c.Path = path
	l.c.resolvePaths()
	l.c.Path = ""
	for _, err := range l.c.check() {
		l.errs = append(l.errs, l.locate(name, err))
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	l.c.Path = path
	l.c.Warnings = l.warnings
	l.c.INI = true
	return l.c, nil
}

// poolerKey applies one [pgbouncer] key.
func (l *iniLoader) poolerKey(e iniEntry) {
	if i, ok := l.fields[e.key]; ok {
		v := e.value
		if norm := iniNormalize[e.key]; norm != nil {
			v = norm(v)
		}
		if err := setINIField(reflect.ValueOf(&l.c.Pooler).Elem().Field(i), v); err != nil {
			l.errorf(e.pos, "%s: %v", e.key, err)
		}
		l.where[toml.Key{"pooler", e.key}.String()] = e.pos
		return
	}
	u, ok := iniUnsupported[e.key]
	switch {
	case !ok:
		known := slices.Collect(maps.Keys(l.fields))
		known = slices.AppendSeq(known, maps.Keys(iniUnsupported))
		msg := fmt.Sprintf("unknown key %q in [pgbouncer]", e.key)
		if len(e.key) <= maxSuggestedKey {
			if s := closest(e.key, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
		}
		l.errorf(e.pos, "%s", msg)
	case isDefaultValue(e.value, u.def):
	case u.harmless:
		l.warnf(e.pos, "%s is ignored: %s", e.key, u.why)
	default:
		l.errorf(e.pos, "%s: %s", e.key, u.why)
	}
}

// maxSuggestedKey is the longest unknown key, in bytes, that gets a "did you
// mean" suggestion: the edit distance costs its length times each known key's.
const maxSuggestedKey = 64

// isDefaultValue reports whether v is PgBouncer's default def, comparing
// numbers by value ("0777" and "511" are the same).
func isDefaultValue(v, def string) bool {
	if v == def {
		return true
	}
	a, errA := iniInt(v)
	b, errB := iniInt(def)
	return errA == nil && errB == nil && a == b
}

// hostless gives the databases that name no host PgBouncer's meaning: its
// Unix socket directory, unix_socket_dir.
func (l *iniLoader) hostless(noHost map[string]iniPos) {
	dir := l.c.Pooler.UnixSocketDir
	for _, name := range slices.Sorted(maps.Keys(noHost)) {
		if dir == "" || !filepath.IsAbs(dir) {
			l.warnf(noHost[name], "database %q names no host and unix_socket_dir is %q: pgpooler connects to 127.0.0.1 (PgBouncer to the Unix socket there)", name, dir)
			continue
		}
		db := l.c.Databases[name]
		db.Host = dir
		l.c.Databases[name] = db
	}
}

// locate rewrites a message of [Config.check], which starts with a key such
// as pooler.auth_type or databases.app.pool_size, to start with the
// file:line that set the key or its database, and in the ini's own terms.
func (l *iniLoader) locate(file string, err error) error {
	msg := err.Error()
	best := ""
	for prefix := range l.where {
		if (strings.HasPrefix(msg, prefix+":") || strings.HasPrefix(msg, prefix+".")) && len(prefix) > len(best) {
			best = prefix
		}
	}
	where := file
	switch {
	case best != "":
		where = l.where[best].String()
		if label := l.labels[best]; label != "" { // databases.app.pool_size -> database "app": pool_size
			if rest := msg[len(best):]; strings.HasPrefix(rest, ".") {
				msg = label + ": " + rest[1:]
			} else {
				msg = label + rest
			}
		}
	case strings.HasPrefix(msg, "pooler."):
		msg += " (the key is not in the file: this is PgBouncer's default)"
	}
	msg = strings.ReplaceAll(msg, "pooler.", "") // [pgbouncer] keys have no prefix in the ini
	return fmt.Errorf("%s: %s", where, msg)
}
