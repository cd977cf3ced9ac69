package widget

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const (
	e2eWorkspace = relaytest.Workspace
	e2eSecret    = relaytest.Secret
	e2eAgentTok  = relaytest.TokAna
	chromiumPath = "/usr/bin/chromium"
)

// webDir is the widget's node project (sources, unit tests, browser
// scenarios), beside the desktop UI.
const webDir = "../../frontend/widget"

// TestBrowser runs the widget in a real Chromium (through playwright-core,
// frontend/widget/e2e/run.mjs) against a real relay on 127.0.0.1 that serves the widget on
// the same port. The test plays the agent: a WebSocket client of its own
// that records every event the relay sends it, and pushes messages, seen
// marks and typing when run.mjs asks (over test-only routes under /e2e/).
//
// Without /usr/bin/chromium or node the test is skipped, unless
// THREADLINE_REQUIRE_BROWSER is set: then it fails.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser tests are not short")
	}
	node := requireBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	base, ag := startRelay(t, ctx)
	gate := relaytest.NewFaultProxy(t, func() string { return strings.TrimPrefix(base, "http://") })
	ag.gate = gate
	site := startSite(t, gate.URL()+protocol.Path)
	ensureNodeModules(t, ctx)

	artifacts := filepath.Join(t.TempDir(), "artifacts")
	if d := os.Getenv("THREADLINE_E2E_ARTIFACTS"); d != "" {
		artifacts = d
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join("e2e", "run.mjs"))
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(),
		"RELAY_URL="+base,
		"SITE_URL="+site,
		"WORKSPACE="+e2eWorkspace,
		"CHROMIUM="+chromiumPath,
		"ARTIFACTS="+artifacts,
	)
	if f := os.Getenv("THREADLINE_E2E_ONLY"); f != "" {
		cmd.Env = append(cmd.Env, "ONLY="+f)
	}
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, testWriter{t})
	cmd.Stderr = cmd.Stdout
	err := cmd.Run()
	if err != nil {
		t.Fatalf("node e2e/run.mjs: %v (screenshots and logs in %s)", err, artifacts)
	}
	if !strings.Contains(out.String(), " 0 failed") {
		t.Fatalf("node e2e/run.mjs did not report success")
	}

	// What the agent saw, checked once more from Go: no event twice, and
	// every message the scenarios sent "once:" arrived exactly once.
	events := ag.all()
	ids := map[string]int{}
	texts := map[string]int{}
	for _, e := range events {
		ids[e.ID]++
		if e.Kind == conv.KindMessageSent {
			var m conv.Message
			json.Unmarshal(e.Data, &m)
			texts[m.Text]++
		}
	}
	for id, n := range ids {
		if n > 1 {
			t.Errorf("the agent received event %s %d times", id, n)
		}
	}
	// Every file a message names is on the relay, and the agent downloads
	// the bytes its sha256 names.
	files := 0
	for _, e := range events {
		if e.Kind != conv.KindMessageSent {
			continue
		}
		var m conv.Message
		json.Unmarshal(e.Data, &m)
		for _, a := range m.Attachments {
			files++
			if a.ID != a.SHA256 {
				t.Errorf("attachment %q: id %s is not its sha256 %s", a.Name, a.ID, a.SHA256)
			}
			b := ag.download(t, base, a.ID)
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != a.SHA256 || int64(len(b)) != a.Size {
				t.Errorf("attachment %q: the agent downloaded %d bytes hashing to %x; want %d bytes, %s", a.Name, len(b), sum, a.Size, a.SHA256)
			}
		}
	}
	if files == 0 && os.Getenv("THREADLINE_E2E_ONLY") == "" {
		t.Error("no message carried a file: the attachment scenarios did not run")
	}
	once := 0
	for text, n := range texts {
		if strings.HasPrefix(text, "once:") {
			once++
			if n != 1 {
				t.Errorf("message %q reached the agent %d times; want exactly once", text, n)
			}
		}
	}
	if once == 0 && os.Getenv("THREADLINE_E2E_ONLY") == "" {
		t.Error("no exactly-once message reached the agent: the offline scenarios did not run")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// requireBrowser returns node's path, or skips (fails when
// THREADLINE_REQUIRE_BROWSER is set) without Chromium or node.
func requireBrowser(t *testing.T) string {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing = append(missing, "node")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		missing = append(missing, "npm")
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("%s not installed (scripts/setup.sh installs them)", strings.Join(missing, " and "))
		if os.Getenv("THREADLINE_REQUIRE_BROWSER") != "" {
			t.Fatalf("THREADLINE_REQUIRE_BROWSER is set but %s", msg)
		}
		t.Skipf("skipping the browser tests: %s; set THREADLINE_REQUIRE_BROWSER=1 to make this a failure", msg)
	}
	return node
}

// ensureNodeModules runs `npm ci` in frontend/widget when playwright-core is
// missing (scripts/setup.sh --test installs it too).
func ensureNodeModules(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(webDir, "node_modules", "playwright-core", "package.json")); err == nil {
		return
	}
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = webDir
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in frontend/widget: %v\n%s", err, out)
	}
}

// startRelay starts a real relay (relayrun's: Badger log in a temp dir,
// relaytest's workspace with agent ana only) with the widget mounted on its
// mux, the test's agent connected, and the test-only routes.
func startRelay(t *testing.T, ctx context.Context) (string, *agent) {
	t.Helper()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("THREADLINE_E2E_RELAY_LOG") != "" {
		lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	blobs, err := relay.OpenDiskBlobs(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	ag := &agent{}
	r := relayrun.Start(t,
		relayrun.WithConfig(relayrun.Config(func(w *relay.WorkspaceConfig) { w.Agents = w.Agents[:1] })),
		relayrun.WithOptions(relay.Options{Logger: lg, Blobs: blobs}),
		relayrun.Mount(func(mux *http.ServeMux) {
			Mount(mux, Options{Demo: Demo{Workspace: e2eWorkspace, Name: relaytest.WorkspaceName, IdentitySecret: e2eSecret}, Logger: lg})
			ag.routes(mux)
		}))
	t.Cleanup(ag.close) // before the relay stops
	if err := ag.connect(ctx, r.Socket()); err != nil {
		t.Fatalf("agent: %v", err)
	}
	return r.URL, ag
}

// e2ePage is the bare host page the scenarios start from: the widget loaded,
// nothing started.
const e2ePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Widget host page</title>
<style>button { border: 4px dashed red !important; background: yellow !important; } li { color: green !important; }</style>
</head><body><h1>Host page</h1><p>The widget must look the same whatever this page's CSS says.</p>
<script src="/widget.js"></script></body></html>`

// agent is the test's agent device: one WebSocket session as agent:ana that
// records every event the relay sends.
type agent struct {
	mu     sync.Mutex
	conn   *websocket.Conn
	events []conv.Event
	cursor uint64
	mid    uint64
	acks   chan protocol.Ack
	pushMu sync.Mutex
	device string
	cancel context.CancelFunc
	gate   *relaytest.FaultProxy
	// fileToken is the agent's bearer for the file routes (its welcome's).
	fileToken string
}

// download fetches a file as the agent, with its fileToken.
func (a *agent) download(t *testing.T, base, id string) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+relay.FilesPath+e2eWorkspace+"/"+id, nil)
	req.Header.Set("Authorization", "Bearer "+a.fileToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("download %s: %v", id, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Errorf("download %s as the agent: %d %s", id, res.StatusCode, b)
	}
	return b
}

// TestFilesPath keeps the widget's copy of the file routes' path (this
// package may not import the relay) equal to the relay's.
func TestFilesPath(t *testing.T) {
	if FilesPath != relay.FilesPath {
		t.Fatalf("FilesPath = %q; the relay serves files at %q", FilesPath, relay.FilesPath)
	}
}

func (a *agent) connect(ctx context.Context, url string) error {
	ctx, a.cancel = context.WithCancel(ctx)
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	c.SetReadLimit(protocol.MaxFrameBytes)
	a.conn = c
	a.device = "agent-device-" + uuid.NewString()[:8]
	a.acks = make(chan protocol.Ack, 1)
	hello := protocol.Hello{Type: protocol.TypeHello, Protocol: protocol.Version, Workspace: e2eWorkspace, Device: a.device,
		Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: e2eAgentTok}}
	if err := a.write(ctx, hello); err != nil {
		return err
	}
	_, b, err := c.Read(ctx)
	if err != nil {
		return err
	}
	var w protocol.Welcome
	if err := json.Unmarshal(b, &w); err != nil || w.Type != protocol.TypeWelcome {
		return fmt.Errorf("hello answered with %s", b)
	}
	a.fileToken = w.FileToken
	go a.read(ctx)
	return nil
}

func (a *agent) write(ctx context.Context, v any) error {
	b, _ := json.Marshal(v)
	return a.conn.Write(ctx, websocket.MessageText, b)
}

func (a *agent) read(ctx context.Context) {
	for {
		_, b, err := a.conn.Read(ctx)
		if err != nil {
			return
		}
		var f protocol.Frame
		json.Unmarshal(b, &f)
		switch f.Type {
		case protocol.TypeEvents:
			var ev protocol.Events
			json.Unmarshal(b, &ev)
			a.mu.Lock()
			a.events = append(a.events, ev.Events...)
			for _, e := range ev.Events {
				a.cursor = max(a.cursor, e.Seq)
			}
			a.mu.Unlock()
		case protocol.TypeAck:
			var ack protocol.Ack
			json.Unmarshal(b, &ack)
			a.acks <- ack
		case protocol.TypeError:
			var e protocol.Error
			json.Unmarshal(b, &e)
			if !e.Fatal {
				a.acks <- protocol.Ack{Type: "error:" + e.Code + ": " + e.Message}
			}
		}
	}
}

func (a *agent) all() []conv.Event {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]conv.Event{}, a.events...)
}

// push sends events as the agent and returns the relay's ack.
func (a *agent) push(ctx context.Context, specs []conv.Event) (protocol.Ack, error) {
	a.pushMu.Lock()
	defer a.pushMu.Unlock()
	a.mu.Lock()
	for i := range specs {
		a.mid++
		specs[i].ID = uuid.Must(uuid.NewV7()).String()
		specs[i].Device = a.device
		specs[i].Mid = a.mid
		specs[i].At = time.Now().UnixMilli()
		specs[i].Base = a.cursor
		specs[i].Actor = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	}
	a.mu.Unlock()
	if err := a.write(ctx, protocol.Push{Type: protocol.TypePush, Events: specs}); err != nil {
		return protocol.Ack{}, err
	}
	select {
	case ack := <-a.acks:
		if strings.HasPrefix(ack.Type, "error:") {
			return ack, errors.New(ack.Type)
		}
		return ack, nil
	case <-time.After(10 * time.Second):
		return protocol.Ack{}, errors.New("no ack within 10 s")
	case <-ctx.Done():
		return protocol.Ack{}, ctx.Err()
	}
}

func (a *agent) close() {
	if a.conn != nil {
		a.conn.Close(websocket.StatusNormalClosure, "bye")
	}
	if a.cancel != nil {
		a.cancel()
	}
}

// routes mounts the test-only routes run.mjs uses to act as and observe
// the agent, and the bare host page.
func (a *agent) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /e2e/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, e2ePage)
	})
	mux.HandleFunc("GET /e2e/agent/events", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"events": a.all()})
	})
	// The agent's fileToken, for run.mjs to download what a visitor sent.
	mux.HandleFunc("GET /e2e/agent/fileToken", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, a.fileToken)
	})
	mux.HandleFunc("POST /e2e/agent/push", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Events []conv.Event `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ack, err := a.push(r.Context(), body.Events)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ack)
	})
	// The site's backend: the contact hash for ?id= (as protocol.ContactHash
	// computes it for a Go backend).
	mux.HandleFunc("GET /e2e/hash", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, protocol.ContactHash(e2eSecret, r.URL.Query().Get("id")))
	})
	// The gate in front of the relay: {"down": true} refuses and cuts every
	// connection through it, {"down": false} lets them through again.
	mux.HandleFunc("POST /e2e/gate", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Down bool `json:"down"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.gate.Block(body.Down)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /e2e/agent/typing", func(w http.ResponseWriter, r *http.Request) {
		var body protocol.Typing
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body.Type = protocol.TypeTyping
		if err := a.write(r.Context(), body); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// startSite serves a website of its own origin that hosts a copy of
// widget.js itself (/static/threadline.js, Bundle's bytes, as a site saves
// them) and points it at the relay with data-relay: the page and the widget
// load whether or not the relay answers. /?contact=ID&hash=HEX starts an
// identified contact; without, a visitor. The page records start's outcome
// in window.__start and pushes ["do","chat:open"] before the script loads.
func startSite(t *testing.T, relayWS string) string {
	t.Helper()
	js, err := Bundle("")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /static/threadline.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(js)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, sitePage, e2eWorkspace, relayWS)
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

const sitePage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A site that hosts widget.js itself</title></head>
<body><h1>Self-hosted widget</h1>
<script>
  window.$threadline = [["do", "chat:open"]];
  window.__start = null;
  window.addEventListener("threadline:loaded", function () {
    var q = new URLSearchParams(location.search);
    var o = { workspace: %q };
    if (q.get("contact")) { o.contactId = q.get("contact"); o.hash = q.get("hash"); }
    var t0 = Date.now();
    Threadline.start(o, function (res, err) {
      window.__start = err ? { code: err.code, message: err.message, ms: Date.now() - t0 } : Object.assign({ ms: Date.now() - t0 }, res);
    });
  });
</script>
<script src="/static/threadline.js" data-relay=%q></script>
</body></html>`
