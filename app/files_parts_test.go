package app

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A crash mid-attach or mid-download leaves an unfinished file (.part-*) in
// the profile's files folder: it goes at the process's first put and at
// every eviction once it has not been written for partTTL, while a put in
// progress (written just now) is left alone. A put whose bytes stop coming
// leaves nothing.
func TestFilesSweepCrashLeftovers(t *testing.T) {
	f := &fileStore{dir: t.TempDir()}
	old := filepath.Join(f.dir, ".part-111")
	fresh := filepath.Join(f.dir, ".part-222")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, bytes.Repeat([]byte("half a screenshot"), 1000), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	long := time.Now().Add(-2 * partTTL)
	if err := os.Chtimes(old, long, long); err != nil {
		t.Fatal(err)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 200)...)
	sha, _, _, err := f.put(bytes.NewReader(png), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a crash's unfinished file after the first put: %v; want removed", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("an unfinished file written just now: %v; want kept (a put may be writing it)", err)
	}

	// Cut mid-body: nothing left behind.
	pr, pw := io.Pipe()
	go func() { pw.Write(png[:50]); pw.CloseWithError(errors.New("connection reset")) }()
	if _, _, _, err := f.put(pr, ""); err == nil {
		t.Fatal("a put cut mid-body succeeded")
	}
	if ps, _ := filepath.Glob(filepath.Join(f.dir, ".part-*")); len(ps) != 1 || ps[0] != fresh {
		t.Fatalf("unfinished files after a cut put = %v; want only %s", ps, fresh)
	}

	// Once it has not been written for partTTL, an eviction sweeps it.
	if err := os.Chtimes(fresh, long, long); err != nil {
		t.Fatal(err)
	}
	if _, err := f.evict(1<<30, nil); err != nil {
		t.Fatal(err)
	}
	if ps, _ := filepath.Glob(filepath.Join(f.dir, ".part-*")); len(ps) != 0 {
		t.Fatalf("after an eviction, unfinished files = %v; want none", ps)
	}
	if !f.has(sha) {
		t.Fatal("the stored file went with the leftovers")
	}
}
