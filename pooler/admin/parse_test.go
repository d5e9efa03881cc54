package admin

import "testing"

func TestParseAdmin(t *testing.T) {
	ok := []struct {
		q    string
		want stmt
	}{
		{"SHOW POOLS", stmt{cmd: "show", arg: "POOLS"}},
		{"show pools;", stmt{cmd: "show", arg: "pools"}},
		{"  Show\tPools ; \n", stmt{cmd: "show", arg: "Pools"}},
		{"SHOW\nSTATS_TOTALS", stmt{cmd: "show", arg: "STATS_TOTALS"}},
		{`SHOW "pools"`, stmt{cmd: "show", arg: "pools"}},
		{`"SHOW" pools`, stmt{cmd: "show", arg: "pools"}},
		{"select 1", stmt{cmd: "select", arg: "1"}},
		{"SELECT version()", stmt{cmd: "select", probe: "version"}},
		{" select pg_catalog.version ( ) ; ", stmt{cmd: "select", probe: "version"}},
		{"PAUSE", stmt{cmd: "pause"}},
		{"pause app;", stmt{cmd: "pause", arg: "app"}},
		{`PAUSE "my-db"`, stmt{cmd: "pause", arg: "my-db"}},
		{`PAUSE "say ""hi"""`, stmt{cmd: "pause", arg: `say "hi"`}},
		{"KILL_CLIENT 12", stmt{cmd: "kill_client", arg: "12"}},
		{"SHUTDOWN wait_for_clients", stmt{cmd: "shutdown", arg: "wait_for_clients"}},
		{"FROBNICATE", stmt{cmd: "frobnicate"}}, // grammatical; unknown to the dispatcher
		{"SET default_pool_size = 30", stmt{cmd: "set", arg: "default_pool_size", value: "30"}},
		{"set default_pool_size=30;", stmt{cmd: "set", arg: "default_pool_size", value: "30"}},
		{"SET server_check_query TO 'select ''x'''", stmt{cmd: "set", arg: "server_check_query", value: "select 'x'"}},
		{`SET "key" = "v v"`, stmt{cmd: "set", arg: "key", value: "v v"}},
		{"SET auth_file = ''", stmt{cmd: "set", arg: "auth_file", value: ""}},
		{"", stmt{empty: true}},
		{" ; ", stmt{empty: true}},
		{";;", stmt{empty: true}},
	}
	for _, c := range ok {
		got, parsed := parse(c.q)
		if !parsed || got != c.want {
			t.Errorf("parse(%q) = %+v, %v; want %+v", c.q, got, parsed, c.want)
		}
	}
	for _, q := range []string{
		"SHOW POOLS; SHOW STATS", "SHOW POOLS EXTRA", "SHOW (pools)", "show-pools", "SHOW POOLS;;",
		`PAUSE "unterminated`, `SHOW"pools"`, "SET x", "SET x =", "SET = 1", "SET x = 1.5", "SET x = 'a' b",
		"SETx = 1", "SELECT version(1)", "SELECT 1 + 1", "-- comment",
	} {
		if st, parsed := parse(q); parsed {
			t.Errorf("parse(%q) = %+v, want a syntax error", q, st)
		}
	}
}
