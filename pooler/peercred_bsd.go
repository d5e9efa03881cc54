//go:build darwin || freebsd

package pooler

import "golang.org/x/sys/unix"

// fdPeerUID returns the effective uid of the process that connected the Unix socket fd (LOCAL_PEERCRED,
// unix(4); what getpeereid(3) reads on these systems).
func fdPeerUID(fd int) (uint32, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return 0, err
	}
	return x.Uid, nil
}
