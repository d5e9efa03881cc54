//go:build !linux

package pooler

import "time"

// setUserTimeout does nothing: TCP_USER_TIMEOUT is Linux's, and PgBouncer ignores tcp_user_timeout
// elsewhere too (doc/config.md).
func setUserTimeout(uintptr, time.Duration) error { return nil }

// applyAccepted is never called here: loop listeners are Linux's (pooler/loop.ErrListenUnsupported).
func (o tcpOptions) applyAccepted(int) error { return nil }
