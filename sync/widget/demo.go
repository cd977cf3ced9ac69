package widget

import (
	"html/template"
	"log/slog"
	"net/http"

	"github.com/threadline/threadline/sync/protocol"
)

var demoPage = template.Must(template.ParseFS(assets, "demo.html"))

// demoView is what demo.html shows.
type demoView struct {
	Company   string
	Workspace string
	Contact   string // "" for an anonymous visitor
	Hash      string
	Name      string
	Email     string
	HashFrom  string // "query", "relay" or "" (none: the widget will refuse to start)
	SelfHash  bool   // the relay may compute hashes for this workspace
}

// demoHandler serves the demo page. /demo embeds the widget for an
// anonymous visitor; /demo?contact=ID&hash=HEX[&name=…&email=…] for an
// identified contact; /demo?contact=ID alone works when the demo has the
// workspace's identity secret, and then the page's "backend" (this handler)
// computes the hash.
func demoHandler(d Demo, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Workspace == "" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		v := demoView{
			Company:   d.Name,
			Workspace: d.Workspace,
			Contact:   q.Get("contact"),
			Hash:      q.Get("hash"),
			Name:      q.Get("name"),
			Email:     q.Get("email"),
			SelfHash:  d.IdentitySecret != "",
		}
		if v.Company == "" {
			v.Company = "Acme Hosting"
		}
		switch {
		case v.Contact == "":
			v.Hash = ""
		case v.Hash != "":
			v.HashFrom = "query"
		case d.IdentitySecret != "":
			v.Hash = protocol.ContactHash(d.IdentitySecret, v.Contact)
			v.HashFrom = "relay"
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer") // the query may carry a hash
		if err := demoPage.Execute(w, v); err != nil {
			log.Error("widget: render demo page", "err", err)
		}
	})
}
