package pooler

import (
	"errors"
	"net"

	"github.com/jackc/pgerrcode"
	"github.com/pgpooler/pgpooler/pgwire"
)

// asClientError turns any error met while serving a client into the ErrorResponse the client sees:
// a *pgwire.Error keeps its code; anything else becomes FATAL 08006 connection_failure naming the cause.
func asClientError(err error) *pgwire.Error {
	var pe *pgwire.Error
	if errors.As(err, &pe) {
		return pe
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server connection timed out: %v", err)
	}
	return pgwire.NewFatal(pgerrcode.ConnectionFailure, "server connection failed: %v", err)
}
