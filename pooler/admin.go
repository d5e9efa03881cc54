package pooler

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/config"
)

// The admin console (PgBouncer doc/usage.md, "Admin console"; src/admin.c) is a virtual database whose
// "server" is the pooler itself: `psql -p 6432 -U admin pgbouncer -c 'SHOW POOLS'`; "pgpooler" is an
// alias. It takes that name whatever [databases] says.
//
// Clients log in to it as to any database: auth_type, auth_file and auth_hba_file apply, hba rules
// matching the database name as asked for. auth_query runs on auth_dbname, so console users need an
// auth_dbname, or an auth_file entry, unless the server has a database named like the console. After
// authentication the user must be in admin_users (every command) or stats_users (SHOW and the probes),
// or the login fails with FATAL 42501. PgBouncer's exceptions (the user pgbouncer over the Unix socket
// from the pooler's own OS user, any user with auth_type any) do not exist here; with auth_type trust,
// anyone who claims a listed name is in, as in PgBouncer.
//
// It speaks the simple query protocol only (an extended-protocol message is answered FATAL 08P01 and
// closes the connection, as PgBouncer does). Its connections do not count against max_client_conn, and
// client_idle_timeout applies to them.

// adminDatabase is the console's database name; adminAlias is pgpooler's own name for it.
const (
	adminDatabase = "pgbouncer"
	adminAlias    = "pgpooler"
)

// pgbouncerVersion is the PgBouncer release whose console the admin console follows (commands, columns
// and their types).
const pgbouncerVersion = "1.25.0"

// isAdminDatabase reports whether a client's start-up parameters ask for the admin console.
func isAdminDatabase(params map[string]string) bool {
	db := params["database"]
	if db == "" {
		db = params["user"]
	}
	return isAdminName(db)
}

func isAdminName(db string) bool { return db == adminDatabase || db == adminAlias }

// adminSession is a logged-in admin console client.
type adminSession struct {
	c     *clientConn
	admin bool // in admin_users: every command; else a stats_users member: SHOW and probes only
}

// serveAdmin runs an admin console connection from its StartupMessage to its end: login, then the
// console's commands. It always returns a non-nil error (errQuiet when the client said Terminate), so
// that serve never runs the relay for it.
func (c *clientConn) serveAdmin(st *pgwire.Startup) error {
	err := c.runAdmin(st)
	if err == nil {
		err = errQuiet
	}
	return err
}

// runAdmin logs the console client in and serves its queries.
func (c *clientConn) runAdmin(st *pgwire.Startup) error {
	cfg := c.s.config()
	c.user = st.Params["user"]
	if c.user == "" {
		return pgwire.NewFatal(pgerrcode.InvalidAuthorizationSpecification, "no PostgreSQL user name specified in startup packet")
	}
	c.database = st.Params["database"]
	if c.database == "" {
		c.database = c.user
	}
	c.s.mu.Lock()
	if c.s.closing {
		c.s.mu.Unlock()
		return pgwire.NewFatal(pgerrcode.CannotConnectNow, "pgpooler is shutting down")
	}
	c.s.clients[c] = struct{}{}
	c.s.mu.Unlock()

	if err := c.authenticate(cfg); err != nil {
		return err
	}
	a := &adminSession{c: c, admin: config.InList(cfg.Pooler.AdminUsers, c.identity.User)}
	if !a.admin && !config.InList(cfg.Pooler.StatsUsers, c.identity.User) {
		c.logRefused("not in admin_users or stats_users")
		return pgwire.NewFatal(pgerrcode.InsufficientPrivilege, "user %q is not allowed to use the admin console (not in admin_users or stats_users)", c.user)
	}
	_ = c.conn.SetDeadline(time.Time{}) // client_login_timeout is over
	c.mu.Lock()
	c.loggedIn = true
	c.params = map[string]string{"application_name": st.Params["application_name"]}
	c.mu.Unlock()
	c.s.cancelKeys.register(c)
	if cfg.Pooler.LogConnections {
		role := "stats_users"
		if a.admin {
			role = "admin_users"
		}
		c.s.logger.Info("admin console connected", "client", c.id, "addr", c.remote, "user", c.user, "as", role)
	}
	if err := a.sendWelcome(st); err != nil {
		return errQuiet
	}
	return a.run()
}

// sendWelcome sends what PgBouncer's console greets with (src/admin.c, admin_setup): AuthenticationOk, a
// fixed set of ParameterStatus, BackendKeyData and ReadyForQuery.
func (a *adminSession) sendWelcome(st *pgwire.Startup) error {
	var buf []byte
	if st.MinorVersion() > 0 || len(st.ProtocolOptions) > 0 {
		buf, _ = (&pgproto3.NegotiateProtocolVersion{NewestMinorProtocol: 0, UnrecognizedOptions: st.ProtocolOptions}).Encode(buf)
	}
	buf, _ = (&pgproto3.AuthenticationOk{}).Encode(buf)
	for _, p := range [][2]string{
		{"server_version", pgbouncerVersion + "/pgpooler"},
		{"client_encoding", "UTF8"},
		{"server_encoding", "UTF8"},
		{"DateStyle", "ISO"},
		{"TimeZone", "GMT"},
		{"standard_conforming_strings", "on"},
		{"is_superuser", "on"},
	} {
		buf, _ = (&pgproto3.ParameterStatus{Name: p[0], Value: p[1]}).Encode(buf)
	}
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: a.c.cancelPID, SecretKey: a.c.cancelKey}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
	return a.write(buf)
}

// write sends buf to the client.
func (a *adminSession) write(buf []byte) error {
	a.c.wmu.Lock()
	defer a.c.wmu.Unlock()
	if err := a.c.wr.Write(buf); err != nil {
		return err
	}
	return a.c.wr.Flush()
}

// errAdminExtended is the answer to the extended query protocol, after which the console closes, as
// PgBouncer's does.
func errAdminExtended() *pgwire.Error {
	return pgwire.NewFatal(pgerrcode.ProtocolViolation, "extended query protocol not supported by the admin console (use the simple query protocol, e.g. psql, or pgx's QueryExecModeSimpleProtocol)")
}

// run reads the client's queries and answers them until it leaves. client_idle_timeout applies.
func (a *adminSession) run() error {
	c := a.c
	for {
		if !c.rd.HasMessage() {
			c.setIdleDeadline()
		}
		typ, _, err := c.rd.Next()
		if err != nil {
			return c.readError(err)
		}
		switch typ {
		case 'Q':
		case 'X':
			return errQuiet
		case 'P', 'B', 'E', 'D', 'S', 'H', 'C':
			return errAdminExtended()
		default:
			return pgwire.ProtocolViolation("unsupported message type %q for the admin console", typ)
		}
		msg, err := c.rd.ReadMsg()
		if err != nil {
			return c.readError(err)
		}
		body := msg[pgwire.HeaderSize:]
		end := bytes.IndexByte(body, 0)
		if end < 0 {
			return pgwire.ProtocolViolation("malformed Query message: no terminating zero byte")
		}
		out, fatal := a.exec(string(body[:end]))
		if err := a.write(out); err != nil {
			return errQuiet
		}
		if fatal != nil {
			return fatal
		}
	}
}

// exec answers one query: its results (or an ErrorResponse) and ReadyForQuery. A FATAL error from a
// control command is returned instead, to end the session with.
func (a *adminSession) exec(q string) (out []byte, fatal *pgwire.Error) {
	out, err := a.answer(q)
	if err != nil {
		var pe *pgwire.Error
		if !errors.As(err, &pe) {
			pe = pgwire.NewError(pgerrcode.InternalError, "%v", err)
		}
		if pe.Severity == pgwire.SeverityFatal {
			return nil, pe
		}
		a.c.s.logger.Debug("admin console error", "client", a.c.id, "user", a.c.user, "error", pe.Message)
		out = pe.AppendTo(nil)
	}
	out, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(out)
	return out, nil
}

// errInvalidCommand is PgBouncer's answer to a query outside the console's grammar, with SQLSTATE 42601
// syntax_error (PgBouncer sends 08P01 for every console error).
func errInvalidCommand(q string) *pgwire.Error {
	q = strings.ToValidUTF8(q, "?")
	if len(q) > 200 {
		q = strings.ToValidUTF8(q[:200], "") + "..."
	}
	return pgwire.NewError(pgerrcode.SyntaxError, "invalid command '%s', use SHOW HELP;", q)
}

// errAdminNeeded is PgBouncer's answer to a stats user's control command, with SQLSTATE 42501.
func errAdminNeeded() *pgwire.Error {
	return pgwire.NewError(pgerrcode.InsufficientPrivilege, "admin access needed")
}

// adminComplete appends CommandComplete with tag.
func adminComplete(buf []byte, tag string) []byte {
	buf, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(buf)
	return buf
}

// answer runs one query and returns its messages up to CommandComplete (or EmptyQueryResponse).
func (a *adminSession) answer(q string) ([]byte, error) {
	st, ok := parseAdmin(q)
	if !ok {
		return nil, errInvalidCommand(q)
	}
	switch {
	case st.empty:
		buf, _ := (&pgproto3.EmptyQueryResponse{}).Encode(nil)
		return buf, nil
	case st.probe == "version":
		t := newTable([]adminCol{colText("version")})
		t.add(versionString())
		return adminComplete(t.appendTo(nil), "SELECT 1"), nil
	case st.cmd == "select" && st.arg == "1":
		t := newTable([]adminCol{colInt4("?column?")})
		t.add(1)
		return adminComplete(t.appendTo(nil), "SELECT 1"), nil
	case st.cmd == "show" || st.cmd == "select":
		return a.show(q, st.arg)
	case st.cmd == "set":
		return a.set(st.arg, st.value)
	}
	spec, ok := adminCommands[st.cmd]
	if !ok {
		return nil, errInvalidCommand(q)
	}
	return a.control(q, spec, st.arg)
}

// adminCommand describes a process-controlling command's argument.
type adminCommand struct {
	tag   string
	arg   adminArg
	modes []string // adminArgMode: the accepted arguments, upper-case
}

type adminArg uint8

const (
	adminArgOptional adminArg = iota // [db]
	adminArgNone                     // no argument: one is a syntax error
	adminArgRequired                 // <db>
	adminArgID                       // <client_id>
	adminArgMode                     // one of modes, or none
)

// adminCommands are the process-controlling commands (PgBouncer doc/usage.md). Their work is
// Server.adminControl's; the console checks their syntax and that the client is in admin_users.
var adminCommands = map[string]adminCommand{
	"pause":       {tag: "PAUSE", arg: adminArgOptional},
	"resume":      {tag: "RESUME", arg: adminArgOptional},
	"suspend":     {tag: "SUSPEND", arg: adminArgNone},
	"wait_close":  {tag: "WAIT_CLOSE", arg: adminArgOptional},
	"disable":     {tag: "DISABLE", arg: adminArgRequired},
	"enable":      {tag: "ENABLE", arg: adminArgRequired},
	"reconnect":   {tag: "RECONNECT", arg: adminArgOptional},
	"kill":        {tag: "KILL", arg: adminArgOptional},
	"kill_client": {tag: "KILL_CLIENT", arg: adminArgID},
	"shutdown":    {tag: "SHUTDOWN", arg: adminArgMode, modes: []string{"WAIT_FOR_CLIENTS", "WAIT_FOR_SERVERS"}},
	"reload":      {tag: "RELOAD", arg: adminArgNone},
}

// control checks a process-controlling command and runs it, in PgBouncer's order: a malformed
// argument of RELOAD, SUSPEND and SHUTDOWN is a syntax error for anyone; then admin_users is checked;
// then a missing database or a malformed client ID.
func (a *adminSession) control(q string, spec adminCommand, arg string) ([]byte, error) {
	switch spec.arg {
	case adminArgNone:
		if arg != "" {
			return nil, errInvalidCommand(q)
		}
	case adminArgMode:
		if arg != "" {
			mode := strings.ToUpper(arg)
			found := false
			for _, m := range spec.modes {
				found = found || m == mode
			}
			if !found {
				return nil, errInvalidCommand(q)
			}
			arg = mode
		}
	}
	if !a.admin {
		return nil, errAdminNeeded()
	}
	switch spec.arg {
	case adminArgRequired:
		if arg == "" {
			return nil, pgwire.NewError(pgerrcode.SyntaxError, "a database is required")
		}
	case adminArgID:
		if _, err := strconv.ParseUint(arg, 10, 64); err != nil {
			return nil, pgwire.NewError(pgerrcode.SyntaxError, "invalid client pointer supplied")
		}
	}
	a.c.s.logger.Info("admin console command", "client", a.c.id, "user", a.c.user, "command", spec.tag, "arg", arg)
	notes, err := a.c.s.adminControl(spec.tag, arg)
	if err != nil {
		return nil, err
	}
	return adminComplete(adminNotices(notes), spec.tag), nil
}

// adminNotices encodes each note as a NoticeResponse.
func adminNotices(notes []string) []byte {
	var buf []byte
	for _, n := range notes {
		buf, _ = (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: n}).Encode(buf)
	}
	return buf
}

// adminFakeParams are the settings PgBouncer's console pretends to have, for drivers that SHOW or SET them
// (src/admin.c, fake_param_list). SET of one is accepted and ignored.
var adminFakeParams = []struct{ name, value string }{
	{"client_encoding", "UTF8"},
	{"default_transaction_isolation", "read committed"},
	{"standard_conforming_strings", "on"},
	{"datestyle", "ISO"},
	{"timezone", "GMT"},
}

func adminFakeParam(name string) (string, string, bool) {
	for _, p := range adminFakeParams {
		if strings.EqualFold(p.name, name) {
			return p.name, p.value, true
		}
	}
	return "", "", false
}

// set answers SET: ignored with a NOTICE for a fake parameter (anyone may), else Server.adminControl's
// work (admin_users only).
func (a *adminSession) set(key, value string) ([]byte, error) {
	if _, _, ok := adminFakeParam(key); ok {
		buf, _ := (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "SET ignored"}).Encode(nil)
		return adminComplete(buf, "SET"), nil
	}
	if !a.admin {
		return nil, errAdminNeeded()
	}
	a.c.s.logger.Info("admin console command", "client", a.c.id, "user", a.c.user, "command", "SET", "key", key)
	notes, err := a.c.s.adminControl("SET", key+"="+value)
	if err != nil {
		return nil, err
	}
	return adminComplete(adminNotices(notes), fmt.Sprintf("SET %s=%s", key, value)), nil
}
