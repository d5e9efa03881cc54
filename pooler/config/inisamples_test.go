package config

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// loadSample loads testdata/ini/name with an absolute path.
func loadSample(t *testing.T, name string) *Config {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("testdata", "ini", name))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// warningKeys returns what each warning is about: the text after "file:line: ".
func warningKeys(ws []string) []string {
	var out []string
	for _, w := range ws {
		_, rest, _ := strings.Cut(w, ".ini:")
		_, rest, _ = strings.Cut(rest, ": ")
		out = append(out, strings.SplitN(rest, " ", 2)[0])
	}
	return out
}

// TestINIPublishedFiles: the files PgBouncer, Debian, a container image and
// an operator publish load, with the warnings their keys call for and the
// settings they write.
func TestINIPublishedFiles(t *testing.T) {
	for _, tc := range []struct {
		file     string
		warnings []string
		check    func(*Config) bool
	}{
		{"pgbouncer-sample.ini", []string{"logfile", "pidfile"}, func(c *Config) bool {
			return c.Pooler.ListenAddr == "localhost" && c.Pooler.UnixSocketDir == "/tmp" && c.Pooler.AuthType == "md5" &&
				c.Pooler.AuthFile == "/etc/pgbouncer/userlist.txt" && len(c.Databases) == 0
		}},
		{"debian-pgbouncer.ini", []string{"logfile", "pidfile"}, func(c *Config) bool {
			return c.Pooler.ListenAddr == "localhost" && c.Pooler.UnixSocketDir == "/var/run/postgresql" && c.Pooler.AuthType == "md5"
		}},
		{"edoburu-minimal.ini", []string{"user", "ignore_startup_parameters"}, func(c *Config) bool {
			db := c.Databases["*"]
			return c.Pooler.ListenAddr == "0.0.0.0" && c.Pooler.ListenPort == 5432 && c.Pooler.UnixSocketDir == "" &&
				db.Host == "db.example.com" && db.Port == 5432 && db.AuthUser == "postgres" && c.Pooler.AdminUsers == "postgres"
		}},
		{"edoburu-multiple.ini", []string{"user", "ignore_startup_parameters"}, func(c *Config) bool {
			return len(c.Databases) == 3 && c.Databases["paid"].Port == 5433 && c.Databases["free"].AuthUser == "freeuser"
		}},
		{"cloudnative-pg-pooler.ini", []string{"ignore_startup_parameters", "log_stats"}, func(c *Config) bool {
			pl := c.Pooler
			return pl.AuthType == "hba" && pl.AuthHBAFile == "/controller/configs/pg_hba.conf" && pl.AuthUser == "cnpg_pooler_pgbouncer" &&
				pl.AuthDBName == "postgres" && pl.ClientTLSSSLMode == "prefer" && pl.ServerTLSSSLMode == "verify-ca" &&
				pl.MaxClientConn == 1000 && pl.DefaultPoolSize == 10 && c.Databases["*"].Host == "cluster-example-rw"
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := loadSample(t, tc.file)
			if got := warningKeys(c.Warnings); !slices.Equal(got, tc.warnings) {
				t.Errorf("warnings about %q, want %q: %q", got, tc.warnings, c.Warnings)
			}
			if !tc.check(c) {
				t.Errorf("settings: %+v\n%+v", c.Pooler, c.Databases)
			}
		})
	}
}

// commentedKey matches a commented-out setting of PgBouncer's sample: one
// ';' (not ';;', the prose), an optional space, then key = value, %include,
// or a bare key.
var commentedKey = regexp.MustCompile(`^; ?((?:[A-Za-z_*][A-Za-z0-9_.*-]*\s*=.*)|%include .*|[a-z_]+)$`)

// TestINISampleEachSetting uncomments each commented-out setting of
// PgBouncer's etc/pgbouncer.ini in turn and loads the file: each loads
// without a new message, or gives the warning or error docs/pgbouncer-ini.md
// documents for it.
func TestINISampleEachSetting(t *testing.T) {
	path, err := filepath.Abs(filepath.Join("testdata", "ini", "pgbouncer-sample.ini"))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	base, err := ParseINI(data, path)
	if err != nil {
		t.Fatal(err)
	}
	// The settings that are not silent, by the start of the line: what the
	// warning or error says.
	expect := map[string]struct {
		warn bool
		msg  string
	}{
		"bardb = auth_dbname=foo":      {false, `database "bardb": max_db_client_connections: not supported yet`},
		"user1 = ":                     {false, `user "user1": reserve_pool_size: not supported yet per user`},
		"resolv_conf = ":               {false, "resolv_conf: not supported"},
		"conffile":                     {false, `syntax error: expected = after "conffile"`},
		"%include ":                    {false, "%include: open /etc/pgbouncer/pgbouncer-other.ini: no such file or directory"},
		"service_name = pgbouncer":     {true, "service_name is ignored"},
		"ignore_startup_parameters = ": {true, "ignore_startup_parameters is ignored"},
		"tcp_defer_accept = 0":         {true, "tcp_defer_accept is ignored"},
	}
	seen := map[string]bool{}
	lines := strings.Split(string(data), "\n")
	n := 0
	for i, line := range lines {
		m := commentedKey.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n++
		setting := m[1]
		t.Run(setting, func(t *testing.T) {
			edited := slices.Clone(lines)
			edited[i] = setting
			c, err := ParseINI([]byte(strings.Join(edited, "\n")), path)
			var exp struct {
				warn bool
				msg  string
			}
			found := false
			for prefix, e := range expect {
				if strings.HasPrefix(setting, prefix) {
					exp, found = e, true
					seen[prefix] = true
				}
			}
			where := path + ":" + itoa(i+1) + ": "
			switch {
			case !found:
				if err != nil {
					t.Fatalf("does not load: %v", err)
				}
				if !slices.Equal(c.Warnings, base.Warnings) {
					t.Errorf("new warnings: %q", c.Warnings[len(base.Warnings):])
				}
			case exp.warn:
				if err != nil {
					t.Fatalf("does not load: %v", err)
				}
				if len(c.Warnings) != len(base.Warnings)+1 || !slices.ContainsFunc(c.Warnings, func(w string) bool {
					return strings.HasPrefix(w, where+exp.msg)
				}) {
					t.Errorf("warnings %q, want one starting %q", c.Warnings, where+exp.msg)
				}
			default:
				if err == nil || !strings.Contains(err.Error(), where) || !strings.Contains(err.Error(), exp.msg) {
					t.Errorf("error %v, want %q at %s", err, exp.msg, where)
				}
			}
		})
	}
	if n < 90 {
		t.Errorf("only %d commented settings found in the sample", n)
	}
	for prefix := range expect {
		if !seen[prefix] {
			t.Errorf("no commented setting starts with %q", prefix)
		}
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
