package admin

import (
	"encoding/binary"
	"flag"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden with the current output")

// messages writes a console answer one protocol message a line, each as a Go string literal, for
// golden files that show every byte.
func messages(out []byte) string {
	var b strings.Builder
	for len(out) >= 5 {
		n := min(int(binary.BigEndian.Uint32(out[1:5]))+1, len(out))
		b.WriteString(strconv.Quote(string(out[:n])))
		b.WriteByte('\n')
		out = out[n:]
	}
	if len(out) > 0 {
		b.WriteString("trailing " + strconv.Quote(string(out)) + "\n")
	}
	return b.String()
}

// goldenView is a made-up picture with something in every column that has a value of its own.
func goldenView() *view {
	cfg := config.Default()
	cfg.Pooler.AdminUsers = "admin"
	cfg.Databases = map[string]config.Database{"*": {}, "app": {User: "owner", PoolMode: "transaction"}, "pgbouncer": {}, "spare": {Host: "db2", Port: 5433}}
	cfg.Users = map[string]config.User{"alice": {PoolSize: ptrTo(5), PoolMode: "session", MaxUserConnections: ptrTo(9)}}
	pc, _ := cfg.PoolConfig("app", "alice")
	pc2, _ := cfg.PoolConfig("other", "bob")
	snap := &status.Snapshot{
		Config:       cfg,
		Cancels:      status.CancelCounters{Received: 9, Forwarded: 4, UnknownKey: 3, Failed: 1},
		AcceptErrors: 17, SharedStatements: 3, SharedStatementBytes: 300, StartupParams: 2, StartupParamBytes: 50,
		Pools: []status.PoolInfo{
			{Database: "app", User: "alice", PoolMode: "transaction", Config: pc, ClActive: 1, ClWaiting: 2, ClActiveCancelReq: 1, SvActive: 1, SvIdle: 2, SvUsed: 1, SvLogin: 1, SvBeingCanceled: 1, MaxWait: 1500 * time.Millisecond,
				Counters:        status.Counters{ServerAssignments: 4, Xacts: 10, Queries: 20, Received: 1000, Sent: 2000, XactTime: 1000, QueryTime: 700, WaitTime: 30, ClientParses: 5, ServerParses: 5, Binds: 6, Logins: 2},
				SessionFeatures: []status.SessionFeatureCount{{Feature: "listen", Seen: 3, Refused: 1, Clients: 2}, {Feature: "temp_table", Seen: 1, Clients: 1}}},
			{Database: "other", User: "bob", PoolMode: "session", Config: pc2, Counters: status.Counters{Xacts: 5, Queries: 7, WaitTime: 3}},
		},
		Clients: []status.ClientInfo{
			{ID: 1, User: "alice", Database: "app", State: "active", ServerID: 3, ApplicationName: "job", Addr: "10.0.0.1", Port: 5555, LocalAddr: "10.0.0.2", LocalPort: 6432, TLS: "TLSv1.3/TLS_AES_128_GCM_SHA256", PreparedStatements: 2, Holding: "active", SessionFeatures: "listen=2"},
			{ID: 2, User: "admin", Database: "pgpooler", State: "active", Addr: "unix"},
			{ID: 4, User: "carol", Database: "app", State: "login"},
			{ID: 5, User: "dave", Database: "app", State: "waiting", Wait: 2500 * time.Millisecond},
			{ID: 6, User: "bob", Database: "other", State: "active", Holding: "idle in transaction"},
		},
		Servers: []status.ServerInfo{
			{ID: 3, User: "alice", Database: "app", State: "active", ClientID: 1, PID: 99, Addr: "127.0.0.1", Port: 5432, LocalAddr: "127.0.0.1", LocalPort: 40000, PreparedStatements: 4},
			{ID: 7, User: "alice", Database: "app", State: "idle", PID: 100, CloseNeeded: true},
			{ID: 8, User: "bob", Database: "other", State: "used", PID: 101, TLS: "TLSv1.2/x"},
		},
		Averages: map[string]status.Averages{
			"app":   {ServerAssignments: 1, Xacts: 3, Queries: 4, Received: 50, Sent: 60, XactTime: 100, QueryTime: 80, WaitTime: 9, ClientParses: 1, ServerParses: 1, Binds: 2},
			"other": {Xacts: 1, XactTime: 500, Queries: 1, QueryTime: 20},
		},
	}
	return &view{Snapshot: snap, PauseState: status.PauseState{Paused: map[string]bool{"other": true}, Disabled: map[string]bool{"app": true}}}
}

// TestShowGolden: every SHOW result but MEM (the Go runtime's numbers) and CONFIG (which grows with
// every new key; TestAdminConfig checks it), from a made-up picture, is byte for byte what
// testdata/shows.golden holds. That file was written by the console's code before it
// became this package (pooler/admin_show.go), so the move changed no byte; a change of a column's name,
// type, order or format shows here as a diff.
func TestShowGolden(t *testing.T) {
	var b strings.Builder
	v := goldenView()
	for _, name := range slices.Sorted(maps.Keys(shows)) {
		if name == "mem" || name == "config" {
			continue
		}
		b.WriteString("## " + name + "\n")
		b.WriteString(messages(shows[name](v).appendTo(nil)))
	}
	v.All = true
	b.WriteString("## state (paused)\n")
	b.WriteString(messages(showState(v).appendTo(nil)))
	compareGolden(t, "testdata/shows.golden", b.String(), *update)
}

// compareGolden fails t, naming the first line that differs, unless got is the content of the file at
// path; with update it rewrites the file instead.
func compareGolden(t *testing.T, path, got string, update bool) {
	t.Helper()
	if update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got == string(want) {
		return
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
