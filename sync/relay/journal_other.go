//go:build !linux

package relay

import "os"

// preallocate sets f's size; the file system may allocate blocks lazily.
func preallocate(f *os.File, size int64) error { return f.Truncate(size) }

// datasync flushes f to the disk.
func datasync(f *os.File) error { return f.Sync() }
