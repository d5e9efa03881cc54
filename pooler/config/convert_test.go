package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestToTOMLRoundTrip: the config.toml that `pgpooler convert` prints for a
// pgbouncer.ini loads (strictly, as TOML) into the same configuration, and
// names the ignored keys in comments.
func TestToTOMLRoundTrip(t *testing.T) {
	dir := writeFiles(t, map[string]string{"rich.ini": `[databases]
app = host=db port=5433 dbname=app_prod user=app password='p"w''d' pool_size=30 min_pool_size=2 reserve_pool_size=5 max_db_connections=40 pool_mode=transaction connect_query='SET x = 1' application_name=web client_encoding=LATIN1 datestyle='SQL, DMY' timezone=UTC auth_user=auth auth_query='SELECT 1' auth_dbname=app
* = host=10.0.0.5
'weird "name"' = dbname=x
[users]
report = pool_mode=session pool_size=3 max_user_connections=4
[pgbouncer]
logfile = /var/log/pgbouncer.log
listen_addr = *
auth_type = scram-sha-256
auth_file = userlist.txt
server_lifetime = 0.5
tcp_keepalive = 0
admin_users = a b
event_loops = 1
`})
	files := []string{filepath.Join(dir, "rich.ini")}
	for _, name := range []string{"pgbouncer-sample.ini", "debian-pgbouncer.ini", "edoburu-minimal.ini", "edoburu-multiple.ini", "cloudnative-pg-pooler.ini"} {
		abs, err := filepath.Abs(filepath.Join("testdata", "ini", name))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, abs)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ini, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			text, err := ToTOML(ini, path)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "config.toml")
			if err := os.WriteFile(out, text, 0o600); err != nil {
				t.Fatal(err)
			}
			toml, err := Load(out) // elsewhere, so relative paths would show
			if err != nil {
				t.Fatalf("converted file does not load: %v\n%s", err, text)
			}
			for _, w := range ini.Warnings {
				if !strings.Contains(string(text), "#   "+w+"\n") {
					t.Errorf("warning %q is not a comment of:\n%s", w, text)
				}
			}
			ini.Path, ini.Warnings, ini.INI, toml.Path = "", nil, false, ""
			if !reflect.DeepEqual(ini, toml) {
				t.Errorf("converted config differs:\n ini %+v\n%+v\ntoml %+v\n%+v\n%s", ini.Pooler, ini.Databases, toml.Pooler, toml.Databases, text)
			}
		})
	}
}
