// Command pgpooler runs the pgpooler PostgreSQL connection pooler.
//
//	pgpooler [-config FILE] [FILE]
//	pgpooler convert pgbouncer.ini
//
// It loads the configuration, config.toml (the default, ./config.toml) or PgBouncer's pgbouncer.ini (chosen
// by the .ini extension or a [pgbouncer] section, config.ParseINI), listens on listen_addr:listen_port and serves
// until told to stop. Signals, as in PgBouncer 1.23 and later (its doc/usage.md, "Signals"):
//
//   - SIGINT: safe shutdown: no new transactions, running ones may finish within shutdown_timeout.
//   - SIGTERM: stop listening and wait for every client to disconnect by itself, then stop.
//   - a second SIGINT or SIGTERM, or SIGQUIT: close every connection and stop at once.
//   - SIGHUP: reload the configuration file (and auth_file, auth_hba_file, TLS files).
//   - SIGUSR1: PAUSE every database; SIGUSR2: RESUME.
//
// The admin console's SHUTDOWN ends the process the same way. With metrics_addr set it also serves
// Prometheus metrics, /healthz and /readyz over HTTP on that address, and with debug_pprof Go's profiler
// under /debug/pprof/.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgpooler/pgpooler/pooler"
	"github.com/pgpooler/pgpooler/pooler/config"
	"github.com/pgpooler/pgpooler/pooler/metrics"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "convert" {
		return convert(args[1:], os.Stdout, os.Stderr)
	}
	fs := flag.NewFlagSet("pgpooler", flag.ContinueOnError)
	cfgPath := fs.String("config", "", "path of the TOML configuration file (default ./config.toml)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	verbose := fs.Bool("v", false, "log at debug level (same as verbose = 1)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: pgpooler [-config FILE] [FILE]\n       pgpooler convert pgbouncer.ini\n\npgpooler is a PostgreSQL connection pooler in the family of PgBouncer.\nFILE is a config.toml or a pgbouncer.ini; convert prints a pgbouncer.ini as config.toml.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *showVersion {
		fmt.Println("pgpooler", version)
		return 0
	}
	path := *cfgPath
	switch {
	case fs.NArg() > 1:
		fmt.Fprintln(os.Stderr, "pgpooler: too many arguments; give one configuration file")
		return 2
	case fs.NArg() == 1 && path != "":
		fmt.Fprintln(os.Stderr, "pgpooler: give the configuration file either with -config or as an argument, not both")
		return 2
	case fs.NArg() == 1:
		path = fs.Arg(0)
	case path == "":
		path = "config.toml"
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgpooler: %v\n", err)
		return 1
	}
	level := slog.LevelInfo
	if *verbose || cfg.Pooler.Verbose > 0 {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)
	logWarnings(cfg, logger)

	raiseFDLimit(cfg, logger)
	srv, err := pooler.New(cfg, logger)
	if err != nil {
		logger.Error("cannot start", "error", err)
		return 1
	}
	var reg *prometheus.Registry
	if cfg.Pooler.MetricsAddr != "" {
		reg = metrics.NewRegistry(srv) // sets the pooler's Observer: before it serves
	}
	lns, err := srv.Listen()
	if err != nil {
		logger.Error("cannot listen", "error", err)
		return 1
	}
	if reg != nil {
		var opts []metrics.Option
		if cfg.Pooler.DebugPprof {
			opts = append(opts, metrics.WithPprof())
			logger.Info("debug_pprof: serving /debug/pprof/ on metrics_addr", "addr", cfg.Pooler.MetricsAddr)
		}
		ms, err := metrics.Start(cfg.Pooler.MetricsAddr, metrics.Handler(reg, srv.Ready, opts...), logger)
		if err != nil {
			for _, ln := range lns {
				ln.Close()
			}
			logger.Error("cannot listen", "error", err)
			return 1
		}
		defer stopMetrics(ms, logger)
	}
	logger.Info("pgpooler started", "version", version, "config", path, "pool_mode", cfg.Pooler.PoolMode)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2)
	served := make(chan error, 1)
	go func() { served <- srv.ServeAll(lns) }()
	stopping := false
	for {
		select {
		case err := <-served:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				logger.Error("serve failed", "error", err)
				return 1
			}
			served = nil // the listeners were closed: wait for the shutdown to finish
		case <-srv.Stopped():
			logger.Info("pgpooler stopped")
			return 0
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP:
				reload(srv, path, logger)
			case sig == syscall.SIGUSR1:
				logger.Info("SIGUSR1: pausing every database")
				go func() { _ = srv.Pause(context.Background(), "") }()
			case sig == syscall.SIGUSR2:
				if err := srv.Resume(""); err != nil {
					logger.Info("SIGUSR2: nothing to resume", "error", err)
				}
			case sig == syscall.SIGQUIT || stopping:
				logger.Info("closing all connections now", "signal", sig.String())
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				go func() { _ = srv.Shutdown(ctx) }()
			case sig == syscall.SIGINT:
				stopping = true
				logger.Info("SIGINT: shutting down once running transactions finish (shutdown_timeout)")
				go func() {
					ctx, cancel := context.WithCancel(context.Background())
					if d := cfg.Pooler.ShutdownTimeout.D(); d > 0 {
						ctx, cancel = context.WithTimeout(context.Background(), d)
					}
					defer cancel()
					if err := srv.Shutdown(ctx); err != nil {
						logger.Info("shutdown timed out; remaining connections were closed", "error", err)
					}
				}()
			default: // SIGTERM
				stopping = true
				logger.Info("SIGTERM: shutting down once every client has disconnected")
				go srv.ShutdownWaitClients()
			}
		}
	}
}

// stopMetrics stops the metrics endpoint after the pooler, so that /readyz reports the shutdown while
// it runs.
func stopMetrics(ms *metrics.Server, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ms.Shutdown(ctx); err != nil {
		logger.Info("metrics endpoint shutdown", "error", err)
	}
}

// reload re-reads the configuration file; a bad file is logged and the running configuration kept.
func reload(srv *pooler.Server, path string, logger *slog.Logger) {
	cfg, err := config.Load(path)
	if err == nil {
		err = srv.Reload(cfg) // logs cfg.Warnings
	}
	if err != nil {
		logger.Error("reload failed; keeping the running configuration", "error", err)
	}
}

// logWarnings logs what loading the configuration ignored (keys of a pgbouncer.ini pgpooler lacks).
func logWarnings(cfg *config.Config, logger *slog.Logger) {
	for _, w := range cfg.Warnings {
		logger.Warn("configuration: " + w)
	}
}
