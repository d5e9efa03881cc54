package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// machine describes where the suite ran, for the report.
type machine struct {
	cpus     int
	cpuModel string
	kernel   string
	memory   string // MemTotal of /proc/meminfo
	goVer    string
	commit   string // git describe of the tree pgpooler was built from
	loadAvg  string // /proc/loadavg's first three fields, at the start
}

func describeMachine() machine {
	m := machine{cpus: runtime.NumCPU(), goVer: runtime.Version(), loadAvg: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.cpuModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-srm").Output(); err == nil {
		m.kernel = strings.TrimSpace(string(out))
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				m.memory = strings.TrimSpace(v)
				if kb, err := strconv.ParseFloat(strings.TrimSuffix(m.memory, " kB"), 64); err == nil {
					m.memory = fmt.Sprintf("%.1f GiB", kb/(1<<20))
				}
			}
		}
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
		m.commit = strings.TrimSpace(string(out))
	}
	return m
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// pgbenchVersion returns `pgbench --version`.
func pgbenchVersion() string {
	out, err := exec.Command("pgbench", "--version").Output()
	if err != nil {
		return "pgbench (version unknown)"
	}
	return strings.TrimSpace(string(out))
}
