package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/relay"
)

// startFileRelay runs a real relay with agents ana and ben and a disk store
// for files, and returns its URL and the files' folder.
func startFileRelay(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := relay.OpenDiskBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return relayrun.Start(t, relayrun.WithConfig(relayConfig()), relayrun.WithOptions(relay.Options{Blobs: blobs})).WS, dir
}

// storedFiles counts the files under dir named sha (the bytes; not their .refs).
func storedFiles(t *testing.T, dir, sha string) int {
	t.Helper()
	n := 0
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Base(p) == sha { // not its .refs
			n++
		}
		return nil
	})
	return n
}

func attach(t *testing.T, h http.Handler, name string, body []byte) (conv.Attachment, int) {
	t.Helper()
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest(http.MethodPost, "/files/?name="+name, bytes.NewReader(body)))
	var at conv.Attachment
	if rr.Code == http.StatusCreated {
		if err := json.Unmarshal(rr.Body.Bytes(), &at); err != nil {
			t.Fatal(err)
		}
	}
	return at, rr.Code
}

// TestAttachOfflineThenSync: Ana attaches a PDF to a reply while offline;
// it waits with the reply; on reconnect the app uploads it before pushing
// the reply; the relay stores it once (a second reply with the same file
// stores nothing new); Ben's device downloads it byte-identical.
func TestAttachOfflineThenSync(t *testing.T) {
	url, blobDir := startFileRelay(t)
	ben := teammate(t, url)
	a, rec := started(t, false)
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	id, err := a.CreateConversation(NewConversation{ContactID: "dana@example.com", ContactName: "Dana", Subject: "Invoice", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, rec, ben, "the conversation on the relay", func() bool {
		_, ok := ben.Conversation(id)
		st, _ := a.Status()
		return ok && st.Pending == 0
	})
	if err := a.Disconnect(); err != nil {
		t.Fatal(err)
	}

	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("invoice 42 line\n"), 20000)...)
	sum := sha256.Sum256(pdf)
	sha := hex.EncodeToString(sum[:])
	h := FilesHandler(a)
	at, code := attach(t, h, "invoice.pdf", pdf)
	if code != http.StatusCreated || at.ID != sha || at.SHA256 != sha || at.Size != int64(len(pdf)) || at.Type != "application/pdf" {
		t.Fatalf("POST /files/ = %d %+v; want 201 the PDF's attachment %s", code, at, sha)
	}
	// The refusals, in words.
	if _, code := attach(t, h, "run.sh", []byte("#!/bin/sh\necho hi\n")); code != http.StatusUnsupportedMediaType {
		t.Fatalf("POST a script = %d; want 415", code)
	}
	if err := a.SendFiles(id, "the invoice", []conv.Attachment{at}); err != nil {
		t.Fatalf("SendFiles offline = %v", err)
	}
	if err := a.SendFiles(id, "", []conv.Attachment{{ID: strings.Repeat("a", 64), Name: "gone.pdf"}}); err == nil {
		t.Fatal("SendFiles(a file not on the device) = nil; want an error")
	}
	if st, _ := a.Status(); st.Pending != 1 {
		t.Fatalf("Status offline = %+v; want 1 pending", st)
	}
	if n := storedFiles(t, blobDir, sha); n != 0 {
		t.Fatalf("the relay holds %d copies while Ana is offline; want 0", n)
	}

	if err := a.Connect(url, "acme", ""); err != nil {
		t.Fatalf("Connect again = %v", err)
	}
	eventually(t, rec, ben, "the reply with its file on the relay", func() bool {
		return len(attachmentsIn(ben, id)) == 1
	})
	if err := a.AddNoteFiles(id, "same file, in a note", []conv.Attachment{at}); err != nil {
		t.Fatal(err)
	}
	eventually(t, rec, ben, "the note", func() bool { return len(attachmentsIn(ben, id)) == 2 })
	if n := storedFiles(t, blobDir, sha); n != 1 {
		t.Fatalf("the relay holds %d copies of the PDF; want 1", n)
	}
	got := attachmentsIn(ben, id)[0]
	if got.ID != sha || got.Name != "invoice.pdf" || got.Size != int64(len(pdf)) || got.Type != "application/pdf" {
		t.Fatalf("Ben's attachment = %+v", got)
	}

	// Ben's own desktop downloads it through its files route.
	b, brec := started(t, false)
	if err := b.Connect(url, "acme", tokBen); err != nil {
		t.Fatal(err)
	}
	eventually(t, brec, nil, "Ben's app online", func() bool {
		st, _ := b.Status()
		return st.Sync.State == client.StateOnline
	})
	bh := FilesHandler(b)
	rr := httptest.NewRecorder()
	bh.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/files/"+sha+"?name=invoice.pdf", nil))
	if rr.Code != http.StatusOK || !bytes.Equal(rr.Body.Bytes(), pdf) {
		t.Fatalf("Ben's GET /files/%s = %d, %d bytes; want 200 and the PDF byte-identical", sha, rr.Code, rr.Body.Len())
	}
	if ct := rr.Header().Get("Content-Type"); ct != "application/pdf" {
		t.Fatalf("Content-Type = %q", ct)
	}
	// Offline, the downloaded copy is still there.
	if err := b.Disconnect(); err != nil {
		t.Fatal(err)
	}
	rr = httptest.NewRecorder()
	bh.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/files/"+sha, nil))
	if rr.Code != http.StatusOK || !bytes.Equal(rr.Body.Bytes(), pdf) {
		t.Fatalf("Ben's GET offline = %d; want the kept copy", rr.Code)
	}
}

// TestFileCacheEvictsLeastRecentlyRead: over the cap, the files read least
// recently go first; a file a pending event names stays.
func TestFileCacheEvictsLeastRecentlyRead(t *testing.T) {
	f := &fileStore{dir: t.TempDir()}
	var shas []string
	for i := range 4 {
		sha, _, _, err := f.put(bytes.NewReader(bytes.Repeat([]byte{'a' + byte(i)}, 1000)), "")
		if err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(time.Duration(i-10) * time.Minute)
		_ = os.Chtimes(f.path(sha), old, old)
		shas = append(shas, sha)
	}
	if fh, _, err := f.open(shas[1]); err == nil { // read now: the most recent
		fh.Close()
	}
	n, err := f.evict(2000, map[string]bool{shas[0]: true})
	if err != nil || n != 1 {
		t.Fatalf("evict = %d, %v; want 1 removed", n, err)
	}
	for i, want := range []bool{true, true, false, true} {
		if f.has(shas[i]) != want {
			t.Errorf("file %d kept = %v; want %v", i, !want, want)
		}
	}
}

// attachmentsIn lists the files of the messages and notes ben holds of id.
func attachmentsIn(ben *client.Memory, id string) []conv.Attachment {
	var out []conv.Attachment
	for _, e := range ben.Timeline(id) {
		out = append(out, eventAttachments(e)...)
	}
	return out
}
