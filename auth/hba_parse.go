package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Limits of ParseHBA, so that no file can make it use unbounded memory.
const (
	// hbaMaxLine is the longest record, in bytes, continuation lines
	// included.
	hbaMaxLine = 64 << 10
	// hbaMaxRules is the most rules a file may hold.
	hbaMaxRules = 100000
	// hbaMaxDepth is how deep @files may nest: an @file named in the hba
	// file is at depth 1, as in PostgreSQL (CONF_FILE_MAX_DEPTH).
	hbaMaxDepth = 10
	// hbaMaxAtFileSize is the largest @file, in bytes.
	hbaMaxAtFileSize = 4 << 20
	// hbaMaxSplicedNames is the most names @files may add to rules, all
	// rules together (a file named in every rule counts every time).
	hbaMaxSplicedNames = 1 << 20
	// hbaMaxReported is the most problems an error lists one by one.
	hbaMaxReported = 20
)

// ParseHBA reads an auth_hba_file from r. name is the file's name, used in
// error messages, in HBARule.File, and to find @files. The format is
// PostgreSQL's pg_hba.conf (PostgreSQL docs, "The pg_hba.conf File"),
// restricted, as PgBouncer's auth_hba_file is, to what a pooler can
// enforce:
//
//   - A record is a line; a line ending in a backslash continues on the
//     next (PostgreSQL 16), even inside quotes or a comment. '#' starts a
//     comment outside quotes. Fields are separated by spaces and tabs; a
//     field may be a list of items joined by commas, and blanks may follow
//     a comma. An item in double quotes may hold blanks, commas and '#',
//     and "" stands for one quote; a quoted keyword is a plain name.
//   - Types: local, host, hostssl, hostnossl. hostgssenc and hostnogssenc
//     are refused: pgpooler never does GSSAPI encryption, so the first
//     could never match, and the second is better written host.
//   - Databases: all, sameuser, samerole (samegroup), replication, names
//     and @file. Users: all, names, +role and @file. An @file (the name
//     relative to the directory of the file naming it) holds names
//     separated by blanks, commas or lines, with # comments and nested
//     @files up to a depth of 10; readFile is given the resolved name and
//     returns the file's contents. With a nil readFile, @file is an error.
//   - Addresses (host* types): all, an IPv4 or IPv6 CIDR range
//     (10.0.0.0/8, ::1/128), or an address followed by a netmask column
//     (10.0.0.0 255.0.0.0). Bits set beyond the mask are ignored, as in
//     PostgreSQL.
//   - Methods: trust, reject, md5, scram-sha-256, password, cert on
//     hostssl lines, and peer on local lines (PgBouncer doc/config.md "HBA
//     file format": its auth_type methods "plus peer and reject").
//
// Refused with an error, because pgpooler cannot honour them: samehost,
// samenet and host names as addresses; non-contiguous netmasks and zoned
// addresses; regular expressions (a database or user name starting with
// "/", PostgreSQL 16); the methods ident, gss, sspi, ldap, radius, pam,
// bsd and oauth, and peer on host* lines; any option after the method
// (clientcert=..., map=...);
// include, include_if_exists and include_dir records (in the hba file or an
// @file). Also refused, though
// PostgreSQL would take them: unterminated quotes, empty names, empty list
// items (",,", or a comma at the start or end of a field), a column made
// empty by empty @files, and NUL bytes. A line longer than 64 KiB, more
// than 100000 rules, an @file larger than 4 MiB, or @files adding more than
// 1048576 names in all (counting an @file each time it is named) are errors
// too.
//
// ParseHBA reads the whole file and either returns every rule or, if any
// line is wrong, no HBA and an error joining (errors.Join) one error per
// problem, each "file:line: problem" with the hba file or @file and its
// line, the first 20 of them and then a count of the rest. A record
// continued over several lines is named by its first line. An error
// reading r is returned wrapped, after the problems found before it.
func ParseHBA(r io.Reader, name string, readFile func(name string) ([]byte, error)) (*HBA, error) {
	p := &hbaParser{readFile: readFile, files: make(map[string]*hbaAtFile)}
	h := &HBA{name: name}
	lr := newHBALineReader(r, hbaMaxLine)
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		if l.problem != "" {
			p.report(name, l.num, l.problem)
			continue
		}
		rule, ok := p.parseRule(name, l)
		if !ok {
			continue
		}
		if len(h.Rules) == hbaMaxRules {
			p.report(name, l.num, fmt.Sprintf("more than %d rules", hbaMaxRules))
			break
		}
		h.Rules = append(h.Rules, rule)
	}
	if p.bad > hbaMaxReported {
		p.errs = append(p.errs, fmt.Errorf("%s: %d more problems", hbaLabel(name), p.bad-hbaMaxReported))
	}
	if lr.err != nil {
		p.errs = append(p.errs, fmt.Errorf("%s: %w", hbaLabel(name), lr.err))
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return h, nil
}

// hbaParser holds the state of one ParseHBA call.
type hbaParser struct {
	readFile func(name string) ([]byte, error)
	files    map[string]*hbaAtFile // @files by resolved name, read once
	spliced  int                   // names added from @files so far
	errs     []error
	bad      int // problems found, reported or not
}

// hbaAtFile is an @file as read: its names, or why it cannot be used.
type hbaAtFile struct {
	toks []hbaToken
	// paths holds, for each item of toks that names an @file, that
	// file's resolved name, so that it is resolved once.
	paths   []string
	problem string
}

// hbaToken is one item of a field.
type hbaToken struct {
	val string
	// quoted is set when the item began with a double quote: it is then
	// never a keyword, a +role or an @file, as in PostgreSQL.
	quoted bool
}

// report records a problem at file:line.
func (p *hbaParser) report(file string, line int, problem string) {
	p.bad++
	if p.bad <= hbaMaxReported {
		p.errs = append(p.errs, fmt.Errorf("%s:%d: %s", hbaLabel(file), line, problem))
	}
}

// hbaLabel is how error messages name a file.
func hbaLabel(name string) string {
	if name == "" {
		return "hba"
	}
	return name
}

// hbaShow quotes a value for an error message, cutting it short if long.
func hbaShow(v string) string {
	const max = 64
	if len(v) > max {
		return strconv.Quote(v[:max]) + "..."
	}
	return strconv.Quote(v)
}

// parseRule parses one record. It returns false for a blank or comment
// line, and for a wrong one after reporting it.
func (p *hbaParser) parseRule(file string, l hbaLine) (HBARule, bool) {
	fields, problem := hbaSplit(l.text)
	if problem == "" && len(fields) == 0 {
		return HBARule{}, false
	}
	var rule HBARule
	if problem == "" {
		rule, problem = p.rule(file, l.num, fields)
	}
	if problem != "" {
		p.report(file, l.num, problem)
		return HBARule{}, false
	}
	return rule, true
}

// rule builds a rule from the fields of a record, or says what is wrong.
func (p *hbaParser) rule(file string, line int, fields [][]hbaToken) (HBARule, string) {
	if v := fields[0][0].val; hbaIsInclude(v) {
		return HBARule{}, v + " records are not supported"
	}
	typ, problem := hbaSingle(fields[0], "connection type")
	if problem != "" {
		return HBARule{}, problem
	}
	switch typ.val {
	case "local", "host", "hostssl", "hostnossl":
	case "hostgssenc", "hostnogssenc":
		return HBARule{}, "connection type " + typ.val + " is not supported: pgpooler does not do GSSAPI encryption (use host, hostssl or hostnossl)"
	default:
		return HBARule{}, "invalid connection type " + hbaShow(typ.val) + " (expected local, host, hostssl or hostnossl)"
	}
	rule := HBARule{File: file, Line: line, Type: typ.val}
	rest := fields[1:]

	if len(rest) == 0 {
		return HBARule{}, "the line ends before the database column"
	}
	if rule.Databases, problem = p.names(file, rest[0], false); problem != "" {
		return HBARule{}, problem
	}
	rest = rest[1:]
	if len(rest) == 0 {
		return HBARule{}, "the line ends before the user column"
	}
	if rule.Users, problem = p.names(file, rest[0], true); problem != "" {
		return HBARule{}, problem
	}
	rest = rest[1:]

	if rule.Type != "local" {
		if len(rest) == 0 {
			return HBARule{}, "the line ends before the address column"
		}
		var used int
		if used, problem = hbaAddress(&rule, rest); problem != "" {
			return HBARule{}, problem
		}
		rest = rest[used:]
	}

	if len(rest) == 0 {
		return HBARule{}, "the line ends before the authentication method"
	}
	method, problem := hbaSingle(rest[0], "authentication method")
	if problem != "" {
		return HBARule{}, problem
	}
	switch rule.Method = method.val; rule.Method {
	case "trust", "reject", "md5", "scram-sha-256", "password":
	case "cert":
		if rule.Type != "hostssl" {
			return HBARule{}, "cert authentication is only supported on hostssl lines"
		}
	case "peer":
		if rule.Type != "local" {
			return HBARule{}, "peer authentication is only supported on local lines"
		}
	case "ident", "gss", "sspi", "ldap", "radius", "pam", "bsd", "oauth":
		return HBARule{}, "method " + rule.Method + " is not supported"
	default:
		return HBARule{}, "invalid authentication method " + hbaShow(rule.Method) +
			" (expected trust, reject, md5, scram-sha-256, password, cert or peer)"
	}
	if len(rest) > 1 {
		t := rest[1][0]
		opt, _, ok := strings.Cut(t.val, "=")
		if !ok {
			return HBARule{}, hbaShow(t.val) + " after the authentication method is not an option of the form name=value"
		}
		return HBARule{}, "authentication option " + hbaShow(opt) + " is not supported"
	}
	return rule, ""
}

// hbaIsInclude tells the first word of PostgreSQL 16's include records.
func hbaIsInclude(v string) bool {
	return v == "include" || v == "include_if_exists" || v == "include_dir"
}

// hbaSingle returns the one item of a column that holds no list.
func hbaSingle(field []hbaToken, column string) (hbaToken, string) {
	if len(field) > 1 {
		return hbaToken{}, "multiple values in the " + column + " column"
	}
	t := field[0]
	if !t.quoted && len(t.val) > 1 && t.val[0] == '@' {
		return hbaToken{}, "@file in the " + column + " column: @file is only allowed in the database and user columns"
	}
	return t, ""
}

// hbaAddress parses the address of a host* rule from the first of fields,
// and its netmask from the second if the address has no /bits. It returns
// how many fields it used.
func hbaAddress(rule *HBARule, fields [][]hbaToken) (int, string) {
	tok, problem := hbaSingle(fields[0], "address")
	if problem != "" {
		return 0, problem
	}
	s := tok.val
	if !tok.quoted {
		switch s {
		case "all":
			rule.AllAddrs = true
			return 1, ""
		case "samehost", "samenet":
			return 0, "address " + s + " is not supported"
		}
	}
	ip, bits, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return 0, "address " + hbaShow(s) + " is not an IP address or CIDR range: host names are not supported"
	case addr.Zone() != "":
		return 0, "address " + hbaShow(s) + " has an IPv6 zone, which is not supported"
	case hasBits:
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > addr.BitLen() || bits != strconv.Itoa(n) {
			return 0, "invalid CIDR mask in address " + hbaShow(s)
		}
		rule.Prefix = hbaUnmapPrefix(netip.PrefixFrom(addr, n).Masked())
		return 1, ""
	}
	if len(fields) < 2 {
		return 0, "the line ends before the netmask column (write the address as CIDR, such as 10.0.0.0/8, or follow it with a netmask)"
	}
	mtok, problem := hbaSingle(fields[1], "netmask")
	if problem != "" {
		return 0, problem
	}
	mask, err := netip.ParseAddr(mtok.val)
	if err != nil || mask.Zone() != "" {
		return 0, "invalid netmask " + hbaShow(mtok.val)
	}
	if mask.Is4() != addr.Is4() {
		return 0, "IP address " + hbaShow(s) + " and netmask " + hbaShow(mtok.val) + " are not of the same family"
	}
	n, ok := hbaMaskBits(mask)
	if !ok {
		return 0, "netmask " + hbaShow(mtok.val) + " is not contiguous (write the range as CIDR)"
	}
	rule.Prefix = hbaUnmapPrefix(netip.PrefixFrom(addr, n).Masked())
	return 2, ""
}

// hbaMaskBits counts the leading ones of a netmask; false if ones follow a
// zero.
func hbaMaskBits(mask netip.Addr) (int, bool) {
	n, zero := 0, false
	for _, b := range mask.AsSlice() {
		for i := 7; i >= 0; i-- {
			switch {
			case b&(1<<i) == 0:
				zero = true
			case zero:
				return 0, false
			default:
				n++
			}
		}
	}
	return n, true
}

// names expands @files in the database column (user false) or user column
// (user true) and writes each name in the canonical form HBARule
// describes.
func (p *hbaParser) names(file string, toks []hbaToken, user bool) ([]string, string) {
	column := "database"
	if user {
		column = "user"
	}
	toks, problem := p.expand(file, toks, nil, 0, nil, nil)
	if problem != "" {
		return nil, problem
	}
	if len(toks) == 0 {
		return nil, "the " + column + " column lists no names: its @files are empty"
	}
	out := make([]string, 0, len(toks))
	for _, t := range toks {
		v := t.val
		switch {
		case v == "":
			return nil, "empty " + column + " name"
		case user && !t.quoted && v == "+":
			return nil, `"+" must be followed by a role name`
		case v[0] == '/':
			return nil, column + " " + hbaShow(v) + ` starts with "/": regular expressions are not supported`
		}
		out = append(out, hbaCanonical(t, user))
	}
	return out, ""
}

// hbaCanonical writes a database (user false) or user name as HBARule
// keeps it.
func hbaCanonical(t hbaToken, user bool) string {
	switch {
	case t.quoted:
		return hbaQuote(t.val)
	case user && t.val[0] == '+':
		if role := t.val[1:]; hbaNeedsQuote(role) {
			return "+" + hbaQuote(role)
		}
		return t.val
	case !user && t.val == "samegroup":
		return "samerole"
	case hbaNeedsQuote(t.val):
		return hbaQuote(t.val)
	}
	return t.val
}

// hbaNeedsQuote reports whether a name must be quoted to be read back as
// one plain item.
func hbaNeedsQuote(s string) bool {
	return s == "" || strings.ContainsAny(s, " \t\r,\"#")
}

// expand appends toks to out with each @file item replaced by the names
// its file lists. referrer is the file the items come from, paths the
// resolved names of their @files (nil: resolve them here), depth its @file
// depth (0 for the hba file) and stack the @files being expanded.
func (p *hbaParser) expand(referrer string, toks []hbaToken, paths []string, depth int, stack []string, out []hbaToken) ([]hbaToken, string) {
	for i, t := range toks {
		isRef := !t.quoted && strings.HasPrefix(t.val, "@")
		if depth > 0 || isRef {
			if p.spliced++; p.spliced > hbaMaxSplicedNames {
				return out, fmt.Sprintf("@files add more than %d names in all", hbaMaxSplicedNames)
			}
		}
		if !isRef {
			out = append(out, t)
			continue
		}
		ref := t.val[1:]
		if ref == "" {
			return out, `"@" must be followed by a file name`
		}
		if depth == hbaMaxDepth {
			return out, fmt.Sprintf("@file %s: @files nest deeper than %d", hbaShow(ref), hbaMaxDepth)
		}
		var path string
		if paths != nil {
			path = paths[i]
		} else {
			path = hbaResolve(referrer, ref)
		}
		if slices.Contains(stack, path) {
			return out, "@file " + hbaShow(path) + " includes itself"
		}
		af := p.atFile(path)
		if af.problem != "" {
			return out, af.problem
		}
		var problem string
		if out, problem = p.expand(path, af.toks, af.paths, depth+1, append(stack, path), out); problem != "" {
			return out, problem
		}
	}
	return out, ""
}

// atFile reads and splits the @file at path, once per parse.
func (p *hbaParser) atFile(path string) *hbaAtFile {
	if af, ok := p.files[path]; ok {
		return af
	}
	af := &hbaAtFile{}
	p.files[path] = af
	if p.readFile == nil {
		af.problem = "@file " + hbaShow(path) + ": @file is not supported here (no way to read files)"
		return af
	}
	data, err := p.readFile(path)
	switch {
	case err != nil:
		af.problem = "cannot read @file " + hbaShow(path) + ": " + err.Error()
		return af
	case len(data) > hbaMaxAtFileSize:
		af.problem = fmt.Sprintf("@file %s is larger than %d bytes", hbaShow(path), hbaMaxAtFileSize)
		return af
	}
	lr := newHBALineReader(bytes.NewReader(data), len(data))
	for {
		l, ok := lr.next()
		if !ok {
			break
		}
		problem := l.problem
		var fields [][]hbaToken
		if problem == "" {
			fields, problem = hbaSplit(l.text)
		}
		if problem == "" && len(fields) > 0 && hbaIsInclude(fields[0][0].val) {
			problem = fields[0][0].val + " records are not supported"
		}
		if problem != "" {
			p.report(path, l.num, problem)
			af.problem = "@file " + hbaShow(path) + " has errors"
			continue
		}
		for _, f := range fields {
			for _, t := range f {
				var ref string
				if !t.quoted && len(t.val) > 1 && t.val[0] == '@' {
					ref = hbaResolve(path, t.val[1:])
				}
				af.toks = append(af.toks, t)
				af.paths = append(af.paths, ref)
			}
		}
	}
	return af
}

// hbaResolve finds the @file ref named in the file referrer: an absolute
// name as it is, a relative one in referrer's directory.
func hbaResolve(referrer, ref string) string {
	if filepath.IsAbs(ref) {
		return ref
	}
	return filepath.Join(filepath.Dir(referrer), ref)
}

// hbaSplit splits a record into fields, each a list of one or more items,
// as PostgreSQL's next_token and next_field_expand do, but refusing what
// they would silently skip or take: unterminated quotes and empty items.
func hbaSplit(s string) ([][]hbaToken, string) {
	var fields [][]hbaToken
	i := hbaSkipBlanks(s, 0)
	for i < len(s) && s[i] != '#' {
		if s[i] == ',' {
			return nil, "a comma with no item before it"
		}
		var field []hbaToken
		for {
			t, next, problem := hbaReadToken(s, i)
			if problem != "" {
				return nil, problem
			}
			field = append(field, t)
			if i = next; i == len(s) || s[i] != ',' {
				break
			}
			// A list goes on after a comma, even past blanks.
			if i = hbaSkipBlanks(s, i+1); i == len(s) || s[i] == '#' {
				return nil, "a list ends with a comma"
			}
			if s[i] == ',' {
				return nil, "an empty item between commas"
			}
		}
		fields = append(fields, field)
		i = hbaSkipBlanks(s, i)
	}
	return fields, ""
}

// hbaReadToken reads the item starting at s[i], which is neither blank, a
// comma nor '#', up to an unquoted blank, comma or '#'. It returns the item
// and the index after it.
func hbaReadToken(s string, i int) (hbaToken, int, string) {
	start := i
	var b []byte // the item, once a quote makes it differ from s[start:i]
	var t hbaToken
	inQuote := false
	for i < len(s) {
		c := s[i]
		switch {
		case inQuote && c == '"' && i+1 < len(s) && s[i+1] == '"':
			b = append(b, '"')
			i += 2
			continue
		case c == '"':
			if b == nil {
				b = append([]byte{}, s[start:i]...)
			}
			if !inQuote && len(b) == 0 {
				t.quoted = true
			}
			inQuote = !inQuote
		case !inQuote && (hbaIsBlank(c) || c == ',' || c == '#'):
			if b == nil {
				t.val = s[start:i]
			} else {
				t.val = string(b)
			}
			return t, i, ""
		case b != nil:
			b = append(b, c)
		}
		i++
	}
	if inQuote {
		return hbaToken{}, i, "unterminated double quote"
	}
	if b == nil {
		t.val = s[start:i]
	} else {
		t.val = string(b)
	}
	return t, i, ""
}

// hbaIsBlank is PostgreSQL's pg_isblank: the bytes that separate fields.
func hbaIsBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\r' }

func hbaSkipBlanks(s string, i int) int {
	for i < len(s) && hbaIsBlank(s[i]) {
		i++
	}
	return i
}

// hbaLine is one record: a line, or lines joined at trailing backslashes.
type hbaLine struct {
	num     int    // the number of its first line
	text    string // without line ends and continuation backslashes
	problem string // set instead of text for a line too long or with NUL
}

// hbaLineReader reads records from a file, holding no more than about
// hbaMaxLine bytes of it at a time.
type hbaLineReader struct {
	r    *bufio.Reader
	num  int   // lines read
	err  error // the read error, other than io.EOF, that ended reading
	done bool
}

// newHBALineReader reads r, of at most size bytes if size is less than
// hbaMaxLine; the buffer holds a line of hbaMaxLine bytes and its line end.
func newHBALineReader(r io.Reader, size int) *hbaLineReader {
	return &hbaLineReader{r: bufio.NewReaderSize(r, min(size, hbaMaxLine)+16)}
}

// next returns the next record, false at the end of the file or after a
// read error (in lr.err).
func (lr *hbaLineReader) next() (hbaLine, bool) {
	text, cont, long, ok := lr.physical()
	if !ok {
		return hbaLine{}, false
	}
	l := hbaLine{num: lr.num}
	buf := append([]byte(nil), text...)
	for cont {
		// As in PostgreSQL, a continuation at the end of the file
		// ends the record.
		var tooLong bool
		if text, cont, tooLong, ok = lr.physical(); !ok {
			break
		}
		if long = long || tooLong; !long && len(buf)+len(text) <= hbaMaxLine {
			buf = append(buf, text...)
		} else {
			long, buf = true, nil
		}
	}
	switch {
	case long || len(buf) > hbaMaxLine:
		l.problem = fmt.Sprintf("the line is longer than %d bytes", hbaMaxLine)
	case bytes.IndexByte(buf, 0) >= 0:
		l.problem = "the line contains a NUL byte"
	default:
		l.text = string(buf)
	}
	return l, true
}

// physical reads one line, strips its line end ("\n", "\r\n", any trailing
// CR and LF, as PostgreSQL's pg_strip_crlf) and a final backslash, which
// it reports as cont. For a line longer than the buffer it returns no text
// and long. text is valid until the next read.
func (lr *hbaLineReader) physical() (text []byte, cont, long, ok bool) {
	if lr.done {
		return nil, false, false, false
	}
	var last byte // the last byte of a long line before its line end
	chunk, err := lr.r.ReadSlice('\n')
	for err == bufio.ErrBufferFull {
		long = true
		if t := bytes.TrimRight(chunk, "\r\n"); len(t) > 0 {
			last = t[len(t)-1]
		}
		chunk, err = lr.r.ReadSlice('\n')
	}
	if err != nil {
		lr.done = true
		if err != io.EOF {
			lr.err = err
			return nil, false, false, false
		}
		if len(chunk) == 0 && !long {
			return nil, false, false, false
		}
	}
	lr.num++
	text = bytes.TrimRight(chunk, "\r\n")
	if long {
		if len(text) > 0 {
			last = text[len(text)-1]
		}
		return nil, last == '\\', true, true
	}
	if n := len(text); n > 0 && text[n-1] == '\\' {
		return text[:n-1], true, false, true
	}
	return text, false, false, true
}
