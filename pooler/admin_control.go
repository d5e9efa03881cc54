package pooler

// adminControl runs one of the admin console's process-controlling commands (PgBouncer doc/usage.md,
// "Process controlling commands") for a client in admin_users; the console has checked the syntax and
// the permission. cmd is upper-case: PAUSE, RESUME, SUSPEND, WAIT_CLOSE, DISABLE, ENABLE, RECONNECT, KILL,
// KILL_CLIENT, SHUTDOWN, RELOAD or SET. arg is:
//
//   - the database name as typed (unquoted), or "" for all databases: PAUSE, RESUME, WAIT_CLOSE,
//     RECONNECT, KILL; always set for DISABLE and ENABLE
//   - the client ID, decimal digits: KILL_CLIENT
//   - "", "WAIT_FOR_CLIENTS" or "WAIT_FOR_SERVERS": SHUTDOWN
//   - "": SUSPEND, RELOAD
//   - "key=value", the value unquoted (it may contain '='; the key cannot): SET
//
// It returns when the command is done (PAUSE after the servers are released, as PgBouncer answers
// then); the console then sends the notes as NOTICEs (what a RELOAD or SET could not apply) and
// CommandComplete with the command's tag. An error is sent to the console as it is when it is a
// *pgwire.Error (a FATAL one also closes the console), else as ERROR XX000. Waits end at Shutdown.
func (s *Server) adminControl(cmd, arg string) (notes []string, err error) {
	return s.control(s.baseCtx, cmd, arg)
}
