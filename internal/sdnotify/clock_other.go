//go:build !linux

package sdnotify

import "time"

var start = time.Now()

// monotonicNow has no CLOCK_MONOTONIC to read off Linux; systemd only
// runs there.
func monotonicNow() time.Duration { return time.Since(start) }
