package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes name -> text into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestINIInclude(t *testing.T) {
	t.Run("relative and absolute, in place", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"pgbouncer.ini":    "[databases]\n%include conf.d/dbs.ini\n[pgbouncer]\nauth_file = users.txt\n%include " + "ABS" + "\nlisten_port = 7002\n",
			"conf.d/dbs.ini":   "app = host=h\n  %include more.ini\n",
			"conf.d/more.ini":  "; still [databases]\nother = host=o\n",
			"main-extra.ini":   "listen_port = 7001\npool_mode = transaction\n",
			"conf.d/users.txt": "",
		})
		main := filepath.Join(dir, "pgbouncer.ini")
		text, _ := os.ReadFile(main)
		if err := os.WriteFile(main, []byte(strings.Replace(string(text), "ABS", filepath.Join(dir, "main-extra.ini"), 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(main)
		if err != nil {
			t.Fatal(err)
		}
		if c.Databases["app"].Host != "h" || c.Databases["other"].Host != "o" {
			t.Errorf("databases from includes: %+v", c.Databases)
		}
		if c.Pooler.PoolMode != "transaction" || c.Pooler.ListenPort != 7002 {
			t.Errorf("pool_mode %q (from the include), listen_port %d (after it: 7002)", c.Pooler.PoolMode, c.Pooler.ListenPort)
		}
		if c.Pooler.AuthFile != filepath.Join(dir, "users.txt") {
			t.Errorf("auth_file %q: relative to the main file", c.Pooler.AuthFile)
		}
	})
	t.Run("an error in an included file names that file and line", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"pgbouncer.ini": "[pgbouncer]\nauth_file = u\n%include b.ini\n",
			"b.ini":         "\nlisten_port = x\n",
		})
		_, err := Load(filepath.Join(dir, "pgbouncer.ini"))
		if want := filepath.Join(dir, "b.ini") + `:2: listen_port: "x" is not an integer`; err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{"pgbouncer.ini": "[pgbouncer]\nauth_file = u\n\n%include nothere.ini\n"})
		_, err := Load(filepath.Join(dir, "pgbouncer.ini"))
		if err == nil || !strings.Contains(err.Error(), "pgbouncer.ini:4: %include: open "+filepath.Join(dir, "nothere.ini")+": no such file or directory") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("loop", func(t *testing.T) {
		dir := writeFiles(t, map[string]string{
			"pgbouncer.ini": "[pgbouncer]\nauth_file = u\n%include a.ini\n",
			"a.ini":         "%include b.ini\n",
			"b.ini":         "\n%include ./pgbouncer.ini\n",
		})
		_, err := Load(filepath.Join(dir, "pgbouncer.ini"))
		if err == nil || !strings.Contains(err.Error(), "b.ini:2: %include "+filepath.Join(dir, "pgbouncer.ini")+": the file includes itself") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("too deep", func(t *testing.T) {
		files := map[string]string{"pgbouncer.ini": "[pgbouncer]\nauth_file = u\n%include 1.ini\n"}
		for i := 1; i <= maxIncludeDepth+1; i++ {
			files[fmt.Sprintf("%d.ini", i)] = fmt.Sprintf("%%include %d.ini\n", i+1)
		}
		dir := writeFiles(t, files)
		_, err := Load(filepath.Join(dir, "pgbouncer.ini"))
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d.ini:1: %%include nested more than %d deep", maxIncludeDepth, maxIncludeDepth)) {
			t.Errorf("error %v", err)
		}
	})
	t.Run("no file named", func(t *testing.T) {
		if got := iniErr(t, iniMain+"%include \n"); !strings.Contains(got, "pgbouncer.ini:3: %include names no file") {
			t.Errorf("error %q", got)
		}
	})
}

func TestIsINI(t *testing.T) {
	for _, tc := range []struct {
		path, text string
		want       bool
	}{
		{"/etc/pgbouncer/pgbouncer.ini", "", true},
		{"x.INI", "", true},
		{"config.toml", "[pooler]\n", false},
		{"pgbouncer.conf", "; x\n  [pgbouncer]  \n", true},
		{"config.toml", "# [pgbouncer]\n", false},
	} {
		if got := IsINI(tc.path, []byte(tc.text)); got != tc.want {
			t.Errorf("IsINI(%q, %q) = %v", tc.path, tc.text, got)
		}
	}
}
