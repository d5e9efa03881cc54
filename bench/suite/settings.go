package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// settings are the suite's knobs, read from the environment (see doc.go).
type settings struct {
	duration     time.Duration // per pgbench run
	rounds       int
	scenarios    []scenario // selected, in suite order
	idle, storm  bool       // run the idle-memory / login-storm measurements
	targets      []string   // of targetNames, in that order
	idleClients  int
	stormClients int
	pgbouncer    string // binary
	pgpooler     string // binary
	out          string // output directory
	note         string
}

// targetNames are the paths to the database, in the order of the tables.
var targetNames = []string{targetDirect, targetPgBouncer, targetPgpooler, targetPgpoolerGoroutines}

// poolerTargets are the targets that are a pooler process of their own, in the order of the tables.
var poolerTargets = []string{targetPgBouncer, targetPgpooler, targetPgpoolerGoroutines}

// pgpoolerTargets are the targets that run the pgpooler binary, each its own process with its own
// config.toml (pgpoolerExtra).
var pgpoolerTargets = []string{targetPgpooler, targetPgpoolerGoroutines}

const (
	targetDirect    = "direct"
	targetPgBouncer = "pgbouncer"
	targetPgpooler  = "pgpooler"
	// targetPgpoolerGoroutines is pgpooler with event_loops = false (goroutineSettings).
	targetPgpoolerGoroutines = "pgpooler-goroutines"
)

func loadSettings() (*settings, error) {
	s := &settings{
		pgbouncer: envOr("PGBOUNCER", "/usr/sbin/pgbouncer"),
		pgpooler:  envOr("PGPOOLER_BIN", "bin/pgpooler"),
		out:       envOr("OUT", "docs"),
		note:      os.Getenv("NOTE"),
	}
	secs, err := envInt("DURATION", 10)
	if err != nil {
		return nil, err
	}
	s.duration = time.Duration(secs) * time.Second
	if s.rounds, err = envInt("ROUNDS", 3); err != nil {
		return nil, err
	}
	if s.idleClients, err = envInt("IDLE_CLIENTS", 10000); err != nil {
		return nil, err
	}
	if s.stormClients, err = envInt("STORM_CLIENTS", 2000); err != nil {
		return nil, err
	}
	if s.scenarios, s.idle, s.storm, err = selectScenarios(os.Getenv("SCENARIOS")); err != nil {
		return nil, err
	}
	if s.targets, err = selectTargets(os.Getenv("TARGETS")); err != nil {
		return nil, err
	}
	return s, nil
}

// selectTargets returns the targets named in list (comma-separated), in targetNames order; all when
// list is empty.
func selectTargets(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return targetNames, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		if !contains(targetNames, name) {
			return nil, fmt.Errorf("TARGETS: unknown target %q (known: %s)", name, strings.Join(targetNames, ","))
		}
		want[name] = true
	}
	var out []string
	for _, name := range targetNames {
		if want[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// envInt reads a positive integer from the environment, def when unset.
func envInt(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a positive integer", name, v)
	}
	return n, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
