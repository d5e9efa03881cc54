package pooler

import "syscall"

// fdPeerUID returns the uid of the process that connected the Unix socket fd (SO_PEERCRED, socket(7)):
// the credentials at connect time.
func fdPeerUID(fd int) (uint32, error) {
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return cred.Uid, nil
}
