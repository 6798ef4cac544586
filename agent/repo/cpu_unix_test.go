//go:build unix

package repo

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time: on a loaded machine it is a
// steadier measure of a scan's cost than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
