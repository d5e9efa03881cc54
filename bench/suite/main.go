package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		logf("error: %v", err)
		os.Exit(1)
	}
}

// suite holds what one run starts and measures.
type suite struct {
	cfg     *settings
	dir     string // scratch directory: pooler configs and logs, pgbench logs
	db      *database
	poolers map[string]*pooler // by target name
	// runs[scenario name][target] holds one result per round.
	runs    map[string]map[string][]result
	idle    map[string]idleResult
	storm   map[string]stormResult
	mach    machine
	began   time.Time
	ended   time.Time
	loadEnd string
	pgbench string // version
}

func run() error {
	cfg, err := loadSettings()
	if err != nil {
		return err
	}
	raiseFDLimit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s := &suite{cfg: cfg, poolers: map[string]*pooler{}, runs: map[string]map[string][]result{},
		idle: map[string]idleResult{}, storm: map[string]stormResult{},
		mach: describeMachine(), began: time.Now(), pgbench: pgbenchVersion()}
	if s.dir, err = os.MkdirTemp("", "pgpooler-suite-"); err != nil {
		return err
	}
	defer os.RemoveAll(s.dir)
	if err := os.Chmod(s.dir, 0o755); err != nil { // PgBouncer's directory inside it is the postgres user's
		return err
	}
	defer s.stopAll()
	if err := s.start(ctx); err != nil {
		return err
	}
	if err := s.runScenarios(ctx); err != nil {
		return err
	}
	if err := s.runLogins(ctx); err != nil {
		return err
	}
	s.ended, s.loadEnd = time.Now(), loadAvg()
	return s.write()
}

// start brings up PostgreSQL and the poolers the selected targets need.
func (s *suite) start(ctx context.Context) error {
	logf("starting PostgreSQL")
	var err error
	if s.db, err = startDatabase(ctx); err != nil {
		return err
	}
	if s.needs(targetPgBouncer) {
		p, err := startPgBouncer(s.cfg.pgbouncer, s.dir, s.db)
		if err != nil {
			return err
		}
		s.poolers[targetPgBouncer] = p
		logf("%s on %s, pid %d", p.version, p.addr(), p.pid())
	}
	for _, t := range pgpoolerTargets {
		if !s.needs(t) {
			continue
		}
		p, err := startPgpooler(s.cfg.pgpooler, s.dir, t, s.db)
		if err != nil {
			return err
		}
		s.poolers[t] = p
		logf("%s: %s on %s, pid %d", t, p.version, p.addr(), p.pid())
	}
	return nil
}

func (s *suite) needs(target string) bool {
	if contains(s.cfg.targets, target) {
		return true
	}
	return (s.cfg.idle || s.cfg.storm) && target != targetDirect
}

func (s *suite) stopAll() {
	for _, p := range s.poolers {
		p.stop()
	}
	if s.db != nil {
		s.db.stop()
	}
}

// endpointOf returns target's address and the pid whose CPU is measured (0 for direct).
func (s *suite) endpointOf(target string) (endpoint, int) {
	if target == targetDirect {
		return s.db.endpoint(), 0
	}
	p := s.poolers[target]
	return p.endpoint, p.pid()
}

// runScenarios runs the rounds: a short warm-up through every target, then in each round every
// scenario through every target, the targets' order rotated by one each round.
func (s *suite) runScenarios(ctx context.Context) error {
	if len(s.cfg.scenarios) == 0 {
		return nil
	}
	warm := scenario{name: "warm-up", clients: 50, args: []string{"-S"}}
	for _, t := range s.cfg.targets {
		e, _ := s.endpointOf(t)
		if r, err := runPgbench(ctx, warm, e, 0, 2*time.Second, s.dir); err != nil || r.txns == 0 {
			logf("warm-up through %s: %d transactions, error %v", t, r.txns, err)
		}
	}
	total := 0
	for _, sc := range s.cfg.scenarios {
		for _, t := range s.cfg.targets {
			if why := skipReason(t, sc); why != "" {
				logf("not running %s through %s: %s", sc.name, t, why)
			} else {
				total += s.cfg.rounds
			}
		}
	}
	n := 0
	for round := range s.cfg.rounds {
		for _, sc := range s.cfg.scenarios {
			for i := range s.cfg.targets {
				t := s.cfg.targets[(i+round)%len(s.cfg.targets)]
				if err := ctx.Err(); err != nil {
					return err
				}
				if skipReason(t, sc) != "" {
					continue
				}
				n++
				e, pid := s.endpointOf(t)
				r, err := runPgbench(ctx, sc, e, pid, s.cfg.duration, s.dir)
				if err != nil {
					return fmt.Errorf("%s through %s: %w", sc.name, t, err)
				}
				if p := s.poolers[t]; p != nil {
					if err := p.alive(); err != nil {
						return err
					}
				}
				s.record(sc.name, t, r)
				logf("[%d/%d] round %d %-8s %-14s tps %9.1f  lat %7.3f ms  p99 %7.3f ms  failed %d  cpu %s µs/txn  conn %s ms%s",
					n, total, round+1, sc.name, t, r.tps, r.latAvgMs, r.latP99Ms, r.failed, fmtFloat(r.cpuPerTxUs, 1), fmtFloat(r.connMs, 0), abortedNote(r))
			}
		}
	}
	return nil
}

func abortedNote(r result) string {
	if !r.aborted {
		return ""
	}
	return "  (pgbench aborted clients: " + firstLine(r.errText) + ")"
}

func (s *suite) record(scenario, target string, r result) {
	if s.runs[scenario] == nil {
		s.runs[scenario] = map[string][]result{}
	}
	s.runs[scenario][target] = append(s.runs[scenario][target], r)
}

// runLogins runs the idle-memory and storm measurements against each pooler in turn.
func (s *suite) runLogins(ctx context.Context) error {
	if !s.cfg.idle && !s.cfg.storm {
		return nil
	}
	l, err := newLoginer()
	if err != nil {
		return err
	}
	for _, t := range poolerTargets {
		p := s.poolers[t]
		if p == nil {
			continue
		}
		if s.cfg.idle {
			r, err := measureIdle(ctx, l, p, s.cfg.idleClients)
			if err != nil {
				return fmt.Errorf("idle clients into %s: %w", t, err)
			}
			s.idle[t] = r
			logf("idle %-14s %d clients in %.1f s (%d failed): RSS %.1f -> %.1f MiB, %.0f bytes per client",
				t, r.loggedIn, r.loginTime.Seconds(), r.failures, mib(r.rssBefore), mib(r.rssAfter), r.bytesPerClient)
		}
		if s.cfg.storm {
			r, err := measureStorm(ctx, l, p, s.cfg.stormClients)
			if err != nil {
				return fmt.Errorf("storm into %s: %w", t, err)
			}
			s.storm[t] = r
			logf("storm %-14s %d clients: all in after %.2f s, %d failed, login p50 %v p99 %v %s",
				t, r.clients, r.allIn.Seconds(), r.failures, r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.firstErr)
		}
		if err := p.alive(); err != nil {
			return err
		}
	}
	return nil
}

// raiseFDLimit raises the soft open-file limit to the hard one, for 1,000 pgbench clients and 10,000
// idle ones; the poolers and pgbench inherit it.
func raiseFDLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("getrlimit: %v", err)
		return
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		logf("setrlimit: %v", err)
	}
	if lim.Max < maxClientConn {
		logf("warning: the open-file limit is %d; 10,000 idle clients need about 10,100 in each process", lim.Max)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func fmtFloat(x float64, prec int) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, x)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}
