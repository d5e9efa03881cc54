package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgpooler/pgpooler/pooler"
)

// namespace prefixes every metric of this package.
const namespace = "pgpooler"

// Label names.
const (
	labelDatabase = "database" // the database name clients asked for (the pool key, SHOW POOLS database)
	labelUser     = "user"     // the user name clients logged in as (the pool key, SHOW POOLS user)
	labelPoolMode = "pool_mode"
)

// poolLabels label every per-pool metric, histograms included.
var poolLabels = []string{labelDatabase, labelUser}

// poolGauge is one per-pool gauge and where its value comes from.
type poolGauge struct {
	desc  *prometheus.Desc
	value func(*pooler.PoolInfo) float64
}

// statCounter is one per-database counter and where its value comes from.
type statCounter struct {
	desc  *prometheus.Desc
	value func(*pooler.Counters) float64
}

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "pools", name), help, poolLabels, nil)
}

func statDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "stats", name), help, []string{labelDatabase}, nil)
}

// microseconds converts a SHOW STATS time in microseconds to seconds.
func microseconds(us int64) float64 { return float64(us) / 1e6 }

// poolGauges are the columns of SHOW POOLS, one gauge each, plus the pool's configured sizes.
var poolGauges = []poolGauge{
	{poolDesc("client_active_connections", "Client connections logged in and not waiting for a server (SHOW POOLS cl_active)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.ClActive) }},
	{poolDesc("client_waiting_connections", "Client connections waiting for a server (SHOW POOLS cl_waiting)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.ClWaiting) }},
	{poolDesc("client_active_cancel_connections", "Cancel requests being forwarded to a server (SHOW POOLS cl_active_cancel_req)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.ClActiveCancelReq) }},
	{poolDesc("client_waiting_cancel_connections", "Cancel requests waiting for a server (SHOW POOLS cl_waiting_cancel_req)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.ClWaitingCancelReq) }},
	{poolDesc("server_active_connections", "Server connections lent to a client (SHOW POOLS sv_active)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvActive) }},
	{poolDesc("server_active_cancel_connections", "Server connections that got a cancel request (SHOW POOLS sv_active_cancel)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvActiveCancel) }},
	{poolDesc("server_being_canceled_connections", "Server connections waiting for a cancel to finish (SHOW POOLS sv_being_canceled)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvBeingCanceled) }},
	{poolDesc("server_idle_connections", "Idle server connections usable at once (SHOW POOLS sv_idle)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvIdle) }},
	{poolDesc("server_used_connections", "Idle server connections idle longer than server_check_delay, checked before reuse (SHOW POOLS sv_used)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvUsed) }},
	{poolDesc("server_testing_connections", "Server connections running server_check_query or server_reset_query (SHOW POOLS sv_tested)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvTested) }},
	{poolDesc("server_login_connections", "Server connections being logged in to (SHOW POOLS sv_login)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.SvLogin) }},
	{poolDesc("client_maxwait_seconds", "How long the oldest waiting client has waited for a server, in seconds (SHOW POOLS maxwait and maxwait_us)."),
		func(p *pooler.PoolInfo) float64 { return p.MaxWait.Seconds() }},
	{poolDesc("longest_hold_seconds", "How long the client holding one of the pool's servers longest has held it, in seconds; 0 when none is held (pgpooler's own: SHOW HOLDERS)."),
		func(p *pooler.PoolInfo) float64 { return p.LongestHold.Seconds() }},
	{poolDesc("pool_size", "Most server connections of the pool (pool_size, else default_pool_size; SHOW DATABASES pool_size)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.Config.PoolSize) }},
	{poolDesc("min_pool_size", "Server connections the pool keeps open (min_pool_size; SHOW DATABASES min_pool_size)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.Config.MinPoolSize) }},
	{poolDesc("reserve_pool_size", "Extra server connections the pool may open after reserve_pool_timeout (reserve_pool_size; SHOW DATABASES reserve_pool_size)."),
		func(p *pooler.PoolInfo) float64 { return float64(p.Config.ReservePoolSize) }},
}

// poolInfo is 1 for every pool, its pool_mode a label (SHOW POOLS pool_mode).
var poolInfo = prometheus.NewDesc(prometheus.BuildFQName(namespace, "pools", "info"),
	"Always 1; the pool's pool_mode is a label (SHOW POOLS pool_mode).",
	[]string{labelDatabase, labelUser, labelPoolMode}, nil)

// statCounters are the total_* columns of SHOW STATS, one counter each, times in seconds.
var statCounters = []statCounter{
	{statDesc("server_assignments_total", "Times a server connection was lent to a client (SHOW STATS total_server_assignment_count)."),
		func(c *pooler.Counters) float64 { return float64(c.ServerAssignments) }},
	{statDesc("transactions_total", "Transactions pooled (SHOW STATS total_xact_count)."),
		func(c *pooler.Counters) float64 { return float64(c.Xacts) }},
	{statDesc("queries_total", "Queries pooled (SHOW STATS total_query_count)."),
		func(c *pooler.Counters) float64 { return float64(c.Queries) }},
	{statDesc("received_bytes_total", "Bytes received from clients (SHOW STATS total_received)."),
		func(c *pooler.Counters) float64 { return float64(c.Received) }},
	{statDesc("sent_bytes_total", "Bytes sent to clients (SHOW STATS total_sent)."),
		func(c *pooler.Counters) float64 { return float64(c.Sent) }},
	{statDesc("transaction_time_seconds_total", "Seconds spent in transactions, first query to ReadyForQuery 'I' (SHOW STATS total_xact_time)."),
		func(c *pooler.Counters) float64 { return microseconds(c.XactTime) }},
	{statDesc("query_time_seconds_total", "Seconds spent in queries, first message to ReadyForQuery (SHOW STATS total_query_time)."),
		func(c *pooler.Counters) float64 { return microseconds(c.QueryTime) }},
	{statDesc("wait_time_seconds_total", "Seconds clients waited for a server connection (SHOW STATS total_wait_time)."),
		func(c *pooler.Counters) float64 { return microseconds(c.WaitTime) }},
	{statDesc("client_parses_total", "Parse messages from clients (SHOW STATS total_client_parse_count)."),
		func(c *pooler.Counters) float64 { return float64(c.ClientParses) }},
	{statDesc("server_parses_total", "Parse messages sent to servers (SHOW STATS total_server_parse_count)."),
		func(c *pooler.Counters) float64 { return float64(c.ServerParses) }},
	{statDesc("binds_total", "Bind messages from clients (SHOW STATS total_bind_count)."),
		func(c *pooler.Counters) float64 { return float64(c.Binds) }},
	{statDesc("logins_total", "Client logins (pgpooler's own; SHOW STATS has no such column)."),
		func(c *pooler.Counters) float64 { return float64(c.Logins) }},
}

// Process-wide metrics.
var (
	upDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "up"),
		"Always 1 while pgpooler answers scrapes; a failed scrape means it is down.", nil, nil)
	startTimeDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "start_time_seconds"),
		"When the pooler started, in seconds since the Unix epoch.", nil, nil)
	clientsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "client_connections"),
		"Client connections, logging in or logged in (SHOW CLIENTS rows; SHOW LISTS used_clients).", nil, nil)
	serversDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "server_connections"),
		"Server connections, open or being logged in to (SHOW SERVERS rows plus sv_login; SHOW LISTS used_servers).", nil, nil)
	maxClientsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "config", "max_client_connections"),
		"Most client connections allowed (max_client_conn; SHOW CONFIG).", nil, nil)
	poolsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "pools"),
		"(database, user) pools (SHOW POOLS rows; SHOW LISTS pools).", nil, nil)
	serverStmtsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "server_prepared_statements"),
		"Shared prepared statements kept on server connections, summed (SHOW SERVERS prepared_statements; bounded per server by max_prepared_statements).", nil, nil)
	clientStmtsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "client_prepared_statements"),
		"Named prepared statements clients hold in transaction and statement mode, summed (SHOW CLIENTS prepared_statements).", nil, nil)
	sharedStmtsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "shared_prepared_statements"),
		"Distinct prepared statements (query text and parameter types) shared between clients in transaction and statement mode (SHOW MEM prepared_statement_cache used).", nil, nil)
	acceptErrorsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "accept_errors_total"),
		"Failed accepts of client connections, each retried after a back-off: out of file descriptors or memory, or a connection aborted before it was accepted (pgpooler's own; SHOW STATE accept_errors).", nil, nil)
	sharedStmtBytesDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "shared_prepared_statement_bytes"),
		"Bytes the shared prepared statements' texts and messages take (SHOW MEM prepared_statement_cache memtotal; at most 64 MiB).", nil, nil)
	cancelsDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "cancel_requests_total"),
		"CancelRequests received, forged ones included (SHOW TOTALS total_cancel_request_count).", nil, nil)
	cancelsForwardedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "cancel_requests_forwarded_total"),
		"CancelRequests delivered to the server of the client whose key they carried (SHOW TOTALS total_cancel_forwarded_count).", nil, nil)
	cancelsUnknownDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "cancel_requests_unknown_key_total"),
		"CancelRequests whose key matched no client: forged, or the client had left (SHOW TOTALS total_cancel_unknown_key_count).", nil, nil)
	sessionFeaturesDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "session_features_total"),
		"Statements using a session-only feature (LISTEN, session advisory lock, temporary table, WITH HOLD cursor, LOAD) sent in transaction or statement mode, refused by reject_session_features or passed to the server (pgpooler's own: SHOW SESSION_FEATURES).",
		[]string{labelDatabase, labelUser, "feature", "action"}, nil)
	cancelsFailedDesc = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "cancel_requests_failed_total"),
		"CancelRequests not delivered to the server within cancel_wait_timeout (SHOW TOTALS total_cancel_failed_count).", nil, nil)
)

// Collector is a prometheus.Collector over a pooler.Server: on every scrape it takes one
// Server.Snapshot and reports what SHOW POOLS and SHOW STATS show (the package documentation lists
// the metrics). Create it with NewCollector.
type Collector struct {
	srv *pooler.Server
}

// NewCollector returns a Collector over srv.
func NewCollector(srv *pooler.Server) *Collector { return &Collector{srv: srv} }

// Describe sends the descriptors of every metric Collect can send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range poolGauges {
		ch <- g.desc
	}
	ch <- poolInfo
	for _, s := range statCounters {
		ch <- s.desc
	}
	for _, d := range []*prometheus.Desc{upDesc, startTimeDesc, clientsDesc, serversDesc, maxClientsDesc, poolsDesc, serverStmtsDesc, clientStmtsDesc, sharedStmtsDesc, sharedStmtBytesDesc,
		cancelsDesc, cancelsForwardedDesc, cancelsUnknownDesc, cancelsFailedDesc, acceptErrorsDesc, sessionFeaturesDesc} {
		ch <- d
	}
}

// Collect takes a snapshot of the Server and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.srv.Snapshot()
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(startTimeDesc, prometheus.GaugeValue, float64(snap.Started.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(clientsDesc, prometheus.GaugeValue, float64(len(snap.Clients)))
	servers := len(snap.Servers)
	for i := range snap.Pools {
		servers += snap.Pools[i].SvLogin
	}
	ch <- prometheus.MustNewConstMetric(serversDesc, prometheus.GaugeValue, float64(servers))
	ch <- prometheus.MustNewConstMetric(maxClientsDesc, prometheus.GaugeValue, float64(snap.Config.Pooler.MaxClientConn))
	ch <- prometheus.MustNewConstMetric(poolsDesc, prometheus.GaugeValue, float64(len(snap.Pools)))
	var serverStmts, clientStmts int
	for i := range snap.Servers {
		serverStmts += snap.Servers[i].PreparedStatements
	}
	for i := range snap.Clients {
		clientStmts += snap.Clients[i].PreparedStatements
	}
	ch <- prometheus.MustNewConstMetric(serverStmtsDesc, prometheus.GaugeValue, float64(serverStmts))
	ch <- prometheus.MustNewConstMetric(clientStmtsDesc, prometheus.GaugeValue, float64(clientStmts))
	ch <- prometheus.MustNewConstMetric(sharedStmtsDesc, prometheus.GaugeValue, float64(snap.SharedStatements))
	ch <- prometheus.MustNewConstMetric(sharedStmtBytesDesc, prometheus.GaugeValue, float64(snap.SharedStatementBytes))
	ch <- prometheus.MustNewConstMetric(cancelsDesc, prometheus.CounterValue, float64(snap.Cancels.Received))
	ch <- prometheus.MustNewConstMetric(cancelsForwardedDesc, prometheus.CounterValue, float64(snap.Cancels.Forwarded))
	ch <- prometheus.MustNewConstMetric(cancelsUnknownDesc, prometheus.CounterValue, float64(snap.Cancels.UnknownKey))
	ch <- prometheus.MustNewConstMetric(cancelsFailedDesc, prometheus.CounterValue, float64(snap.Cancels.Failed))
	ch <- prometheus.MustNewConstMetric(acceptErrorsDesc, prometheus.CounterValue, float64(snap.AcceptErrors))

	perDatabase := map[string]pooler.Counters{} // SHOW STATS sums the pools of each database
	for i := range snap.Pools {
		p := &snap.Pools[i]
		for _, g := range poolGauges {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.value(p), p.Database, p.User)
		}
		ch <- prometheus.MustNewConstMetric(poolInfo, prometheus.GaugeValue, 1, p.Database, p.User, p.PoolMode)
		for _, f := range p.SessionFeatures {
			ch <- prometheus.MustNewConstMetric(sessionFeaturesDesc, prometheus.CounterValue, float64(f.Refused), p.Database, p.User, f.Feature, "refused")
			ch <- prometheus.MustNewConstMetric(sessionFeaturesDesc, prometheus.CounterValue, float64(f.Seen-f.Refused), p.Database, p.User, f.Feature, "passed")
		}
		perDatabase[p.Database] = perDatabase[p.Database].Add(p.Counters)
	}
	for db, sum := range perDatabase {
		for _, s := range statCounters {
			ch <- prometheus.MustNewConstMetric(s.desc, prometheus.CounterValue, s.value(&sum), db)
		}
	}
}
