package pooler

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Log lines of one kind that any peer can cause without logging in are bounded: at most
// logBurst lines per logInterval, then one summary line at the end of that interval.
const (
	logBurst    = 20
	logInterval = 10 * time.Second
)

// logLimiter bounds the log lines of one kind of event that an unauthenticated peer can cause once per
// connection (a CancelRequest with an unknown key, a failed login), so that a flood of such connections
// cannot flood the log: the first logBurst events of each logInterval are logged; the rest are counted,
// and when the interval ends one line says how many similar lines were left out. The zero value is
// ready to use; it is safe for concurrent use.
type logLimiter struct {
	burst    int           // lines per interval; 0 = logBurst
	interval time.Duration // 0 = logInterval

	mu         sync.Mutex
	windowEnd  time.Time   // the current interval ends then
	logged     int         // lines written in the current interval
	suppressed int64       // lines left out since the last summary
	summary    *time.Timer // writes the summary at windowEnd; nil when none is due
}

// log writes msg with args at level unless this interval's lines are used up; then the event is only
// counted, for the summary line.
func (l *logLimiter) log(logger *slog.Logger, level slog.Level, msg string, args ...any) {
	burst, interval := l.limits()
	now := time.Now()
	l.mu.Lock()
	if now.After(l.windowEnd) {
		l.windowEnd, l.logged = now.Add(interval), 0
	}
	if l.logged < burst {
		l.logged++
		l.mu.Unlock()
		logger.Log(context.Background(), level, msg, args...)
		return
	}
	l.suppressed++
	if l.summary == nil {
		l.summary = time.AfterFunc(l.windowEnd.Sub(now), func() { l.flush(logger, level, msg) })
	}
	l.mu.Unlock()
}

func (l *logLimiter) limits() (int, time.Duration) {
	burst, interval := l.burst, l.interval
	if burst == 0 {
		burst = logBurst
	}
	if interval == 0 {
		interval = logInterval
	}
	return burst, interval
}

// flush writes the summary of the lines left out, if any.
func (l *logLimiter) flush(logger *slog.Logger, level slog.Level, msg string) {
	l.mu.Lock()
	n := l.suppressed
	l.suppressed, l.summary = 0, nil
	l.mu.Unlock()
	if n > 0 {
		_, interval := l.limits()
		logger.Log(context.Background(), level, msg+" (similar lines suppressed)", "suppressed", n, "interval", interval.String())
	}
}
