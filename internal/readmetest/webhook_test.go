package readmetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/relay"
)

// receiverHarness makes each language's webhook-verify snippet a receiver:
// an HTTP server on loopback that checks every request with the snippet's
// function and the secret in $WEBHOOK_SECRET, answers 204 (verified) or
// 400, and prints one JSON line per request: {"ok", "id", "seq"} or
// {"ok": false, "error"}; first {"listening": port}.
var receiverHarness = map[string]runner{
	"node": {tool: "node", file: "receiver.mjs", suffix: `
import { createServer } from "node:http";

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    try {
      verifyThreadline(process.env.WEBHOOK_SECRET, req.headers["threadline-signature"], body);
    } catch (err) {
      console.log(JSON.stringify({ ok: false, error: err.message }));
      res.writeHead(400).end();
      return;
    }
    const { event } = JSON.parse(body);
    console.log(JSON.stringify({ ok: true, id: req.headers["threadline-event-id"], seq: event.seq }));
    res.writeHead(204).end();
  });
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ listening: server.address().port })));
`},
	// The snippet brings its own imports; these are the harness's, which
	// the snippet does not use.
	"go": {tool: "go", file: "receiver.go", prefix: "package main\n\nimport (\n\t\"encoding/json\"\n\t\"fmt\"\n\t\"io\"\n\t\"net\"\n\t\"net/http\"\n\t\"os\"\n\t\"sync\"\n)\n\n", suffix: `
func main() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Printf("{\"listening\": %d}\n", ln.Addr().(*net.TCPAddr).Port)
	var mu sync.Mutex
	secret := os.Getenv("WEBHOOK_SECRET")
	panic(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		line := map[string]any{"ok": true, "id": r.Header.Get("Threadline-Event-Id")}
		if err := verifyThreadline(secret, r.Header.Get("Threadline-Signature"), body, time.Now()); err != nil {
			line = map[string]any{"ok": false, "error": err.Error()}
			w.WriteHeader(http.StatusBadRequest)
		} else {
			var p struct {
				Event struct {
					Seq uint64 ` + "`json:\"seq\"`" + `
				} ` + "`json:\"event\"`" + `
			}
			json.Unmarshal(body, &p)
			line["seq"] = p.Event.Seq
			w.WriteHeader(http.StatusNoContent)
		}
		b, _ := json.Marshal(line)
		mu.Lock()
		fmt.Println(string(b))
		mu.Unlock()
	})))
}
`},
}

// receiverLine is what a harness prints.
type receiverLine struct {
	Listening int    `json:"listening"`
	OK        bool   `json:"ok"`
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	Error     string `json:"error"`
}

// startReceiver runs lang's snippet as a receiver and returns its URL and
// its lines.
func startReceiver(t *testing.T, lang, secret string) (string, <-chan receiverLine) {
	t.Helper()
	s, tool, dir, file := receiverHarness[lang].write(t, "webhook-verify "+lang)
	args := []string{file}
	if lang == "go" {
		// Built first, so the receiver is this test's child (go run's
		// would outlive a kill of go run).
		build := exec.Command(tool, "build", "-o", filepath.Join(dir, "receiver"), file)
		build.Dir = dir
		build.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("README.md:%d: the go snippet does not build: %v\n%s", s.line, err, out)
		}
		tool, args = filepath.Join(dir, "receiver"), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, tool, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := make(chan receiverLine, 1000)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l receiverLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = receiverLine{Error: "not a harness line: " + sc.Text()}
			}
			lines <- l
		}
	}()
	select {
	case l, ok := <-lines:
		if !ok || l.Listening == 0 {
			t.Fatalf("README.md:%d: the %s receiver did not start: %+v\n%s", s.line, lang, l, stderr.Bytes())
		}
		return fmt.Sprintf("http://127.0.0.1:%d/threadline", l.Listening), lines
	case <-time.After(2 * time.Minute):
		t.Fatalf("README.md:%d: the %s receiver did not start\n%s", s.line, lang, stderr.Bytes())
	}
	return "", nil
}

func nextLine(t *testing.T, lines <-chan receiverLine) receiverLine {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the receiver exited")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("the receiver printed nothing for 30 s")
	}
	return receiverLine{}
}

// TestWebhookVerifySnippets runs the README's receiver snippets as a real
// relay's webhook endpoints: each must accept every delivery (a refused one
// would be retried, and show here as a failed line) and refuse requests
// whose body, secret or time is not the relay's.
func TestWebhookVerifySnippets(t *testing.T) {
	for _, lang := range []string{"node", "go"} {
		t.Run(lang, func(t *testing.T) {
			secret := "whsec-" + lang + "-0123456789abcdef"
			url, lines := startReceiver(t, lang, secret)

			const apiKey = "api-key-backend-0123456789abcdef"
			r := relayrun.Start(t, relayrun.WithConfig(relayrun.Config(func(w *relay.WorkspaceConfig) {
				w.APIKeys = []relay.APIKey{{ID: "backend", Token: apiKey}}
				w.Webhooks = []relay.Webhook{{ID: "site", URL: url, Secret: secret,
					Events: []string{"conversation.created", "thread.started", "message.sent"}}}
			})))

			// Three conversations over the HTTP API: conversation.created,
			// the derived thread.started and message.sent each.
			for i := range 3 {
				body := fmt.Sprintf(`{"contact": "%d", "message": "hello %d"}`, 40+i, i)
				req, _ := http.NewRequest(http.MethodPost, r.URL+"/v1/api/workspaces/acme/conversations", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+apiKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("create a conversation: %d %s", resp.StatusCode, b)
				}
			}
			for seq := uint64(1); seq <= 9; seq++ {
				l := nextLine(t, lines)
				if !l.OK || l.Seq != seq || l.ID == "" {
					t.Fatalf("delivery %d: the %s snippet printed %+v; want seq %d verified", seq, lang, l, seq)
				}
			}

			// Forged requests: each must be refused.
			good := []byte(`{"workspace":"acme","event":{"id":"x","seq":10,"kind":"message.sent"}}`)
			now := time.Now()
			for _, c := range []struct {
				name, sig string
				body      []byte
			}{
				{"the body changed", relay.Signature(secret, now, good), bytes.Replace(good, []byte("10"), []byte("11"), 1)},
				{"another secret", relay.Signature("not-the-secret", now, good), good},
				{"t ten minutes old", relay.Signature(secret, now.Add(-10*time.Minute), good), good},
				{"t ten minutes ahead", relay.Signature(secret, now.Add(10*time.Minute), good), good},
				{"no signature", "", good},
				{"v1 missing", strings.Split(relay.Signature(secret, now, good), ",")[0], good},
			} {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(c.body))
				if c.sig != "" {
					req.Header.Set(relay.SignatureHeader, c.sig)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				l := nextLine(t, lines)
				if resp.StatusCode != http.StatusBadRequest || l.OK {
					t.Errorf("%s: the %s snippet answered %d and printed %+v; want it refused", c.name, lang, resp.StatusCode, l)
				}
			}
			// The same request, signed right, passes.
			req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(good))
			req.Header.Set(relay.SignatureHeader, relay.Signature(secret, now, good))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if l := nextLine(t, lines); !l.OK {
				t.Errorf("a well-signed request: the %s snippet printed %+v; want it verified", lang, l)
			}
		})
	}
}
