package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// summary is the medians of one scenario through one target.
type summary struct {
	tps, latAvgMs, latP99Ms, cpuPerTxUs float64
	failed                              int64 // over all rounds
	aborted                             int   // rounds in which pgbench aborted clients
	empty                               int   // rounds that completed no transaction
	rounds                              int
}

func summarize(rs []result) summary {
	var tps, avg, p99, cpu []float64
	s := summary{rounds: len(rs)}
	for _, r := range rs {
		if r.txns == 0 { // measured nothing (still connecting when -T ran out): not a TPS of 0
			tps = append(tps, math.NaN())
		} else {
			tps = append(tps, r.tps)
		}
		avg = append(avg, r.latAvgMs)
		p99 = append(p99, r.latP99Ms)
		cpu = append(cpu, r.cpuPerTxUs)
		s.failed += r.failed
		if r.aborted {
			s.aborted++
		}
		if r.txns == 0 {
			s.empty++
		}
	}
	s.tps, s.latAvgMs, s.latP99Ms, s.cpuPerTxUs = median(tps), median(avg), median(p99), median(cpu)
	return s
}

// summaryOf returns the summary of scenario through target, and false when it did not run.
func (s *suite) summaryOf(scenario, target string) (summary, bool) {
	rs := s.runs[scenario][target]
	if len(rs) == 0 {
		return summary{}, false
	}
	return summarize(rs), true
}

// write writes benchmarks.md and benchmarks.png into the output directory.
func (s *suite) write() error {
	if err := os.MkdirAll(s.cfg.out, 0o755); err != nil {
		return err
	}
	md := filepath.Join(s.cfg.out, "benchmarks.md")
	if err := os.WriteFile(md, []byte(s.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s", md)
	if len(s.runs) == 0 {
		return nil
	}
	png := filepath.Join(s.cfg.out, "benchmarks.png")
	if err := s.plot(png); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	logf("wrote %s", png)
	return nil
}

func (s *suite) markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# Benchmarks\n\n")
	w("Written by `make bench` (bench/suite) on %s; the run took %s.\n",
		s.began.UTC().Format("2006-01-02 15:04 MST"), s.ended.Sub(s.began).Round(time.Second))
	w("Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n\n", s.mach.loadAvg, s.loadEnd)
	if s.cfg.note != "" {
		w("**Note.** %s\n\n", s.cfg.note)
	}
	if len(s.runs) > 0 {
		w("![TPS and pooler CPU per transaction by scenario](benchmarks.png)\n\n")
	}
	s.writeMachine(&b)
	s.writeMethod(&b)
	if len(s.runs) > 0 {
		s.writeThroughput(&b)
		s.writeLatency(&b)
	}
	s.writeIdle(&b)
	s.writeStorm(&b)
	if len(s.runs) > 0 {
		s.writeEveryRun(&b)
	}
	s.writeConfigs(&b)
	return b.String()
}

func (s *suite) writeMachine(b *strings.Builder) {
	m := s.mach
	fmt.Fprintf(b, "## Machine and versions\n\n")
	fmt.Fprintf(b, "- %d CPUs (`nproc`): %s; %s; memory %s\n", m.cpus, m.cpuModel, m.kernel, m.memory)
	fmt.Fprintf(b, "- PostgreSQL: %s; %s\n", s.db.version, s.pgbench)
	for _, t := range poolerTargets {
		if p := s.poolers[t]; p != nil {
			fmt.Fprintf(b, "- %s: %s%s\n", t, p.version, extraNote(t))
		}
	}
	fmt.Fprintf(b, "- pgpooler commit: `%s`, built with %s\n", m.commit, m.goVer)
	fmt.Fprintf(b, "- PostgreSQL, pgbench, the poolers and the suite all share the machine's CPUs.\n\n")
}

func (s *suite) writeMethod(b *strings.Builder) {
	fmt.Fprintf(b, "## What was run\n\n")
	fmt.Fprintf(b, "A throwaway PostgreSQL (tests/pgtest: fsync off, synchronous_commit off, shared_buffers 128MB, "+
		"max_connections 1100), `pgbench -i -s %d` as role `%s` (SCRAM password) in database `%s`. "+
		"PgBouncer and pgpooler with equal settings: pool_mode transaction, default_pool_size %d, max_client_conn %d, "+
		"auth_type scram-sha-256 with an auth_file holding the role's SCRAM secret copied from pg_authid, no TLS, "+
		"listen backlog %d, connections logged; their configuration files are at the end.\n\n",
		pgbenchScale, appUser, appDB, poolSize, maxClientConn, listenBacklog)
	if s.poolers[targetPgpoolerGoroutines] != nil {
		fmt.Fprintf(b, "pgpooler-goroutines is the same pgpooler binary in a process of its own, with %s added to "+
			"pgpooler's settings: every logged-in client is served by goroutines of its own (pgpooler's relay before "+
			"the event loops, kept for the clients they do not cover), where pgpooler's defaults serve them on event loops.\n\n", settingsText(goroutineSettings))
	}
	fmt.Fprintf(b, "Each scenario ran through every target in each of %d round%s of %s, interleaved (round 1 of every "+
		"scenario, then round 2, ...), the targets' order rotated each round; the tables show medians. "+
		"CPU per transaction is the pooler process's utime+stime (/proc/PID/stat, CLK_TCK %d) over the run "+
		"divided by the transactions pgbench completed. p99 is from pgbench's per-transaction logs. "+
		"Failed counts pgbench's failed transactions plus clients it aborted, over all rounds. "+
		"pgbench's -T counts the time its clients take to connect, which its tps and latency leave out, so -T is "+
		"the duration plus %s per client (except with -C), rounded up to seconds.\n\n",
		s.cfg.rounds, plural(s.cfg.rounds), s.cfg.duration, clockTicks, connectAllowance)
	fmt.Fprintf(b, "The commands (HOST and PORT of the target; PGPASSWORD set):\n\n```sh\n")
	for _, sc := range s.cfg.scenarios {
		args := pgbenchArgs(sc, endpoint{host: "HOST", port: 0}, s.cfg.duration, "LOGDIR/txn")
		fmt.Fprintf(b, "pgbench %s\n", strings.Replace(strings.Join(args, " "), "-p 0", "-p PORT", 1))
	}
	fmt.Fprintf(b, "```\n\n")
}

// cellOf is one scenario through one target in the tables: its summary, whether it ran, and why not
// when it was skipped on purpose (skipReason).
type cellOf struct {
	sm   summary
	ok   bool
	skip string
}

func (s *suite) cellsOf(sc scenario) map[string]cellOf {
	cells := map[string]cellOf{}
	for _, t := range targetNames {
		sm, ok := s.summaryOf(sc.name, t)
		c := cellOf{sm: sm, ok: ok}
		if contains(s.cfg.targets, t) { // a target not selected is only "–"
			c.skip = skipReason(t, sc)
		}
		cells[t] = c
	}
	return cells
}

// skipMark is the cell of a scenario skipped on purpose through a target (see skipNotes).
const skipMark = "n/a‡"

func (s *suite) writeThroughput(b *strings.Builder) {
	fmt.Fprintf(b, "## Throughput and CPU per transaction (medians of %d round%s)\n\n", s.cfg.rounds, plural(s.cfg.rounds))
	head := []string{"pgbench"}
	for _, t := range targetNames {
		head = append(head, targetLabel(t)+" TPS")
	}
	for _, t := range pgpoolerTargets {
		head = append(head, "TPS "+targetLabel(t)+"/PgBouncer", "TPS "+targetLabel(t)+"/direct")
	}
	for _, t := range poolerTargets {
		head = append(head, targetLabel(t)+" CPU µs/txn")
	}
	for _, t := range pgpoolerTargets {
		head = append(head, "CPU "+targetLabel(t)+"/PgBouncer")
	}
	writeHead(b, head)
	for _, sc := range s.cfg.scenarios {
		c := s.cellsOf(sc)
		row := []string{sc.label}
		for _, t := range targetNames {
			row = append(row, c[t].tps())
		}
		d, pb := c[targetDirect], c[targetPgBouncer]
		for _, t := range pgpoolerTargets {
			pp := c[t]
			row = append(row, ratio(pp.sm.tps, pb.sm.tps, pp.ok && pb.ok), ratio(pp.sm.tps, d.sm.tps, pp.ok && d.ok))
		}
		for _, t := range poolerTargets {
			row = append(row, c[t].cpu())
		}
		for _, t := range pgpoolerTargets {
			pp := c[t]
			row = append(row, ratio(pp.sm.cpuPerTxUs, pb.sm.cpuPerTxUs, pp.ok && pb.ok))
		}
		writeRow(b, row)
	}
	fmt.Fprintf(b, "\nA `*` marks a median over rounds in which pgbench aborted clients (see the failures below); "+
		"a `†` one with rounds that completed no transaction at all (pgbench was still connecting its "+
		"clients when -T ran out), which the median leaves out.%s\n\n", s.skipNotes())
}

// skipNotes explains the skipMark cells of the tables, "" when there are none.
func (s *suite) skipNotes() string {
	var notes []string
	for _, sc := range s.cfg.scenarios {
		for _, t := range s.cfg.targets {
			if why := skipReason(t, sc); why != "" {
				notes = append(notes, fmt.Sprintf("%s through %s did not run: %s.", sc.label, t, why))
			}
		}
	}
	if len(notes) == 0 {
		return ""
	}
	return " `" + skipMark + "` marks a scenario not run through a target on purpose: " + strings.Join(notes, " ")
}

func (s *suite) writeLatency(b *strings.Builder) {
	fmt.Fprintf(b, "## Latency and failures (medians; failures summed over the rounds)\n\n")
	head := []string{"pgbench"}
	for _, what := range []string{"avg ms: ", "p99 ms: ", "failed: "} {
		for i, t := range targetNames {
			if i == 0 {
				head = append(head, what+targetLabel(t))
			} else {
				head = append(head, targetLabel(t))
			}
		}
	}
	writeHead(b, head)
	for _, sc := range s.cfg.scenarios {
		c := s.cellsOf(sc)
		var avg, p99, failed []string
		for _, t := range targetNames {
			ct := c[t]
			switch {
			case ct.skip != "" && !ct.ok:
				avg, p99, failed = append(avg, skipMark), append(p99, skipMark), append(failed, skipMark)
			case !ct.ok:
				avg, p99, failed = append(avg, "–"), append(p99, "–"), append(failed, "–")
			default:
				avg = append(avg, fmtFloat(ct.sm.latAvgMs, 3))
				p99 = append(p99, fmtFloat(ct.sm.latP99Ms, 3))
				failed = append(failed, fmt.Sprintf("%d", ct.sm.failed))
			}
		}
		writeRow(b, append(append(append([]string{sc.label}, avg...), p99...), failed...))
	}
	var notes []string
	for _, sc := range s.cfg.scenarios {
		for _, t := range targetNames {
			for i, r := range s.runs[sc.name][t] {
				if r.aborted {
					notes = append(notes, fmt.Sprintf("- %s through %s, run %d: pgbench aborted clients: `%s`", sc.label, t, i+1, firstLine(r.errText)))
				}
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "\n%s\n", strings.Join(notes, "\n"))
	}
	fmt.Fprintf(b, "\n")
}

// writeHead writes a table's header row and its alignment row: the first column left, the rest right.
func writeHead(b *strings.Builder, head []string) {
	writeRow(b, head)
	b.WriteString("|---|" + strings.Repeat("--:|", len(head)-1) + "\n")
}

func writeRow(b *strings.Builder, cells []string) {
	b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
}

func (s *suite) writeIdle(b *strings.Builder) {
	if len(s.idle) == 0 {
		return
	}
	fmt.Fprintf(b, "## Idle clients\n\n")
	fmt.Fprintf(b, "Clients log in (SCRAM-SHA-256, %d at a time) and stay idle; the pooler's VmRSS "+
		"(/proc/PID/status) is read after a warm-up login with one query, and again with all of them in "+
		"(each reading once it changes by less than 0.5%% in 500 ms).\n\n", idleLoginConcurrency)
	fmt.Fprintf(b, "| pooler | idle clients | failed logins | time to log them in | RSS before | RSS with them | RSS per client |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|--:|\n")
	for _, t := range poolerTargets {
		r, ok := s.idle[t]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %d | %.1f s | %.1f MiB | %.1f MiB | %.2f KiB |\n", t, r.loggedIn, r.failures,
			r.loginTime.Seconds(), mib(r.rssBefore), mib(r.rssAfter), r.bytesPerClient/1024)
	}
	for _, t := range poolerTargets {
		if r, ok := s.idle[t]; ok && r.firstErr != "" {
			fmt.Fprintf(b, "\n%s, first failed login: `%s`\n", t, r.firstErr)
		}
	}
	fmt.Fprintf(b, "\n")
}

func (s *suite) writeStorm(b *strings.Builder) {
	if len(s.storm) == 0 {
		return
	}
	fmt.Fprintf(b, "## Connection storm\n\n")
	fmt.Fprintf(b, "Every client (a goroutine each) dials and logs in (SCRAM-SHA-256) at the same moment; "+
		"\"all in\" is the time from that moment until the last login ended.\n\n")
	fmt.Fprintf(b, "| pooler | clients at once | all in after | failed | login p50 | login p99 |\n")
	fmt.Fprintf(b, "|---|--:|--:|--:|--:|--:|\n")
	for _, t := range poolerTargets {
		r, ok := s.storm[t]
		if !ok {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %.2f s | %d | %d ms | %d ms |\n", t, r.clients, r.allIn.Seconds(), r.failures,
			r.p50.Milliseconds(), r.p99.Milliseconds())
	}
	for _, t := range poolerTargets {
		if r, ok := s.storm[t]; ok && r.firstErr != "" {
			fmt.Fprintf(b, "\n%s, first failed login: `%s`\n", t, r.firstErr)
		}
	}
	fmt.Fprintf(b, "\n")
}

func (s *suite) writeEveryRun(b *strings.Builder) {
	fmt.Fprintf(b, "## Every run\n\n<details><summary>TPS and CPU µs/txn of each round</summary>\n\n")
	fmt.Fprintf(b, "| scenario | target | TPS by round | CPU µs/txn by round |\n|---|---|---|---|\n")
	for _, sc := range s.cfg.scenarios {
		for _, t := range targetNames {
			rs := s.runs[sc.name][t]
			if len(rs) == 0 {
				continue
			}
			var tps, cpu []string
			for _, r := range rs {
				tps = append(tps, fmt.Sprintf("%.0f", r.tps))
				cpu = append(cpu, fmtFloat(r.cpuPerTxUs, 1))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", sc.name, t, strings.Join(tps, ", "), strings.Join(cpu, ", "))
		}
	}
	fmt.Fprintf(b, "\n</details>\n\n")
}

func (s *suite) writeConfigs(b *strings.Builder) {
	for _, t := range poolerTargets {
		if p := s.poolers[t]; p != nil {
			lang := "ini"
			if slices.Contains(pgpoolerTargets, t) {
				lang = "toml"
			}
			fmt.Fprintf(b, "<details><summary>%s's configuration</summary>\n\n```%s\n%s```\n\n</details>\n\n", t, lang, p.config)
		}
	}
}

func (c cellOf) tps() string {
	if c.skip != "" && !c.ok {
		return skipMark
	}
	return tpsCell(c.sm, c.ok)
}

func (c cellOf) cpu() string {
	if c.skip != "" && !c.ok {
		return skipMark
	}
	return cpuCell(c.sm, c.ok)
}

// extraNote is what the report adds to target's version: the settings it adds to the shared ones.
func extraNote(target string) string {
	if !slices.Contains(pgpoolerTargets, target) || len(pgpoolerExtra(target)) == 0 {
		return ""
	}
	return ", with " + settingsText(pgpoolerExtra(target))
}

// settingsText is settings as the report shows them: `key = value`, comma-separated.
func settingsText(settings []setting) string {
	var parts []string
	for _, st := range settings {
		parts = append(parts, "`"+st.key+" = "+st.value+"`")
	}
	return strings.Join(parts, ", ")
}

func tpsCell(s summary, ok bool) string {
	if !ok {
		return "–"
	}
	mark := abortMark(s)
	if s.empty > 0 {
		mark += "†"
	}
	return thousands(s.tps) + mark
}

func cpuCell(s summary, ok bool) string {
	if !ok {
		return "–"
	}
	return fmtFloat(s.cpuPerTxUs, 1) + abortMark(s)
}

func abortMark(s summary) string {
	if s.aborted > 0 {
		return "*"
	}
	return ""
}

// ratio returns a/b with two decimals, "–" when either is missing or b is 0.
func ratio(a, b float64, ok bool) string {
	if !ok || math.IsNaN(a) || math.IsNaN(b) || b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// thousands formats x rounded to an integer with commas: 32735.4 -> "32,735".
func thousands(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
