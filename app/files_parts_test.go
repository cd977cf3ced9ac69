package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http/httptest"
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

// A download streamed to the UI (streamDownload's holdTail and putThen):
// the bytes pass on as they come, all but the last 64 KiB, which go once
// the whole has hashed to the file's name, before the folder's sync; bytes
// that hash to something else leave the answer short of its length (a
// failed load) and nothing in the folder.
func TestStreamedDownloadHoldsItsTail(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte("pixels"), 200_000)...)
	sum := sha256.Sum256(png)
	sha := hex.EncodeToString(sum[:])
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"the file", png, true},
		{"other bytes", append(append([]byte{}, png[:len(png)-1]...), 'x'), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &fileStore{dir: t.TempDir()}
			rr := httptest.NewRecorder()
			out := &holdTail{w: rr, hold: int64(len(c.body)) - 64<<10}
			var atVerify int
			_, _, _, err := f.putThen(io.TeeReader(bytes.NewReader(c.body), out), sha, func() {
				atVerify = rr.Body.Len()
				out.release()
			})
			if atVerify != len(c.body)-64<<10 && c.ok {
				t.Fatalf("before the hash was checked the UI had %d bytes; want all but the last 64 KiB (%d)", atVerify, len(c.body)-64<<10)
			}
			if c.ok {
				if err != nil || !bytes.Equal(rr.Body.Bytes(), png) || !rr.Flushed || !f.has(sha) {
					t.Fatalf("put = %v; the UI got %d bytes (flushed %v); kept %v; want the whole file, flushed, kept", err, rr.Body.Len(), rr.Flushed, f.has(sha))
				}
				return
			}
			if err == nil || rr.Body.Len() != len(c.body)-64<<10 || f.has(sha) {
				t.Fatalf("put = %v; the UI got %d of %d bytes; kept %v; want an error, the tail held back, nothing kept", err, rr.Body.Len(), len(c.body), f.has(sha))
			}
		})
	}
}
