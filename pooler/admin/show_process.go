package admin

import (
	"runtime"
	"runtime/debug"
	"strconv"
)

// SHOW LISTS, STATE, VERSION and MEM: the pooler process itself.

// showLists: the counts of PgBouncer's internal lists that pgpooler has an equivalent of; the others
// (peers, free lists, DNS cache) are 0.
func showLists(v *view) *table {
	login := 0
	for _, ci := range v.Clients {
		if ci.State == "login" {
			login++
		}
	}
	t := newTable(listsColumns)
	t.add("databases", len(showDatabases(v).rows))
	t.add("users", len(showUsers(v).rows))
	t.add("peers", 0)
	t.add("pools", len(v.Pools)+1)
	t.add("peer_pools", 0)
	t.add("free_clients", 0)
	t.add("used_clients", len(v.Clients))
	t.add("login_clients", login)
	t.add("free_servers", 0)
	t.add("used_servers", len(v.Servers))
	t.add("dns_names", 0)
	t.add("dns_zones", 0)
	t.add("dns_queries", 0)
	t.add("dns_pending", 0)
	return t
}

// showState: PgBouncer's three states. A PAUSE of every database is paused; SUSPEND does not exist in
// pgpooler. Then pgpooler's own row: accept_errors, the failed accepts of client connections since
// start (Snapshot.AcceptErrors).
func showState(v *view) *table {
	yesNo := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	t := newTable(stateColumns)
	t.add("active", yesNo(!v.All))
	t.add("paused", yesNo(v.All))
	t.add("suspended", "no")
	t.add("accept_errors", strconv.FormatUint(v.AcceptErrors, 10))
	return t
}

// versionString is SHOW VERSION's answer: pgpooler's module version (from the build information) and
// the PgBouncer release whose console it follows.
func versionString() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "pgpooler " + v + " (PgBouncer " + pgbouncerVersion + " compatible)"
}

func showVersion(*view) *table {
	t := newTable(versionColumns)
	t.add(versionString())
	return t
}

// showMem reports what Go can tell honestly, in PgBouncer's columns (name, size, used, free, memtotal):
// the structs of clients, servers and pools (size is the struct's own size, without buffers in flight;
// Go keeps no free lists, so free is 0), the shared prepared statements and the cached start-up
// parameter values (size is their average in bytes), then the Go runtime's heap, stacks and other memory in bytes (size 1). Values above 2^31-1 are capped, the columns being int4.
func showMem(v *view) *table {
	capped := func(n uint64) int64 { return int64(min(n, 1<<31-1)) }
	t := newTable(memColumns)
	objects := []struct {
		name string
		size uintptr
		n    int
	}{
		{"client_cache", v.sizes.Client, len(v.Clients)},
		{"server_cache", v.sizes.Server, len(v.Servers)},
		{"pool_cache", v.sizes.Pool, len(v.Pools)},
	}
	for _, o := range objects {
		t.add(o.name, int64(o.size), o.n, 0, capped(uint64(o.size)*uint64(o.n)))
	}
	avg := int64(0)
	if v.SharedStatements > 0 {
		avg = v.SharedStatementBytes / int64(v.SharedStatements)
	}
	t.add("prepared_statement_cache", avg, v.SharedStatements, 0, capped(uint64(v.SharedStatementBytes)))
	avg = 0
	if v.StartupParams > 0 {
		avg = v.StartupParamBytes / int64(v.StartupParams)
	}
	t.add("startup_parameter_cache", avg, v.StartupParams, 0, capped(uint64(v.StartupParamBytes)))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heapFree := ms.HeapIdle - ms.HeapReleased
	t.add("go_heap", 1, capped(ms.HeapInuse), capped(heapFree), capped(ms.HeapInuse+heapFree))
	t.add("go_stack", 1, capped(ms.StackInuse), capped(ms.StackSys-ms.StackInuse), capped(ms.StackSys))
	other := ms.Sys - ms.HeapSys - ms.StackSys
	t.add("go_other", 1, capped(other), 0, capped(other))
	return t
}
