package admin

// Columns of each SHOW command, as PgBouncer 1.25 sends them.
var (
	poolsColumns = []column{
		colText("database"), colText("user"),
		colInt4("cl_active"), colInt4("cl_waiting"), colInt4("cl_active_cancel_req"), colInt4("cl_waiting_cancel_req"),
		colInt4("sv_active"), colInt4("sv_active_cancel"), colInt4("sv_being_canceled"), colInt4("sv_idle"),
		colInt4("sv_used"), colInt4("sv_tested"), colInt4("sv_login"),
		colInt4("maxwait"), colInt4("maxwait_us"), colText("pool_mode"), colText("load_balance_hosts"),
	}
	statsColumns = []column{
		colText("database"),
		colNumeric("total_server_assignment_count"), colNumeric("total_xact_count"), colNumeric("total_query_count"),
		colNumeric("total_received"), colNumeric("total_sent"),
		colNumeric("total_xact_time"), colNumeric("total_query_time"), colNumeric("total_wait_time"),
		colNumeric("total_client_parse_count"), colNumeric("total_server_parse_count"), colNumeric("total_bind_count"),
		colNumeric("avg_server_assignment_count"), colNumeric("avg_xact_count"), colNumeric("avg_query_count"),
		colNumeric("avg_recv"), colNumeric("avg_sent"),
		colNumeric("avg_xact_time"), colNumeric("avg_query_time"), colNumeric("avg_wait_time"),
		colNumeric("avg_client_parse_count"), colNumeric("avg_server_parse_count"), colNumeric("avg_bind_count"),
	}
	statsTotalsColumns = []column{
		colText("database"),
		colNumeric("server_assignment_count"), colNumeric("xact_count"), colNumeric("query_count"),
		colNumeric("bytes_received"), colNumeric("bytes_sent"),
		colNumeric("xact_time"), colNumeric("query_time"), colNumeric("wait_time"),
		colNumeric("client_parse_count"), colNumeric("server_parse_count"), colNumeric("bind_count"),
	}
	statsAveragesColumns = []column{
		colText("database"),
		colNumeric("server_assignment_count"), colNumeric("xact_count"), colNumeric("query_count"),
		colNumeric("bytes_received"), colNumeric("bytes_sent"),
		colNumeric("xact_time"), colNumeric("query_time"), colNumeric("wait_time"),
		colNumeric("avg_client_parse_count"), colNumeric("avg_server_parse_count"), colNumeric("avg_bind_count"),
	}
	totalsColumns = []column{colText("name"), colNumeric("value")}
	// socketColumns are SHOW CLIENTS' and SHOW SERVERS'.
	socketColumns = []column{
		colText("type"), colText("user"), colText("database"), colText("replication"), colText("state"),
		colText("addr"), colInt4("port"), colText("local_addr"), colInt4("local_port"),
		colTime("connect_time"), colTime("request_time"),
		colInt4("wait"), colInt4("wait_us"), colInt4("close_needed"),
		colText("ptr"), colText("link"), colInt4("remote_pid"), colText("tls"),
		colText("application_name"), colInt4("prepared_statements"), colInt4("id"),
	}
	databasesColumns = []column{
		colText("name"), colText("host"), colInt4("port"), colText("database"), colText("force_user"),
		colInt4("pool_size"), colInt4("min_pool_size"), colInt4("reserve_pool_size"), colInt4("server_lifetime"),
		colText("pool_mode"), colText("load_balance_hosts"),
		colInt4("max_connections"), colInt4("current_connections"),
		colInt4("max_client_connections"), colInt4("current_client_connections"),
		colInt4("paused"), colInt4("disabled"),
	}
	usersColumns = []column{
		colText("name"), colText("pool_size"), colText("reserve_pool_size"), colText("pool_mode"),
		colInt4("max_user_connections"), colInt4("current_connections"),
		colInt4("max_user_client_connections"), colInt4("current_client_connections"),
	}
	configColumns    = []column{colText("key"), colText("value"), colText("default"), colText("changeable")}
	listsColumns     = []column{colText("list"), colInt4("items")}
	stateColumns     = []column{colText("key"), colText("value")}
	versionColumns   = []column{colText("version")}
	memColumns       = []column{colText("name"), colInt4("size"), colInt4("used"), colInt4("free"), colInt4("memtotal")}
	dnsHostsColumns  = []column{colText("hostname"), colInt8("ttl"), colText("addrs")}
	dnsZonesColumns  = []column{colText("zonename"), colInt8("serial"), colInt4("count")}
	peersColumns     = []column{colInt4("peer_id"), colText("host"), colInt4("port"), colInt4("pool_size")}
	peerPoolsColumns = []column{colInt4("peer_id"), colInt4("cl_active_cancel_req"), colInt4("cl_waiting_cancel_req"), colInt4("sv_active_cancel"), colInt4("sv_login")}
)
