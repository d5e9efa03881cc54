package config

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseINI parses any text as a pgbouncer.ini (with no file of its own, so that an %include can
// only name files that exist anyway). It must never panic; an error comes with no Config; a Config it
// returns passes Validate and converts to config.toml that Parse reads back.
func FuzzParseINI(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "ini", "*.ini"))
	for _, name := range files {
		if data, err := os.ReadFile(name); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"[pgbouncer]\nauth_type = trust\n[databases]\n* = host=h port=5433 connect_query='SELECT ''x'''\n",
		"[pgbouncer]\nauth_type=trust\n[users]\nbob = pool_mode=session pool_size=0x10\n",
		"[pgbouncer] listen_port = 1\n", "[pgbouncer\n", "'", "%include\t\n", "[databases]\n'' = x\n",
		"[pgbouncer]\nauth_type = trust\nserver_lifetime = 1e308\n", "=\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseINI(data, "")
		if err != nil {
			if c != nil {
				t.Fatal("ParseINI returned both a Config and an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseINI accepted a Config that Validate refuses: %v", err)
		}
		text, err := ToTOML(c, "fuzz.ini")
		if err != nil {
			t.Fatalf("ToTOML: %v", err)
		}
		if _, err := Parse(text, "fuzz.toml"); err != nil {
			t.Fatalf("the converted config does not load: %v\n%s", err, text)
		}
	})
}
