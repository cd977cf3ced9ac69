package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// What the kill-mid-upload tests (files_kill_test.go, through the Go
// client; files_kill_browser_test.go, through the widget in Chromium) and
// TestBinaryCollectsUnnamedFiles share: the relay binary on a fixed port
// and data folder (killRelay), the file they upload, an agent's device, the
// kill in the middle of the upload and the checks of the store and the log
// once the relay is stopped.

const (
	killWS     = "acme"
	killTokAna = "kill-test-token-ana-0123456789"
	killTokBen = "kill-test-token-ben-0123456789"
	killAPIKey = "kill-test-api-key-0123456789"
)

// killRelay is the relay binary run on a fixed loopback port and data
// folder, so that a device's client finds it again at the same URL after a
// SIGKILL and a restart.
type killRelay struct {
	t        *testing.T
	bin, dir string
	cfg      string
	port     int
	flags    []string // more flags for the next start
	cmd      *exec.Cmd
	exited   chan struct{}
}

func newKillRelay(t *testing.T) *killRelay {
	t.Helper()
	r := &killRelay{t: t, bin: buildRelay(t), dir: t.TempDir()}
	cfg := relay.Config{Workspaces: []relay.WorkspaceConfig{{
		ID: killWS, Name: "Acme Hosting", IdentitySecret: "kill-test-identity-secret-0123456789",
		Agents:  []relay.Member{{ID: "ana", Name: "Ana", Token: killTokAna}, {ID: "ben", Name: "Ben", Token: killTokBen}},
		APIKeys: []relay.APIKey{{ID: "backend", Token: killAPIKey}},
	}}}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = filepath.Join(t.TempDir(), "relay.json")
	if err := os.WriteFile(r.cfg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	r.port = freePort(t)
	r.start()
	t.Cleanup(func() {
		if r.cmd != nil {
			r.cmd.Process.Kill()
			<-r.exited
		}
	})
	return r
}

// start runs the binary on the relay's port and folder and waits until it
// listens.
func (r *killRelay) start() {
	r.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cmd := exec.Command(r.bin, append([]string{"--listen", fmt.Sprintf("127.0.0.1:%d", r.port), "--data", r.dir, "--config", r.cfg}, r.flags...)...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			r.t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			r.t.Fatal(err)
		}
		exited := make(chan struct{})
		found := make(chan struct{}, 1)
		var mu sync.Mutex
		var lines []string
		go func() {
			defer close(exited)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				mu.Lock()
				lines = append(lines, sc.Text())
				mu.Unlock()
				if listeningRE.MatchString(sc.Text()) {
					found <- struct{}{}
				}
			}
			cmd.Wait()
		}()
		select {
		case <-found:
			r.cmd, r.exited = cmd, exited
			return
		case <-exited:
			mu.Lock()
			out := strings.Join(lines, "\n")
			mu.Unlock()
			// The killed relay's port may be a moment from free.
			if strings.Contains(out, "address already in use") && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			r.t.Fatalf("relay exited before listening:\n%s", out)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			r.t.Fatal("relay did not listen within 30 s")
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *killRelay) kill() {
	r.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		r.t.Fatal(err)
	}
	<-r.exited
	r.cmd = nil
}

// stop ends the relay with SIGTERM, as an operator would.
func (r *killRelay) stop() {
	r.t.Helper()
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-r.exited
	}
	r.cmd = nil
}

func (r *killRelay) base() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }
func (r *killRelay) ws() string   { return fmt.Sprintf("ws://127.0.0.1:%d", r.port) }

// tmps are the unfinished uploads in the relay's files folder.
func (r *killRelay) tmps() []string {
	ps, _ := filepath.Glob(filepath.Join(r.dir, "files", killWS, "tmp", "*"))
	return ps
}

// get fetches file id with the API key.
func (r *killRelay) get(id string) (int, []byte) {
	r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.base()+relay.FilesPath+killWS+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+killAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

// has reports whether file sha is stored whole under its name.
func (r *killRelay) has(sha string) bool {
	_, err := os.Stat(r.stored(sha))
	return err == nil
}

// put uploads data with the API key and returns the status.
func (r *killRelay) put(data []byte) int {
	r.t.Helper()
	sum := sha256.Sum256(data)
	req, _ := http.NewRequest(http.MethodPut, r.base()+relay.FilesPath+killWS+"/"+hex.EncodeToString(sum[:]), bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+killAPIKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// countNaming counts the events of a timeline whose data names file sha.
func countNaming(evs []conv.Event, sha string) int {
	n := 0
	for _, e := range evs {
		if bytes.Contains(e.Data, []byte(sha)) {
			n++
		}
	}
	return n
}

// logFile is a file of numbered lines of text, at least size bytes, and its
// SHA-256 (hex: its id in the relay's store).
func logFile(size int, line string) ([]byte, string) {
	var data []byte
	for i := 0; len(data) < size; i++ {
		data = fmt.Appendf(data, "%08d %s\n", i, line)
	}
	sum := sha256.Sum256(data)
	return data, hex.EncodeToString(sum[:])
}

// stored is where file sha is stored whole, under its name.
func (r *killRelay) stored(sha string) string {
	return filepath.Join(r.dir, "files", killWS, sha[:2], sha)
}

// runAgent runs a sync client for local, an agent's device signed in with
// tok, until ctx ends; it reconnects quickly after a restart. stop ends it
// and waits for it (more calls do nothing).
func (r *killRelay) runAgent(ctx context.Context, local interface {
	client.Local
	Device() string
}, tok string) (stop func()) {
	r.t.Helper()
	cl, err := client.New(client.Options{URL: r.ws(), Workspace: killWS, Device: local.Device(), Local: local,
		Auth:    protocol.Auth{Kind: protocol.AuthAgent, Token: tok},
		Backoff: client.Backoff{Min: 50 * time.Millisecond, Max: 300 * time.Millisecond}})
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); cl.Run(ctx) }()
	var once sync.Once
	return func() { once.Do(func() { cancel(); cl.Close(); <-done }) }
}

// killMidUpload waits (up to within) until the upload of file sha, size
// bytes, has at least atLeast bytes in the relay's one temporary file, then
// kills the relay (SIGKILL): nothing may be stored under the file's name.
// It fails if the upload finished first.
func (r *killRelay) killMidUpload(sha string, size int, atLeast int64, within time.Duration) {
	r.t.Helper()
	var tmpSize int64
	deadline := time.Now().Add(within)
	for {
		if ps := r.tmps(); len(ps) == 1 {
			if fi, err := os.Stat(ps[0]); err == nil && fi.Size() >= atLeast {
				tmpSize = fi.Size()
				break
			}
		}
		if r.has(sha) {
			r.t.Fatal("the upload finished before the relay could be killed: the upload is too fast")
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the upload's first MiBs did not reach the relay's disk: %v", r.tmps())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.kill()
	r.t.Logf("killed with %d of %d bytes in the relay's temporary file", tmpSize, size)
	if _, err := os.Stat(r.stored(sha)); err == nil {
		r.t.Fatal("a half upload is stored under the file's name")
	}
}

// checkServed fails unless a GET of file sha is 200 and data.
func (r *killRelay) checkServed(sha string, data []byte) {
	r.t.Helper()
	if st, b := r.get(sha); st != http.StatusOK || !bytes.Equal(b, data) {
		r.t.Fatalf("GET = %d, %d bytes; want 200 and the %d bytes sent", st, len(b), len(data))
	}
}

// checkStoredOnce, with the relay stopped, fails unless file sha (data) is
// the only file in the store, whole, with no unfinished upload beside it,
// and exactly one logged event names it; it returns the file's refs.
func (r *killRelay) checkStoredOnce(sha string, data []byte) []relay.FileRef {
	r.t.Helper()
	stored := r.stored(sha)
	ps, _ := filepath.Glob(filepath.Join(r.dir, "files", killWS, "*", "*"))
	var files []string
	for _, p := range ps {
		if !strings.HasSuffix(p, ".refs") {
			files = append(files, p)
		}
	}
	if len(files) != 1 || files[0] != stored {
		r.t.Fatalf("files in the store = %v; want only %s", files, stored)
	}
	if fi, err := os.Stat(stored); err != nil || fi.Size() != int64(len(data)) {
		r.t.Fatalf("stored file: %v, %v; want %d bytes", fi, err, len(data))
	}
	blobs, err := relay.OpenDiskBlobs(filepath.Join(r.dir, "files"))
	if err != nil {
		r.t.Fatal(err)
	}
	refs, err := blobs.Refs(killWS, sha)
	if err != nil {
		r.t.Fatal(err)
	}
	lg, err := eventlog.OpenBadger(filepath.Join(r.dir, "log"), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	defer lg.Close()
	naming := 0
	if err := lg.Scan(killWS, 1, 1<<62, func(_ uint64, raw []byte) error {
		if bytes.Contains(raw, []byte(sha)) {
			naming++
		}
		return nil
	}); err != nil {
		r.t.Fatal(err)
	}
	if naming != 1 {
		r.t.Fatalf("%d logged events name the file; want 1", naming)
	}
	return refs
}
