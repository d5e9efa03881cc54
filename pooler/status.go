package pooler

import "github.com/pgpooler/pgpooler/pooler/status"

// The plain structs of Snapshot live in package status, so that the admin console and the metrics
// collector read them without importing pooler; these aliases keep their pooler names.
type (
	// Snapshot is status.Snapshot: what Server.Snapshot returns.
	Snapshot = status.Snapshot
	// PoolInfo is status.PoolInfo: one pool of a Snapshot.
	PoolInfo = status.PoolInfo
	// ClientInfo is status.ClientInfo: one client connection of a Snapshot.
	ClientInfo = status.ClientInfo
	// ServerInfo is status.ServerInfo: one server connection of a Snapshot.
	ServerInfo = status.ServerInfo
	// Identity is status.Identity: who a client proved to be at login.
	Identity = status.Identity
	// Counters is status.Counters: a pool's cumulative statistics (SHOW STATS).
	Counters = status.Counters
	// Averages is status.Averages: the rates and mean times of one stats_period.
	Averages = status.Averages
	// CancelCounters is status.CancelCounters: the CancelRequests received since start.
	CancelCounters = status.CancelCounters
	// SessionFeatureCount is status.SessionFeatureCount: one session-only feature of a pool (leakreport.go).
	SessionFeatureCount = status.SessionFeatureCount
	// Holder is status.Holder: a client holding a server (holders.go).
	Holder = status.Holder
)
