package widget

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/threadline/threadline/sync/protocol"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWidgetJS(t *testing.T) {
	h := Handler(Options{RelayURL: "wss://relay.example/v1/sync"})
	r := get(t, h, "/widget.js")
	if r.StatusCode != 200 {
		t.Fatalf("GET /widget.js = %d; want 200", r.StatusCode)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type = %q; want text/javascript", ct)
	}
	js := body(t, r)
	for _, want := range []string{`"relayUrl":"wss://relay.example/v1/sync"`, `"path":"/v1/sync"`, "class Widget", "function uuidv7", ":host"} {
		if !strings.Contains(js, want) {
			t.Errorf("widget.js lacks %q", want)
		}
	}
	for i, line := range strings.Split(js, "\n") {
		if strings.HasPrefix(line, "import ") || strings.HasPrefix(line, "export ") {
			t.Errorf("widget.js line %d is still a module statement: %s", i+1, line)
		}
		if strings.Contains(line, "http://") || strings.Contains(line, "https://") {
			if !strings.Contains(line, "relay.example") {
				t.Errorf("widget.js line %d names an outside address: %s", i+1, line)
			}
		}
	}
	etag := r.Header.Get("ETag")
	if r2 := get(t, h, "/widget.js", "If-None-Match", etag); r2.StatusCode != http.StatusNotModified {
		t.Errorf("GET /widget.js with its ETag = %d; want 304", r2.StatusCode)
	}
}

// TestBundleParses has node check that the joined script is valid
// JavaScript (a classic script, not a module).
func TestBundleParses(t *testing.T) {
	node := nodePath(t)
	js, err := Bundle("")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "widget.cjs")
	if err := os.WriteFile(f, js, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
		t.Fatalf("node --check widget.js: %v\n%s", err, out)
	}
}

func TestEverySourceIsJoined(t *testing.T) {
	entries, err := fs.ReadDir(assets, "src")
	if err != nil {
		t.Fatal(err)
	}
	js, _ := Bundle("")
	for _, e := range entries {
		if !strings.Contains(string(js), "// ——— "+e.Name()+" ———") {
			t.Errorf("Bundle() leaves out %s", e.Name())
		}
	}
}

func TestAssets(t *testing.T) {
	h := Handler(Options{})
	if r := get(t, h, "/widget/widget.css"); r.StatusCode != 200 || !strings.Contains(body(t, r), ":host") {
		t.Errorf("GET /widget/widget.css = %d; want 200 with the widget's CSS", r.StatusCode)
	}
	if r := get(t, h, "/widget/src/uuid.js"); r.StatusCode != 200 {
		t.Errorf("GET /widget/src/uuid.js = %d; want 200", r.StatusCode)
	}
	for _, p := range []string{"/widget/", "/widget/demo.html", "/widget/nope.js", "/widget/../widget.go"} {
		if r := get(t, h, p); r.StatusCode == 200 {
			t.Errorf("GET %s = 200; want an error", p)
		}
	}
}

func TestDemoNeedsAWorkspace(t *testing.T) {
	if r := get(t, Handler(Options{}), "/demo"); r.StatusCode != 404 {
		t.Errorf("GET /demo without a demo workspace = %d; want 404", r.StatusCode)
	}
}

func TestDemoVisitor(t *testing.T) {
	h := Handler(Options{Demo: Demo{Workspace: "acme"}})
	r := get(t, h, "/demo")
	page := body(t, r)
	if r.StatusCode != 200 {
		t.Fatalf("GET /demo = %d", r.StatusCode)
	}
	for _, want := range []string{"Acme Hosting", `window.THREADLINE_WORKSPACE = "acme"`, `<script src="/widget.js" async>`, "Browsing anonymously"} {
		if !strings.Contains(page, want) {
			t.Errorf("demo page lacks %q", want)
		}
	}
	if strings.Contains(page, `"user:id"`) {
		t.Error("the visitor's demo page identifies a contact")
	}
}

func TestDemoContactHash(t *testing.T) {
	const secret = "s3cret"
	want := protocol.ContactHash(secret, "42")
	tests := []struct {
		name, secret, query, hash string
	}{
		{"relay computes it", secret, "/demo?contact=42&name=Dana", want},
		{"query gives it", "", "/demo?contact=42&hash=abc123", "abc123"},
		{"query wins over the relay", secret, "/demo?contact=42&hash=abc123", "abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := body(t, get(t, Handler(Options{Demo: Demo{Workspace: "acme", IdentitySecret: tt.secret}}), tt.query))
			line := `$threadline.push(["set", "user:id", ["42", "` + tt.hash + `"]]);`
			if !strings.Contains(page, line) {
				t.Errorf("GET %s: page lacks %s", tt.query, line)
			}
		})
	}
	page := body(t, get(t, Handler(Options{Demo: Demo{Workspace: "acme"}}), "/demo?contact=42"))
	if !strings.Contains(page, "no identity hash") {
		t.Error("a contact without a hash, and no secret to make one: the page does not say so")
	}
	if strings.Contains(page, secret) {
		t.Error("the page leaks the secret")
	}
}

func TestDemoEscapes(t *testing.T) {
	h := Handler(Options{Demo: Demo{Workspace: "acme"}})
	page := body(t, get(t, h, `/demo?contact=%3C/script%3E%3Cscript%3Ealert(1)%3C/script%3E&hash=x`))
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("the contact id reaches the page unescaped")
	}
}

// TestJSUnits runs the node unit tests of the pure modules (uuidv7, the
// command queue, backoff, the model).
func TestJSUnits(t *testing.T) {
	node := nodePath(t)
	cmd := exec.Command(node, "--test", "unit/")
	cmd.Dir = webDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test unit/: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test unit/ did not report success:\n%s", out)
	}
}

// nodePath finds node, or skips (fails with THREADLINE_REQUIRE_BROWSER set).
func nodePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("THREADLINE_REQUIRE_BROWSER") != "" {
			t.Fatal("node is not installed and THREADLINE_REQUIRE_BROWSER is set")
		}
		t.Skip("node is not installed: skipping the JavaScript checks (set THREADLINE_REQUIRE_BROWSER to make this a failure)")
	}
	return p
}
