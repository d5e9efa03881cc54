package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Load reads the configuration file at path: a pgbouncer.ini ([IsINI]) with
// [ParseINI], else config.toml with [Parse].
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	if IsINI(path, data) {
		return ParseINI(data, path)
	}
	return Parse(data, path)
}

// Parse reads a configuration from TOML text. path is the file it came
// from ("" for none): it starts every error message, becomes [Config.Path],
// and relative file paths (auth_file, auth_hba_file, client_tls_*_file,
// server_tls_*_file) are taken relative to its directory. Parse does not
// look at those files.
//
// Keys missing from the text keep their defaults (see [Default]). A key that
// is not part of the configuration, a value of the wrong type and a value
// out of range are all errors; Parse reports every one it finds, joined with
// errors.Join, and returns a nil *Config with them. A TOML syntax error is
// reported alone, with its line and column, and wraps a toml.ParseError.
func Parse(data []byte, path string) (*Config, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		return nil, syntaxError(path, err)
	}
	c := Default()
	c.Path = path
	d := decoder{problems: problems{file: path}, order: keyOrder(md)}
	d.decode(raw, c)
	c.resolvePaths()
	if errs := append(d.errs, c.check()...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// resolvePaths joins every relative file path of [pooler] (auth_file,
// auth_hba_file and the TLS key, certificate and CA files) to the directory
// of c.Path; with no Path it leaves them as they are. Whether the files
// exist is for whoever reads them to say.
func (c *Config) resolvePaths() {
	if c.Path == "" {
		return
	}
	dir := filepath.Dir(c.Path)
	pl := &c.Pooler
	for _, f := range []*string{
		&pl.AuthFile, &pl.AuthHBAFile,
		&pl.ClientTLSKeyFile, &pl.ClientTLSCertFile, &pl.ClientTLSCAFile,
		&pl.ServerTLSCAFile, &pl.ServerTLSCertFile, &pl.ServerTLSKeyFile,
	} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
}

// tomlSyntaxError is a TOML syntax error with the file it is in.
type tomlSyntaxError struct {
	file string
	err  toml.ParseError
}

func (e *tomlSyntaxError) Error() string {
	return fmt.Sprintf("%sline %d, column %d: %s", filePrefix(e.file),
		e.err.Position.Line, e.err.Position.Col, e.err.Message)
}

func (e *tomlSyntaxError) Unwrap() error { return e.err }

// syntaxError names the file in an error from toml.Decode.
func syntaxError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return &tomlSyntaxError{file: file, err: pe}
	}
	return fmt.Errorf("%s%w", filePrefix(file), err)
}

// filePrefix is what an error message starts with: "file: ", or nothing.
func filePrefix(file string) string {
	if file == "" {
		return ""
	}
	return file + ": "
}

// problems collects what is wrong with a configuration, each message
// starting with the file name and the full key.
type problems struct {
	file string
	errs []error
}

// add records a problem with key.
func (p *problems) add(key toml.Key, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.errs = append(p.errs, fmt.Errorf("%s%s: %s", filePrefix(p.file), key, msg))
}

// decoder copies a decoded TOML document into a Config, field by field, so
// that every unknown key and every bad value is reported, not just the
// first.
type decoder struct {
	problems
	order map[string]int // full key -> position of its first appearance
}

// keyOrder numbers every key and every table by where it first appears, so
// that problems are reported in the file's order.
func keyOrder(md toml.MetaData) map[string]int {
	order := make(map[string]int)
	for i, k := range md.Keys() {
		for n := 1; n <= len(k); n++ {
			s := k[:n].String()
			if _, ok := order[s]; !ok {
				order[s] = i
			}
		}
	}
	return order
}

// decode walks the top level: [pooler], [databases.*] and [users.*].
func (d *decoder) decode(raw map[string]any, c *Config) {
	for _, name := range d.sorted(nil, raw) {
		key := toml.Key{name}
		switch name {
		case "pooler":
			d.table(key, raw[name], &c.Pooler)
		case "databases":
			decodeSections(d, key, raw[name], c.Databases)
		case "users":
			decodeSections(d, key, raw[name], c.Users)
		case "pgbouncer":
			d.add(key, "unknown section: PgBouncer's [pgbouncer] settings go in [pooler]")
		default:
			d.unknown(key, []string{"pooler", "databases", "users"})
		}
	}
}

// decodeSections decodes a table of named tables such as [databases.NAME].
func decodeSections[T any](d *decoder, key toml.Key, v any, dst map[string]T) {
	m, ok := d.asTable(key, v)
	if !ok {
		return
	}
	for _, name := range d.sorted(key, m) {
		var entry T
		if d.table(child(key, name), m[name], &entry) {
			dst[name] = entry
		}
	}
}

// table decodes the TOML table v into the struct dst points to, matching
// keys to `toml` tags exactly (BurntSushi's own decoding also accepts keys
// that differ in case). It reports whether v was a table.
func (d *decoder) table(key toml.Key, v any, dst any) bool {
	m, ok := d.asTable(key, v)
	if !ok {
		return false
	}
	rv := reflect.ValueOf(dst).Elem()
	fields := tomlFields(rv.Type())
	for _, name := range d.sorted(key, m) {
		k := child(key, name)
		i, ok := fields[name]
		if !ok {
			d.unknown(k, slices.Sorted(maps.Keys(fields)))
			continue
		}
		if err := setField(rv.Field(i), m[name]); err != nil {
			d.add(k, "%v", err)
		}
	}
	return true
}

// asTable returns v as a table, or records that it is not one.
func (d *decoder) asTable(key toml.Key, v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.add(key, "expected a table, got %s", describe(v))
	}
	return m, ok
}

// unknown records a key that is not part of the configuration, with a
// suggestion when it looks like a misspelt known key.
func (d *decoder) unknown(key toml.Key, known []string) {
	msg := fmt.Sprintf("%sunknown key %s", filePrefix(d.file), quoteKey(key.String()))
	if s := closest(key[len(key)-1], known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	d.errs = append(d.errs, errors.New(msg))
}

// sorted returns the keys of m in the order they appear in the file.
func (d *decoder) sorted(parent toml.Key, m map[string]any) []string {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		oi, oj := d.order[child(parent, names[i]).String()], d.order[child(parent, names[j]).String()]
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	return names
}

// child returns key.name without sharing key's backing array.
func child(key toml.Key, name string) toml.Key {
	k := make(toml.Key, len(key)+1)
	copy(k, key)
	k[len(key)] = name
	return k
}

// quoteKey puts a key in double quotes, or in single quotes when it holds
// double quotes itself (databases."*").
func quoteKey(s string) string {
	if strings.Contains(s, `"`) {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// tomlFields maps the `toml` tag of each field of struct type t to its
// index. Fields tagged "-" are left out.
func tomlFields(t reflect.Type) map[string]int {
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = i
		}
	}
	return fields
}

// setField stores the TOML value v in the field fv, which is a string, an
// int, a bool, a *int or a toml.Unmarshaler such as Duration.
func setField(fv reflect.Value, v any) error {
	if u, ok := fv.Addr().Interface().(toml.Unmarshaler); ok {
		return u.UnmarshalTOML(v)
	}
	switch fv.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("expected a string, got %s", describe(v))
		}
		fv.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("expected true or false, got %s", describe(v))
		}
		fv.SetBool(b)
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			return fmt.Errorf("expected an integer, got %s", describe(v))
		}
		if fv.OverflowInt(n) {
			return fmt.Errorf("%d is too large", n)
		}
		fv.SetInt(n)
	case reflect.Pointer:
		p := reflect.New(fv.Type().Elem())
		if err := setField(p.Elem(), v); err != nil {
			return err
		}
		fv.Set(p)
	default:
		panic("config: no decoding for field type " + fv.Type().String())
	}
	return nil
}

// describe names the TOML type of a decoded value, for error messages. It
// never includes the value itself, which may be a password.
func describe(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date or time"
	case map[string]any:
		return "a table"
	case []map[string]any:
		return "an array of tables"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// closest returns the name in known nearest to name, if it is within two
// edits of it; "" otherwise.
func closest(name string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := editDistance(name, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
