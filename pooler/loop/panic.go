package loop

import (
	"fmt"
	"runtime"
)

// call runs a handler callback; a panic closes this conn only and is logged with
// its stack.
func (c *Conn) call(f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.l.g.cfg.Logger.Error("loop: panic in a connection handler; closing the connection",
				"loop", c.l.idx, "remote", fmt.Sprint(c.RemoteAddr()), "panic", fmt.Sprint(r), "stack", stack())
			if !c.finished {
				c.closeWith(ErrPanic)
			}
		}
	}()
	f()
}

// stack is the current goroutine's stack, up to 64 KiB.
func stack() string {
	buf := make([]byte, 64<<10)
	return string(buf[:runtime.Stack(buf, false)])
}
