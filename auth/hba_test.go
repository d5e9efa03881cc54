package auth

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/iotest"
)

// hbaFiles is a readFile for ParseHBA serving files from a map.
func hbaFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		s, ok := files[name]
		if !ok {
			return nil, fs.ErrNotExist
		}
		return []byte(s), nil
	}
}

func parseHBA(t *testing.T, text string, files map[string]string) *HBA {
	t.Helper()
	h, err := ParseHBA(strings.NewReader(text), "pg_hba.conf", hbaFiles(files))
	if err != nil {
		t.Fatalf("ParseHBA: %v", err)
	}
	return h
}

func TestParseHBA(t *testing.T) {
	text := strings.Join([]string{
		"# TYPE  DATABASE  USER  ADDRESS  METHOD",
		"",
		"local all postgres trust",
		"host\tsales,hr   alice,bob  10.0.0.0/8   md5   # a comment",
		`hostssl "all","my db" "all",+admins,"+x" ::1/128 cert`,
		"hostnossl all all 192.168.1.0 255.255.255.0 scram-sha-256",
		"host replication,sameuser,samerole,samegroup all all password",
		"host a, b c,\t d 10.1.2.3/16 reject", // blanks may follow a comma
		`host a"b c"d,al"l" x"+"y 1.2.3.4/32 trust`,
		"host all all \\",
		"  ::ffff:10.0.0.0/104 \\",
		"  trust",
		`"host" all all all "md5"`,
		"host all +\"my role\",+all all trust",
		"host all all ::ffff:10.0.0.0 ffff:ffff:ffff:ffff:ffff:ffff:ff00:0 trust",
		"host all all 0.0.0.0/0 trust\r",
		"host all all 10.0.0.0/8 trust#comment",
		"host all all fe80::/10 trust",
		"local pgbouncer pgbouncer peer", // CloudNativePG's pooler hba starts so
	}, "\n")
	h := parseHBA(t, text, nil)
	want := []HBARule{
		{Line: 3, Type: "local", Databases: []string{"all"}, Users: []string{"postgres"}, Method: "trust"},
		{Line: 4, Type: "host", Databases: []string{"sales", "hr"}, Users: []string{"alice", "bob"},
			Prefix: netip.MustParsePrefix("10.0.0.0/8"), Method: "md5"},
		{Line: 5, Type: "hostssl", Databases: []string{`"all"`, `"my db"`}, Users: []string{`"all"`, "+admins", `"+x"`},
			Prefix: netip.MustParsePrefix("::1/128"), Method: "cert"},
		{Line: 6, Type: "hostnossl", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("192.168.1.0/24"), Method: "scram-sha-256"},
		{Line: 7, Type: "host", Databases: []string{"replication", "sameuser", "samerole", "samerole"}, Users: []string{"all"},
			AllAddrs: true, Method: "password"},
		{Line: 8, Type: "host", Databases: []string{"a", "b"}, Users: []string{"c", "d"},
			Prefix: netip.MustParsePrefix("10.1.0.0/16"), Method: "reject"},
		// Quotes inside an item are not initial: the item is no literal,
		// so al"l" is the keyword all, as in PostgreSQL.
		{Line: 9, Type: "host", Databases: []string{`"ab cd"`, "all"}, Users: []string{"x+y"},
			Prefix: netip.MustParsePrefix("1.2.3.4/32"), Method: "trust"},
		{Line: 10, Type: "host", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("10.0.0.0/8"), Method: "trust"},
		{Line: 13, Type: "host", Databases: []string{"all"}, Users: []string{"all"}, AllAddrs: true, Method: "md5"},
		{Line: 14, Type: "host", Databases: []string{"all"}, Users: []string{`+"my role"`, "+all"},
			AllAddrs: true, Method: "trust"},
		{Line: 15, Type: "host", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("10.0.0.0/8"), Method: "trust"},
		{Line: 16, Type: "host", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("0.0.0.0/0"), Method: "trust"},
		{Line: 17, Type: "host", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("10.0.0.0/8"), Method: "trust"},
		{Line: 18, Type: "host", Databases: []string{"all"}, Users: []string{"all"},
			Prefix: netip.MustParsePrefix("fe80::/10"), Method: "trust"},
		{Line: 19, Type: "local", Databases: []string{"pgbouncer"}, Users: []string{"pgbouncer"}, Method: "peer"},
	}
	for i := range want {
		want[i].File = "pg_hba.conf"
	}
	if len(h.Rules) != len(want) {
		t.Fatalf("got %d rules, want %d:\n%v", len(h.Rules), len(want), h.Rules)
	}
	for i := range want {
		if !reflect.DeepEqual(h.Rules[i], want[i]) {
			t.Errorf("rule %d:\n got %#v\nwant %#v", i, h.Rules[i], want[i])
		}
	}
	if got, want := h.String(), "hba file pg_hba.conf: 15 rules"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestParseHBAEmpty(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only comments\n   # and blanks\n\t\n", "\\\n\\"} {
		h := parseHBA(t, text, nil)
		if len(h.Rules) != 0 {
			t.Errorf("%q: got %d rules", text, len(h.Rules))
		}
	}
}

// TestParseHBAErrors checks each bad line alone, after a good line, so
// that the error must name line 2.
func TestParseHBAErrors(t *testing.T) {
	files := map[string]string{
		"users":     "alice bob\n",
		"empty":     "# nobody\n",
		"bad":       "alice\n\"bob\n",
		"self":      "@self\n",
		"inc":       "include other\n",
		"regex":     "/^a\n",
		"with/more": "x\n",
	}
	tests := []struct {
		line, want string
	}{
		{"host all all", "the line ends before the address column"},
		{"host", "the line ends before the database column"},
		{"local all", "the line ends before the user column"},
		{"local all all", "the line ends before the authentication method"},
		{"host all all 10.0.0.0/8", "the line ends before the authentication method"},
		{"host all all 10.0.0.0 md5", `invalid netmask "md5"`},
		{"host all all 10.0.0.0", "the line ends before the netmask column"},
		{"host all all 10.0.0.0 255.0.255.0 md5", `netmask "255.0.255.0" is not contiguous`},
		{"host all all 10.0.0.0 ffff:: md5", "are not of the same family"},
		{"host all all 10.0.0.0/33 md5", `invalid CIDR mask in address "10.0.0.0/33"`},
		{"host all all 10.0.0.0/08 md5", "invalid CIDR mask"},
		{"host all all 10.0.0.0/x md5", "invalid CIDR mask"},
		{"host all all samehost md5", "address samehost is not supported"},
		{"host all all samenet md5", "address samenet is not supported"},
		{"host all all db.example.com md5", `address "db.example.com" is not an IP address or CIDR range: host names are not supported`},
		{"host all all .example.com md5", "host names are not supported"},
		{`host all all "all" md5`, "host names are not supported"},
		{"host all all fe80::1%eth0 ffff:: md5", "has an IPv6 zone"},
		{"host all all 10.0.0.0/8,10.1.0.0/16 md5", "multiple values in the address column"},
		{"host all all 10.0.0.0/8 md5,trust", "multiple values in the authentication method column"},
		{"host,local all all all md5", "multiple values in the connection type column"},
		{"hosts all all all md5", `invalid connection type "hosts"`},
		{"hostgssenc all all all md5", "connection type hostgssenc is not supported"},
		{"hostnogssenc all all all md5", "connection type hostnogssenc is not supported"},
		{"host all all all peer", "peer authentication is only supported on local lines"},
		{"local all all ident", "method ident is not supported"},
		{"host all all all ldap ldapserver=x", "method ldap is not supported"},
		{"host all all all gss", "method gss is not supported"},
		{"host all all all sspi", "method sspi is not supported"},
		{"host all all all radius", "method radius is not supported"},
		{"local all all pam", "method pam is not supported"},
		{"local all all bsd", "method bsd is not supported"},
		{"host all all all oauth", "method oauth is not supported"},
		{"host all all all md6", `invalid authentication method "md6"`},
		{"host all all all cert", "cert authentication is only supported on hostssl lines"},
		{"hostssl all all all md5 clientcert=verify-full", `authentication option "clientcert" is not supported`},
		{"hostssl all all all cert map=x", `authentication option "map" is not supported`},
		{"local all all peer map=x", `authentication option "map" is not supported`},
		{"hostssl all all all peer", "peer authentication is only supported on local lines"},
		{"host all all all md5 extra", `"extra" after the authentication method is not an option of the form name=value`},
		{"include other.conf", "include records are not supported"},
		{"include_if_exists other.conf", "include_if_exists records are not supported"},
		{"include_dir conf.d", "include_dir records are not supported"},
		{`host "unterminated all all md5`, "unterminated double quote"},
		{"host a,,b all all md5", "an empty item between commas"},
		{"host a, ,b all all md5", "an empty item between commas"},
		{"host ,a all all md5", "a comma with no item before it"},
		{"host a ,b all all md5", "a comma with no item before it"},
		{"host all all all md5,", "a list ends with a comma"},
		{"host all all all md5, # comment", "a list ends with a comma"},
		{`host "" all all md5`, "empty database name"},
		{`host all "" all md5`, "empty user name"},
		{"host all + all md5", `"+" must be followed by a role name`},
		{"host /^db all all md5", `database "/^db" starts with "/": regular expressions are not supported`},
		{`host all "/^u" all md5`, `user "/^u" starts with "/"`},
		{"host all @ all md5", `"@" must be followed by a file name`},
		{"host all @missing all md5", `cannot read @file "missing": file does not exist`},
		{"host all @empty all md5", "the user column lists no names: its @files are empty"},
		{"host all @self all md5", `@file "self" includes itself`},
		{"host all @bad all md5", `@file "bad" has errors`},
		{"host all @inc all md5", `@file "inc" has errors`},
		{"host all @regex all md5", `user "/^a" starts with "/"`},
		{"@users all all all md5", "@file is only allowed in the database and user columns"},
		{"host all all @users md5", "@file is only allowed in the database and user columns"},
		{"host all all all @users", "@file is only allowed in the database and user columns"},
		{"local all all md5 \x00", "the line contains a NUL byte"},
		{"local all all md5 " + strings.Repeat("x", hbaMaxLine), "the line is longer than 65536 bytes"},
		{"local all all \\\n" + strings.Repeat("x", hbaMaxLine), "the line is longer than 65536 bytes"},
	}
	lineRE := regexp.MustCompile(`^(pg_hba\.conf|bad|inc):[0-9]+: `)
	for _, tt := range tests {
		name := tt.line
		if len(name) > 60 {
			name = name[:60]
		}
		t.Run(name, func(t *testing.T) {
			text := "local all all trust\n" + tt.line + "\nhost all all all md5\n"
			h, err := ParseHBA(strings.NewReader(text), "pg_hba.conf", hbaFiles(files))
			if err == nil {
				t.Fatalf("no error; rules %v", h.Rules)
			}
			if h != nil {
				t.Error("returned an HBA with an error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "pg_hba.conf:2: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q\ndoes not name pg_hba.conf:2 and say %q", msg, tt.want)
			}
			for _, l := range strings.Split(msg, "\n") {
				if !lineRE.MatchString(l) {
					t.Errorf("error line %q does not start with file:line", l)
				}
			}
		})
	}
}

func TestParseHBAErrorsInAtFile(t *testing.T) {
	files := map[string]string{"bad": "alice\n\"bob\n\ncarol,,dave\n"}
	text := "local all @bad trust\nlocal @bad all trust\n"
	_, err := ParseHBA(strings.NewReader(text), "pg_hba.conf", hbaFiles(files))
	if err == nil {
		t.Fatal("no error")
	}
	want := strings.Join([]string{
		"bad:2: unterminated double quote",
		"bad:4: an empty item between commas",
		`pg_hba.conf:1: @file "bad" has errors`,
		`pg_hba.conf:2: @file "bad" has errors`,
	}, "\n")
	if got := err.Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestParseHBAAllErrorsReported(t *testing.T) {
	text := "host all all all md5\nbogus\n\nhost all all all peer\nlocal all all \\\n   md5 x=y\n"
	_, err := ParseHBA(strings.NewReader(text), "h.conf", nil)
	want := strings.Join([]string{
		`h.conf:2: invalid connection type "bogus" (expected local, host, hostssl or hostnossl)`,
		"h.conf:4: peer authentication is only supported on local lines",
		`h.conf:5: authentication option "x" is not supported`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestParseHBAManyErrors(t *testing.T) {
	text := strings.Repeat("bogus\n", hbaMaxReported+5)
	_, err := ParseHBA(strings.NewReader(text), "h.conf", nil)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != hbaMaxReported+1 {
		t.Fatalf("got %d error lines, want %d", len(lines), hbaMaxReported+1)
	}
	if got := lines[len(lines)-1]; got != "h.conf: 5 more problems" {
		t.Errorf("last line %q", got)
	}
	if !strings.HasPrefix(lines[hbaMaxReported-1], fmt.Sprintf("h.conf:%d: ", hbaMaxReported)) {
		t.Errorf("line %q", lines[hbaMaxReported-1])
	}
}

func TestParseHBATooManyRules(t *testing.T) {
	var b strings.Builder
	for range hbaMaxRules {
		b.WriteString("local all all trust\n")
	}
	h := parseHBA(t, b.String(), nil)
	if len(h.Rules) != hbaMaxRules {
		t.Fatalf("got %d rules", len(h.Rules))
	}
	b.WriteString("# comment\nlocal all all md5\nlocal all all md5\n")
	_, err := ParseHBA(strings.NewReader(b.String()), "h.conf", nil)
	want := fmt.Sprintf("h.conf:%d: more than %d rules", hbaMaxRules+2, hbaMaxRules)
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseHBALongLines(t *testing.T) {
	// A line of exactly the limit is fine, continuations included.
	pad := strings.Repeat(" ", hbaMaxLine-len("local all all trust"))
	parseHBA(t, "local all all trust"+pad+"\r\n", nil)
	half := hbaMaxLine / 2
	parseHBA(t, "local all all"+strings.Repeat(" ", half-13)+"\\\n"+strings.Repeat(" ", half-6)+"trust\n", nil)

	// Lines past the limit, even long past the reader's buffer, are
	// errors that do not stop the next lines from being read.
	huge := strings.Repeat("y", 3*hbaMaxLine)
	text := "local all all trust" + pad + "x\n" + // 1
		huge + "\\\n" + // 2, continued
		"more\n" + // 3
		"bogus\n" + // 4
		huge + "\n" + // 5
		"local all all trust\n" // 6
	_, err := ParseHBA(strings.NewReader(text), "h.conf", nil)
	want := strings.Join([]string{
		"h.conf:1: the line is longer than 65536 bytes",
		"h.conf:2: the line is longer than 65536 bytes",
		`h.conf:4: invalid connection type "bogus" (expected local, host, hostssl or hostnossl)`,
		"h.conf:5: the line is longer than 65536 bytes",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestParseHBAContinuation(t *testing.T) {
	text := strings.Join([]string{
		"local all \\",        // 1
		"  alice,\\",          // 2
		"bob trust",           // 3
		"# comment \\",        // 4: continues the comment
		"host all all all",    // 5: part of the comment
		`host "a \`,           // 6: continues the quoted name
		`b" all all md5`,      // 7
		"local all all md5\\", // 8: continuation at the end of the file
	}, "\n")
	h := parseHBA(t, text, nil)
	var got []string
	for _, r := range h.Rules {
		got = append(got, r.String())
	}
	want := []string{
		"pg_hba.conf:1: local all alice,bob trust",
		`pg_hba.conf:6: host "a b" all all md5`,
		"pg_hba.conf:8: local all all md5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestParseHBAReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := ParseHBA(iotest.ErrReader(boom), "h.conf", nil)
	if !errors.Is(err, boom) || err.Error() != "h.conf: boom" {
		t.Errorf("got %v", err)
	}
}

func TestParseHBAAtFiles(t *testing.T) {
	files := map[string]string{
		"users":            "# admins\nalice, bob\n  carol \"all\" +ops \\\n dave\n@dir/more\n",
		"dir/more":         "erin @deeper\n", // relative to dir/
		"dir/deeper":       `"frank smith"` + "\n",
		"/abs/dbs":         "sales,hr\n",
		"empty":            "",
		"chain1":           "@chain2\n",
		"chain2":           "@chain3\n",
		"chain3":           "@chain4\n",
		"chain4":           "@chain5\n",
		"chain5":           "@chain6\n",
		"chain6":           "@chain7\n",
		"chain7":           "@chain8\n",
		"chain8":           "@chain9\n",
		"chain9":           "@chain10\n",
		"chain10":          "end\n",
		"chain0":           "@chain1\n",
		"has space":        "spaced\n",
		"conf/pg_hba_more": "x\n",
	}
	text := strings.Join([]string{
		"local @/abs/dbs @users trust",
		`local "@users" all trust`,          // quoted: a plain name
		`local all @"has space",@empty md5`, // quoting the file name only
		"local all @chain1 md5",             // depth 10
		"local all,@users,@users all md5",
	}, "\n")
	h := parseHBA(t, text, files)
	wantUsers := []string{"alice", "bob", "carol", `"all"`, "+ops", "dave", "erin", `"frank smith"`}
	if got := h.Rules[0].Databases; !reflect.DeepEqual(got, []string{"sales", "hr"}) {
		t.Errorf("databases %q", got)
	}
	if got := h.Rules[0].Users; !reflect.DeepEqual(got, wantUsers) {
		t.Errorf("users %q, want %q", got, wantUsers)
	}
	if got := h.Rules[1].Databases; !reflect.DeepEqual(got, []string{`"@users"`}) {
		t.Errorf("quoted @: %q", got)
	}
	if got := h.Rules[2].Users; !reflect.DeepEqual(got, []string{"spaced"}) {
		t.Errorf("@\"has space\": %q", got)
	}
	if got := h.Rules[3].Users; !reflect.DeepEqual(got, []string{"end"}) {
		t.Errorf("chain: %q", got)
	}
	if got := h.Rules[4].Databases; len(got) != 1+2*len(wantUsers) {
		t.Errorf("repeated @file: %q", got)
	}

	// One level deeper is too deep.
	_, err := ParseHBA(strings.NewReader("local all @chain0 md5\n"), "pg_hba.conf", hbaFiles(files))
	if err == nil || !strings.Contains(err.Error(), `pg_hba.conf:1: @file "chain10": @files nest deeper than 10`) {
		t.Errorf("depth 11: %v", err)
	}

	// Files are found relative to the directory of the file naming them.
	var asked []string
	readFile := func(name string) ([]byte, error) {
		asked = append(asked, name)
		switch filepath.Base(name) {
		case "users":
			return []byte("@sub/more"), nil
		case "more":
			return []byte("x"), nil
		}
		return nil, fs.ErrNotExist
	}
	_, err = ParseHBA(strings.NewReader("local all @users md5\n"), filepath.Join("etc", "pgpooler", "hba.conf"), readFile)
	wantAsked := []string{filepath.Join("etc", "pgpooler", "users"), filepath.Join("etc", "pgpooler", "sub", "more")}
	if err != nil || !reflect.DeepEqual(asked, wantAsked) {
		t.Errorf("err %v, read %q, want %q", err, asked, wantAsked)
	}

	// Without readFile, @file is an error; each file is read once.
	_, err = ParseHBA(strings.NewReader("local all @users md5\nlocal @users all md5\n"), "h.conf", nil)
	want := strings.Join([]string{
		`h.conf:1: @file "users": @file is not supported here (no way to read files)`,
		`h.conf:2: @file "users": @file is not supported here (no way to read files)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("nil readFile: %v", err)
	}

	reads := 0
	counting := func(string) ([]byte, error) { reads++; return []byte("a b c"), nil }
	parseHBAWith(t, strings.Repeat("local @x @x md5\n", 50), counting)
	if reads != 1 {
		t.Errorf("read the @file %d times", reads)
	}
}

func parseHBAWith(t *testing.T, text string, readFile func(string) ([]byte, error)) *HBA {
	t.Helper()
	h, err := ParseHBA(strings.NewReader(text), "pg_hba.conf", readFile)
	if err != nil {
		t.Fatalf("ParseHBA: %v", err)
	}
	return h
}

func TestParseHBAAtFileLimits(t *testing.T) {
	big := func(string) ([]byte, error) { return make([]byte, hbaMaxAtFileSize+1), nil }
	_, err := ParseHBA(strings.NewReader("local all @big md5\n"), "h.conf", big)
	if err == nil || !strings.Contains(err.Error(), `h.conf:1: @file "big" is larger than 4194304 bytes`) {
		t.Errorf("big @file: %v", err)
	}

	// A file naming another many times, nested: far more names than
	// the budget, which must stop the expansion quickly.
	fanout := strings.TrimSuffix(strings.Repeat("@f,", 1000), ",")
	files := map[string]string{"f": fanout}
	_, err = ParseHBA(strings.NewReader("local all @f md5\n"), "h.conf", hbaFiles(files))
	if err == nil || !strings.Contains(err.Error(), "h.conf:1: @file \"f\" includes itself") {
		t.Errorf("self fan-out: %v", err)
	}
	for i := range 9 {
		files[fmt.Sprint(i)] = strings.TrimSuffix(strings.Repeat(fmt.Sprintf("@%d,", i+1), 100), ",")
	}
	files["9"] = "x"
	_, err = ParseHBA(strings.NewReader("local all @0 md5\nlocal all @1 md5\n"), "h.conf", hbaFiles(files))
	want := strings.Join([]string{
		"h.conf:1: @files add more than 1048576 names in all",
		"h.conf:2: @files add more than 1048576 names in all",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("fan-out: %v", err)
	}
}

func TestLoadHBA(t *testing.T) {
	h, err := LoadHBA(filepath.Join("testdata", "hba", "pg_hba.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.String(), "hba file "+filepath.Join("testdata", "hba", "pg_hba.conf")+": 4 rules"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	admins := func(user, role string) bool { return role == "admins" && user == "root" }
	tests := []struct {
		req  HBARequest
		line int
	}{
		{HBARequest{Local: true, Database: "app", User: "postgres"}, 4},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), Database: "sales", User: "alice"}, 5},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), Database: "reports", User: "bob"}, 5},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), Database: "reports", User: "carol"}, 5}, // nested @file
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), Database: "other", User: "alice"}, 9},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), TLS: true, Database: "app", User: "root"}, 7},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), TLS: true, Database: "app", User: "alice"}, 9},
		{HBARequest{Addr: netip.MustParseAddr("10.0.0.1"), Database: "app", User: "mallory"}, 9},
	}
	for _, tt := range tests {
		r, ok := h.Match(tt.req, admins)
		if line := hbaLineOf(r, ok); line != tt.line {
			t.Errorf("%+v: matched line %d, want %d", tt.req, line, tt.line)
		}
	}

	if _, err := LoadHBA(filepath.Join("testdata", "hba", "missing.conf")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	_, err = LoadHBA(filepath.Join("testdata", "hba", "bad.conf"))
	want := strings.Join([]string{
		filepath.Join("testdata", "hba", "bad.conf") + ":3: peer authentication is only supported on local lines",
		filepath.Join("testdata", "hba", "bad.conf") + `:4: cannot read @file "` +
			filepath.Join("testdata", "hba", "nonexistent") + `": open ` + filepath.Join("testdata", "hba", "nonexistent") + ": no such file or directory",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("bad.conf:\n%v\nwant\n%s", err, want)
	}
}

func TestLoadHBALargeAtFile(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "hba.conf")
	if err := os.WriteFile(conf, []byte("local all @big md5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, hbaMaxAtFileSize+100), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadHBA(conf)
	if err == nil || !strings.Contains(err.Error(), "is larger than 4194304 bytes") {
		t.Errorf("got %v", err)
	}
}

// hbaLineOf is the line of a matched rule, 0 for no match.
func hbaLineOf(r *HBARule, ok bool) int {
	if (r != nil) != ok {
		panic("Match returned a rule and false, or nil and true")
	}
	if !ok {
		return 0
	}
	return r.Line
}

func TestMatch(t *testing.T) {
	text := strings.Join([]string{
		"local   all          postgres                    trust",            // 1
		"local   sameuser     all                         md5",              // 2
		"hostssl all          +admins   10.0.0.0/8        cert",             // 3
		`host    "all"        all       10.0.0.0/8        reject`,           // 4: the database named all
		"host    sales,hr     alice,bob 10.1.0.0 255.255.0.0 scram-sha-256", // 5
		"host    samerole     all       192.168.0.0/16    md5",              // 6
		"host    all          all       ::1/128           trust",            // 7
		"hostnossl all        all       2001:db8::/32     password",         // 8
		`host    "sameuser"   "all"     all               trust`,            // 9
		"host    replication  all       all               trust",            // 10
		"host    all          +\"on call\",\"+x\" 172.16.0.0/12 md5",        // 11
		"host    all          all       ::ffff:203.0.113.0/120 md5",         // 12
		"host    all          all       10.0.0.0/8        md5",              // 13
	}, "\n")
	h := parseHBA(t, text, nil)
	ip := netip.MustParseAddr
	// member: alice and root are in admins; dave in "on call"; alice in
	// the role "finance".
	roles := map[[2]string]bool{{"alice", "admins"}: true, {"root", "admins"}: true, {"dave", "on call"}: true, {"alice", "finance"}: true}
	member := func(user, role string) bool { return roles[[2]string{user, role}] }

	tests := []struct {
		name   string
		req    HBARequest
		member func(user, role string) bool
		line   int
	}{
		{"local user by name", HBARequest{Local: true, Database: "x", User: "postgres"}, member, 1},
		{"local sameuser", HBARequest{Local: true, Database: "bob", User: "bob"}, member, 2},
		{"local no match", HBARequest{Local: true, Database: "x", User: "bob"}, member, 0},
		{"local rules ignore TCP", HBARequest{Addr: ip("10.0.0.1"), Database: "x", User: "postgres"}, member, 13},
		{"hostssl +role with TLS", HBARequest{Addr: ip("10.2.3.4"), TLS: true, Database: "x", User: "alice"}, member, 3},
		{"hostssl a role is a member of itself", HBARequest{Addr: ip("10.2.3.4"), TLS: true, Database: "x", User: "admins"}, member, 3},
		{"hostssl needs TLS", HBARequest{Addr: ip("10.2.3.4"), Database: "x", User: "alice"}, member, 13},
		{"+role, not a member", HBARequest{Addr: ip("10.2.3.4"), TLS: true, Database: "x", User: "bob"}, member, 13},
		{"+role, nil member", HBARequest{Addr: ip("10.2.3.4"), TLS: true, Database: "x", User: "alice"}, nil, 13},
		{"+role, nil member, user is the role", HBARequest{Addr: ip("10.2.3.4"), TLS: true, Database: "x", User: "admins"}, nil, 13},
		{"quoted all is a name", HBARequest{Addr: ip("10.2.3.4"), Database: "all", User: "bob"}, member, 4},
		{"netmask", HBARequest{Addr: ip("10.1.200.3"), Database: "hr", User: "bob"}, member, 5},
		{"netmask, IPv4-mapped client", HBARequest{Addr: ip("::ffff:10.1.200.3"), Database: "sales", User: "alice"}, member, 5},
		{"database list misses", HBARequest{Addr: ip("10.1.200.3"), Database: "ops", User: "alice"}, member, 13},
		{"user list misses", HBARequest{Addr: ip("10.1.200.3"), Database: "hr", User: "carol"}, member, 13},
		{"samerole", HBARequest{Addr: ip("192.168.1.1"), Database: "finance", User: "alice"}, member, 6},
		{"samerole, a role is a member of itself", HBARequest{Addr: ip("192.168.1.1"), Database: "carol", User: "carol"}, member, 6},
		{"samerole, not a member", HBARequest{Addr: ip("192.168.1.1"), Database: "finance", User: "bob"}, member, 0},
		{"samerole, nil member", HBARequest{Addr: ip("192.168.1.1"), Database: "finance", User: "alice"}, nil, 0},
		{"IPv6 /128", HBARequest{Addr: ip("::1"), Database: "x", User: "y"}, member, 7},
		{"IPv6 zone ignored", HBARequest{Addr: ip("::1%lo"), Database: "x", User: "y"}, member, 7},
		{"IPv6 hostnossl", HBARequest{Addr: ip("2001:db8::5"), Database: "x", User: "y"}, member, 8},
		{"IPv6 hostnossl refuses TLS", HBARequest{Addr: ip("2001:db8::5"), TLS: true, Database: "x", User: "y"}, member, 0},
		{"quoted keywords are names", HBARequest{Addr: ip("2001:db9::5"), Database: "sameuser", User: "all"}, member, 9},
		{"quoted sameuser is no keyword", HBARequest{Addr: ip("2001:db9::5"), Database: "y", User: "y"}, member, 0},
		{"replication never matches", HBARequest{Addr: ip("2001:db9::5"), Database: "replication", User: "y"}, member, 0},
		{"quoted role name with a blank", HBARequest{Addr: ip("172.16.0.9"), Database: "x", User: "dave"}, member, 11},
		{"quoted +x is a user", HBARequest{Addr: ip("172.16.0.9"), Database: "x", User: "+x"}, member, 11},
		{"not the role x", HBARequest{Addr: ip("172.16.0.9"), Database: "x", User: "x"}, func(u, r string) bool { return r == "x" }, 0},
		{"IPv4-mapped rule, IPv4 client", HBARequest{Addr: ip("203.0.113.9"), Database: "x", User: "y"}, member, 12},
		{"IPv4-mapped rule, mapped client", HBARequest{Addr: ip("::ffff:203.0.113.9"), Database: "x", User: "y"}, member, 12},
		{"IPv4 rule, IPv6 client", HBARequest{Addr: ip("::a00:1"), Database: "x", User: "y"}, member, 0},
		{"no address", HBARequest{Database: "x", User: "y"}, member, 0},
		{"no match", HBARequest{Addr: ip("8.8.8.8"), Database: "x", User: "y"}, member, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := h.Match(tt.req, tt.member)
			if line := hbaLineOf(r, ok); line != tt.line {
				t.Errorf("matched line %d, want %d", line, tt.line)
			}
		})
	}
}

func TestMatchFirstWins(t *testing.T) {
	h := parseHBA(t, "host all all 10.0.0.0/8 reject\nhost all all 10.1.0.0/16 trust\nhost all all all md5\n", nil)
	r, ok := h.Match(HBARequest{Addr: netip.MustParseAddr("10.1.0.1"), Database: "d", User: "u"}, nil)
	if !ok || r.Line != 1 || r.Method != "reject" {
		t.Errorf("got %v", r)
	}
	if r != &h.Rules[0] {
		t.Error("Match did not return the rule in h")
	}
	r, ok = h.Match(HBARequest{Addr: netip.MustParseAddr("192.0.2.1"), Database: "d", User: "u"}, nil)
	if !ok || r.Line != 3 {
		t.Errorf("got %v", r)
	}
}

// TestMatchAsksMemberLast checks that member is not asked when a plain name
// in the list matches, and is asked with the right arguments otherwise.
func TestMatchAsksMemberLast(t *testing.T) {
	h := parseHBA(t, "local samerole,app +staff,alice md5\n", nil)
	var asked []string
	member := func(user, role string) bool {
		asked = append(asked, user+" in "+role)
		return false
	}
	if _, ok := h.Match(HBARequest{Local: true, Database: "app", User: "alice"}, member); !ok {
		t.Error("no match")
	}
	if len(asked) != 0 {
		t.Errorf("asked %q", asked)
	}
	h.Match(HBARequest{Local: true, Database: "db", User: "bob"}, member)
	if want := []string{"bob in db"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked %q, want %q", asked, want)
	}
	asked = nil
	h.Match(HBARequest{Local: true, Database: "app", User: "bob"}, member)
	if want := []string{"bob in staff"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked %q, want %q", asked, want)
	}
}

func TestMatchHandBuiltRules(t *testing.T) {
	h := &HBA{Rules: []HBARule{
		{Type: "host", Databases: []string{`"a""b"`}, Users: []string{`+"r ""1"""`}, Prefix: netip.MustParsePrefix("::ffff:10.0.0.0/104"), Method: "md5"},
		{Type: "bogus", Databases: []string{"all"}, Users: []string{"all"}, AllAddrs: true, Method: "md5"},
	}}
	member := func(user, role string) bool { return role == `r "1"` }
	if _, ok := h.Match(HBARequest{Addr: netip.MustParseAddr("10.9.9.9"), Database: `a"b`, User: "u"}, member); !ok {
		t.Error("hand-built rule did not match")
	}
	if _, ok := h.Match(HBARequest{Addr: netip.MustParseAddr("11.0.0.1"), Database: `a"b`, User: "u"}, member); ok {
		t.Error("unknown type matched")
	}
	var nilHBA *HBA
	if r, ok := nilHBA.Match(HBARequest{Local: true}, nil); r != nil || ok {
		t.Error("nil HBA matched")
	}
	if got := nilHBA.String(); got != "hba file : 0 rules" {
		t.Errorf("nil String() = %q", got)
	}
}

func TestHBARuleString(t *testing.T) {
	text := "hostssl \"my db\",all +\"on call\",\"+x\",bob 10.0.0.0/8 cert\nlocal samegroup all trust\nhost all all all md5\nhost a b 10.9.8.7 255.255.0.0 trust\n"
	h := parseHBA(t, text, nil)
	want := []string{
		`pg_hba.conf:1: hostssl "my db",all +"on call","+x",bob 10.0.0.0/8 cert`,
		"pg_hba.conf:2: local samerole all trust",
		"pg_hba.conf:3: host all all all md5",
		"pg_hba.conf:4: host a b 10.9.0.0/16 trust",
	}
	var lines []string
	for i, r := range h.Rules {
		if got := r.String(); got != want[i] {
			t.Errorf("String() = %q, want %q", got, want[i])
		}
		lines = append(lines, r.text())
	}
	again := parseHBA(t, strings.Join(lines, "\n"), nil)
	for i := range h.Rules {
		if !reflect.DeepEqual(h.Rules[i], again.Rules[i]) {
			t.Errorf("rule %d does not parse back:\n%#v\n%#v", i, h.Rules[i], again.Rules[i])
		}
	}
	if got := (HBARule{Type: "local", Databases: []string{"all"}, Users: []string{"all"}, Method: "trust"}).String(); got != "local all all trust" {
		t.Errorf("String() without place = %q", got)
	}
}
