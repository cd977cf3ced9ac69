package relay

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

const designConfig = `{
  "workspaces": [{
    "id": "acme",
    "name": "Acme Hosting",
    "identitySecret": "$ACME_SECRET",
    "agents":     [{"id": "ana", "name": "Ana", "token": "${ANA_TOKEN}"}, {"id": "ben", "name": "Ben", "token": "ben-token-from-the-file"}],
    "assistants": [{"id": "faq", "name": "FAQ bot", "token": "faq-token-from-the-file"}],
    "attributes": [{"key": "plan", "type": "enum", "values": ["free", "pro"]},
                   {"key": "seats", "type": "number"},
                   {"key": "vip", "type": "bool"},
                   {"key": "company", "type": "string"}]
  }]
}`

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig([]byte(designConfig), envOf(map[string]string{
		"ACME_SECRET":                           "secret-from-the-environment",
		"ANA_TOKEN":                             "ana-token-from-the-environment",
		"THREADLINE_ACME_ASSISTANT_FAQ_TOKEN":   "faq-token-overridden-by-env",
		"THREADLINE_GLOBEX_AGENT_ANA_TOKEN":     "for another workspace",
		"THREADLINE_ACME_AGENT_BEN_TOKEN_OTHER": "not a match",
	}))
	if err != nil {
		t.Fatal(err)
	}
	w := c.Workspaces[0]
	if w.IdentitySecret != "secret-from-the-environment" || w.Agents[0].Token != "ana-token-from-the-environment" ||
		w.Agents[1].Token != "ben-token-from-the-file" || w.Assistants[0].Token != "faq-token-overridden-by-env" {
		t.Errorf("resolved %+v", w)
	}
	if len(w.Attributes) != 4 || w.Attributes[0].Type != conv.AttrEnum || w.Attributes[0].Values[1] != "pro" {
		t.Errorf("attributes %+v", w.Attributes)
	}
	c, err = ParseConfig([]byte(designConfig), envOf(map[string]string{
		"ACME_SECRET":                     "secret-from-the-environment",
		"ANA_TOKEN":                       "ana-token-from-the-environment",
		"THREADLINE_ACME_IDENTITY_SECRET": "the-override-wins-over-the-file",
	}))
	if err != nil || c.Workspaces[0].IdentitySecret != "the-override-wins-over-the-file" {
		t.Errorf("override: %v %+v", err, c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	env := envOf(map[string]string{"ACME_SECRET": "secret-from-the-environment", "ANA_TOKEN": "ana-token-from-the-environment"})
	for _, tt := range []struct{ name, json, want string }{
		{"unset variable", designConfig, "ANA_TOKEN"},
		{"not json", `{`, "parse"},
		{"no workspaces", `{"workspaces":[]}`, "no workspaces"},
		{"no secret", strings.Replace(designConfig, `"$ACME_SECRET"`, `""`, 1), "identitySecret"},
		{"no token", strings.Replace(designConfig, `"ben-token-from-the-file"`, `""`, 1), "no token"},
		{"duplicate agent", strings.Replace(designConfig, `"id": "ben"`, `"id": "ana"`, 1), "twice"},
		{"shared token", strings.Replace(designConfig, `ben-token-from-the-file`, `faq-token-from-the-file`, 1), "share a token"},
		{"enum without values", strings.Replace(designConfig, `"values": ["free", "pro"]`, `"values": []`, 1), "no values"},
		{"unknown type", strings.Replace(designConfig, `"type": "bool"`, `"type": "date"`, 1), "unknown type"},
		{"bad workspace id", strings.Replace(designConfig, `"id": "acme"`, `"id": "a:b"`, 1), "workspace id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := env
			if tt.name == "unset variable" {
				e = envOf(map[string]string{"ACME_SECRET": "secret-from-the-environment"})
			}
			_, err := ParseConfig([]byte(tt.json), e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig = %v; want an error mentioning %q", err, tt.want)
			}
		})
	}
}

func TestDemoConfigIsValid(t *testing.T) {
	a, b := DemoConfig(), DemoConfig()
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	if a.Workspaces[0].ID != "demo" || a.Workspaces[0].Agents[0].Token == b.Workspaces[0].Agents[0].Token {
		t.Errorf("demo configs %+v %+v", a, b)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	r := newTestRelay(t)
	get := func(path string) (int, string) {
		resp, err := http.Get(r.hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("healthz %d", code)
	}
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, cid, created("contact:1")), ana.ev(conv.KindMessageSent, cid, msg("hi")))
	ana.push(ana.ev(conv.KindNoteAdded, "nope", conv.Note{Text: "x"}))
	code, body := get("/metrics")
	for _, want := range []string{
		"threadline_relay_connections 1",
		"threadline_relay_events_logged_total 3",
		`threadline_relay_rejections_total{code="no_such_conversation"} 1`,
		"threadline_relay_push_ack_seconds_count 2",
		`threadline_relay_push_ack_seconds_bucket{le="+Inf"} 2`,
		"threadline_relay_slow_reader_disconnects_total 0",
		"# TYPE threadline_relay_push_ack_seconds histogram",
		"# TYPE threadline_relay_commit_seconds histogram",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if code != 200 || strings.Contains(body, tokAna) || strings.Contains(body, testSecret) {
		t.Errorf("metrics: %d", code)
	}
	// More routes can be mounted on the relay's mux.
	r.srv.Handler().HandleFunc("/widget.js", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "// widget") })
	if code, body := get("/widget.js"); code != 200 || body != "// widget" {
		t.Errorf("mounted route: %d %q", code, body)
	}
	// Shutting down: healthz says so.
	r.srv.mu.Lock()
	r.srv.closing = true
	r.srv.mu.Unlock()
	if code, _ := get("/healthz"); code != http.StatusServiceUnavailable {
		t.Errorf("healthz while closing: %d", code)
	}
	r.srv.mu.Lock()
	r.srv.closing = false
	r.srv.mu.Unlock()
}

// TestSecretsAreNeverLogged runs sessions of every kind, good and bad, with
// a debug logger, and looks for tokens, hashes and secrets in the output.
func TestSecretsAreNeverLogged(t *testing.T) {
	var buf strings.Builder
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	w := writerFunc(func(p []byte) (int, error) { <-mu; buf.Write(p); mu <- struct{}{}; return len(p), nil })
	r := newTestRelay(t, func(o *Options) { o.Logger = newTextLogger(w) })
	connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{})
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	a := contactAuth("zoe")
	a.VisitorToken = v.welcome.VisitorToken
	connect(t, r.url, a, protocol.Cursor{})
	for _, bad := range []protocol.Auth{agentAuth("wrong-token-0123456789"), {Kind: protocol.AuthContact, ContactID: "x", Hash: contactHash("y")}, {Kind: protocol.AuthVisitor, VisitorToken: "guess-0123456789"}} {
		c := dial(t, r.url)
		c.send(hello(testWS, "d", protocol.Cursor{}, bad))
		c.closed()
	}
	r.stop()
	<-mu
	out := buf.String()
	mu <- struct{}{}
	if !strings.Contains(out, "hello refused") {
		t.Fatalf("expected log lines, got:\n%s", out)
	}
	for _, secret := range []string{tokAna, tokFAQ, testSecret, contactHash("zoe"), contactHash("y"), v.welcome.VisitorToken, "wrong-token-0123456789", "guess-0123456789"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains a secret %q:\n%s", secret, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestConfigWarnings(t *testing.T) {
	c, err := ParseConfig([]byte(`{"workspaces":[{"id":"w","identitySecret":"short","agents":[{"id":"a","token":"tok"}],"extra":true}]}`), envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	ws := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"unknown field", "identitySecret is shorter", "token of a is shorter"} {
		if !strings.Contains(ws, want) {
			t.Errorf("warnings %q lack %q", ws, want)
		}
	}
	if strings.Contains(ws, "short\"") || strings.Contains(ws, "tok\"") {
		t.Errorf("warnings quote a secret: %s", ws)
	}
}
