// Package widget serves the web chat widget and its demo page.
//
// The widget is plain modern JavaScript, with no bundler and nothing fetched
// from anywhere but the relay that serves it. Its sources are ES modules in
// frontend/widget/src, beside the desktop UI, embedded by the Go package
// there (so `node --test` can import the pure ones); Handler joins them
// into one classic script, /widget.js, when it is built: it drops the
// single-line `import … from "./x.js";` statements, strips `export`, and
// wraps the whole in one function scope, after a WIDGET_CONFIG constant that
// carries the relay URL, the CSS of the widget's shadow root and the
// protocol's version, path, limits and close codes (Protocol: from
// sync/protocol's constants, never copied into the JavaScript by hand).
//
// Routes, for a mux that mounts Handler at its root:
//
//	GET /widget.js   the loader, SDK and UI in one script
//	GET /widget/…    assets: widget.css, the sources under src/ (for debugging)
//	GET /demo        the demo page (only when Options.Demo names a workspace)
package widget

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"

	web "github.com/threadline/threadline/frontend/widget"
)

// assets are the widget's browser files: src/*.js, widget.css, demo.html.
var assets fs.FS = web.Files

// Sources lists the widget's modules in the order widget.js joins them: each
// uses only what comes before it (main.js, last, runs it all).
var Sources = []string{"uuid.js", "backoff.js", "queue.js", "files.js", "model.js", "store.js", "client.js", "ui.js", "sdk.js", "main.js"}

// Options configures Handler.
type Options struct {
	// RelayURL is the sync WebSocket the widget connects to, such as
	// "wss://relay.example.com/v1/sync". Empty: the origin widget.js was
	// loaded from, at protocol.Path, which is right whenever the relay serves
	// the widget itself. A page may still override it (Threadline.start's
	// relayUrl, or data-relay on the script tag).
	RelayURL string
	// Demo configures /demo. Without a workspace, /demo answers 404.
	Demo Demo
	// Logger receives the handler's errors; nil discards them.
	Logger *slog.Logger
}

// Demo configures the demo page: a fictional hosting company's site that
// embeds the widget for one workspace.
type Demo struct {
	Workspace string // the workspace id the page embeds
	Name      string // the company's name on the page; "Acme Hosting" when empty
	// IdentitySecret lets the demo page play its own backend: with it,
	// /demo?contact=ID computes the contact's hash itself. Set it only for a
	// demo workspace: anyone who can load the page can then speak as any
	// contact of that workspace. Without it, the page takes the hash from the
	// query string (/demo?contact=ID&hash=HEX), as a real site's backend
	// would hand it to its page.
	IdentitySecret string
}

// Handler serves /widget.js, /widget/… and /demo.
func Handler(opts Options) http.Handler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	js, err := Bundle(opts.RelayURL)
	if err != nil {
		// The sources are embedded: only a broken build gets here, and a test
		// catches it. Serve the error rather than crash the relay.
		log.Error("widget: build widget.js", "err", err)
		js = []byte(fmt.Sprintf("console.error(%q);\n", "Threadline: the relay could not build widget.js: "+err.Error()))
	}
	sum := sha256.Sum256(js)
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	files := http.StripPrefix("/widget/", http.FileServerFS(assets))

	mux := http.NewServeMux()
	mux.HandleFunc("GET /widget.js", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache") // revalidate: a relay upgrade reaches every page
		h.Set("ETag", etag)
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(js)
	})
	mux.HandleFunc("GET /widget/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") || strings.HasSuffix(r.URL.Path, ".html") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
	mux.Handle("GET /demo", demoHandler(opts.Demo, log))
	return mux
}

var (
	importLine = regexp.MustCompile(`^import \{[\w\s,]+\} from "\./[\w-]+\.js";$`)
	exportDecl = regexp.MustCompile(`^export (async function|function|class|const|let) `)
)

// Bundle builds widget.js from the embedded sources, with relayURL as the
// default sync URL ("" for the script's own origin).
func Bundle(relayURL string) ([]byte, error) {
	css, err := fs.ReadFile(assets, "widget.css")
	if err != nil {
		return nil, fmt.Errorf("widget: read css: %w", err)
	}
	proto, err := Protocol()
	if err != nil {
		return nil, err
	}
	cfg, err := json.Marshal(map[string]any{"relayUrl": relayURL, "css": string(css), "protocol": proto})
	if err != nil {
		return nil, fmt.Errorf("widget: config: %w", err)
	}
	names, err := fs.Glob(assets, "src/*.js")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !slices.Contains(Sources, strings.TrimPrefix(n, "src/")) {
			return nil, fmt.Errorf("widget: %s is not listed in Sources", n)
		}
	}
	var b bytes.Buffer
	b.WriteString("/* Threadline web chat widget: built by the relay from frontend/widget/src. */\n(function () {\n\"use strict\";\n")
	b.WriteString("const WIDGET_CONFIG = ")
	b.Write(cfg)
	b.WriteString(";\n")
	for _, name := range Sources {
		src, err := fs.ReadFile(assets, "src/"+name)
		if err != nil {
			return nil, fmt.Errorf("widget: read %s: %w", name, err)
		}
		fmt.Fprintf(&b, "\n// ——— %s ———\n", name)
		for i, line := range strings.Split(strings.TrimRight(string(src), "\n"), "\n") {
			switch {
			case importLine.MatchString(line):
				continue
			case strings.HasPrefix(line, "import ") || strings.HasPrefix(line, "export {") || strings.HasPrefix(line, "export default"):
				return nil, fmt.Errorf("widget: %s:%d: only single-line named imports of sibling modules and `export <declaration>` are joined", name, i+1)
			case exportDecl.MatchString(line):
				line = strings.TrimPrefix(line, "export ")
			}
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	b.WriteString("})();\n")
	return b.Bytes(), nil
}

// Patterns are the paths Handler serves, for a mux that serves other things
// too (the relay's: /v1/sync, /healthz, /metrics).
var Patterns = []string{"/widget.js", "/widget/", "/demo"}

// Mount serves the widget on mux, next to whatever mux serves already:
//
//	widget.Mount(srv.Handler(), widget.Options{Demo: widget.Demo{Workspace: "acme"}})
func Mount(mux *http.ServeMux, opts Options) {
	h := Handler(opts)
	for _, p := range Patterns {
		mux.Handle(p, h)
	}
}
