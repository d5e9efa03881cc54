package pooler

import (
	"context"
	"encoding/binary"
	"flag"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pgpooler/pgpooler/pooler/config"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// TestConsoleGolden runs console commands, SHOW and control alike, through the Server's side of the
// console (console.go) on a Server that serves nothing, as a stats user and as an admin, and compares
// every byte of the answers with testdata/console.golden. That file was written by the console before it
// became package admin (pooler/admin*.go), so the move changed no byte of what a client gets; PAUSE,
// KILL and DISABLE show in the SHOW results that follow them. SHOW CONFIG is left out: it grows with
// every new key (package admin's TestAdminConfig checks it).
func TestConsoleGolden(t *testing.T) {
	cfg := config.Default()
	cfg.Databases = map[string]config.Database{"*": {}, "app": {User: "owner", PoolMode: "transaction"}}
	s, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c := &clientConn{s: s, id: 1, user: "admin", database: "pgbouncer"}
	stats, admin := s.consoleSession(c, false), s.consoleSession(c, true)
	var b strings.Builder
	for _, q := range []struct {
		admin bool
		q     string
	}{
		{false, "FROBNICATE"}, {false, "SHOW NOTHING"}, {false, "SHOW POOLS; SHOW STATS"}, {false, "PAUSE"},
		{false, "pause app"}, {false, "KILL_CLIENT 1"}, {false, "SET default_pool_size = 5"}, {false, "SHOW FDS"},
		{false, "RELOAD now"}, {false, "SHUTDOWN NOW"}, {true, "SUSPEND app"}, {true, "SUSPEND"}, {true, "DISABLE"},
		{true, "KILL_CLIENT abc"}, {true, "SHOW FDS"}, {true, "SHOW SOCKETS"}, {true, "show active_sockets"},
		{true, "RESUME nosuchdb"}, {true, "RESUME"}, {true, "KILL_CLIENT 999"}, {true, "RELOAD"},
		{true, "SET nosuchkey = 1"}, {true, "SET default_pool_size = 'x'"}, {true, "SET default_pool_size = 7"},
		{false, "SHOW POOLS"}, {false, "show stats;"}, {false, "SELECT lists"}, {false, "SHOW HELP"},
		{false, "SHOW timezone"}, {false, "show CLIENT_ENCODING"}, {false, "SET DateStyle = 'ISO'"}, {false, "SELECT 1"},
		{false, "SELECT version()"}, {false, " "}, {false, ";"}, {false, "SHOW VERSION"},
		{false, "SHOW DATABASES"}, {false, "SHOW USERS"}, {false, "SHOW STATE"},
		{false, "SHOW STATS_TOTALS"}, {false, "SHOW STATS_AVERAGES"}, {false, "SHOW TOTALS"}, {false, "SHOW CLIENTS"},
		{false, "SHOW SERVERS"}, {false, "SHOW DNS_HOSTS"}, {false, "SHOW DNS_ZONES"}, {false, "SHOW PEERS"}, {false, "SHOW PEER_POOLS"},
		{true, "PAUSE"}, {false, "SHOW STATE"}, {true, "RESUME"}, {true, "PAUSE app"}, {true, "DISABLE app"},
		{false, "SHOW DATABASES"}, {false, "SHOW STATE"}, {true, "RESUME app"}, {true, "ENABLE app"}, {true, "KILL app"},
		{false, "SHOW DATABASES"}, {true, "RESUME"}, {true, "RECONNECT"}, {true, "RECONNECT app"}, {true, "WAIT_CLOSE"},
		{true, "WAIT_CLOSE app"}, {true, "KILL"}, {false, "SHOW STATE"}, {true, "RESUME"}, {false, "SHOW LISTS"},
		{false, `"SHOW" "pools"`},
	} {
		sess := stats
		if q.admin {
			sess = admin
		}
		out, fatal := sess.Exec(context.Background(), q.q)
		b.WriteString("## " + strconv.FormatBool(q.admin) + " " + q.q + "\n")
		if fatal != nil {
			b.WriteString("FATAL " + fatal.Code + " " + fatal.Message + "\n")
			continue
		}
		for len(out) >= 5 {
			n := min(int(binary.BigEndian.Uint32(out[1:5]))+1, len(out))
			b.WriteString(strconv.Quote(string(out[:n])) + "\n")
			out = out[n:]
		}
	}
	got := b.String()
	const path = "testdata/console.golden"
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s line %d:\n got  %s\n want %s\n(go test -update rewrites the file)", path, i+1, g, w)
		}
	}
}
