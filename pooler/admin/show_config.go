package admin

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// SHOW CONFIG: the [pooler] settings, read by reflection from config.Pooler.

// showConfig: every [pooler] key with its value in force and its default (PgBouncer's when running on
// a pgbouncer.ini: config.DefaultFor), in name order. Durations are
// in seconds, as PgBouncer shows them (and as the configuration also accepts them). changeable says
// whether a reload (SIGHUP, RELOAD) changes the value in force.
func showConfig(v *view) *table {
	cur := reflect.ValueOf(v.Config.Pooler)
	def := reflect.ValueOf(config.DefaultFor(v.Config).Pooler)
	typ := cur.Type()
	type kv struct{ key, value, def string }
	var rows []kv
	for i := range typ.NumField() {
		key, _, _ := strings.Cut(typ.Field(i).Tag.Get("toml"), ",")
		if key == "" || key == "-" {
			continue
		}
		rows = append(rows, kv{key, configValue(key, cur.Field(i)), configValue(key, def.Field(i))})
	}
	slices.SortFunc(rows, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	t := newTable(configColumns)
	for _, r := range rows {
		changeable := "yes"
		if config.FixedKeys[r.key] {
			changeable = "no"
		}
		t.add(r.key, r.value, r.def, changeable)
	}
	return t
}

// configValue formats one [pooler] value; a key that names a secret (there is none in [pooler] today)
// is never shown.
func configValue(key string, v reflect.Value) string {
	if strings.Contains(key, "password") || strings.Contains(key, "secret") {
		if v.IsZero() {
			return ""
		}
		return "(hidden)"
	}
	switch x := v.Interface().(type) {
	case config.Duration:
		return strconv.FormatFloat(x.D().Seconds(), 'g', -1, 64)
	case string:
		return x
	case int:
		return strconv.Itoa(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v.Interface())
}
