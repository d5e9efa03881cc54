package loop

import "errors"

var (
	// ErrStopped is returned by Enroll and Run once the group is stopping.
	ErrStopped = errors.New("loop: stopped")
	// ErrInboundLimit closes a conn whose handler leaves Config.InboundLimit bytes
	// or more unconsumed.
	ErrInboundLimit = errors.New("loop: unconsumed inbound bytes over the limit")
	// ErrClosed is returned by Conn.Write on a closed conn.
	ErrClosed = errors.New("loop: connection closed")
	// ErrPanic is the close cause, given to OnClose, of a conn whose handler panicked (panic.go); the
	// panic is logged with its stack.
	ErrPanic = errors.New("loop: handler panicked")
)
