package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scenario is one pgbench workload.
type scenario struct {
	name    string   // for $SCENARIOS and the raw tables, e.g. "S50ext"
	label   string   // for the tables and the plot, e.g. "-S -M extended, 50"
	clients int      // pgbench -c
	args    []string // pgbench options besides -c, -j, -T, connection and logging
}

// allScenarios are the scenarios, in table order. The select-only ones run with -n (no
// vacuum first: they change nothing); TPC-B lets pgbench vacuum its tables before each run.
var allScenarios = []scenario{
	selectOnly(1), selectOnly(10), selectOnly(50), selectOnly(200), selectOnly(500), selectOnly(1000),
	{name: "S50ext", label: "-S -M extended, 50", clients: 50, args: []string{"-n", "-S", "-M", "extended"}},
	{name: "S50prep", label: "-S -M prepared, 50", clients: 50, args: []string{"-n", "-S", "-M", "prepared"}},
	{name: "TPCB50", label: "TPC-B, 50", clients: 50},
	{name: "C20", label: "-S -C (connect per txn), 20", clients: 20, args: []string{"-n", "-S", "-C"}},
}

// Names of the measurements that are not pgbench scenarios.
const (
	scenarioIdle  = "idle"
	scenarioStorm = "storm"
)

func selectOnly(clients int) scenario {
	return scenario{
		name:    "S" + strconv.Itoa(clients),
		label:   fmt.Sprintf("-S, %d client%s", clients, plural(clients)),
		clients: clients,
		args:    []string{"-n", "-S"},
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// selectScenarios returns the pgbench scenarios named in list (comma-separated, case-insensitive) in
// suite order, and whether idle and storm are named. An empty list selects everything.
func selectScenarios(list string) (chosen []scenario, idle, storm bool, err error) {
	if strings.TrimSpace(list) == "" {
		return allScenarios, true, true, nil
	}
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		known := name == scenarioIdle || name == scenarioStorm
		for _, sc := range allScenarios {
			known = known || strings.ToLower(sc.name) == name
		}
		if !known {
			return nil, false, false, fmt.Errorf("SCENARIOS: unknown scenario %q (known: %s)", name, knownScenarios())
		}
		want[name] = true
	}
	for _, sc := range allScenarios {
		if want[strings.ToLower(sc.name)] {
			chosen = append(chosen, sc)
		}
	}
	return chosen, want[scenarioIdle], want[scenarioStorm], nil
}

func knownScenarios() string {
	var names []string
	for _, sc := range allScenarios {
		names = append(names, sc.name)
	}
	return strings.Join(append(names, scenarioIdle, scenarioStorm), ",")
}

// prepared reports whether sc runs pgbench with -M prepared.
func (sc scenario) prepared() bool {
	i := slices.Index(sc.args, "-M")
	return i >= 0 && i+1 < len(sc.args) && sc.args[i+1] == "prepared"
}

// threads is pgbench -j: 2, or 1 for a single client.
func (sc scenario) threads() int { return min(2, sc.clients) }

// connectAllowance is added to the duration of pgbench -T per client, for the time pgbench takes to
// open its connections (each a SCRAM login: with 1,000 clients several seconds), which -T counts but
// pgbench's tps and latency leave out. Without it, most of a short run at 1,000 clients would be
// spent connecting, or all of it.
const connectAllowance = 15 * time.Millisecond

// runTime is pgbench -T for sc: the measured duration d, plus connectAllowance per client when the
// clients connect once (not with -C), rounded up to whole seconds.
func (sc scenario) runTime(d time.Duration) time.Duration {
	if !slices.Contains(sc.args, "-C") {
		d += time.Duration(sc.clients) * connectAllowance
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
