//go:build !linux

package loop

import (
	"github.com/lesismal/nbio"
)

// pollFD is -1 where nbio does not use epoll: Detach is unsupported there.
func pollFD(*nbio.Engine) int { return -1 }

func epollDelete(int, int) error { return ErrDetachUnsupported }
