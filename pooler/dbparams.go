package pooler

// A database's client_encoding, datestyle and timezone ([databases.NAME], PgBouncer doc/config.md:
// "Ask specific client_encoding/datestyle/timezone from server") go into the StartupMessage of its
// server connections, as PgBouncer's src/loader.c parse_database puts them into the database's
// startup_params and src/proto.c send_startup_message sends them. They become the sessions' values
// and their RESET values; the pool's greeting (the first login's ParameterStatus) carries them to
// clients that set none of their own, and the parameter sync of a link (syncSQL) keeps a client's own.

// addDatabaseParams adds pc's client_encoding, datestyle and timezone, those set, to the start-up
// parameters params of a server login.
func addDatabaseParams(params map[string]string, pc *poolSettings) {
	for _, p := range [...]struct{ name, value string }{
		{"client_encoding", pc.ClientEncoding}, {"datestyle", pc.DateStyle}, {"timezone", pc.TimeZone},
	} {
		if p.value != "" {
			params[p.name] = p.value
		}
	}
}

// databaseParamsChanged reports whether a reload changes what addDatabaseParams sends, which makes the
// pool's servers (and its greeting) stale.
func databaseParamsChanged(pc, old *poolSettings) bool {
	return pc.ClientEncoding != old.ClientEncoding || pc.DateStyle != old.DateStyle || pc.TimeZone != old.TimeZone
}
