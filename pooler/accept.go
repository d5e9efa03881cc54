package pooler

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Accept back-off, as net/http's Server.Serve does after a temporary error: 5 ms, doubling, at most 1 s;
// reset by a successful accept.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLogInterval is how often a run of failing accepts is logged at most: once, with the number of
// failures since the previous line.
const acceptLogInterval = 10 * time.Second

// acceptStats counts and logs failed accepts of every listener of a Server.
type acceptStats struct {
	errors atomic.Uint64 // failed accepts since the Server started (Snapshot.AcceptErrors)

	mu         sync.Mutex
	lastLog    time.Time // when the last line was written
	unreported uint64    // failures since then
}

// failed counts err and logs it, at most once per acceptLogInterval, with how many failures the line
// stands for and how long the listener waits before it tries again.
func (a *acceptStats) failed(logger *slog.Logger, ln net.Listener, err error, retryIn time.Duration) {
	a.errors.Add(1)
	a.mu.Lock()
	a.unreported++
	now := time.Now()
	if !a.lastLog.IsZero() && now.Sub(a.lastLog) < acceptLogInterval {
		a.mu.Unlock()
		return
	}
	n := a.unreported
	a.unreported, a.lastLog = 0, now
	a.mu.Unlock()
	msg := "accept failed; retrying"
	if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
		msg = "accept failed: out of file descriptors (raise the open file limit or lower max_client_conn); retrying"
	}
	logger.Error(msg, "addr", ln.Addr().String(), "error", err, "failures", n, "retry_in", retryIn,
		"failures_total", a.errors.Load(), "log_interval", acceptLogInterval)
}

// retryableAccept reports whether a failed Accept may succeed later, so the listener should back off and
// try again rather than stop: running out of file descriptors (EMFILE, ENFILE) or kernel memory
// (ENOBUFS, ENOMEM), a connection aborted or refused by a firewall before it was accepted (ECONNABORTED,
// EPERM, EPROTO), an interrupted or would-block call, and timeouts (accept(2), "Error handling": such
// errors are to be retried).
func retryableAccept(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.EPERM, syscall.EPROTO, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptWait sleeps d, or less when the Server shuts down; it reports whether it is shutting down.
func (s *Server) acceptWait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return false
	case <-s.done:
		return true
	}
}
