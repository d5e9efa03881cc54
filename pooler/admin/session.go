package admin

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// Database is the console's database name; Alias is pgpooler's own name for it.
const (
	Database = "pgbouncer"
	Alias    = "pgpooler"
)

// pgbouncerVersion is the PgBouncer release whose console the admin console follows (commands, columns
// and their types).
const pgbouncerVersion = "1.25.0"

// IsName reports whether db names the console.
func IsName(db string) bool { return db == Database || db == Alias }

// Session is one logged-in console client: who it is and what it talks to.
type Session struct {
	Server   Server       // the pooler it controls
	Logger   *slog.Logger // commands at Info, errors at Debug
	Sizes    MemSizes     // for SHOW MEM
	ClientID uint64       // its SHOW CLIENTS id, for the log
	User     string       // the user it logged in as, for the log
	// Admin is true for a member of admin_users (every command); false for a stats_users member (SHOW
	// and the probes only).
	Admin bool
}

// Welcome is what PgBouncer's console greets a logged-in client with (src/admin.c, admin_setup):
// NegotiateProtocolVersion if st asked for a version pgpooler does not speak or for protocol options
// (pgwire.Startup.AppendNegotiation), AuthenticationOk, a fixed set of ParameterStatus, BackendKeyData
// with pid and key (as long as the protocol spoken wants: Startup.CancelKeyLen), and ReadyForQuery.
func Welcome(st *pgwire.Startup, pid uint32, key []byte) []byte {
	buf := st.AppendNegotiation(nil)
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
	buf, _ = (&pgproto3.BackendKeyData{ProcessID: pid, SecretKey: key}).Encode(buf)
	buf, _ = (&pgproto3.ReadyForQuery{TxStatus: 'I'}).Encode(buf)
	return buf
}

// ErrExtended is the answer to the extended query protocol, after which the console closes, as
// PgBouncer's does: FATAL 08P01.
func ErrExtended() *pgwire.Error {
	return pgwire.NewFatal(pgerrcode.ProtocolViolation, "extended query protocol not supported by the admin console (use the simple query protocol, e.g. psql, or pgx's QueryExecModeSimpleProtocol)")
}

// Exec answers one query, the text of a Query message: its results (or an ErrorResponse) and
// ReadyForQuery. A FATAL error from a control command is returned instead, to end the session with.
// ctx bounds the commands that wait (PAUSE, WAIT_CLOSE): the pooler's lifetime.
func (s *Session) Exec(ctx context.Context, q string) (out []byte, fatal *pgwire.Error) {
	out, err := s.answer(ctx, q)
	if err != nil {
		var pe *pgwire.Error
		if !errors.As(err, &pe) {
			pe = pgwire.NewError(pgerrcode.InternalError, "%v", err)
		}
		if pe.Severity == pgwire.SeverityFatal {
			return nil, pe
		}
		s.Logger.Debug("admin console error", "client", s.ClientID, "user", s.User, "error", pe.Message)
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

// complete appends CommandComplete with tag.
func complete(buf []byte, tag string) []byte {
	buf, _ = (&pgproto3.CommandComplete{CommandTag: []byte(tag)}).Encode(buf)
	return buf
}

// answer runs one query and returns its messages up to CommandComplete (or EmptyQueryResponse).
func (s *Session) answer(ctx context.Context, q string) ([]byte, error) {
	st, ok := parse(q)
	if !ok {
		return nil, errInvalidCommand(q)
	}
	switch {
	case st.empty:
		buf, _ := (&pgproto3.EmptyQueryResponse{}).Encode(nil)
		return buf, nil
	case st.probe == "version":
		t := newTable([]column{colText("version")})
		t.add(versionString())
		return complete(t.appendTo(nil), "SELECT 1"), nil
	case st.cmd == "select" && st.arg == "1":
		t := newTable([]column{colInt4("?column?")})
		t.add(1)
		return complete(t.appendTo(nil), "SELECT 1"), nil
	case st.cmd == "show" || st.cmd == "select":
		return s.show(q, st.arg)
	case st.cmd == "set":
		return s.set(st.arg, st.value)
	}
	spec, ok := commands[st.cmd]
	if !ok {
		return nil, errInvalidCommand(q)
	}
	return s.control(ctx, q, spec, st.arg)
}
