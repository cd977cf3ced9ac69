package relay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// TestFileUploadSurvivesKill runs the relay binary and kills it (SIGKILL)
// in the middle of an upload, right after an upload's answer, and right
// after the ack of the event naming the file. After each restart the
// half-written upload is gone (never under the file's name), the upload
// completes when the client sends it again, the stored file is there once,
// its refs hold its uploader and its event once, and the log holds the
// event once. The fileToken from before the crashes still works: nothing
// of it lived in the process.
func TestFileUploadSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the relay binary")
	}
	bin := buildRelay(t)
	dir := t.TempDir()
	cfg := writeTestConfig(t, t.TempDir())
	proc, url := startRelayProc(t, bin, dir, cfg)
	base := func() string { return "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), protocol.Path) }
	kill := func() {
		t.Helper()
		if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		proc.Wait()
	}
	s := connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	tok := s.welcome.FileToken
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:42")))
	s.c.Close(websocket.StatusNormalClosure, "")

	var data []byte
	for i := 0; len(data) < 20<<20; i++ {
		data = fmt.Appendf(data, "%08d the storage node answered 503 to the health check\n", i)
	}
	id := shaHex(data)
	fileURL := func() string { return base() + FilesPath + testWS + "/" + id }
	stored := filepath.Join(dir, "files", testWS, id[:2], id)
	tmps := func() []string {
		ps, _ := filepath.Glob(filepath.Join(dir, "files", testWS, "tmp", "*"))
		return ps
	}

	// 1. Killed mid-upload: 8 of the 20 MiB are in a temporary file.
	pr, pw := io.Pipe()
	broke := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPut, fileURL(), pr)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.ContentLength = int64(len(data))
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			err = fmt.Errorf("the upload was answered %d", res.StatusCode)
		}
		broke <- err
	}()
	go func() { pw.Write(data[:8<<20]) }()
	if err := waitFor(20*time.Second, func() bool {
		ps := tmps()
		if len(ps) != 1 {
			return false
		}
		fi, err := os.Stat(ps[0])
		return err == nil && fi.Size() >= 4<<20
	}); err != nil {
		t.Fatal("the upload did not reach the disk")
	}
	kill()
	pw.CloseWithError(io.ErrClosedPipe)
	<-broke
	if _, err := os.Stat(stored); err == nil {
		t.Fatal("a half upload is stored under the file's name")
	}

	proc, url = startRelayProc(t, bin, dir, cfg)
	if ps := tmps(); len(ps) != 0 {
		t.Fatalf("after the restart, unfinished uploads remain: %v", ps)
	}
	if a := fileDo(t, http.MethodGet, fileURL(), tok, nil); a.status != http.StatusNotFound {
		t.Fatalf("GET of the half upload = %d; want 404", a.status)
	}
	s = connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	res, _ := s.push(s.ev(conv.KindMessageSent, cid, conv.Message{Text: "log", Attachments: []conv.Attachment{attachment(data, "health.log")}}))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Fatalf("an event naming the half upload: %+v; want invalid", res[0])
	}
	s.c.Close(websocket.StatusNormalClosure, "")

	// 2. The client sends it again: stored. Killed right after the answer.
	if a := fileDo(t, http.MethodPut, fileURL(), tok, bytes.NewReader(data)); a.status != http.StatusCreated {
		t.Fatalf("PUT after the restart = %d %s; want 201", a.status, a.body)
	}
	kill()
	proc, url = startRelayProc(t, bin, dir, cfg)
	if a := fileDo(t, http.MethodPut, fileURL(), tok, bytes.NewReader(data)); a.status != http.StatusOK {
		t.Fatalf("PUT after a kill that followed the 201 = %d %s; want 200", a.status, a.body)
	}

	// 3. The event naming it; killed right after its ack.
	s = connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	ev := s.ev(conv.KindMessageSent, cid, conv.Message{Text: "log", Attachments: []conv.Attachment{attachment(data, "health.log")}})
	seq := s.mustLog(ev)[0].Seq
	kill()
	proc, url = startRelayProc(t, bin, dir, cfg)
	if a := fileDo(t, http.MethodGet, fileURL(), tok, nil); a.status != http.StatusOK || !bytes.Equal(a.body, data) {
		t.Fatalf("GET after the kill = %d, %d bytes; want 200 and the file", a.status, len(a.body))
	}
	if a := fileDo(t, http.MethodPut, fileURL(), tok, bytes.NewReader(data)); a.status != http.StatusOK {
		t.Fatalf("PUT once more = %d; want 200", a.status)
	}
	proc.Process.Signal(syscall.SIGTERM)
	proc.Wait()

	ps, _ := filepath.Glob(filepath.Join(dir, "files", testWS, "*", "*"))
	var files []string
	for _, p := range ps {
		if !strings.HasSuffix(p, ".refs") && filepath.Base(filepath.Dir(p)) != "tmp" {
			files = append(files, p)
		}
	}
	if len(files) != 1 || files[0] != stored {
		t.Fatalf("stored files = %v; want %s once", files, stored)
	}
	if fi, err := os.Stat(stored); err != nil || fi.Size() != int64(len(data)) {
		t.Fatalf("stored file: %v, %v", fi, err)
	}
	b, err := OpenDiskBlobs(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	refs, err := b.Refs(testWS, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].Uploader != "agent:ana" || refs[1].Seq != seq || refs[1].Conv != cid {
		t.Fatalf("refs = %+v; want ana's upload and the event at seq %d, once each", refs, seq)
	}
	lg, err := eventlog.OpenBadger(filepath.Join(dir, "log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	naming := 0
	if err := lg.Scan(testWS, 1, 1<<62, func(_ uint64, raw []byte) error {
		if bytes.Contains(raw, []byte(id)) {
			naming++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if naming != 1 {
		t.Fatalf("%d logged events name the file; want 1", naming)
	}
}
