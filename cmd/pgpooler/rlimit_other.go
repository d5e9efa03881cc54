//go:build !unix

package main

import (
	"log/slog"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// raiseFDLimit does nothing where there is no RLIMIT_NOFILE.
func raiseFDLimit(*config.Config, *slog.Logger) {}
