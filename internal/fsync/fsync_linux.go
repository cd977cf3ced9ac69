package fsync

import (
	"os"

	"golang.org/x/sys/unix"
)

// Data flushes f's data (not its timestamps) to the disk: fdatasync.
func Data(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// Preallocate reserves size bytes for f, so that data written later does
// not change the file's size and Data need not write it.
func Preallocate(f *os.File, size int64) error {
	return unix.Fallocate(int(f.Fd()), 0, 0, size)
}
