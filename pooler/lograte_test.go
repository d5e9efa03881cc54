package pooler

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the limiter's timer goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestLogLimiter: of 1,000 events in one interval, burst are logged and one summary line follows at the
// interval's end with the count of the rest; the next interval logs again.
func TestLogLimiter(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	l := &logLimiter{burst: 5, interval: 200 * time.Millisecond}
	for range 1000 {
		l.log(logger, slog.LevelInfo, "event", "k", "v")
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(buf.lines()) < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	lines := buf.lines()
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 5 and a summary:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, line := range lines[:5] {
		if !strings.Contains(line, "msg=event k=v") {
			t.Errorf("line %q: want the event", line)
		}
	}
	if s := lines[5]; !strings.Contains(s, `msg="event (similar lines suppressed)" suppressed=995 interval=200ms`) {
		t.Errorf("summary %q: want suppressed=995", s)
	}
	time.Sleep(250 * time.Millisecond) // into the next interval: its first events are logged again
	l.log(logger, slog.LevelInfo, "event", "k", "again")
	if lines := buf.lines(); len(lines) != 7 || !strings.Contains(lines[6], "k=again") {
		t.Errorf("after the interval: %q, want the event logged", lines[len(lines)-1])
	}
}
