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
	// errPanic is the close cause of a conn whose handler panicked.
	errPanic = errors.New("loop: handler panicked")
)
