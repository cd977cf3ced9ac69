package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/relay"
)

// fileMemory is a Memory that holds files' bytes, as a desktop's files
// folder does, and counts how often each is opened for upload.
type fileMemory struct {
	*Memory
	mu    sync.Mutex
	files map[string][]byte
	opens map[string]int
}

func (f *fileMemory) OpenFile(sha string) (io.ReadCloser, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.files[sha]
	if !ok {
		return nil, 0, ErrNoFile
	}
	f.opens[sha]++
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

func (f *fileMemory) add(name string, b []byte) conv.Attachment {
	sum := sha256.Sum256(b)
	sha := hex.EncodeToString(sum[:])
	f.mu.Lock()
	f.files[sha] = b
	f.mu.Unlock()
	return conv.Attachment{ID: sha, SHA256: sha, Name: name, Size: int64(len(b))}
}

// TestUploadBeforePush: a pending event's files go up before it (an event
// queued offline too), each once per Client; a file the relay refuses or
// the device no longer holds fails its event with that code.
func TestUploadBeforePush(t *testing.T) {
	blobs, err := relay.OpenDiskBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newRealRelay(t, relay.Options{Blobs: blobs})
	mem := &fileMemory{Memory: NewMemory(ana, "ana-laptop"), files: map[string][]byte{}, opens: map[string]int{}}

	// Offline: the conversation and a message with a PDF wait.
	c, err := mem.Create(conv.Created{Contact: &conv.Participant{ID: "contact:dana", Role: conv.RoleContact}, Subject: "Invoice"})
	if err != nil {
		t.Fatal(err)
	}
	pdf := mem.add("invoice.pdf", append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 100_000)...))
	m1, err := mem.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "the invoice", Attachments: []conv.Attachment{pdf}})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, r.url(), mem.Memory, agentAuth(anaToken), func(o *Options) { o.Local = mem })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if o, err := mem.Wait(ctx, m1.ID); err != nil || o.Err != nil || o.Seq == 0 {
		t.Fatalf("Wait(message with a PDF) = %+v, %v; want logged", o, err)
	}
	// The same file again: not uploaded again.
	m2, _ := mem.Act(c.Conv, conv.KindNoteAdded, conv.Note{Attachments: []conv.Attachment{pdf}})
	if o, err := mem.Wait(ctx, m2.ID); err != nil || o.Err != nil || o.Seq == 0 {
		t.Fatalf("Wait(note with the same PDF) = %+v, %v; want logged", o, err)
	}
	if n := mem.opens[pdf.ID]; n != 1 {
		t.Errorf("the PDF was opened %d times for upload; want 1", n)
	}
	// Refusals fail their event with the relay's code.
	script := mem.add("run.sh", []byte("#!/bin/sh\necho hi\n"))
	m3, _ := mem.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "a script", Attachments: []conv.Attachment{script}})
	if o, err := mem.Wait(ctx, m3.ID); ctx.Err() != nil || o.Err == nil || o.Err.Code != "unsupported_type" {
		t.Fatalf("Wait(message with a script) = %+v, %v; want unsupported_type", o, err)
	}
	gone := conv.Attachment{ID: hex.EncodeToString(make([]byte, 32)), SHA256: hex.EncodeToString(make([]byte, 32)), Name: "gone.png"}
	m4, _ := mem.Act(c.Conv, conv.KindMessageSent, conv.Message{Attachments: []conv.Attachment{gone}})
	if o, err := mem.Wait(ctx, m4.ID); ctx.Err() != nil || o.Err == nil || o.Err.Code != conv.CodeInvalid {
		t.Fatalf("Wait(message with a file not on the device) = %+v, %v; want invalid", o, err)
	}
	// The message's canonical copy carries the relay's type and size.
	waitFor(t, "the canonical copy", func() bool {
		for _, e := range mem.Timeline(c.Conv) {
			if e.ID == m1.ID && e.Seq > 0 {
				as := attachmentsOf(&e)
				return len(as) == 1 && as[0].Type == "application/pdf" && as[0].Size == pdf.Size
			}
		}
		return false
	})
	if st := h.c.Status(); st.State != StateOnline {
		t.Errorf("state after the refusals = %s; want online (a refusal is no connection problem)", st.State)
	}
}

func TestFileURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ws://relay:8080", "http://relay:8080/v1/files/acme/ab"},
		{"wss://relay.example/v1/sync", "https://relay.example/v1/files/acme/ab"},
		{"https://example.com/threadline/v1/sync", "https://example.com/threadline/v1/files/acme/ab"},
	} {
		if got, err := FileURL(tc.in, "acme", "ab"); err != nil || got != tc.want {
			t.Errorf("FileURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// cutReader cuts the network once, halfway through the bytes.
type cutReader struct {
	r    io.Reader
	left int
	cut  func()
}

func (c *cutReader) Read(p []byte) (int, error) {
	if c.cut != nil && c.left <= 0 {
		c.cut()
		c.cut = nil
		return 0, io.ErrUnexpectedEOF
	}
	if c.cut != nil {
		p = p[:min(len(p), c.left)]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

type cuttingMemory struct {
	*fileMemory
	once sync.Once
	cut  func()
}

func (m *cuttingMemory) OpenFile(sha string) (io.ReadCloser, int64, error) {
	rc, n, err := m.fileMemory.OpenFile(sha)
	if err != nil {
		return rc, n, err
	}
	var r io.Reader = rc
	m.once.Do(func() { r = &cutReader{r: rc, left: int(n / 2), cut: m.cut} })
	return io.NopCloser(r), n, nil
}

// TestInterruptedUploadRestarts: the network fails halfway through a file's
// upload; after the reconnect the upload starts again, its message is logged
// once, and the relay holds the whole file.
func TestInterruptedUploadRestarts(t *testing.T) {
	blobs, err := relay.OpenDiskBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newRealRelay(t, relay.Options{Blobs: blobs})
	fm := &fileMemory{Memory: NewMemory(ana, "ana-laptop"), files: map[string][]byte{}, opens: map[string]int{}}
	mem := &cuttingMemory{fileMemory: fm, cut: r.proxy.Cut}
	c, err := fm.Create(conv.Created{Contact: &conv.Participant{ID: "contact:dana", Role: conv.RoleContact}, Subject: "Logs"})
	if err != nil {
		t.Fatal(err)
	}
	big := fm.add("logs.txt", bytes.Repeat([]byte("a log line of text\n"), 200_000))
	m1, err := fm.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "the logs", Attachments: []conv.Attachment{big}})
	if err != nil {
		t.Fatal(err)
	}
	start(t, r.url(), fm.Memory, agentAuth(anaToken), func(o *Options) { o.Local = mem })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if o, err := fm.Wait(ctx, m1.ID); err != nil || o.Err != nil || o.Seq == 0 {
		t.Fatalf("Wait(message) = %+v, %v; want logged after the upload restarted", o, err)
	}
	fm.mu.Lock()
	opens := fm.opens[big.ID]
	fm.mu.Unlock()
	if opens != 2 {
		t.Errorf("the file was opened %d times; want 2 (cut, then whole)", opens)
	}
	rc, blob, err := blobs.Open("acme", big.ID)
	if err != nil {
		t.Fatalf("the relay's file: %v", err)
	}
	defer rc.Close()
	if blob.Size != big.Size {
		t.Errorf("the relay holds %d bytes; want %d", blob.Size, big.Size)
	}
}

// heldReader gives nothing until release is closed.
type heldReader struct {
	r       io.Reader
	release <-chan struct{}
}

func (h *heldReader) Read(p []byte) (int, error) {
	<-h.release
	return h.r.Read(p)
}

type holdingMemory struct {
	*fileMemory
	release chan struct{}
}

func (m *holdingMemory) OpenFile(sha string) (io.ReadCloser, int64, error) {
	rc, n, err := m.fileMemory.OpenFile(sha)
	if err != nil {
		return rc, n, err
	}
	return io.NopCloser(&heldReader{r: rc, release: m.release}), n, nil
}

// TestSessionLivesDuringUpload: while a file is going up, the session keeps
// receiving (a teammate's message arrives) and pushing what comes before it.
func TestSessionLivesDuringUpload(t *testing.T) {
	blobs, err := relay.OpenDiskBlobs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := newRealRelay(t, relay.Options{Blobs: blobs})
	fm := &fileMemory{Memory: NewMemory(ana, "ana-laptop"), files: map[string][]byte{}, opens: map[string]int{}}
	mem := &holdingMemory{fileMemory: fm, release: make(chan struct{})}
	c, err := fm.Create(conv.Created{Contact: &conv.Participant{ID: "contact:dana", Role: conv.RoleContact}, Subject: "Slow"})
	if err != nil {
		t.Fatal(err)
	}
	f := fm.add("slow.txt", []byte("slow bytes\n"))
	m1, _ := fm.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "with a file", Attachments: []conv.Attachment{f}})
	start(t, r.url(), fm.Memory, agentAuth(anaToken), func(o *Options) { o.Local = mem })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The creation, before the message, goes up while the file is held.
	if o, err := fm.Wait(ctx, c.ID); err != nil || o.Seq == 0 {
		t.Fatalf("Wait(creation) = %+v, %v; want logged while the file is held", o, err)
	}
	// A teammate's note arrives meanwhile.
	bobMem := NewMemory(bob, "bob-desktop")
	start(t, r.url(), bobMem, agentAuth(bobToken), nil)
	waitFor(t, "Bob to see the conversation", func() bool { _, ok := bobMem.Conversation(c.Conv); return ok })
	n, err := bobMem.Act(c.Conv, conv.KindNoteAdded, conv.Note{Text: "looking"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Bob's note on Ana's device during the upload", func() bool {
		for _, e := range fm.Timeline(c.Conv) {
			if e.ID == n.ID {
				return true
			}
		}
		return false
	})
	close(mem.release)
	if o, err := fm.Wait(ctx, m1.ID); err != nil || o.Err != nil || o.Seq == 0 {
		t.Fatalf("Wait(message) = %+v, %v; want logged once the file is up", o, err)
	}
}
