package tests

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// The reference: PgBouncer itself, run on the same pgbouncer.ini as pgpooler (TestPgbouncerINI).

// pgbouncerBinary is PgBouncer's binary ($PGBOUNCER, else the Debian package's), "" when it is missing.
func pgbouncerBinary() string {
	path := os.Getenv("PGBOUNCER")
	if path == "" {
		path = "/usr/sbin/pgbouncer"
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return path
}

// pgbouncerCredential is who PgBouncer runs as: it refuses root, so as root it is the OS user postgres
// (which runs the test PostgreSQL too); nil (this process's user) otherwise.
func pgbouncerCredential(t *testing.T) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root, so PgBouncer must run as the OS user postgres: %v", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		t.Fatalf("OS user postgres has uid %q, gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// sharedDir makes a directory that both pgpooler (this user) and PgBouncer (owner) can use, removed at
// the end of the test; chownAll gives what is in it to owner.
func sharedDir(t *testing.T, owner *syscall.Credential) (dir string, chownAll func()) {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgbouncer-ini-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	chownAll = func() {
		if owner == nil {
			return
		}
		err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Chown(p, int(owner.Uid), int(owner.Gid))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	chownAll()
	return dir, chownAll
}

// runPgBouncer runs PgBouncer on ini in the foreground, in ini's directory (PgBouncer takes relative
// paths from its working directory), until the test ends or stop is called; its stderr is returned.
func runPgBouncer(t *testing.T, bin, ini string, owner *syscall.Credential) (stop func(), logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	cmd := exec.Command(bin, ini)
	cmd.Dir = filepath.Dir(ini)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: owner, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("PgBouncer output:\n%s", logs.String())
		}
	})
	return stop, logs
}
