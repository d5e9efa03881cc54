package admin

import (
	"context"

	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

// Server is what the console needs of the pooler (pooler.Server implements it). A database argument
// db is the name as typed, unquoted; "" stands for every database where PgBouncer's command takes an
// optional one. An error that is a *pgwire.Error reaches the console client as it is (a FATAL one also
// closes the console); any other is sent as ERROR XX000.
type Server interface {
	// Snapshot is a picture of the pooler now: pools, clients, servers, counters (the SHOW commands).
	Snapshot() *status.Snapshot
	// PauseState is which databases are paused and disabled now (SHOW STATE, SHOW DATABASES).
	PauseState() status.PauseState
	// Config is the configuration in force.
	Config() *config.Config

	// Pause stops lending servers of db and returns once they are all back and closed, or with ctx's
	// error (the pause stays in force) (PgBouncer PAUSE).
	Pause(ctx context.Context, db string) error
	// Resume ends a PAUSE or KILL of db; an error if it is not paused (RESUME).
	Resume(db string) error
	// Disable refuses new client logins to db (DISABLE); Enable allows them again (ENABLE).
	Disable(db string)
	Enable(db string)
	// Reconnect closes db's servers as they are released, the idle ones now (RECONNECT).
	Reconnect(db string)
	// Kill closes every client and server connection of db and pauses it (KILL).
	Kill(db string)
	// KillClient closes the client with SHOW CLIENTS id id and reports whether there was one
	// (KILL_CLIENT).
	KillClient(id uint64) bool
	// ReloadNotes switches to cfg, returning what cannot apply while running (RELOAD, SET).
	ReloadNotes(cfg *config.Config) (notes []string, err error)
	// Shutdown starts stopping the pooler as mode says and returns at once, so that the console's
	// answer is sent (SHUTDOWN).
	Shutdown(mode ShutdownMode)
}

// ShutdownMode is SHUTDOWN's argument (PgBouncer doc/usage.md, SHUTDOWN).
type ShutdownMode uint8

const (
	// ShutdownNow closes every connection at once (SHUTDOWN; a second SIGINT).
	ShutdownNow ShutdownMode = iota
	// ShutdownWaitForServers lets running transactions finish within shutdown_timeout (SHUTDOWN
	// WAIT_FOR_SERVERS; SIGINT).
	ShutdownWaitForServers
	// ShutdownWaitForClients stops listening and waits for every client to leave on its own (SHUTDOWN
	// WAIT_FOR_CLIENTS; SIGTERM).
	ShutdownWaitForClients
)

// MemSizes are the sizes in bytes of the pooler's per-client, per-server and per-pool structs, which
// SHOW MEM multiplies by their counts.
type MemSizes struct {
	Client, Server, Pool uintptr
}
