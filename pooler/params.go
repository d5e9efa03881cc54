package pooler

import (
	"reflect"
	"strings"

	"github.com/pgpooler/pgpooler/pooler/session"
)

// syncSQL returns the statements that make server sc's session parameters equal to want, and the
// function that records the new values on sc once they succeeded (session.SyncSQL).
func syncSQL(sc *serverConn, want map[string]string) (string, func()) {
	sql, apply := session.SyncSQL(sc.params, sc.reported, want)
	if sql != "" {
		sc.inSyncWith = nil // apply changes sc.params
	}
	return sql, apply
}

// clientSyncSQLLocked is syncSQL for the client's session parameters (c.mu held), remembering on sc a
// shared parameter map (clientparams.go) found in sync with it: the next client of the pool with that
// map (every client of a driver that logs in with the same start-up parameters) then costs no
// comparison. A shared map is never written, and sc.inSyncWith keeps it alive (so its address is not
// reused); every change to sc.params forgets it (paramsChanged).
func (c *clientConn) clientSyncSQLLocked(sc *serverConn) (string, func()) {
	if c.ownParams {
		return syncSQL(sc, c.params)
	}
	id := reflect.ValueOf(c.params).UnsafePointer()
	if id != nil && sc.inSyncWith == id {
		return "", nil
	}
	sql, apply := syncSQL(sc, c.params)
	if sql == "" {
		sc.inSyncWith = id
	}
	return sql, apply
}

// paramsChanged forgets the client parameter map sc was last found in sync with (clientSyncSQLLocked):
// called wherever sc.params changes other than by syncSQL's apply.
func (sc *serverConn) paramsChanged() { sc.inSyncWith = nil }

// forgetSetParams drops the non-reported parameters recorded on sc, after a reset query (DISCARD ALL,
// RESET ALL) put them back to their defaults.
func forgetSetParams(sc *serverConn) {
	session.ForgetSet(sc.params, sc.reported)
	sc.paramsChanged()
}

// canonicalName returns the spelling PostgreSQL uses in ParameterStatus for a lower-case parameter name.
func canonicalName(lower string) string { return session.CanonicalName(lower) }

// lowerName lower-cases an ASCII parameter name.
func lowerName(name string) string { return strings.ToLower(name) }
