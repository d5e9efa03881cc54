package auth

import (
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// HBA is a parsed auth_hba_file: the rules of a pg_hba.conf subset in file
// order, the first that matches a connection deciding how it authenticates
// (PostgreSQL docs, "The pg_hba.conf File"). Build one with [LoadHBA] or
// [ParseHBA]; it is not changed afterwards and is safe for concurrent use.
// A nil *HBA has no rules.
type HBA struct {
	// Rules are the rules in file order.
	Rules []HBARule

	name string // the file's name, for String
}

// HBARule is one record of an hba file:
//
//	local      DATABASE USER         METHOD
//	host       DATABASE USER ADDRESS METHOD
//	hostssl    DATABASE USER ADDRESS METHOD
//	hostnossl  DATABASE USER ADDRESS METHOD
//
// ParseHBA writes every name in Databases and Users in one canonical form,
// which Match reads back:
//
//   - a keyword is bare: "all", "sameuser", "samerole" and "replication" in
//     Databases ("samegroup", PostgreSQL's old spelling, is stored as
//     "samerole"), "all" in Users;
//   - a role in Users is "+" and the role's name, e.g. "+admins", quoted
//     as below if need be, e.g. "+\"on call\"": it matches the members of
//     the role;
//   - any other name is bare when it can be, e.g. "sales", and is in double
//     quotes, with "" for a quote inside, when it was quoted in the file
//     (so "\"all\"" is the database named all, not the keyword) or holds a
//     blank, comma, '#' or '"'. A quoted "+x" in Users is the user named +x.
//
// @file references are already replaced by the names their files list.
// A leading '+' is special in Users only.
type HBARule struct {
	// File and Line tell where the rule was written, for logs. Line is
	// the first line of the record when it is continued with backslashes.
	File string
	Line int

	// Type is "local" (the Unix socket), "host" (any TCP connection),
	// "hostssl" (TCP with TLS) or "hostnossl" (TCP without TLS).
	Type string

	// Databases lists the databases the rule applies to; see above for
	// its form. It is never empty in a parsed rule.
	Databases []string

	// Users lists the users the rule applies to; see above for its form.
	// It is never empty in a parsed rule.
	Users []string

	// Prefix is the client address range of a host* rule. ParseHBA
	// stores it masked ("10.1.2.3/8" becomes 10.0.0.0/8) and writes an
	// IPv4-mapped IPv6 range of 96 bits or more as the IPv4 range it
	// maps. It is the zero Prefix for local rules and when AllAddrs is
	// set.
	Prefix netip.Prefix

	// AllAddrs is set for a host* rule whose address is "all".
	AllAddrs bool

	// Method is how a matching client authenticates: "trust", "reject",
	// "md5", "scram-sha-256", "cert" (hostssl rules only), "password" or
	// "peer" (local rules only: the client's OS user name, from the Unix
	// socket's peer credentials, must be its user name).
	Method string
}

// HBARequest describes a connection to be matched against an [HBA].
type HBARequest struct {
	// Local is set when the client arrived over the Unix socket.
	Local bool
	// Addr is the client's IP address for TCP connections. An
	// IPv4-mapped IPv6 address matches IPv4 rules; a zone is ignored.
	Addr netip.Addr
	// TLS is set when the connection is encrypted.
	TLS bool
	// Database and User are as the client's StartupMessage names them.
	Database string
	User     string
}

// LoadHBA reads the auth_hba_file at path; see [ParseHBA]. A relative
// @file name is read from the directory of the file that names it, so
// @users.txt in /etc/pgpooler/hba.conf is /etc/pgpooler/users.txt.
// An error opening path is an *fs.PathError; parse errors are as
// ParseHBA returns them.
func LoadHBA(path string) (*HBA, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err // *fs.PathError names the file
	}
	defer f.Close()
	return ParseHBA(f, path, readHBAIncludedFile)
}

// readHBAIncludedFile reads an @file for LoadHBA, reading no more than one
// byte past the size ParseHBA accepts.
func readHBAIncludedFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, hbaMaxAtFileSize+1))
}

// Match returns the first rule that matches req and true, or nil and false
// when none does; the caller then rejects the connection, as PostgreSQL
// does when there is "no pg_hba.conf entry". The returned rule belongs to
// h and must not be changed.
//
// A rule matches, as in PostgreSQL's check_hba, when all of these hold:
//
//   - its Type fits the connection: local for req.Local, host for any TCP
//     connection, hostssl with req.TLS, hostnossl without;
//   - for host* rules, AllAddrs is set or Prefix contains req.Addr (an
//     invalid req.Addr matches only AllAddrs rules);
//   - one of Databases matches: all matches any database; sameuser when
//     Database equals User; samerole when User is a member of the role
//     named like the database; replication never (pgpooler serves no
//     replication connections); a name when it equals Database;
//   - one of Users matches: all matches any user; "+role" when User is a
//     member of role; a name when it equals User.
//
// member reports whether user is a member of role, directly or not. A
// role counts as a member of itself, as in PostgreSQL, and member is not
// asked about that; it is asked only when no other name in the list
// matches, so a list such as "alice,+admins" does not call it for alice.
// A nil member means membership is unknown: samerole and "+role" then never
// match, not even for user == role.
func (h *HBA) Match(req HBARequest, member func(user, role string) bool) (*HBARule, bool) {
	if h == nil {
		return nil, false
	}
	for i := range h.Rules {
		r := &h.Rules[i]
		if r.matchConn(req) && r.matchDatabase(req, member) && r.matchUser(req, member) {
			return r, true
		}
	}
	return nil, false
}

// String describes h as "hba file <name>: N rules".
func (h *HBA) String() string {
	if h == nil {
		return "hba file : 0 rules"
	}
	return "hba file " + h.name + ": " + strconv.Itoa(len(h.Rules)) + " rules"
}

// String shows the rule as a line of an hba file, after where it was
// written, e.g. "pg_hba.conf:3: host all +admins 10.0.0.0/8 md5". The line
// text parses back to the same rule.
func (r HBARule) String() string {
	text := r.text()
	if r.File == "" && r.Line == 0 {
		return text
	}
	return r.File + ":" + strconv.Itoa(r.Line) + ": " + text
}

// text is the rule written as a line of an hba file.
func (r HBARule) text() string {
	var b strings.Builder
	b.WriteString(r.Type)
	b.WriteByte(' ')
	b.WriteString(strings.Join(r.Databases, ","))
	b.WriteByte(' ')
	b.WriteString(strings.Join(r.Users, ","))
	if r.Type != "local" {
		b.WriteByte(' ')
		if r.AllAddrs {
			b.WriteString("all")
		} else {
			b.WriteString(r.Prefix.String())
		}
	}
	b.WriteByte(' ')
	b.WriteString(r.Method)
	return b.String()
}

// matchConn checks the connection type and the client address.
func (r *HBARule) matchConn(req HBARequest) bool {
	switch r.Type {
	case "local":
		return req.Local
	case "host":
	case "hostssl":
		if !req.TLS {
			return false
		}
	case "hostnossl":
		if req.TLS {
			return false
		}
	default:
		return false
	}
	if req.Local {
		return false
	}
	if r.AllAddrs {
		return true
	}
	p := hbaUnmapPrefix(r.Prefix)
	return p.IsValid() && p.Contains(req.Addr.Unmap().WithZone(""))
}

// matchDatabase checks the database column. Names that need no membership
// test are tried first, so that member is asked only when they fail.
func (r *HBARule) matchDatabase(req HBARequest, member func(user, role string) bool) bool {
	samerole := false
	for _, d := range r.Databases {
		switch d {
		case "all":
			return true
		case "sameuser":
			if req.Database == req.User {
				return true
			}
		case "samerole", "samegroup":
			samerole = true
		case "replication":
			// Only replication connections, which pgpooler never serves.
		default:
			if hbaNameIs(d, req.Database) {
				return true
			}
		}
	}
	return samerole && hbaIsMember(req.User, req.Database, member)
}

// matchUser checks the user column, roles last.
func (r *HBARule) matchUser(req HBARequest, member func(user, role string) bool) bool {
	roles := false
	for _, u := range r.Users {
		switch {
		case u == "all":
			return true
		case strings.HasPrefix(u, "+"):
			roles = true
		case hbaNameIs(u, req.User):
			return true
		}
	}
	if !roles || member == nil {
		return false
	}
	for _, u := range r.Users {
		if role, ok := strings.CutPrefix(u, "+"); ok && hbaIsMember(req.User, hbaUnquote(role), member) {
			return true
		}
	}
	return false
}

// hbaIsMember reports whether user is a member of role: itself, or as
// member says; never when member is nil.
func hbaIsMember(user, role string, member func(user, role string) bool) bool {
	if member == nil {
		return false
	}
	return user == role || member(user, role)
}

// hbaNameIs reports whether the canonical name elem (bare, or in double
// quotes with "" for a quote) stands for name. It allocates only for a
// quoted name holding a quote.
func hbaNameIs(elem, name string) bool {
	if len(elem) < 2 || elem[0] != '"' || elem[len(elem)-1] != '"' {
		return elem == name
	}
	body := elem[1 : len(elem)-1]
	if !strings.Contains(body, `"`) {
		return body == name
	}
	return strings.ReplaceAll(body, `""`, `"`) == name
}

// hbaUnquote returns the name a canonical name stands for.
func hbaUnquote(elem string) string {
	if len(elem) < 2 || elem[0] != '"' || elem[len(elem)-1] != '"' {
		return elem
	}
	return strings.ReplaceAll(elem[1:len(elem)-1], `""`, `"`)
}

// hbaQuote writes s in double quotes, doubling the quotes inside it.
func hbaQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// hbaUnmapPrefix writes an IPv4-mapped IPv6 prefix of at least 96 bits
// (::ffff:10.0.0.0/104) as the IPv4 prefix it maps (10.0.0.0/8), since
// Match compares IPv4 clients in their IPv4 form. Others are unchanged.
func hbaUnmapPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), p.Bits()-96).Masked()
	}
	return p
}
