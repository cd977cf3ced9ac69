//go:build !linux

package fsync

import "os"

// Data flushes f to the disk.
func Data(f *os.File) error { return f.Sync() }

// Preallocate sets f's size; the file system may allocate blocks lazily.
func Preallocate(f *os.File, size int64) error { return f.Truncate(size) }
