package admin

// SHOW SESSION_FEATURES (pgpooler's own; the leak report, pooler/leakreport.go): per pool, the
// session-only features its clients used in transaction or statement mode, whose effect outlives the
// transaction: how often (seen), how often reject_session_features refused them (refused) or they went to
// the server (passed), and by how many distinct clients.

// sessionFeaturesColumns are SHOW SESSION_FEATURES'.
var sessionFeaturesColumns = []column{
	colText("database"), colText("user"), colText("pool_mode"), colText("feature"),
	colNumeric("seen"), colNumeric("refused"), colNumeric("passed"), colNumeric("clients"),
}

// showSessionFeatures: a row per pool and feature seen at least once, by database, user, feature.
func showSessionFeatures(v *view) *table {
	t := newTable(sessionFeaturesColumns)
	for _, p := range v.Pools {
		for _, f := range p.SessionFeatures {
			t.add(p.Database, p.User, p.PoolMode, f.Feature, f.Seen, f.Refused, f.Seen-f.Refused, f.Clients)
		}
	}
	return t
}
