package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// slowFiles is a client.Memory that holds files' bytes, as the desktop's
// files folder does (client.FileSource), and hands them to the Client's
// uploads through a reader the test paces: the first upload trickles,
// signalling once part of the file has been read; a later one waits until
// the test lets it go.
type slowFiles struct {
	*client.Memory
	files    map[string][]byte
	opens    atomic.Int32
	midway   chan struct{} // closed when the first upload has read midwayAt bytes
	midwayAt int
	release  chan struct{} // a second upload starts when closed
	reopened chan struct{} // closed when the second upload opened the file
}

func (f *slowFiles) OpenFile(sha string) (io.ReadCloser, int64, error) {
	b, ok := f.files[sha]
	if !ok {
		return nil, 0, client.ErrNoFile
	}
	switch f.opens.Add(1) {
	case 1:
		return io.NopCloser(&trickle{b: b, f: f}), int64(len(b)), nil
	case 2:
		close(f.reopened)
		<-f.release
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// trickle yields 64 KiB at a time: fast up to midwayAt, then slowly
// (about 1 MiB/s), so that the relay is killed in the middle of the body.
type trickle struct {
	b    []byte
	off  int
	f    *slowFiles
	told bool
}

func (t *trickle) Read(p []byte) (int, error) {
	if t.off >= len(t.b) {
		return 0, io.EOF
	}
	if t.off >= t.f.midwayAt {
		if !t.told {
			t.told = true
			close(t.f.midway)
		}
		time.Sleep(60 * time.Millisecond)
	}
	n := copy(p[:min(len(p), 64<<10)], t.b[t.off:])
	t.off += n
	return n, nil
}

// TestKillMidUploadThroughTheClient runs the relay binary and the Go sync
// client as the desktop uses it (a Local that is a client.FileSource). The
// agent sends a message with a 20 MiB file; the relay is killed with
// SIGKILL while the file's PUT is halfway through its body, and restarted
// on the same --data and port. The client reconnects, uploads the file
// again from its first byte and then pushes the message. Before the second
// upload starts, the half upload is gone: no temporary file, nothing under
// the file's name, a GET is 404. Afterwards the file is stored once, under
// its SHA-256, with no unfinished upload beside it; its refs hold Ana's
// upload and the event once; the log holds one event naming it; another
// agent's device receives the message once; and the download is the bytes
// sent.
func TestKillMidUploadThroughTheClient(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the relay binary")
	}
	r := newKillRelay(t)

	data, sha := logFile(20<<20, "the storage node answered 503 to the health check")

	ana := &slowFiles{
		Memory:   client.NewMemory(conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, uuid.NewString()),
		files:    map[string][]byte{sha: data},
		midway:   make(chan struct{}),
		midwayAt: 6 << 20,
		release:  make(chan struct{}),
		reopened: make(chan struct{}),
	}
	released := false
	defer func() {
		if !released {
			close(ana.release)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stopAna := r.runAgent(ctx, ana, killTokAna)
	defer stopAna()

	c, err := ana.Create(conv.Created{Contact: &conv.Participant{ID: "contact:dana", Role: conv.RoleContact}, Subject: "Health checks"})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := ana.Wait(ctx, c.ID); err != nil || o.Err != nil {
		t.Fatalf("Wait(conversation) = %+v, %v", o, err)
	}
	m, err := ana.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "the health check log",
		Attachments: []conv.Attachment{{ID: sha, SHA256: sha, Name: "health.log", Size: int64(len(data)), Type: "text/plain"}}})
	if err != nil {
		t.Fatal(err)
	}

	// Killed mid-body: the relay has part of the file in a temporary file.
	select {
	case <-ana.midway:
	case <-ctx.Done():
		t.Fatal("the client did not start the upload")
	}
	r.killMidUpload(sha, len(data), 4<<20, 20*time.Second)
	if ps := r.tmps(); len(ps) != 1 {
		t.Fatalf("after the kill, unfinished uploads = %v; want the one cut", ps)
	}
	if !pendingIn(ana.Memory, m.ID) {
		t.Fatal("the message left the outbox before its file was uploaded")
	}

	// Restarted: the half upload is gone before the client sends again.
	r.start()
	select {
	case <-ana.reopened:
	case <-ctx.Done():
		t.Fatal("the client did not upload the file again after the restart")
	}
	if ps := r.tmps(); len(ps) != 0 {
		t.Fatalf("after the restart, unfinished uploads remain: %v", ps)
	}
	if st, _ := r.get(sha); st != http.StatusNotFound {
		t.Fatalf("GET of the cut upload = %d; want 404", st)
	}
	close(ana.release)
	released = true

	o, err := ana.Wait(ctx, m.ID)
	if err != nil || o.Err != nil || o.Seq == 0 {
		t.Fatalf("Wait(message with the file) = %+v, %v; want logged", o, err)
	}
	if n := ana.opens.Load(); n != 2 {
		t.Errorf("the file was opened for upload %d times; want 2 (cut, then whole)", n)
	}

	// Another agent's device gets the message once, and downloads the bytes.
	ben := client.NewMemory(conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}, uuid.NewString())
	stopBen := r.runAgent(ctx, ben, killTokBen)
	defer stopBen()
	waitMessage(t, ben, "the health check log")
	if n := countNaming(ben.Timeline(c.Conv), sha); n != 1 {
		t.Errorf("Ben's device holds %d events naming the file; want 1", n)
	}
	stopBen()
	r.checkServed(sha, data)

	stopAna()
	r.stop()

	// On disk: the file once, nothing unfinished, its refs once each, one
	// logged event naming it.
	refs := r.checkStoredOnce(sha, data)
	if len(refs) != 2 || refs[0].Uploader != "agent:ana" || refs[1].Seq != o.Seq || refs[1].Conv != c.Conv {
		t.Fatalf("refs = %+v; want Ana's upload, then the event at seq %d, once each", refs, o.Seq)
	}
}

// pendingIn says whether event id is still pending in mem's outbox.
func pendingIn(mem *client.Memory, id string) bool {
	for _, it := range mem.Outbox() {
		if it.Event.ID == id {
			return it.State == client.OutboxPending
		}
	}
	return false
}

// memFiles is a client.Memory holding files' bytes (a client.FileSource).
type memFiles struct {
	*client.Memory
	files map[string][]byte
}

func (m *memFiles) OpenFile(sha string) (io.ReadCloser, int64, error) {
	b, ok := m.files[sha]
	if !ok {
		return nil, 0, client.ErrNoFile
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// TestBinaryCollectsUnnamedFiles: the relay binary, started with
// --files-unnamed-for, removes the uploads no event names once nobody has
// uploaded them for that long, and keeps the files events name; a removed
// file can be uploaded again. Started as by default (30 days), it removes
// nothing uploaded just now.
func TestBinaryCollectsUnnamedFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the relay binary")
	}
	r := newKillRelay(t)
	unnamed := []byte("%PDF-1.4\n% a draft uploaded and never sent\n%%EOF\n")
	named := []byte("%PDF-1.4\n% the invoice, sent\n%%EOF\n")
	idOf := func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
	if st := r.put(unnamed); st != http.StatusCreated {
		t.Fatalf("PUT = %d", st)
	}
	ana := &memFiles{Memory: client.NewMemory(conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, uuid.NewString()),
		files: map[string][]byte{idOf(named): named}}
	cl, err := client.New(client.Options{URL: r.ws(), Workspace: killWS, Device: ana.Device(), Local: ana,
		Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: killTokAna}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	c, _ := ana.Create(conv.Created{Contact: &conv.Participant{ID: "contact:dana", Role: conv.RoleContact}, Subject: "Invoice"})
	m, _ := ana.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "your invoice",
		Attachments: []conv.Attachment{{ID: idOf(named), SHA256: idOf(named), Name: "invoice.pdf"}}})
	if o, err := ana.Wait(ctx, m.ID); err != nil || o.Seq == 0 {
		t.Fatalf("Wait = %+v, %v", o, err)
	}
	cancel()
	cl.Close()
	<-done

	r.stop()
	r.start() // the default: 30 days
	if st, _ := r.get(idOf(unnamed)); st != http.StatusOK {
		t.Fatalf("after a restart as by default, GET of a file uploaded just now = %d; want 200", st)
	}
	r.stop()
	time.Sleep(20 * time.Millisecond)
	r.flags = []string{"--files-unnamed-for", "10ms"}
	r.start()
	if st, _ := r.get(idOf(unnamed)); st != http.StatusNotFound {
		t.Fatalf("GET of an upload no event names, after --files-unnamed-for = %d; want 404", st)
	}
	if _, err := os.Stat(filepath.Join(r.dir, "files", killWS, idOf(unnamed)[:2], idOf(unnamed)+".refs")); !os.IsNotExist(err) {
		t.Fatalf("its refs: %v; want gone", err)
	}
	if st, b := r.get(idOf(named)); st != http.StatusOK || !bytes.Equal(b, named) {
		t.Fatalf("GET of the file an event names = %d; want 200 and its bytes", st)
	}
	if st := r.put(unnamed); st != http.StatusCreated {
		t.Fatalf("PUT of the removed file again = %d; want 201", st)
	}
}
