package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/eventlog"
)

// blobStores are the Blobs implementations the behaviour tests run over:
// each opens a fresh, empty store.
var blobStores = []struct {
	name string
	open func(t *testing.T) Blobs
}{
	{"disk", func(t *testing.T) Blobs {
		b, err := OpenDiskBlobs(filepath.Join(t.TempDir(), "files"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		return b
	}},
	{"jetstream", func(t *testing.T) Blobs {
		return openTestJetStreamBlobs(t, natsJS(t, natstest.Start(t)), filepath.Join(t.TempDir(), "cache"))
	}},
}

// natsJS connects to srv as a relay's log does, and returns its JetStream.
func natsJS(t *testing.T, srv *natstest.Server) jetstream.JetStream {
	t.Helper()
	log, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: srv.URL(), Replicas: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	return log.JetStream()
}

func openTestJetStreamBlobs(t *testing.T, js jetstream.JetStream, cache string) *JetStreamBlobs {
	t.Helper()
	b, err := OpenJetStreamBlobs(js, 1, cache)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// blobsOnce skips t on the suite's later passes (TestMain runs it once per
// log): the stores do not depend on the log.
func blobsOnce(t *testing.T) {
	t.Helper()
	if testLog.Name != relaytest.Logs[0].Name {
		t.Skipf("the file stores do not depend on the log: tested on the %s pass", relaytest.Logs[0].Name)
	}
}

func forBlobStores(t *testing.T, test func(t *testing.T, b Blobs)) {
	blobsOnce(t)
	for _, s := range blobStores {
		t.Run(s.name, func(t *testing.T) { test(t, s.open(t)) })
	}
}

func readAllBlob(t *testing.T, b Blobs, ws, id string) ([]byte, Blob) {
	t.Helper()
	r, blob, err := b.Open(ws, id)
	if err != nil {
		t.Fatalf("Open(%q, %s): %v", ws, id[:8], err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got, blob
}

// A Put stores the bytes under their sha256 once, describes them with the
// sniffed type, and answers created only the first time; Open gives them
// back and seeks (Range requests); what is not stored is ErrNoFile.
func TestBlobsPutOpenStat(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte("pixels"), 200_000)...) // 1.2 MB, several chunks
		id := shaHex(png)
		want := Blob{ID: id, SHA256: id, Size: int64(len(png)), Type: "image/png"}
		got, created, err := b.Put(testWS, id, bytes.NewReader(png), 25<<20)
		if err != nil || !created || got != want {
			t.Fatalf("Put = %+v, %v, %v; want %+v, created", got, created, err, want)
		}
		got, created, err = b.Put(testWS, id, bytes.NewReader(png), 25<<20)
		if err != nil || created || got != want {
			t.Fatalf("Put again = %+v, %v, %v; want %+v, not created", got, created, err, want)
		}
		if !b.Has(testWS, id) {
			t.Fatal("Has = false after Put")
		}
		if st, err := b.Stat(testWS, id); err != nil || st != want {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		data, blob := readAllBlob(t, b, testWS, id)
		if !bytes.Equal(data, png) || blob != want {
			t.Fatalf("Open = %d bytes, %+v", len(data), blob)
		}

		r, _, err := b.Open(testWS, id)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Seek(1_000_000, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		part := make([]byte, 100)
		if _, err := io.ReadFull(r, part); err != nil || !bytes.Equal(part, png[1_000_000:1_000_100]) {
			t.Fatalf("read after Seek = %q, %v", part, err)
		}
		r.Close()

		empty := shaHex(nil)
		if got, created, err := b.Put(testWS, empty, bytes.NewReader(nil), 25<<20); err != nil || !created || got.Size != 0 {
			t.Fatalf("Put of no bytes = %+v, %v, %v", got, created, err)
		}
		if data, blob := readAllBlob(t, b, testWS, empty); len(data) != 0 || blob.Size != 0 {
			t.Fatalf("Open of no bytes = %q, %+v", data, blob)
		}

		missing := shaHex([]byte("never stored"))
		for _, ws := range []string{testWS, "other", "Ünïcode workspace"} {
			if _, _, err := b.Open(ws, missing); !errors.Is(err, ErrNoFile) {
				t.Errorf("Open(%q) of a missing file = %v; want ErrNoFile", ws, err)
			}
			if _, err := b.Stat(ws, missing); !errors.Is(err, ErrNoFile) {
				t.Errorf("Stat(%q) of a missing file = %v; want ErrNoFile", ws, err)
			}
			if b.Has(ws, missing) {
				t.Errorf("Has(%q) of a missing file", ws)
			}
		}
		for _, bad := range []string{"", "x", strings.ToUpper(id), id + "0", "../" + id[3:]} {
			if _, _, err := b.Open(testWS, bad); !errors.Is(err, ErrNoFile) {
				t.Errorf("Open(%q) = %v; want ErrNoFile", bad, err)
			}
			if _, err := b.Stat(testWS, bad); !errors.Is(err, ErrNoFile) {
				t.Errorf("Stat(%q) = %v; want ErrNoFile", bad, err)
			}
			if b.Has(testWS, bad) {
				t.Errorf("Has(%q)", bad)
			}
			if _, _, err := b.Put(testWS, bad, bytes.NewReader(png), 25<<20); !errors.Is(err, ErrBadFileID) {
				t.Errorf("Put(%q) = %v; want ErrBadFileID", bad, err)
			}
			if err := b.Refer(testWS, bad, FileRef{Uploader: "contact:1"}); !errors.Is(err, ErrBadFileID) {
				t.Errorf("Refer(%q) = %v; want ErrBadFileID", bad, err)
			}
			if refs, err := b.Refs(testWS, bad); err != nil || len(refs) != 0 {
				t.Errorf("Refs(%q) = %v, %v", bad, refs, err)
			}
		}
	})
}

// Workspaces do not share files: the same bytes are stored in each that
// puts them, and a file of one is no file of another.
func TestBlobsWorkspacesApart(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		data := []byte("quarterly numbers\n")
		id := shaHex(data)
		other := "Ünïcode workspace"
		if _, created, err := b.Put(testWS, id, bytes.NewReader(data), 1<<20); err != nil || !created {
			t.Fatalf("Put = %v, %v", created, err)
		}
		if b.Has(other, id) {
			t.Fatal("a file of one workspace is in another")
		}
		if _, _, err := b.Open(other, id); !errors.Is(err, ErrNoFile) {
			t.Fatalf("Open in another workspace = %v; want ErrNoFile", err)
		}
		if err := b.Refer(testWS, id, FileRef{Uploader: "contact:1"}); err != nil {
			t.Fatal(err)
		}
		if refs, err := b.Refs(other, id); err != nil || len(refs) != 0 {
			t.Fatalf("Refs in another workspace = %v, %v", refs, err)
		}
		if _, created, err := b.Put(other, id, bytes.NewReader(data), 1<<20); err != nil || !created {
			t.Fatalf("Put in the other workspace = %v, %v; want created", created, err)
		}
		if got, _ := readAllBlob(t, b, other, id); !bytes.Equal(got, data) {
			t.Fatalf("Open in the other workspace = %q", got)
		}
	})
}

// A Put of bytes that are not the file's, or too many, stores nothing, and
// a Put of a stored file still reads and checks them.
func TestBlobsPutRefusals(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		data := bytes.Repeat([]byte("0123456789"), 100_000) // 1 MB
		id := shaHex(data)
		wrong := slices.Clone(data)
		wrong[len(wrong)-1] = 'x'
		if _, _, err := b.Put(testWS, id, bytes.NewReader(wrong), 25<<20); !errors.Is(err, ErrFileHash) {
			t.Fatalf("Put of other bytes = %v; want ErrFileHash", err)
		}
		if _, _, err := b.Put(testWS, id, bytes.NewReader(data), int64(len(data))-1); !errors.Is(err, ErrFileTooLarge) {
			t.Fatalf("Put over max = %v; want ErrFileTooLarge", err)
		}
		if b.Has(testWS, id) {
			t.Fatal("a refused Put stored the file")
		}
		if _, _, err := b.Open(testWS, id); !errors.Is(err, ErrNoFile) {
			t.Fatalf("Open after refused Puts = %v", err)
		}
		// Stored: the same checks, and the file stays as it was.
		if _, created, err := b.Put(testWS, id, bytes.NewReader(data), int64(len(data))); err != nil || !created {
			t.Fatalf("Put at max = %v, %v", created, err)
		}
		if _, _, err := b.Put(testWS, id, bytes.NewReader(wrong), 25<<20); !errors.Is(err, ErrFileHash) {
			t.Fatalf("Put of other bytes over a stored file = %v; want ErrFileHash", err)
		}
		if _, _, err := b.Put(testWS, id, bytes.NewReader(data), 1000); !errors.Is(err, ErrFileTooLarge) {
			t.Fatalf("Put of a stored file over max = %v; want ErrFileTooLarge", err)
		}
		if got, _ := readAllBlob(t, b, testWS, id); !bytes.Equal(got, data) {
			t.Fatal("the stored file changed")
		}
	})
}

// An upload cut off stores nothing, and the whole one afterwards is
// created.
func TestBlobsCutUpload(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		data := bytes.Repeat([]byte("a line of the incident log\n"), 100_000) // 2.6 MB
		id := shaHex(data)
		if _, _, err := b.Put(testWS, id, &cutReader{b: data, n: len(data) / 2}, 25<<20); err == nil || !strings.Contains(err.Error(), "reset") {
			t.Fatalf("Put of a cut body = %v; want the read's error", err)
		}
		if b.Has(testWS, id) {
			t.Fatal("a cut upload is stored")
		}
		if _, created, err := b.Put(testWS, id, bytes.NewReader(data), 25<<20); err != nil || !created {
			t.Fatalf("Put after the cut = %v, %v; want created", created, err)
		}
	})
}

// Concurrent Puts of the same bytes all succeed, and one of them created
// the file.
func TestBlobsConcurrentPuts(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		data := bytes.Repeat([]byte("same bytes "), 50_000)
		id := shaHex(data)
		var wg sync.WaitGroup
		var mu sync.Mutex
		createdN := 0
		for range 6 {
			wg.Go(func() {
				_, created, err := b.Put(testWS, id, bytes.NewReader(data), 25<<20)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				if created {
					createdN++
				}
				mu.Unlock()
			})
		}
		wg.Wait()
		if createdN != 1 {
			t.Fatalf("%d Puts answered created; want 1", createdN)
		}
		if got, _ := readAllBlob(t, b, testWS, id); !bytes.Equal(got, data) {
			t.Fatal("the file is not its bytes")
		}
	})
}

// Refs come back oldest first, each once: a ref recorded already (the same
// uploader, the same seq) is skipped, in one Refer or a later one.
func TestBlobsRefs(t *testing.T) {
	forBlobStores(t, func(t *testing.T, b Blobs) {
		data := []byte("signed contract")
		id := shaHex(data)
		if refs, err := b.Refs(testWS, id); err != nil || len(refs) != 0 {
			t.Fatalf("Refs of a file never stored = %v, %v", refs, err)
		}
		if _, _, err := b.Put(testWS, id, bytes.NewReader(data), 1<<20); err != nil {
			t.Fatal(err)
		}
		if refs, err := b.Refs(testWS, id); err != nil || len(refs) != 0 {
			t.Fatalf("Refs of a file with none = %v, %v", refs, err)
		}
		long := "api:" + strings.Repeat("k", 200)
		steps := [][]FileRef{
			{{Uploader: "contact:42"}},
			{{Seq: 7, Conv: "c1"}, {Uploader: "contact:42"}, {Seq: 7, Conv: "c1"}},
			{{Uploader: "api:backend"}, {Seq: 12, Conv: "c2"}, {Uploader: long}},
			{{Seq: 12, Conv: "c2"}, {Uploader: "contact:42"}, {Uploader: long}},
		}
		for _, refs := range steps {
			if err := b.Refer(testWS, id, refs...); err != nil {
				t.Fatal(err)
			}
		}
		want := []FileRef{{Uploader: "contact:42"}, {Seq: 7, Conv: "c1"}, {Uploader: "api:backend"}, {Seq: 12, Conv: "c2"}, {Uploader: long}}
		if refs, err := b.Refs(testWS, id); err != nil || !slices.Equal(refs, want) {
			t.Fatalf("Refs = %v, %v; want %v", refs, err, want)
		}
		if err := b.Refer(testWS, id); err != nil {
			t.Fatalf("Refer of nothing = %v", err)
		}
		other := shaHex([]byte("another file"))
		if refs, err := b.Refs(testWS, other); err != nil || len(refs) != 0 {
			t.Fatalf("Refs of another file = %v, %v", refs, err)
		}
	})
}

// Two relays sharing a NATS server (each with its own cache) see each
// other's files and refs; the second Put of a file is no new file.
func TestJetStreamBlobsTwoRelays(t *testing.T) {
	blobsOnce(t)
	srv := natstest.Start(t)
	a := openTestJetStreamBlobs(t, natsJS(t, srv), filepath.Join(t.TempDir(), "a"))
	b := openTestJetStreamBlobs(t, natsJS(t, srv), filepath.Join(t.TempDir(), "b"))

	gif := append([]byte("GIF89a"), bytes.Repeat([]byte{7}, 300_000)...)
	id := shaHex(gif)
	want := Blob{ID: id, SHA256: id, Size: int64(len(gif)), Type: "image/gif"}
	if _, created, err := a.Put(testWS, id, bytes.NewReader(gif), 25<<20); err != nil || !created {
		t.Fatalf("Put on a = %v, %v", created, err)
	}
	if !b.Has(testWS, id) {
		t.Fatal("b does not have a's file")
	}
	if st, err := b.Stat(testWS, id); err != nil || st != want {
		t.Fatalf("Stat on b (from the object store) = %+v, %v; want %+v", st, err, want)
	}
	if _, err := os.Stat(b.cachePath(testWS, id)); err == nil {
		t.Fatal("Stat fetched the file")
	}
	if got, blob := readAllBlob(t, b, testWS, id); !bytes.Equal(got, gif) || blob != want {
		t.Fatalf("Open on b = %d bytes, %+v", len(got), blob)
	}
	if _, err := os.Stat(b.cachePath(testWS, id)); err != nil {
		t.Fatalf("Open on b did not cache the file: %v", err)
	}
	if _, created, err := b.Put(testWS, id, bytes.NewReader(gif), 25<<20); err != nil || created {
		t.Fatalf("Put on b of a's file = %v, %v; want not created", created, err)
	}

	if err := a.Refer(testWS, id, FileRef{Uploader: "contact:1"}); err != nil {
		t.Fatal(err)
	}
	if err := b.Refer(testWS, id, FileRef{Uploader: "contact:1"}, FileRef{Seq: 3, Conv: "c"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Refer(testWS, id, FileRef{Seq: 3, Conv: "c"}, FileRef{Uploader: "agent:9"}); err != nil {
		t.Fatal(err)
	}
	wantRefs := []FileRef{{Uploader: "contact:1"}, {Seq: 3, Conv: "c"}, {Uploader: "agent:9"}}
	for name, s := range map[string]*JetStreamBlobs{"a": a, "b": b} {
		if refs, err := s.Refs(testWS, id); err != nil || !slices.Equal(refs, wantRefs) {
			t.Errorf("Refs on %s = %v, %v; want %v", name, refs, err, wantRefs)
		}
	}

	// Both racing on one new file: both succeed, the file is its bytes.
	data := bytes.Repeat([]byte("raced "), 100_000)
	rid := shaHex(data)
	var wg sync.WaitGroup
	for _, s := range []*JetStreamBlobs{a, b, a, b} {
		wg.Go(func() {
			if _, _, err := s.Put(testWS, rid, bytes.NewReader(data), 25<<20); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, s := range []*JetStreamBlobs{a, b} {
		if got, _ := readAllBlob(t, s, testWS, rid); !bytes.Equal(got, data) {
			t.Fatal("a raced file is not its bytes")
		}
	}

	// The buckets are the workspace's, named like its stream.
	ctx := context.Background()
	js := natsJS(t, srv)
	tok := strings.TrimPrefix(eventlog.StreamName(testWS), "TL_")
	if _, err := js.ObjectStore(ctx, "TLF_"+tok); err != nil {
		t.Errorf("object store TLF_%s: %v", tok, err)
	}
	if _, err := js.KeyValue(ctx, "TLR_"+tok); err != nil {
		t.Errorf("key-value TLR_%s: %v", tok, err)
	}
}

// The cache is only a cache: deleting it, under a running store or between
// two, loses no file and no ref; and a cache file a crash left unfinished
// is removed when the store opens.
func TestJetStreamBlobsCacheLoss(t *testing.T) {
	blobsOnce(t)
	srv := natstest.Start(t)
	js := natsJS(t, srv)
	cache := filepath.Join(t.TempDir(), "cache", "files")
	b := openTestJetStreamBlobs(t, js, cache)
	data := bytes.Repeat([]byte("%PDF-1.7 kept\n"), 40_000)
	id := shaHex(data)
	other := "Ünïcode workspace"
	for _, ws := range []string{testWS, other} {
		if _, created, err := b.Put(ws, id, bytes.NewReader(data), 25<<20); err != nil || !created {
			t.Fatalf("Put(%q) = %v, %v", ws, created, err)
		}
		if err := b.Refer(ws, id, FileRef{Uploader: "contact:5"}, FileRef{Seq: 9, Conv: "c9"}); err != nil {
			t.Fatal(err)
		}
	}
	want, err := b.Stat(testWS, id)
	if err != nil {
		t.Fatal(err)
	}
	check := func(b *JetStreamBlobs) {
		t.Helper()
		for _, ws := range []string{testWS, other} {
			if !b.Has(ws, id) {
				t.Fatalf("Has(%q) = false", ws)
			}
			if st, err := b.Stat(ws, id); err != nil || st != want {
				t.Fatalf("Stat(%q) = %+v, %v; want %+v", ws, st, err, want)
			}
			if got, blob := readAllBlob(t, b, ws, id); !bytes.Equal(got, data) || blob != want {
				t.Fatalf("Open(%q) = %d bytes, %+v", ws, len(got), blob)
			}
			refs, err := b.Refs(ws, id)
			if wantRefs := []FileRef{{Uploader: "contact:5"}, {Seq: 9, Conv: "c9"}}; err != nil || !slices.Equal(refs, wantRefs) {
				t.Fatalf("Refs(%q) = %v, %v; want %v", ws, refs, err, wantRefs)
			}
			if _, created, err := b.Put(ws, id, bytes.NewReader(data), 25<<20); err != nil || created {
				t.Fatalf("Put(%q) again = %v, %v; want not created", ws, created, err)
			}
		}
	}

	if err := os.RemoveAll(cache); err != nil {
		t.Fatal(err)
	}
	check(b) // under the running store

	b.Close()
	if err := os.RemoveAll(filepath.Dir(cache)); err != nil {
		t.Fatal(err)
	}
	b = openTestJetStreamBlobs(t, js, cache)
	check(b) // a new store on an empty cache

	// An unfinished cache file goes when the store opens; the cached files stay.
	left := filepath.Join(b.cacheDir(testWS), jsCacheTmp+"123")
	if err := os.WriteFile(left, data[:1000], 0o600); err != nil {
		t.Fatal(err)
	}
	b.Close()
	b = openTestJetStreamBlobs(t, js, cache)
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("an unfinished cache file remains: %v", err)
	}
	if _, err := os.Stat(b.cachePath(testWS, id)); err != nil {
		t.Fatalf("a cached file went: %v", err)
	}
	check(b)
}

// Through the relay's HTTP API: uploads, dedupe and Range downloads on
// JetStreamBlobs, and a second relay on the same NATS serves the file
// from its own (empty) cache.
func TestJetStreamBlobsThroughTheRelay(t *testing.T) {
	requireImpl(t, "jetstream")
	srv := natstest.Start(t)
	withJS := func(t *testing.T) func(*Options) {
		b := openTestJetStreamBlobs(t, natsJS(t, srv), filepath.Join(t.TempDir(), "cache"))
		return func(o *Options) { o.Blobs = b }
	}
	r := newFileRelay(t, withJS(t))
	data := bytes.Repeat([]byte("0123456789abcdef"), 80_000) // 1.25 MiB of text
	a := r.upload(t, tokAPI, data)
	if a.status != http.StatusCreated {
		t.Fatalf("first PUT = %d %s; want 201", a.status, a.body)
	}
	id := a.blob(t).ID
	if again := r.upload(t, tokAPI, data); again.status != http.StatusOK {
		t.Fatalf("second PUT = %d %s; want 200", again.status, again.body)
	}
	other := newFileRelay(t, withJS(t))
	for name, r := range map[string]*testRelay{"the uploader's relay": r, "another relay": other} {
		if a := r.download(t, tokAPI, id); a.status != http.StatusOK || !bytes.Equal(a.body, data) {
			t.Fatalf("GET on %s = %d, %d bytes", name, a.status, len(a.body))
		}
		if a := r.download(t, tokAPI, id, "Range: bytes=1000000-1000999"); a.status != http.StatusPartialContent || !bytes.Equal(a.body, data[1000000:1001000]) {
			t.Fatalf("GET a range on %s = %d, %d bytes", name, a.status, len(a.body))
		}
	}
}
