package pooler

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAcceptErrorsRetried: running out of descriptors, memory or buffers and aborted connections are
// retried; other errors and a closed listener are not.
func TestAcceptErrorsRetried(t *testing.T) {
	wrap := func(e error) error {
		return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", e)}
	}
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if !retryableAccept(wrap(e)) {
			t.Errorf("%v is not retried", e)
		}
	}
	for _, err := range []error{wrap(syscall.EBADF), wrap(syscall.EINVAL), net.ErrClosed} {
		if retryableAccept(err) {
			t.Errorf("%v is retried", err)
		}
	}
}

// TestAcceptErrorsLoggedOncePerInterval: a burst of failures is counted in full and logged once, with
// the number of failures the line stands for.
func TestAcceptErrorsLoggedOncePerInterval(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var a acceptStats
	emfile := &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	for range 1000 {
		a.failed(logger, ln, emfile, time.Second)
	}
	if n := a.errors.Load(); n != 1000 {
		t.Errorf("counted %d failures, want 1000", n)
	}
	if lines := strings.Count(buf.String(), "\n"); lines != 1 || !strings.Contains(buf.String(), "out of file descriptors") {
		t.Errorf("%d log lines, want 1 naming the cause:\n%s", lines, buf.String())
	}
	a.mu.Lock()
	a.lastLog = time.Now().Add(-acceptLogInterval) // the interval has passed
	a.mu.Unlock()
	a.failed(logger, ln, emfile, time.Second)
	if !strings.Contains(buf.String(), fmt.Sprintf("failures=%d", 1000)) {
		t.Errorf("second line does not count the 999 suppressed failures and this one:\n%s", buf.String())
	}
}
