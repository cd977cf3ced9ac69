//go:build unix

package store

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time the process has used (user + system), every
// goroutine included: a measure the other processes on the machine do not
// inflate.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
