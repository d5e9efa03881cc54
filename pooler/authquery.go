package pooler

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/auth"
	"github.com/pgpooler/pgpooler/pgwire"
)

// authQueryTTL is how long an auth_query answer (a secret, or "no such user") is reused before the
// query runs again: a changed password takes effect within this time, and a flood of logins for unknown
// users costs one query per name per period.
const authQueryTTL = 10 * time.Second

// maxAuthCache bounds the auth_query cache; it is emptied when it grows past this many entries.
const maxAuthCache = 10000

// authQuerySettings are the resolved auth_user, auth_query and auth_dbname of a login.
type authQuerySettings struct {
	user, query, dbname string
}

type authCacheKey struct {
	aq   authQuerySettings
	user string
}

type authCacheEntry struct {
	sec   auth.Secret
	found bool
	at    time.Time
}

// authCache holds recent auth_query answers. Secrets live only in memory and are never logged.
type authCache struct {
	mu      sync.Mutex
	entries map[authCacheKey]authCacheEntry
}

func (ac *authCache) get(k authCacheKey) (authCacheEntry, bool) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	e, ok := ac.entries[k]
	if !ok || time.Since(e.at) > authQueryTTL {
		return authCacheEntry{}, false
	}
	return e, true
}

func (ac *authCache) put(k authCacheKey, e authCacheEntry) {
	ac.mu.Lock()
	defer ac.mu.Unlock()
	if ac.entries == nil || len(ac.entries) >= maxAuthCache {
		ac.entries = map[authCacheKey]authCacheEntry{}
	}
	ac.entries[k] = e
}

// clear forgets every answer (on reload).
func (ac *authCache) clear() {
	ac.mu.Lock()
	ac.entries = nil
	ac.mu.Unlock()
}

// authQuery looks user's secret up with auth_query, run as auth_user on a server of the pool
// (auth_dbname, auth_user), which is an ordinary pool: its servers are shared, limited and reused like
// any other (PgBouncer doc/config.md, auth_query). The query gets the user name as its one parameter
// ($1) and must return the user name and its secret (pg_authid.rolpassword); no row, or a NULL secret
// (no password, or rolvaliduntil passed), is found = false. Answers are cached for authQueryTTL.
func (s *Server) authQuery(ctx context.Context, aq authQuerySettings, user string) (auth.Secret, bool, error) {
	key := authCacheKey{aq, user}
	if e, ok := s.authCache.get(key); ok {
		return e.sec, e.found, nil
	}
	p, err := s.getPool(aq.dbname, aq.user)
	if err != nil {
		return auth.Secret{}, false, pgwire.NewFatal(pgerrcode.ConfigFileError, "auth_dbname %q: %v", aq.dbname, err)
	}
	sc, err := s.acquire(ctx, p)
	if err != nil {
		s.logger.Warn("auth_query: no server connection", "auth_user", aq.user, "auth_dbname", aq.dbname, "error", asClientError(err).Message)
		return auth.Secret{}, false, err
	}
	row, err := s.queryRowBounded(sc, aq.query, user)
	if err != nil {
		err = s.failedInternal(sc, err, "auth_query failed")
		s.logger.Warn("auth_query failed", "auth_user", aq.user, "auth_dbname", aq.dbname, "error", asClientError(err).Message)
		return auth.Secret{}, false, err
	}
	s.release(sc)
	e := authCacheEntry{at: time.Now()}
	if len(row) >= 2 && row[1] != nil {
		sec, perr := auth.ParseSecret(string(row[1]))
		if perr != nil {
			s.logger.Warn("auth_query returned a secret pgpooler cannot use", "user", user, "reason", perr.Error())
		} else {
			e.sec, e.found = sec, true
		}
	} else if row != nil && len(row) < 2 {
		s.logger.Warn("auth_query must return two columns (user name, secret)", "columns", len(row))
	}
	s.authCache.put(key, e)
	return e.sec, e.found, nil
}

// memberQuery asks PostgreSQL whether a role is a member of another, directly or through other roles
// (what pg_hba.conf's "+role" means).
const memberQuery = "SELECT pg_catalog.pg_has_role($1::name, $2::name, 'MEMBER')"

// isMember answers an auth_hba_file "+role" or "samerole" question with memberQuery, run as auth_user
// like auth_query; any failure (no auth_user, role unknown, server unreachable) is "not a member",
// which makes the rule not match.
func (s *Server) isMember(ctx context.Context, aq authQuerySettings, user, role string) bool {
	if aq.user == "" {
		return false
	}
	p, err := s.getPool(aq.dbname, aq.user)
	if err != nil {
		return false
	}
	sc, err := s.acquire(ctx, p)
	if err != nil {
		return false
	}
	row, err := s.queryRowBounded(sc, memberQuery, user, role)
	if err != nil {
		_ = s.failedInternal(sc, err, "role membership query failed")
		return false
	}
	s.release(sc)
	return len(row) == 1 && string(row[0]) == "t"
}

// queryRowBounded runs queryRow within server_connect_timeout on a server no relay is reading.
func (s *Server) queryRowBounded(sc *serverConn, sql string, args ...string) ([][]byte, error) {
	rows, err := s.queryRowsBounded(sc, sql, args...)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// queryRowsBounded runs queryRows within server_connect_timeout on a server no relay is reading.
func (s *Server) queryRowsBounded(sc *serverConn, sql string, args ...string) ([][][]byte, error) {
	if d := s.config().Pooler.ServerConnectTimeout.D(); d > 0 {
		_ = sc.conn.SetDeadline(time.Now().Add(d))
		defer sc.conn.SetDeadline(time.Time{})
	}
	return sc.queryRows(sql, args...)
}

// queryRows runs sql with text parameters through the extended query protocol (Parse, Bind, Execute,
// Sync on the unnamed statement and portal) and returns its rows' values (nil for SQL NULL). An
// ErrorResponse becomes a *pgwire.Error of severity ERROR.
func (sc *serverConn) queryRows(sql string, args ...string) ([][][]byte, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	if err := sc.send(&pgproto3.Parse{Query: sql}, &pgproto3.Bind{Parameters: params}, &pgproto3.Execute{}, &pgproto3.Sync{}); err != nil {
		return nil, err
	}
	var rows [][][]byte
	var qerr *pgwire.Error
	for {
		msg, err := sc.rd.ReadMsg()
		if err != nil {
			return nil, err
		}
		body := msg[pgwire.HeaderSize:]
		switch msg[0] {
		case 'D':
			var dr pgproto3.DataRow
			if err := dr.Decode(body); err != nil {
				return nil, pgwire.ProtocolViolation("malformed DataRow from server")
			}
			row := make([][]byte, len(dr.Values))
			for i, v := range dr.Values {
				if v != nil {
					row[i] = append([]byte{}, v...)
				}
			}
			rows = append(rows, row)
		case 'E':
			qerr = decodeServerError("", body)
			qerr.Severity = pgwire.SeverityError
			qerr.Message = qerr.Message[min(2, len(qerr.Message)):] // drop the empty prefix's ": "
		case 'S':
			sc.noteParameterStatus(body)
		case 'G', 'H', 'W':
			return nil, pgwire.ProtocolViolation("auth_query started COPY")
		case 'Z':
			if len(body) == 1 {
				sc.txStatus = body[0]
			}
			if qerr != nil {
				return nil, qerr
			}
			return rows, nil
		}
	}
}
