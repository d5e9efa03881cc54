package pooler

import (
	"strings"

	"github.com/pgpooler/pgpooler/pooler/session"
)

// syncSQL returns the statements that make server sc's session parameters equal to want, and the
// function that records the new values on sc once they succeeded (session.SyncSQL).
func syncSQL(sc *serverConn, want map[string]string) (string, func()) {
	return session.SyncSQL(sc.params, sc.reported, want)
}

// forgetSetParams drops the non-reported parameters recorded on sc, after a reset query (DISCARD ALL,
// RESET ALL) put them back to their defaults.
func forgetSetParams(sc *serverConn) { session.ForgetSet(sc.params, sc.reported) }

// canonicalName returns the spelling PostgreSQL uses in ParameterStatus for a lower-case parameter name.
func canonicalName(lower string) string { return session.CanonicalName(lower) }

// lowerName lower-cases an ASCII parameter name.
func lowerName(name string) string { return strings.ToLower(name) }
