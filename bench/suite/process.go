package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// pooler is a running pooler process: PgBouncer or pgpooler.
type pooler struct {
	name    string // target name
	version string
	config  string // its configuration file's text, for the report
	endpoint
	cmd     *exec.Cmd
	exited  chan error
	logPath string
}

func (p *pooler) pid() int { return p.cmd.Process.Pid }

// startProcess starts cmd with stdout and stderr appended to logPath, and waits until it accepts TCP
// connections on port (at most 30 s) or exits. The process gets SIGKILL if the suite dies.
func startProcess(p *pooler, cmd *exec.Cmd, cred *syscall.Credential) error {
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own copy
	if err := chown(p.logPath, cred); err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	p.cmd = cmd
	p.exited = make(chan error, 1)
	go func() { p.exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-p.exited:
			return fmt.Errorf("%s exited at start: %v; log:\n%s", p.name, err, fileTail(p.logPath, 20))
		default:
		}
		c, err := net.DialTimeout("tcp", p.addr(), time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return fmt.Errorf("%s does not accept connections on %s: %v", p.name, p.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process: SIGINT, then SIGKILL after 5 s.
func (p *pooler) stop() {
	if p == nil || p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

// alive reports an error when the process has exited.
func (p *pooler) alive() error {
	select {
	case err := <-p.exited:
		p.exited <- err
		return fmt.Errorf("%s has exited (%v); log:\n%s", p.name, err, fileTail(p.logPath, 20))
	default:
		return nil
	}
}

func chown(path string, cred *syscall.Credential) error {
	if cred == nil {
		return nil
	}
	return os.Chown(path, int(cred.Uid), int(cred.Gid))
}

// fileTail returns the last n lines of a file, for error messages.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
