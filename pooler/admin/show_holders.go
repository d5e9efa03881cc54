package admin

// SHOW HOLDERS (pgpooler's own; the leak report, pooler/holders.go): the clients holding a server, by
// database and user, idle in transaction first, then the longest hold first (status.Snapshot.Holders).
// id, ptr and link are SHOW CLIENTS' for the client and its server; state is what the client does with
// the server ("active", "idle in transaction", "idle in transaction (aborted)", "idle" in session mode);
// held_since is when its transaction (in session mode between transactions: its connection) began, hold
// and hold_us how long ago; session_features the session-only features it used (SHOW SESSION_FEATURES).
// No query text.

// holdersColumns are SHOW HOLDERS'.
var holdersColumns = []column{
	colText("database"), colText("user"), colInt4("id"), colText("ptr"), colText("link"),
	colText("addr"), colInt4("port"), colText("application_name"), colText("state"),
	colTime("held_since"), colInt4("hold"), colInt4("hold_us"), colText("session_features"),
}

func showHolders(v *view) *table {
	t := newTable(holdersColumns)
	for _, h := range v.Holders() {
		s, us := secondsAndMicros(h.Hold)
		t.add(h.Database, h.User, h.ID, ptr('c', h.ID), ptr('s', h.ServerID), h.Addr, h.Port,
			h.ApplicationName, h.Holding, h.HeldSince, s, us, h.SessionFeatures)
	}
	return t
}
