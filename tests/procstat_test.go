package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// procField returns the number after name in /proc/pid/file (lines "name: value [kB]"), in bytes when
// the line says kB.
func procField(t testing.TB, pid int, file, name string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/%s", pid, file))
	if err != nil {
		t.Skipf("no /proc to watch the pooler's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || k != name {
			continue
		}
		fields := strings.Fields(v)
		n, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/%s %s: %v", pid, file, name, err)
		}
		if len(fields) > 1 && fields[1] == "kB" {
			n <<= 10
		}
		return n
	}
	t.Fatalf("/proc/%d/%s has no %s", pid, file, name)
	return 0
}

// rssOf returns the resident set size of process pid in bytes (VmRSS).
func rssOf(t testing.TB, pid int) int64 { return procField(t, pid, "status", "VmRSS") }

// bytesReadBy returns how many bytes process pid has read with read system calls, sockets included (rchar).
func bytesReadBy(t testing.TB, pid int) int64 { return procField(t, pid, "io", "rchar") }

// tcpQueues returns the send and receive queues in bytes (tx_queue, rx_queue in /proc/net/tcp) of the
// loopback socket whose local port is local and remote port remote: rx is what arrived and was not read
// yet, tx what was written and not yet acknowledged by the peer.
func tcpQueues(t testing.TB, local, remote int) (tx, rx int64) {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp to watch the sockets: %v", err)
	}
	defer f.Close()
	l, r := fmt.Sprintf(":%04X", local), fmt.Sprintf(":%04X", remote)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 || !strings.HasSuffix(fields[1], l) || !strings.HasSuffix(fields[2], r) {
			continue
		}
		txs, rxs, _ := strings.Cut(fields[4], ":")
		tx, err1 := strconv.ParseInt(txs, 16, 64)
		rx, err2 := strconv.ParseInt(rxs, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("/proc/net/tcp line %q", sc.Text())
		}
		return tx, rx
	}
	t.Fatalf("no socket from port %d to port %d in /proc/net/tcp", local, remote)
	return 0, 0
}

// binaryPooler is the pgpooler binary running in a process of its own (so that its RSS is its own),
// listening on 127.0.0.1:port.
type binaryPooler struct {
	testPooler
	pid  int
	logs *syncBuffer
}

// startBinaryPooler builds and starts the binary with the given [pooler] settings (TOML lines) in front
// of PostgreSQL at host:port, and waits until it accepts connections; it is killed at the test's end.
func startBinaryPooler(t *testing.T, settings, host string, port int) *binaryPooler {
	t.Helper()
	bin := buildBinary(t)
	listen, err := pgtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	cfg := fmt.Sprintf("[pooler]\nlisten_addr = \"127.0.0.1\"\nlisten_port = %d\n%s\n[databases.\"*\"]\nhost = %q\nport = %d\npassword = %q\n",
		listen, settings, host, port, appPassword)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(bin, path)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("pooler log:\n%s", logs.String())
		}
	})
	bp := &binaryPooler{testPooler: testPooler{port: listen, logs: logs}, pid: cmd.Process.Pid, logs: logs}
	eventually(t, 10*time.Second, "the pooler binary listening", func() bool {
		select {
		case <-exited:
			t.Fatalf("the pooler exited:\n%s", logs.String())
		default:
		}
		c, err := net.DialTimeout("tcp", bp.addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return bp
}
