package relay

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cutReader yields n bytes of b, then fails, as a connection cut mid-body
// does.
type cutReader struct {
	b []byte
	n int
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		return 0, errors.New("connection reset by peer")
	}
	k := copy(p[:min(len(p), c.n)], c.b)
	c.b, c.n = c.b[k:], c.n-k
	return k, nil
}

// An upload cut off restarts cleanly. A Put whose body breaks leaves
// nothing behind (no temporary file, nothing under the file's name); the
// unfinished uploads a crash left, in any workspace, are removed when the
// store opens, and nothing else is; a Put of the whole file afterwards
// stores it once.
func TestDiskBlobsCutUploadRestarts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "files")
	b, err := OpenDiskBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("a line of the incident log\n"), 100_000) // 2.6 MB
	id := shaHex(data)
	tmpsOf := func(ws string) []string {
		ps, _ := filepath.Glob(filepath.Join(b.wsDir(ws), "tmp", "*"))
		return ps
	}

	// Cut by the network: the Put fails and cleans up after itself.
	if _, _, err := b.Put(testWS, id, &cutReader{b: data, n: len(data) / 2}, 25<<20); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("Put of a cut body = %v; want the read's error", err)
	}
	if ps := tmpsOf(testWS); len(ps) != 0 {
		t.Fatalf("a cut upload left %v", ps)
	}
	if b.Has(testWS, id) {
		t.Fatal("a cut upload is stored")
	}

	// Cut by a crash: unfinished uploads stay on disk until the next open.
	other := "Ünïcode workspace" // a folder named by its hex
	kept := bytes.Repeat([]byte("kept\n"), 10)
	if _, created, err := b.Put(other, shaHex(kept), bytes.NewReader(kept), 25<<20); err != nil || !created {
		t.Fatalf("Put = %v, %v", created, err)
	}
	for _, ws := range []string{testWS, other} {
		tmp := filepath.Join(b.wsDir(ws), "tmp")
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"up-123", "up-456"} {
			if err := os.WriteFile(filepath.Join(tmp, name), data[:1<<20], 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.Close()
	b, err = OpenDiskBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range []string{testWS, other} {
		if ps := tmpsOf(ws); len(ps) != 0 {
			t.Fatalf("after open, unfinished uploads of %q remain: %v", ws, ps)
		}
	}
	if r, _, err := b.Open(other, shaHex(kept)); err != nil {
		t.Fatalf("a stored file after open: %v", err)
	} else {
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, kept) {
			t.Fatal("a stored file changed when the store opened")
		}
	}

	// The upload again, whole: stored once, and once more is no new file.
	if _, created, err := b.Put(testWS, id, bytes.NewReader(data), 25<<20); err != nil || !created {
		t.Fatalf("Put after the cuts = %v, %v; want created", created, err)
	}
	if _, created, err := b.Put(testWS, id, bytes.NewReader(data), 25<<20); err != nil || created {
		t.Fatalf("Put once more = %v, %v; want stored already", created, err)
	}
	ps, _ := filepath.Glob(filepath.Join(b.wsDir(testWS), "*", "*"))
	if len(ps) != 1 || ps[0] != b.path(testWS, id) {
		t.Fatalf("files of %s = %v; want %s alone", testWS, ps, b.path(testWS, id))
	}
}
