package config

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// The value syntax of pgbouncer.ini, as PgBouncer's cfparser.c reads it:
//
//   - integers as C's strtol with base 0: "20", "0x14", "024" (octal), an
//     optional sign; nothing else on the value.
//   - booleans are integers in PgBouncer (0 is off, anything else on);
//     pgpooler also accepts yes/no, on/off and true/false, in any case.
//   - times are a number of seconds, with a fraction if wanted ("2.5"), as
//     cf_set_time_usec reads them. PgBouncer has no units; neither has the ini
//     here ("15s" is refused, where config.toml accepts it).
//   - lists (admin_users, stats_users) are names separated by commas, blank
//     space or both.
//   - strings are the value as written: quotes are part of it.

// iniInt reads an integer as strtol(s, &end, 0) with nothing left over.
func iniInt(s string) (int64, error) {
	t := strings.TrimLeft(s, " \t\n\v\f\r") // strtol skips leading space
	neg := false
	switch {
	case strings.HasPrefix(t, "-"):
		neg, t = true, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	}
	base := 10
	switch {
	case len(t) > 2 && (t[:2] == "0x" || t[:2] == "0X"):
		base, t = 16, t[2:]
	case len(t) > 1 && t[0] == '0':
		base, t = 8, t[1:]
	}
	n, err := strconv.ParseUint(t, base, 63) // no sign of its own, no prefix, no underscores
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%q is too large", s)
		}
		return 0, fmt.Errorf("%q is not an integer", s)
	}
	if neg {
		return -int64(n), nil
	}
	return int64(n), nil
}

// iniBool reads a boolean: an integer (0 is false) or a word.
func iniBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "yes", "on", "true":
		return true, nil
	case "no", "off", "false":
		return false, nil
	}
	n, err := iniInt(s)
	if err != nil {
		return false, fmt.Errorf("%q is not 0, 1, yes, no, on, off, true or false", s)
	}
	return n != 0, nil
}

// iniSeconds reads a time in seconds as cf_set_time_usec does: a decimal
// number, not negative, possibly with a fraction and an exponent.
func iniSeconds(s string) (Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "xXiInN_") { // no hex floats, inf, nan or Go's underscores
		if num := strings.TrimRight(s, "abcdefghijklmnopqrstuvwxyzµ"); num != s && isDecimal(num) {
			return 0, fmt.Errorf("%q: a time in pgbouncer.ini is a number of seconds without a unit, as in PgBouncer", s)
		}
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	if f < 0 {
		return 0, errNegative
	}
	if f > float64(maxSeconds) {
		return 0, fmt.Errorf("%q seconds is too long", s)
	}
	return Duration(math.Round(f * float64(time.Second))), nil
}

// iniList normalises a list of names separated by commas or blank space to
// "a, b, c", the form [InList] reads.
func iniList(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t'
	}), ", ")
}

// setINIField stores the pgbouncer.ini value s in fv, a field of [Pooler],
// by the field's type.
func setINIField(fv reflect.Value, s string) error {
	if fv.Type() == reflect.TypeFor[Duration]() {
		d, err := iniSeconds(s)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(s)
	case reflect.Bool:
		b, err := iniBool(s)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int:
		n, err := iniInt(s)
		if err != nil {
			return err
		}
		if fv.OverflowInt(n) {
			return fmt.Errorf("%q is too large", s)
		}
		fv.SetInt(n)
	default:
		panic("config: no pgbouncer.ini decoding for field type " + fv.Type().String())
	}
	return nil
}
