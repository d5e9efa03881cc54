//go:build unix

package main

import (
	"log/slog"
	"syscall"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// raiseFDLimit raises the soft RLIMIT_NOFILE to the hard limit and logs both, then warns when the
// configuration can need more file descriptors than that (config.FileDescriptors: max_client_conn, the
// pools' servers, the listeners and a margin), as PgBouncer logs its limit and expected use at start
// (src/main.c, check_limits). Go (1.19 and later, syscall's init) already raises the soft limit for
// itself, in Go 1.26 to one below the hard limit; doing it here makes the limit the pooler runs with
// explicit, logged and the same whatever Go does. Each connection needs a descriptor: beyond the limit,
// accepting a client fails (and is retried, pooler.Server.Serve) and so does opening a server.
func raiseFDLimit(cfg *config.Config, logger *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logger.Warn("cannot read the open file limit (RLIMIT_NOFILE)", "error", err)
		return
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			logger.Warn("cannot raise the open file limit to the hard limit", "soft", lim.Cur, "hard", lim.Max, "error", err)
		} else {
			lim = raised
		}
	}
	clients, servers, other := cfg.FileDescriptors()
	need := clients + servers + other
	logger.Info("open file limit", "soft", lim.Cur, "hard", lim.Max, "max_client_conn", clients,
		"server_connections", servers, "max_expected_fds", need)
	if uint64(need) > uint64(lim.Cur) {
		logger.Warn("open file limit is lower than max_client_conn and the pools can need: clients beyond it cannot connect (raise the hard limit, e.g. ulimit -Hn or LimitNOFILE=, or lower max_client_conn)",
			"limit", lim.Cur, "max_client_conn", clients, "server_connections", servers, "other", other, "max_expected_fds", need)
	}
}
