package tests

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodConn opens a connection to addr, writes packet, reads until the pooler closes the connection,
// and closes it with a reset, so that 20,000 of them leave no TIME_WAIT behind on either side.
func floodConn(addr string, packet []byte) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetLinger(0)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(packet); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, c)
	return err
}

// forgedCancel is a CancelRequest with a random process ID and secret key.
func forgedCancel() []byte {
	p := make([]byte, 16)
	binary.BigEndian.PutUint32(p, 16)
	binary.BigEndian.PutUint32(p[4:], cancelRequestCode)
	_, _ = rand.Read(p[8:])
	return p
}

// protocol2Startup is a start-up packet asking for protocol 2.0, which fails the login (0A000).
var protocol2Startup = []byte{0, 0, 0, 8, 0, 2, 0, 0}

// countLines counts the log lines that contain s.
func countLines(log, s string) int {
	n := 0
	for line := range strings.SplitSeq(log, "\n") {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// TestForgedCancelFlood (issue 10, finding 10): 20,000 CancelRequests with random keys and 1,000 failed
// logins, which any peer can send without logging in, leave a bounded number of log lines; every cancel
// is counted (SHOW TOTALS total_cancel_request_count, total_cancel_unknown_key_count); and a client's
// queries keep working meanwhile.
func TestForgedCancelFlood(t *testing.T) {
	// Each sender: 1,000 cancels and 50 logins. At most 20 lines per 10 s and kind are logged, plus a
	// summary line per 10 s (pooler/lograte.go): maxLines, set from how long the flood took, is that many
	// per 10 s begun, and never less than 100 (a slow run on a loaded machine takes several windows).
	const senders, cancels, badLogins = 20, 20000, 1000
	const linesPerWindow, window = 21, 10 * time.Second
	tp := startPooler(t, withMode("transaction"))
	conn := tp.connect(t)
	before := tp.srv.Snapshot().Cancels

	stop := make(chan struct{})
	var queries atomic.Int64
	workErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				workErr <- nil
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			var n int
			err := conn.QueryRow(ctx, "SELECT 1").Scan(&n)
			cancel()
			if err != nil {
				workErr <- err
				return
			}
			queries.Add(1)
		}
	}()

	began := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			const each, every = (cancels + badLogins) / senders, (cancels + badLogins) / badLogins
			for j := range each {
				packet := forgedCancel()
				if j%every == 0 {
					packet = protocol2Startup
				}
				if err := floodConn(tp.addr(), packet); err != nil {
					errs <- fmt.Errorf("sender %d, connection %d: %v", i, j, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(began)
	maxLines := max(100, linesPerWindow*(int(took/window)+2)) // +2: the window at the start and the one a summary ends
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := <-workErr; err != nil {
		t.Fatalf("a client's query during the flood: %v", err)
	}
	if queries.Load() == 0 {
		t.Fatal("the client ran no query during the flood")
	}

	logs := tp.logs.String()
	cancelLines, loginLines := countLines(logs, "cancel request with unknown key"), countLines(logs, "client login failed")
	if n := cancelLines; n > maxLines {
		t.Errorf("%d log lines about unknown-key cancel requests for %d of them; want at most %d", n, cancels, maxLines)
	}
	if n := loginLines; n > maxLines {
		t.Errorf("%d log lines about failed logins for %d of them; want at most %d", n, badLogins, maxLines)
	}
	after := tp.srv.Snapshot().Cancels
	if got := after.Received - before.Received; got != cancels {
		t.Errorf("cancel requests counted: %d; want %d", got, cancels)
	}
	if got := after.UnknownKey - before.UnknownKey; got != cancels {
		t.Errorf("cancel requests with unknown key counted: %d; want %d", got, cancels)
	}
	if got := after.Forwarded - before.Forwarded; got != 0 {
		t.Errorf("forged cancel requests forwarded: %d; want 0", got)
	}
	t.Logf("reliability: forged cancel flood: %d CancelRequests with random keys and %d protocol-2.0 logins (0A000) from %d senders, each on its own connection, in %s: log lines about unknown keys %d, about failed logins %d (at most %d each); counted received %d, unknown key %d, forwarded %d; a client's %d queries meanwhile all worked",
		cancels, badLogins, senders, roundTime(took), cancelLines, loginLines, maxLines,
		after.Received-before.Received, after.UnknownKey-before.UnknownKey, after.Forwarded-before.Forwarded, queries.Load())
}
