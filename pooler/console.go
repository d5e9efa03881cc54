package pooler

import (
	"maps"
	"unsafe"

	"github.com/pgpooler/pgpooler/pooler/admin"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/status"
)

// consoleServer is the Server as the admin console sees it (admin.Server): the Server's own Snapshot,
// Pause, Resume, Disable, Enable, Reconnect, Kill, KillClient and ReloadNotes, and the three below.
type consoleServer struct{ *Server }

var _ admin.Server = consoleServer{}

// consoleSession is the console session of client c, a member of admin_users if isAdmin (else of
// stats_users).
func (s *Server) consoleSession(c *clientConn, isAdmin bool) *admin.Session {
	return &admin.Session{
		Server: consoleServer{s}, Logger: s.logger, ClientID: c.id, User: c.user, Admin: isAdmin,
		Sizes: admin.MemSizes{Client: unsafe.Sizeof(clientConn{}), Server: unsafe.Sizeof(serverConn{}), Pool: unsafe.Sizeof(pool{})},
	}
}

// PauseState returns copies of which databases are paused and disabled.
func (cs consoleServer) PauseState() status.PauseState {
	s := cs.Server
	s.mu.Lock()
	defer s.mu.Unlock()
	return status.PauseState{All: s.pause.all, Paused: maps.Clone(s.pause.paused), Disabled: maps.Clone(s.pause.disabled)}
}

// Config returns the configuration in force.
func (cs consoleServer) Config() *config.Config { return cs.config() }

// Shutdown starts the shutdown SHUTDOWN asks for and returns at once (shutdownCommand).
func (cs consoleServer) Shutdown(mode admin.ShutdownMode) { cs.shutdownCommand(mode) }
