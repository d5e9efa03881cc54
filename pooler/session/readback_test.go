package session

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// rows builds query result rows from strings, "NULL" standing for a NULL.
func rows(rs ...[]string) [][][]byte {
	var out [][][]byte
	for _, r := range rs {
		var row [][]byte
		for _, v := range r {
			if v == "NULL" {
				row = append(row, nil)
			} else {
				row = append(row, []byte(v))
			}
		}
		out = append(out, row)
	}
	return out
}

// arrayNames splits a textArray literal back into its names.
func arrayNames(arg string) []string {
	arg = strings.TrimSuffix(strings.TrimPrefix(arg, "{"), "}")
	var names []string
	for _, n := range strings.Split(arg, ",") {
		names = append(names, strings.Trim(n, `"`))
	}
	slices.Sort(names)
	return names
}

func TestReadBack(t *testing.T) {
	params := map[string]string{"search_path": "a", "work_mem": "1MB", "datestyle": "ISO, MDY"}
	reported := map[string]bool{"datestyle": true}
	for _, tt := range []struct {
		sql     string
		session bool     // the query also reads every parameter set in the session
		names   []string // nil: nothing to read
	}{
		{"SELECT 1", false, nil},
		{"SET search_path = b", false, []string{"search_path"}},
		{"SET DateStyle = German", false, nil}, // reported: ParameterStatus tells
		{"SET server_version = 1", false, nil}, // read-only
		{"RESET ALL", false, []string{"role"}},
		{"SET ROLE r; RESET ALL", false, []string{"role"}},
		{"SELECT set_config('x.y', 'z', false)", true, []string{"role", "search_path", "work_mem"}},
	} {
		var ss Sets
		ss.Scan(tt.sql)
		query, arg := ReadBack(&ss, params, reported)
		if tt.names == nil {
			if query != "" {
				t.Errorf("ReadBack(%q) = %q, want nothing to read", tt.sql, query)
			}
			continue
		}
		if (query == sessionSettingsQuery) != tt.session || query == "" {
			t.Errorf("ReadBack(%q): query %q, want the session query %v", tt.sql, query, tt.session)
		}
		if got := arrayNames(arg); !slices.Equal(got, tt.names) {
			t.Errorf("ReadBack(%q) reads %v, want %v", tt.sql, got, tt.names)
		}
	}
	if got := textArray([]string{`a"b`, `c\d`}); got != `{"a\"b","c\\d"}` {
		t.Errorf("textArray = %s", got)
	}
}

func TestApplySettings(t *testing.T) {
	var ss Sets
	ss.Scan("SET search_path = b; SET work_mem = '4MB'; RESET timezone; SET x.y = 1")
	server := map[string]string{"work_mem": "1MB"}
	client := map[string]string{"timezone": "Europe/Paris", "work_mem": "1MB"}
	base := map[string]string{"timezone": "UTC"}
	ApplySettings(rows(
		[]string{"search_path", "b", `"$user", public`},
		[]string{"work_mem", "4096", "4096"}, // back at its default
		[]string{"timezone", "Etc/UTC", "Etc/UTC"},
		[]string{"x.y", "1", "NULL"},
		[]string{"broken", "NULL", "NULL"},
		[]string{"short"},
	), &ss, server, client, base)
	if want := map[string]string{"search_path": "b", "x.y": "1"}; !maps.Equal(server, want) {
		t.Errorf("server = %v, want %v", server, want)
	}
	if want := map[string]string{"search_path": "b", "timezone": "UTC", "x.y": "1"}; !maps.Equal(client, want) {
		t.Errorf("client = %v, want %v", client, want)
	}
	got := AfterResetAll(map[string]string{"session_authorization": "bob", "search_path": "b"}, map[string]string{"search_path": "a"})
	if want := map[string]string{"session_authorization": "bob", "search_path": "a"}; !maps.Equal(got, want) {
		t.Errorf("AfterResetAll = %v, want %v", got, want)
	}
}

func TestPreparedSync(t *testing.T) {
	var ss Sets
	ss.Scan("PREPARE p AS SELECT 1; DEALLOCATE q; PREPARE r AS SELECT 2")
	query, arg, names := PreparedReadBack(&ss)
	slices.Sort(names)
	if query != preparedQuery || !slices.Equal(arrayNames(arg), []string{"p", "q", "r"}) || !slices.Equal(names, []string{"p", "q", "r"}) {
		t.Fatalf("PreparedReadBack: %q %q %v", query, arg, names)
	}
	server, client := ApplyPrepared(rows(
		[]string{"p", "PREPARE p AS SELECT 1"},
		[]string{"r", "PREPARE p AS SELECT 1; PREPARE r AS SELECT 2"}, // came with other statements
	), names, nil, map[string]string{"q": "PREPARE q AS SELECT 0"})
	if want := map[string]string{"p": "PREPARE p AS SELECT 1", "r": "PREPARE p AS SELECT 1; PREPARE r AS SELECT 2"}; !maps.Equal(server, want) {
		t.Errorf("server = %v, want %v", server, want)
	}
	if want := map[string]string{"p": "PREPARE p AS SELECT 1"}; !maps.Equal(client, want) {
		t.Errorf("client = %v, want %v", client, want)
	}
	var none Sets
	if _, _, names := PreparedReadBack(&none); names != nil {
		t.Errorf("nothing touched, yet names %v", names)
	}

	have := map[string]string{"p": "PREPARE p AS SELECT 1", "old": "PREPARE old AS SELECT 0", "s": "PREPARE s AS SELECT 9"}
	want := map[string]string{"p": "PREPARE p AS SELECT 1", "s": "PREPARE s AS SELECT 3", "n": "PREPARE n AS SELECT 4"}
	stmts := CarryPrepared(want, have)
	slices.Sort(stmts)
	wantStmts := []string{`DEALLOCATE "old"`, `DEALLOCATE "s"`, "PREPARE n AS SELECT 4", "PREPARE s AS SELECT 3"}
	if !slices.Equal(stmts, wantStmts) {
		t.Errorf("CarryPrepared = %q, want %q", stmts, wantStmts)
	}
	if want := map[string]string{"p": "PREPARE p AS SELECT 1"}; !maps.Equal(have, want) {
		t.Errorf("have after CarryPrepared = %v, want %v", have, want)
	}
}
