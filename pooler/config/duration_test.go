package config

import (
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestDurationUnmarshalTOML(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want time.Duration
	}{
		{int64(0), 0},
		{int64(15), 15 * time.Second},
		{int64(3600), time.Hour},
		{2.5, 2500 * time.Millisecond},
		{"15s", 15 * time.Second},
		{"10m", 10 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"250ms", 250 * time.Millisecond},
		{"0", 0},
		{"0s", 0},
		{"30", 30 * time.Second},
		{"1.5", 1500 * time.Millisecond},
	} {
		var d Duration
		if err := d.UnmarshalTOML(tc.in); err != nil {
			t.Errorf("UnmarshalTOML(%#v): %v", tc.in, err)
			continue
		}
		if d.D() != tc.want {
			t.Errorf("UnmarshalTOML(%#v) = %v, want %v", tc.in, d.D(), tc.want)
		}
	}
}

func TestDurationUnmarshalTOMLErrors(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{int64(-1), "must not be negative"},
		{-0.5, "must not be negative"},
		{"-5s", "must not be negative"},
		{"abc", `"abc" is not a duration`},
		{"", `"" is not a duration`},
		{"15 s", `"15 s" is not a duration`},
		{"1.2.3", `"1.2.3" is not a duration`},
		{int64(1) << 40, "too long"},
		{true, "got a boolean"},
		{[]any{int64(1)}, "got an array"},
	} {
		var d Duration = 7
		err := d.UnmarshalTOML(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UnmarshalTOML(%#v) = %v, want error containing %q", tc.in, err, tc.want)
		}
		if d != 7 {
			t.Errorf("UnmarshalTOML(%#v) changed d to %v on error", tc.in, d)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[Duration]string{
		0:                                "0s",
		Duration(15 * time.Second):       "15s",
		Duration(90 * time.Minute):       "1h30m0s",
		Duration(250 * time.Millisecond): "250ms",
	} {
		if got := d.String(); got != want {
			t.Errorf("Duration(%d).String() = %q, want %q", int64(d), got, want)
		}
	}
}

// TestDurationWithBurntSushi checks that Duration also works when decoded
// by the toml package directly, as other packages may do.
func TestDurationWithBurntSushi(t *testing.T) {
	var v struct {
		A, B Duration
	}
	if _, err := toml.Decode("A = \"1m\"\nB = 2\n", &v); err != nil {
		t.Fatal(err)
	}
	if v.A.D() != time.Minute || v.B.D() != 2*time.Second {
		t.Errorf("decoded %v %v, want 1m 2s", v.A, v.B)
	}
	_, err := toml.Decode("A = \"soon\"\n", &v)
	if err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("bad duration: %v, want an error with its line", err)
	}
}
