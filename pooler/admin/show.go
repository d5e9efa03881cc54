package admin

import (
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
	"github.com/pgpooler/pgpooler/pooler/status"
)

// The SHOW commands answer with PgBouncer 1.25's columns, in its order and with its types (src/admin.c,
// src/stats.c; columns.go); the data comes from Server.Snapshot and Server.PauseState.

// view is what the SHOW commands read: a Snapshot, the PAUSE, KILL and DISABLE state, and the sizes
// of the pooler's structs.
type view struct {
	*status.Snapshot
	status.PauseState
	sizes MemSizes
}

// takeView takes the picture the SHOW commands read.
func (s *Session) takeView() *view {
	return &view{Snapshot: s.Server.Snapshot(), PauseState: s.Server.PauseState(), sizes: s.Sizes}
}

// show answers SHOW name (and SELECT name, which PgBouncer's console takes for SHOW).
func (s *Session) show(q, name string) ([]byte, error) {
	if pname, value, ok := fakeParam(name); ok {
		t := newTable([]column{colText(pname)})
		t.add(value)
		return complete(t.appendTo(nil), "SHOW"), nil
	}
	name = strings.ToLower(name)
	switch name {
	case "help":
		buf, _ := (&pgproto3.NoticeResponse{Severity: "NOTICE", SeverityUnlocalized: "NOTICE", Code: "00000", Message: "Console usage", Detail: helpText}).Encode(nil)
		return complete(buf, "SHOW"), nil
	case "fds":
		if !s.Admin {
			return nil, errAdminNeeded()
		}
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "SHOW FDS is not supported by pgpooler (it has no online restart)")
	case "sockets", "active_sockets":
		return nil, pgwire.NewError(pgerrcode.FeatureNotSupported, "SHOW %s is not supported by pgpooler: use SHOW CLIENTS and SHOW SERVERS", strings.ToUpper(name))
	}
	build, ok := shows[name]
	if !ok {
		return nil, errInvalidCommand(q)
	}
	t := build(s.takeView())
	return complete(t.appendTo(nil), "SHOW"), nil
}

// helpText is the DETAIL of SHOW HELP's NOTICE, in PgBouncer's layout, with pgpooler's own SHOW commands
// (SESSION_FEATURES, HOLDERS) on a line of their own.
const helpText = "\n\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n" +
	"\tSHOW PEERS|PEER_POOLS\n" +
	"\tSHOW LISTS|MEM|STATE\n" +
	"\tSHOW DNS_HOSTS|DNS_ZONES\n" +
	"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS\n" +
	"\tSHOW SESSION_FEATURES|HOLDERS\n" +
	"\tSET key = arg\n" +
	"\tRELOAD\n" +
	"\tPAUSE [<db>]\n" +
	"\tRESUME [<db>]\n" +
	"\tDISABLE <db>\n" +
	"\tENABLE <db>\n" +
	"\tRECONNECT [<db>]\n" +
	"\tKILL [<db>]\n" +
	"\tKILL_CLIENT <client_id>\n" +
	"\tSUSPEND\n" +
	"\tSHUTDOWN\n" +
	"\tSHUTDOWN WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS\n" +
	"\tWAIT_CLOSE [<db>]"

// shows maps SHOW's argument, lower-case, to its result.
var shows = map[string]func(*view) *table{
	"pools":          showPools,
	"stats":          showStats,
	"stats_totals":   showStatsTotals,
	"stats_averages": showStatsAverages,
	"totals":         showTotals,
	"clients":        showClients,
	"servers":        showServers,
	"databases":      showDatabases,
	"users":          showUsers,
	"config":         showConfig,
	"lists":          showLists,
	"state":          showState,
	"version":        showVersion,
	"mem":            showMem,
	// pgpooler's own: the leak report (show_features.go, show_holders.go)
	"session_features": showSessionFeatures,
	"holders":          showHolders,
	"dns_hosts":        func(*view) *table { return newTable(dnsHostsColumns) },
	"dns_zones":        func(*view) *table { return newTable(dnsZonesColumns) },
	"peers":            func(*view) *table { return newTable(peersColumns) },
	"peer_pools":       func(*view) *table { return newTable(peerPoolsColumns) },
}
