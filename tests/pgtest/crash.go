package pgtest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killWait bounds how long Kill waits for the postmaster's processes to go after SIGKILL.
const killWait = 30 * time.Second

// StopKeepImmediate stops the server with pg_ctl stop -m immediate: every server process quits at once
// (SIGQUIT), without a shutdown checkpoint, so that StartAgain runs crash recovery. The data directory
// is kept.
func (s *Server) StopKeepImmediate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errors.New("pgtest: StopKeepImmediate after Stop")
	}
	return s.stopLocked("immediate")
}

// Kill sends the postmaster SIGKILL, as a crash or the kernel's OOM killer would, and waits (up to 30 s)
// until it and every process it had started are gone: backends and auxiliary processes exit when they
// notice that the postmaster died. StartAgain then runs crash recovery on the kept data directory.
//
// Kill removes postmaster.pid. PostgreSQL would find the dead postmaster's PID in it and start anyway,
// but where nothing reaps orphans (PID 1 in some containers) the killed postmaster stays a zombie,
// which kill(pid, 0) still finds, and PostgreSQL would refuse to start ("lock file already exists").
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errors.New("pgtest: Kill after Stop")
	}
	pidFile := filepath.Join(s.DataDir, "postmaster.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("pgtest: Kill: the server is not running: %w", err)
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return fmt.Errorf("pgtest: Kill: postmaster.pid starts with %q", line)
	}
	procs := append(childPIDs(pid), pid)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("pgtest: Kill: SIGKILL to postmaster %d: %w", pid, err)
	}
	deadline := time.Now().Add(killWait)
	for _, p := range procs {
		for !processGone(p) {
			if time.Now().After(deadline) {
				return fmt.Errorf("pgtest: Kill: process %d of postmaster %d still running after %s", p, pid, killWait)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	s.running = false
	if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pgtest: Kill: %w", err)
	}
	return nil
}

// childPIDs returns the processes whose parent is pid, from /proc (Linux).
func childPIDs(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ppid, _, ok := procStat(p); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// processGone reports whether pid has exited: no longer in /proc, or a zombie nobody has reaped.
func processGone(pid int) bool {
	_, state, ok := procStat(pid)
	return !ok || state == 'Z' || state == 'X'
}

// procStat reads the parent PID and state letter of pid from /proc/PID/stat.
func procStat(pid int) (ppid int, state byte, ok bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "PID (comm) S PPID ...": comm may hold spaces and parentheses, so cut at the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 || len(f[0]) != 1 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil {
		return 0, 0, false
	}
	return ppid, f[0][0], true
}
