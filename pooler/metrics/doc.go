// Package metrics is pgpooler's Prometheus endpoint: what PgBouncer users get from the admin console's
// SHOW POOLS and SHOW STATS through a separate exporter, served by the pooler itself, plus latency
// histograms that PgBouncer's counters cannot give. It is turned on by the [pooler] key metrics_addr
// (pgpooler's own; PgBouncer has none).
//
// Three parts:
//   - Collector, a prometheus.Collector that takes one pooler.Server.Snapshot per scrape;
//   - Histograms, a pooler.Observer that feeds histograms from the relay path;
//   - Handler and Server, the HTTP side: /metrics, /healthz (liveness), /readyz (readiness).
//
// NewRegistry puts the first two and the standard Go and process collectors together.
//
// # Metrics
//
// Names follow prometheus-community/pgbouncer_exporter (pgbouncer_pools_*, pgbouncer_stats_*) with the
// namespace pgpooler, so a PgBouncer dashboard ports by renaming the prefix; the SHOW STATS counters
// use plainer names where the exporter's are odd. Times are in seconds and sizes in bytes, as
// Prometheus wants; the SHOW columns they come from are in microseconds.
//
// Per pool, labels database and user (the names clients asked for and logged in as), gauges from SHOW
// POOLS:
//
//	pgpooler_pools_client_active_connections         cl_active
//	pgpooler_pools_client_waiting_connections        cl_waiting
//	pgpooler_pools_client_active_cancel_connections  cl_active_cancel_req
//	pgpooler_pools_client_waiting_cancel_connections cl_waiting_cancel_req
//	pgpooler_pools_server_active_connections         sv_active
//	pgpooler_pools_server_active_cancel_connections  sv_active_cancel
//	pgpooler_pools_server_being_canceled_connections sv_being_canceled
//	pgpooler_pools_server_idle_connections           sv_idle
//	pgpooler_pools_server_used_connections           sv_used
//	pgpooler_pools_server_testing_connections        sv_tested
//	pgpooler_pools_server_login_connections          sv_login
//	pgpooler_pools_client_maxwait_seconds            maxwait + maxwait_us, seconds
//	pgpooler_pools_pool_size                         the pool's pool_size (SHOW DATABASES pool_size)
//	pgpooler_pools_min_pool_size                     min_pool_size (SHOW DATABASES)
//	pgpooler_pools_reserve_pool_size                 reserve_pool_size (SHOW DATABASES)
//	pgpooler_pools_info{database,user,pool_mode}     1; pool_mode (SHOW POOLS pool_mode) as a label
//	pgpooler_pools_longest_hold_seconds              the longest hold of one of its servers by a client
//	                                                 (pgpooler's own: SHOW HOLDERS), seconds
//
// Per pool and session-only feature, labels database, user, feature (listen, advisory_lock, temp_table,
// hold_cursor, load, uncarried_prepare) and action (refused by reject_session_features, or passed to the server), the
// counter of SHOW SESSION_FEATURES (pgpooler's own; pooler/leakreport.go):
//
//	pgpooler_session_features_total{database,user,feature,action}  statements using the feature
//
// Per database, label database, counters from SHOW STATS (the sum of the database's pools):
//
//	pgpooler_stats_server_assignments_total        total_server_assignment_count
//	pgpooler_stats_transactions_total              total_xact_count
//	pgpooler_stats_queries_total                   total_query_count
//	pgpooler_stats_received_bytes_total            total_received, bytes
//	pgpooler_stats_sent_bytes_total                total_sent, bytes
//	pgpooler_stats_transaction_time_seconds_total  total_xact_time, seconds
//	pgpooler_stats_query_time_seconds_total        total_query_time, seconds
//	pgpooler_stats_wait_time_seconds_total         total_wait_time, seconds
//	pgpooler_stats_client_parses_total             total_client_parse_count
//	pgpooler_stats_server_parses_total             total_server_parse_count
//	pgpooler_stats_binds_total                     total_bind_count
//	pgpooler_stats_logins_total                    client logins (pgpooler's own)
//
// SHOW STATS' avg_* columns are not exported: they are rates and means over the last stats_period,
// which rate() over the counters gives for any window.
//
// Per pool, labels database and user, histograms in seconds with the bounds of Buckets (100µs to 60s),
// fed by the pooler as things happen (Histograms):
//
//	pgpooler_client_wait_seconds              a client's wait for a server, per server assignment
//	pgpooler_transaction_duration_seconds     a transaction, first query to ReadyForQuery 'I'
//	pgpooler_query_duration_seconds           a query, first message to ReadyForQuery
//	pgpooler_server_connect_duration_seconds  connecting and logging in to a server, failures included
//
// A histogram's _sum matches the SHOW STATS time counter next to it; its buckets give the percentiles
// PgBouncer cannot.
//
// Process-wide gauges, no labels:
//
//	pgpooler_up                             1 (the scrape worked)
//	pgpooler_start_time_seconds             when the pooler started, Unix time
//	pgpooler_client_connections             client connections, logging in or logged in (SHOW CLIENTS rows)
//	pgpooler_server_connections             server connections, including those logging in (SHOW SERVERS rows + sv_login)
//	pgpooler_pools                          pools (SHOW POOLS rows)
//	pgpooler_server_prepared_statements     shared prepared statements on servers (SHOW SERVERS prepared_statements)
//	pgpooler_client_prepared_statements     clients' named prepared statements (SHOW CLIENTS prepared_statements)
//	pgpooler_shared_prepared_statements     distinct statements shared between clients (SHOW MEM prepared_statement_cache)
//	pgpooler_shared_prepared_statement_bytes  their size in bytes
//	pgpooler_config_max_client_connections  max_client_conn
//
// Process-wide counters, no labels (pgpooler's own; SHOW TOTALS rows of the same meaning):
//
//	pgpooler_cancel_requests_total              CancelRequests received (total_cancel_request_count)
//	pgpooler_cancel_requests_forwarded_total    delivered to the client's server (total_cancel_forwarded_count)
//	pgpooler_cancel_requests_unknown_key_total  key matched no client (total_cancel_unknown_key_count)
//	pgpooler_cancel_requests_failed_total       not delivered within cancel_wait_timeout (total_cancel_failed_count)
//	pgpooler_accept_errors_total                failed accepts of client connections, retried (SHOW STATE accept_errors)
//
// and the standard go_* and process_* metrics of client_golang's collectors.
//
// # Readiness
//
// /readyz calls a function given to Handler; cmd/pgpooler gives pooler.Server.Ready, which is ready
// when the pooler is listening, not shutting down, and a database server is reachable (an idle server
// used in the last few seconds, or else a TCP connection to a configured [databases] host).
package metrics
