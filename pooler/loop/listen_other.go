//go:build !linux

package loop

import (
	"net"

	"github.com/lesismal/nbio"
)

// rawConnSupported: Listen and EnrollFD are Linux's (accept4, nbio's epoll poller).
const rawConnSupported = false

func setStream(*nbio.Conn) bool { return false }

func newStreamConn(int, net.Addr, net.Addr) *nbio.Conn { return nil }
