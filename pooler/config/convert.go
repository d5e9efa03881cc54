package config

import (
	"bytes"
	"fmt"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// ToTOML writes c as config.toml text that [Parse] reads back into the same
// settings: `pgpooler convert pgbouncer.ini`. [pooler] holds the keys whose
// value differs from pgpooler's default ([Default]), which includes those
// where PgBouncer's default differs (listen_addr, unix_socket_dir,
// auth_type); then every [databases.NAME] and [users.NAME] table with the
// keys it sets. c.Warnings, the ini keys without an equivalent, become
// comments at the top. Relative file paths are made absolute, so that the
// output means the same wherever it is put. from names the source in the
// first comment.
func ToTOML(c *Config, from string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# config.toml converted by `pgpooler convert` from %s.\n", from)
	b.WriteString("# [pooler] keys left out have pgpooler's default (see config.toml); those whose\n")
	b.WriteString("# PgBouncer default differs from pgpooler's are written out.\n")
	if len(c.Warnings) > 0 {
		b.WriteString("#\n# Settings of the ini file that have no equivalent here:\n")
		for _, w := range c.Warnings {
			fmt.Fprintf(&b, "#   %s\n", w)
		}
	}

	pl := c.Pooler
	for _, f := range []*string{
		&pl.AuthFile, &pl.AuthHBAFile,
		&pl.ClientTLSKeyFile, &pl.ClientTLSCertFile, &pl.ClientTLSCAFile,
		&pl.ServerTLSCAFile, &pl.ServerTLSCertFile, &pl.ServerTLSKeyFile,
	} {
		if *f != "" && !filepath.IsAbs(*f) {
			if abs, err := filepath.Abs(*f); err == nil {
				*f = abs
			}
		}
	}
	b.WriteString("\n[pooler]\n")
	if err := writeFields(&b, reflect.ValueOf(pl), reflect.ValueOf(Default().Pooler)); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Databases)) {
		fmt.Fprintf(&b, "\n[%s]\n", toml.Key{"databases", name})
		if err := writeFields(&b, reflect.ValueOf(c.Databases[name]), reflect.ValueOf(Database{})); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Users)) {
		fmt.Fprintf(&b, "\n[%s]\n", toml.Key{"users", name})
		if err := writeFields(&b, reflect.ValueOf(c.Users[name]), reflect.ValueOf(User{})); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// writeFields writes "key = value" for every field of the struct v that
// differs from the same field of def, in the struct's order.
func writeFields(b *bytes.Buffer, v, def reflect.Value) error {
	t := v.Type()
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		f := v.Field(i)
		if reflect.DeepEqual(f.Interface(), def.Field(i).Interface()) {
			continue
		}
		var val any
		switch x := f.Interface().(type) {
		case Duration:
			val = x.String()
		case *int:
			val = *x
		default:
			val = x
		}
		line, err := toml.Marshal(map[string]any{key: val})
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		b.Write(line)
	}
	return nil
}
