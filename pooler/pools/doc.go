// Package pools holds the data structure of one pooler pool: its idle servers, the clients waiting in
// line for one, its slots, and the limits it shares with other pools. It does no I/O: opening, checking
// and closing server connections stay with the caller (package pooler), which lends the servers this
// package hands out.
//
// A Pool is the set of servers of one (database, user) pair (PgBouncer doc/usage.md, SHOW POOLS). Idle
// servers are kept last in, first out, so that a few servers stay busy and the rest can time out
// (server_idle_timeout); waiters are served first in, first out, and a released server goes straight to
// the oldest waiter. Each Pool has its own lock, so lending and releasing a server of one pool takes no
// lock any other pool takes. The limits that span pools, max_db_connections and max_user_connections
// (PgBouncer doc/config.md), are Limit counters of their own, shared by the pools of one database or of
// one user.
//
// Lock order: a Pool's lock, then a Limit's lock (the database's before the user's). A Pool's lock is
// never taken while another Pool's is held: work across pools (freeing a shared slot, eviction) takes
// one Pool's lock at a time. The caller's own locks come before all of them, and no callback of this
// package runs with a lock held.
package pools
