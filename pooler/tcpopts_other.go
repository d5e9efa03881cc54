//go:build !linux

package pooler

import "time"

// setUserTimeout does nothing: TCP_USER_TIMEOUT is Linux's, and PgBouncer ignores tcp_user_timeout
// elsewhere too (doc/config.md).
func setUserTimeout(uintptr, time.Duration) error { return nil }
