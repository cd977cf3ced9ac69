// Package fsync makes what a program wrote survive a crash: a file's data,
// and a directory's entries (a created, renamed or removed file).
package fsync

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Dir syncs dir, so that files created, renamed or removed in it stay so.
func Dir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("fsync: sync %s: %w", dir, err)
	}
	return nil
}
