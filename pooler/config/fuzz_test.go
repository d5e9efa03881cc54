package config

import (
	"os"
	"reflect"
	"testing"
)

// FuzzParse parses any text as config.toml. It must never panic; an error comes with no Config, and a
// Config it returns passes Validate and is what a second Parse of the same text returns.
func FuzzParse(f *testing.F) {
	if example, err := os.ReadFile("../../config.toml"); err == nil {
		f.Add(example)
	}
	for _, s := range []string{
		"[pooler]\nlisten_port = 6432\npool_mode = \"transaction\"\n",
		"[pooler]\nquery_wait_timeout = \"2m\"\nserver_lifetime = 3600\n",
		"[databases.app]\nhost = \"/tmp\"\nport = 5432\npool_size = 5\n",
		"[databases.\"*\"]\nhost = \"db\"\n[users.bob]\npool_mode = \"session\"\n",
		"[pooler]\nlisten_port = 99999999999999999999\n",
		"[pooler]\nmax_packet_size = -1\n",
		"[pooler]\nunknown_key = 1\n",
		"[pooler\n", "= 1", "[[databases]]\n", "a.b.c = 1\n", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("Parse returned both a Config and an error")
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a Config that Validate refuses: %v", err)
		}
		again, err := Parse(data, "fuzz.toml")
		if err != nil || !reflect.DeepEqual(c, again) {
			t.Fatalf("a second Parse of the same text differs: %v", err)
		}
	})
}
