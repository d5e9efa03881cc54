package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// TestHBAPeer: the hba method peer on local lines (PgBouncer doc/config.md "HBA file format": "plus peer
// and reject"; src/client.c login_as_unix_peer): a client on the Unix socket logs in when its OS user's
// name is its user name, and gets FATAL "Peer authentication failed" otherwise. The file starts as the
// one CloudNativePG generates for its poolers (local pgbouncer pgbouncer peer). psql runs as this
// process's OS user (root) and as the OS user postgres.
func TestHBAPeer(t *testing.T) {
	needOtherOSUser(t)
	hba := filepath.Join(t.TempDir(), "pg_hba.conf")
	rules := "local pgbouncer pgbouncer peer\nlocal all all peer\nhost all all 127.0.0.1/32 reject\n"
	if err := os.WriteFile(hba, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	tp := startPooler(t, func(c *config.Config) {
		c.Pooler.AuthType = "hba"
		c.Pooler.AuthHBAFile = hba
		c.Pooler.StatsUsers = "root, postgres" // not admin_users: those skip the hba file from the pooler's uid
		// peerdb logs in to PostgreSQL as its superuser, whoever the client is.
		c.Databases["peerdb"] = config.Database{Host: pg.Host, Port: pg.Port, DBName: "postgres", User: pg.SuperUser, Password: pg.Password}
	})
	dir := serveUnixSocketAll(t, tp)
	port := fmt.Sprint(tp.cfg.Pooler.ListenPort)
	const failed = "Peer authentication failed for user"
	cases := []struct {
		osUser, user, db string
		want             string // "" = success
	}{
		{"", "root", "pgbouncer", ""},
		{"postgres", "postgres", "pgbouncer", ""},
		{"postgres", "postgres", "peerdb", ""},
		{"", "postgres", "pgbouncer", failed + ` "postgres"`},
		{"", "postgres", "peerdb", failed + ` "postgres"`},
		{"postgres", "root", "pgbouncer", failed + ` "root"`},
		{"postgres", appUser, appDB, failed + ` "` + appUser + `"`},
	}
	for _, tc := range cases {
		query, answer := "SHOW POOLS", "cl_active"
		if tc.db != "pgbouncer" {
			query, answer = "SELECT 'peer login ' || 'ok'", "peer login ok"
		}
		out, ok := psqlAs(t, tc.osUser, "", "-h", dir, "-p", port, "-U", tc.user, "-d", tc.db, "-c", query)
		switch {
		case tc.want == "" && (!ok || !strings.Contains(out, answer)):
			t.Errorf("OS user %q as %s to %s: want a login, got:\n%s", tc.osUser, tc.user, tc.db, out)
		case tc.want != "" && (ok || !strings.Contains(out, tc.want)):
			t.Errorf("OS user %q as %s to %s: want %q, got (success %v):\n%s", tc.osUser, tc.user, tc.db, tc.want, ok, out)
		}
	}
}
