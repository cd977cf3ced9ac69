package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
)

// An image sent to the conversation the UI shows is fetched as its event
// arrives, before the UI asks for it (its thumbnail then loads from the
// device); one sent to another conversation is not (it is fetched when
// shown); a PDF is not.
func TestPrefetchImagesOfTheOpenConversation(t *testing.T) {
	url, _ := startFileRelay(t)
	ana, arec := started(t, false)
	if err := ana.Connect(url, "acme", tokAna); err != nil {
		t.Fatal(err)
	}
	ben, brec := started(t, false)
	if err := ben.Connect(url, "acme", tokBen); err != nil {
		t.Fatal(err)
	}
	eventually(t, brec, nil, "Ben's app online", func() bool {
		st, _ := ben.Status()
		return st.Sync.State == client.StateOnline
	})
	open, err := ana.CreateConversation(NewConversation{ContactID: "dana@example.com", ContactName: "Dana", Subject: "Error on checkout", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := ana.CreateConversation(NewConversation{ContactID: "eve@example.com", ContactName: "Eve", Subject: "Invoice", Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, brec, nil, "both conversations on Ben's device", func() bool {
		_, e1 := ben.in.Timeline(open, "", 5, nil)
		_, e2 := ben.in.Timeline(other, "", 5, nil)
		return e1 == nil && e2 == nil
	})
	if _, err := ben.Timeline(open, "", 50); err != nil { // the UI shows it
		t.Fatal(err)
	}

	h := FilesHandler(ana)
	file := func(name string, head []byte) (conv.Attachment, string) {
		t.Helper()
		b := append(append([]byte{}, head...), bytes.Repeat([]byte(name), 50_000)...)
		at, code := attach(t, h, name, b)
		if code != http.StatusCreated {
			t.Fatalf("attach %s = %d", name, code)
		}
		s := sha256.Sum256(b)
		return at, hex.EncodeToString(s[:])
	}
	pngHead := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	shot, shotSHA := file("screenshot.png", pngHead)
	elsewhere, elsewhereSHA := file("elsewhere.png", pngHead)
	doc, docSHA := file("invoice.pdf", []byte("%PDF-1.4\n"))
	if err := ana.SendFiles(other, "in another conversation", []conv.Attachment{elsewhere}); err != nil {
		t.Fatal(err)
	}
	if err := ana.SendFiles(open, "a PDF", []conv.Attachment{doc}); err != nil {
		t.Fatal(err)
	}
	if err := ana.SendFiles(open, "the screenshot", []conv.Attachment{shot}); err != nil {
		t.Fatal(err)
	}
	eventually(t, arec, nil, "the screenshot on Ben's device, before anything asked for it", func() bool {
		return ben.fileStore.has(shotSHA)
	})
	has := func(id, text string) bool {
		p, err := ben.in.Timeline(id, "", 50, nil)
		if err != nil {
			return false
		}
		for _, it := range p.Items {
			if strings.Contains(it.Text, text) {
				return true
			}
		}
		return false
	}
	eventually(t, brec, nil, "the other messages on Ben's device", func() bool {
		return has(other, "in another conversation") && has(open, "a PDF")
	})
	time.Sleep(300 * time.Millisecond) // a prefetch would have been done by now
	if ben.fileStore.has(elsewhereSHA) {
		t.Error("an image of a conversation the UI does not show was fetched")
	}
	if ben.fileStore.has(docSHA) {
		t.Error("a PDF was fetched before it was asked for")
	}

	// Shown, the screenshot comes from the device; the others are fetched then.
	bh := FilesHandler(ben)
	for _, sha := range []string{shotSHA, elsewhereSHA, docSHA} {
		rr := httptest.NewRecorder()
		bh.ServeHTTP(rr, httptest.NewRequest(http.MethodGet, "/files/"+sha, nil))
		if rr.Code != http.StatusOK || fmt.Sprintf("%x", sha256.Sum256(rr.Body.Bytes())) != sha {
			t.Fatalf("GET /files/%s = %d, %d bytes", sha[:8], rr.Code, rr.Body.Len())
		}
	}
}
