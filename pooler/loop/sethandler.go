package loop

// SetHandler makes h the conn's handler from the next callback on (a login handler giving way to the
// relay's once the client is logged in). Call it on the loop; bytes OnData leaves unconsumed are offered to
// h with the next read, so a handler that switches within OnData offers the rest to h itself.
func (c *Conn) SetHandler(h Handler) { c.h = h }
