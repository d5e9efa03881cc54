package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Duration is a span of time read from TOML either as a string with units
// ("15s", "10m", "1h30m", "250ms", as time.ParseDuration reads them) or as a
// number of seconds, the unit PgBouncer uses: 30, 2.5, "30" and "2.5" all
// work. Negative values are refused. 0 disables a timeout where PgBouncer
// doc/config.md says so for that key.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does ("1m30s", "0s").
func (d Duration) String() string { return time.Duration(d).String() }

// maxSeconds is the largest number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// UnmarshalTOML sets d from a TOML value: an integer or float (seconds), or
// a string holding a Go duration or a number of seconds. It implements
// toml.Unmarshaler.
func (d *Duration) UnmarshalTOML(v any) error {
	var dur time.Duration
	var err error
	switch x := v.(type) {
	case int64:
		dur, err = fromSeconds(float64(x), x <= maxSeconds)
		if err == nil {
			dur = time.Duration(x) * time.Second // exact, no float rounding
		}
	case float64:
		dur, err = fromSeconds(x, x <= float64(maxSeconds))
	case string:
		dur, err = parseDuration(x)
	default:
		return fmt.Errorf("expected a duration such as \"15s\" or a number of seconds, got %s", describe(v))
	}
	if err != nil {
		return err
	}
	*d = Duration(dur)
	return nil
}

// errNegative is what every negative duration gets.
var errNegative = errors.New("must not be negative")

// fromSeconds converts a number of seconds; fits says whether it is small
// enough for a time.Duration.
func fromSeconds(s float64, fits bool) (time.Duration, error) {
	switch {
	case math.IsNaN(s) || math.IsInf(s, 0):
		return 0, fmt.Errorf("%v is not a number of seconds", s)
	case s < 0:
		return 0, errNegative
	case !fits:
		return 0, fmt.Errorf("%v seconds is too long (at most %d)", s, maxSeconds)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// parseDuration reads "15s"-style durations and plain numbers of seconds.
func parseDuration(s string) (time.Duration, error) {
	if isDecimal(s) {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number of seconds", s)
		}
		return fromSeconds(secs, secs <= float64(maxSeconds))
	}
	dur, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write it like \"15s\", \"10m\", \"1h30m\", \"250ms\", or as a number of seconds)", s)
	}
	if dur < 0 {
		return 0, errNegative
	}
	return dur, nil
}

// isDecimal reports whether s is digits with at most one '.' among them,
// the only number forms accepted in a string ("30", "2.5").
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}
