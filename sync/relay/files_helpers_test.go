package relay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// withBlobs gives a test relay a DiskBlobs in a temporary folder (kept
// across restarts).
func withBlobs(t testing.TB) func(*Options) {
	dir := filepath.Join(t.TempDir(), "files")
	b, err := OpenDiskBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return func(o *Options) { o.Blobs = b }
}

// newFileRelay is a test relay with a file store and apiConfig's keys.
func newFileRelay(t testing.TB, opts ...func(*Options)) *testRelay {
	t.Helper()
	return newAPIRelay(t, append([]func(*Options){withBlobs(t)}, opts...)...)
}

func (r *testRelay) blobs() *DiskBlobs { return r.opts.Blobs.(*DiskBlobs) }

func (r *testRelay) fileURL(ws, id string) string { return r.hs.URL + FilesPath + ws + "/" + id }

func shaHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fileAnswer is one answer of a file route.
type fileAnswer struct {
	status int
	h      http.Header
	body   []byte
}

// code is an error answer's code.
func (a fileAnswer) code() string {
	var e fileErrorBody
	_ = json.Unmarshal(a.body, &e)
	return e.Error.Code
}

func (a fileAnswer) blob(t testing.TB) Blob {
	t.Helper()
	var b Blob
	if err := json.Unmarshal(a.body, &b); err != nil {
		t.Fatalf("decode %s: %v", trunc(a.body), err)
	}
	return b
}

// fileDo sends one request; bearer "" sends no Authorization; hdr is
// "Name: value" pairs.
func fileDo(t testing.TB, method, url, bearer string, body io.Reader, hdr ...string) fileAnswer {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fileAnswer{status: res.StatusCode, h: res.Header, body: b}
}

// upload PUTs data as its own sha256 with bearer.
func (r *testRelay) upload(t testing.TB, bearer string, data []byte) fileAnswer {
	t.Helper()
	return fileDo(t, http.MethodPut, r.fileURL(testWS, shaHex(data)), bearer, bytes.NewReader(data))
}

// mustUpload uploads data and fails unless it is stored (201 or 200).
func (r *testRelay) mustUpload(t testing.TB, bearer string, data []byte) Blob {
	t.Helper()
	a := r.upload(t, bearer, data)
	if a.status != http.StatusCreated && a.status != http.StatusOK {
		t.Fatalf("PUT = %d %s; want 201 or 200", a.status, a.body)
	}
	return a.blob(t)
}

func (r *testRelay) download(t testing.TB, bearer, id string, hdr ...string) fileAnswer {
	t.Helper()
	return fileDo(t, http.MethodGet, r.fileURL(testWS, id), bearer, nil, hdr...)
}

// attachment names data as a device would, saying nothing true of its
// size and type: the relay sets them.
func attachment(data []byte, name string) conv.Attachment {
	id := shaHex(data)
	return conv.Attachment{ID: id, SHA256: id, Name: name, Size: 1, Type: "application/x-whatever"}
}

// Sample files, each sniffed as its name says.
var (
	pngFile  = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), bytes.Repeat([]byte{7}, 200)...)
	pdfFile  = []byte("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
	textFile = []byte("2026-12-01 09:30:00 ERROR disk full on /var\n")
	htmlFile = []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
	svgFile  = []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>`)
	xmlFile  = []byte(`<?xml version="1.0"?><order id="1234"><item>disk</item></order>`)
	zipFile  = append([]byte("PK\x03\x04"), bytes.Repeat([]byte{1}, 100)...)
	elfFile  = append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0}, 100)...)
	exeFile  = append([]byte("MZ\x90\x00"), bytes.Repeat([]byte{0}, 100)...)
	shFile   = []byte("#!/bin/sh\nrm -rf ~\n")
)

// testClock is a clock the test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// convFor makes, as agent s, a conversation for contact, and returns its id.
func convFor(t testing.TB, s *tsession, contact string) string {
	t.Helper()
	id := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, id, created(contact)))
	return id
}

// fileSession connects as auth and returns the session and its fileToken.
func fileSession(t testing.TB, r *testRelay, a protocol.Auth) (*tsession, string) {
	t.Helper()
	s := connect(t, r.url, a, protocol.Cursor{})
	if s.welcome.FileToken == "" {
		t.Fatalf("welcome as %s carries no fileToken", a.Kind)
	}
	return s, s.welcome.FileToken
}
