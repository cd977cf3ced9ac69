package relay

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// Collect removes the files no event names once nobody has uploaded or
// named them for the grace period, and nothing else: a file an event names
// stays however old, an upload within the grace stays, and a refs file
// whose file is gone goes.
func TestDiskBlobsCollect(t *testing.T) {
	b, err := OpenDiskBlobs(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const grace = 30 * 24 * time.Hour
	long := now.Add(-grace - time.Hour)
	put := func(ws, text string, age time.Time, refs ...FileRef) string {
		t.Helper()
		data := []byte(text)
		id := shaHex(data)
		if _, _, err := b.Put(ws, id, bytes.NewReader(data), 1<<20); err != nil {
			t.Fatal(err)
		}
		if len(refs) > 0 {
			if err := b.Refer(ws, id, refs...); err != nil {
				t.Fatal(err)
			}
		}
		for _, p := range []string{b.path(ws, id), b.path(ws, id) + ".refs"} {
			if err := os.Chtimes(p, age, age); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		}
		return id
	}
	other := "Ünïcode workspace"
	never := put(testWS, "uploaded, never sent", long, FileRef{Uploader: "contact:42"})
	noRefs := put(other, "stored, its uploader's ref lost in a crash", long)
	named := put(testWS, "sent a year ago", long, FileRef{Uploader: "contact:42"}, FileRef{Seq: 7, Conv: "c1"})
	namedOther := put(other, "sent by the API", long, FileRef{Uploader: "api:backend"}, FileRef{Seq: 3, Conv: "c9"})
	recent := put(testWS, "uploaded an hour ago, its message on its way", now.Add(-time.Hour), FileRef{Uploader: "visitor:v1"})
	// An old file uploaded again today by someone else: its refs were just written.
	again := put(testWS, "uploaded long ago and again today", long, FileRef{Uploader: "contact:1"})
	if err := b.Refer(testWS, again, FileRef{Uploader: "contact:2"}); err != nil {
		t.Fatal(err)
	}
	// An old file its uploader sends again today (a device back after a month offline).
	resent := put(testWS, "uploaded long ago, sent again today", long, FileRef{Uploader: "contact:5"})
	if _, created, err := b.Put(testWS, resent, bytes.NewReader([]byte("uploaded long ago, sent again today")), 1<<20); err != nil || created {
		t.Fatalf("Put again = %v, %v", created, err)
	}
	orphan := shaHex([]byte("a file removed before a crash"))
	if err := os.MkdirAll(filepath.Dir(b.path(testWS, orphan)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b.path(testWS, orphan)+".refs", []byte(`{"u":"contact:3"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(b.path(testWS, orphan)+".refs", long, long)

	removed, freed, err := b.Collect(grace, now)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(len("uploaded, never sent") + len("stored, its uploader's ref lost in a crash")); removed != 2 || freed != want {
		t.Fatalf("Collect = %d files, %d bytes; want 2, %d", removed, freed, want)
	}
	for _, c := range []struct {
		ws, id string
		kept   bool
	}{{testWS, never, false}, {other, noRefs, false}, {testWS, named, true}, {other, namedOther, true}, {testWS, recent, true}, {testWS, again, true}, {testWS, resent, true}} {
		if b.Has(c.ws, c.id) != c.kept {
			t.Errorf("file %s of %q: kept %v; want %v", c.id[:8], c.ws, !c.kept, c.kept)
		}
		_, err := os.Stat(b.path(c.ws, c.id) + ".refs")
		if !c.kept && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("refs of removed file %s: %v; want gone", c.id[:8], err)
		}
	}
	if _, err := os.Stat(b.path(testWS, orphan) + ".refs"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refs file without its file: %v; want gone", err)
	}
	if refs, _ := b.Refs(testWS, named); len(refs) != 2 {
		t.Errorf("refs of a named file = %v; want both kept", refs)
	}
	// Nothing more to do a second time.
	if removed, _, err := b.Collect(grace, now); err != nil || removed != 0 {
		t.Fatalf("Collect again = %d, %v; want 0", removed, err)
	}
}
