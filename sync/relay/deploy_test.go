package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Deploying the relay: hashed tokens, allowed origins, reloads (DESIGN §9).

func sha(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func TestTokenSHA256(t *testing.T) {
	r := &testRelay{t: t, dir: t.TempDir(), conf: func(c *Config) {
		ana := &c.Workspaces[0].Agents[0]
		ana.Token, ana.TokenSHA256 = "", strings.ToUpper(sha(tokAna)) // hex in either case
	}}
	r.start()
	t.Cleanup(r.stop)
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	if s.welcome.Identity.ID != "agent:ana" {
		t.Fatalf("welcome %+v; want ana", s.welcome.Identity)
	}
	c := dial(t, r.url)
	c.send(hello(testWS, "d1", protocol.Cursor{}, agentAuth(sha(tokAna)))) // the hash is not the token
	c.expectError(protocol.CodeUnauthorized, true)

	for _, bad := range []Member{
		{ID: "x", Name: "X"},
		{ID: "x", Name: "X", Token: "token-x-0123456789abcdef", TokenSHA256: sha("token-x-0123456789abcdef")},
		{ID: "x", Name: "X", TokenSHA256: "abc"},
		{ID: "x", Name: "X", TokenSHA256: sha(tokBen)}, // Ben's token, hashed: two members share it
	} {
		cfg := testConfig()
		cfg.Workspaces[0].Agents = append(cfg.Workspaces[0].Agents, bad)
		if err := cfg.Validate(); err == nil {
			t.Errorf("Validate accepted agent %+v", bad)
		}
	}
}

func TestConfigErrorsNameTheLine(t *testing.T) {
	_, err := ParseConfig([]byte("{\n  \"workspaces\": [\n    {\"id\": \"acme\",}\n  ]\n}"), envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("ParseConfig(trailing comma on line 3) = %v; want an error naming line 3", err)
	}
	_, err = ParseConfig([]byte("{\"workspaces\": [\n{\"id\": 7}]}"), envOf(nil))
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseConfig(a number for an id on line 2) = %v; want an error naming line 2", err)
	}
	for name, edit := range map[string]func(*WorkspaceConfig){
		"webhook url not http(s)": func(w *WorkspaceConfig) {
			w.Webhooks = []Webhook{{URL: "ftp://example.com/hook", Secret: "s", Events: []string{"message.sent"}}}
		},
		"webhook unknown kind": func(w *WorkspaceConfig) {
			w.Webhooks = []Webhook{{URL: "https://example.com/hook", Secret: "s", Events: []string{"message.typed"}}}
		},
		"webhook without secret": func(w *WorkspaceConfig) {
			w.Webhooks = []Webhook{{URL: "https://example.com/hook", Events: []string{"message.sent"}}}
		},
		"origin with a path":    func(w *WorkspaceConfig) { w.AllowedOrigins = []string{"https://example.com/shop"} },
		"api key without token": func(w *WorkspaceConfig) { w.APIKeys = []APIKey{{ID: "backend"}} },
		"api key sharing a token": func(w *WorkspaceConfig) {
			w.APIKeys = []APIKey{{ID: "backend", Token: tokAna}}
		},
	} {
		cfg := testConfig()
		edit(&cfg.Workspaces[0])
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

func TestAllowedOrigins(t *testing.T) {
	r := &testRelay{t: t, dir: t.TempDir(), conf: func(c *Config) {
		c.Workspaces[0].AllowedOrigins = []string{"https://www.acme.example", "http://localhost:8080"}
	}}
	r.start()
	t.Cleanup(r.stop)
	origin := func(o string) http.Header { return http.Header{"Origin": {o}} }
	for _, o := range []string{"https://www.acme.example", "https://WWW.acme.example:443", "http://localhost:8080"} {
		c := dialHeader(t, r.url, origin(o))
		c.send(hello(testWS, "d1", protocol.Cursor{}, protocol.Auth{Kind: protocol.AuthVisitor}))
		if f := c.next(); f.Type != protocol.TypeWelcome {
			t.Errorf("a page of %s: got %s; want welcome", o, trunc(f.Raw))
		}
	}
	for _, o := range []string{"https://evil.example", "https://acme.example", "http://www.acme.example", "null"} {
		for _, a := range []protocol.Auth{{Kind: protocol.AuthVisitor}, contactAuth("42"), agentAuth(tokAna)} {
			c := dialHeader(t, r.url, origin(o))
			c.send(hello(testWS, "d1", protocol.Cursor{}, a))
			c.expectError(protocol.CodeUnauthorized, true)
			if code := c.closed(); code != protocol.CloseUnauthorized {
				t.Errorf("a %s hello from %s closed with %d; want %d", a.Kind, o, code, protocol.CloseUnauthorized)
			}
		}
	}
	// Clients that send no Origin (the desktop, the SDK) are not affected.
	connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
}

func TestReloadKeepsValidSessionsAndClosesRevokedOnes(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})

	// A config that is not valid is refused whole; everyone stays.
	bad := testConfig()
	bad.Workspaces[0].Agents[1].Token = ""
	if err := r.srv.Reload(bad); err == nil {
		t.Fatal("Reload accepted an agent without a token")
	}
	gone := testConfig()
	gone.Workspaces[0].ID = "other"
	if err := r.srv.Reload(gone); err == nil {
		t.Fatal("Reload accepted a config without the workspace it serves")
	}

	// Ben's token is rotated, a key and a workspace are added.
	const newBen = "token-ben-rotated-0123456789"
	cfg := testConfig()
	cfg.Workspaces[0].Agents[1].Token = newBen
	cfg.Workspaces[0].APIKeys = []APIKey{{ID: "backend", TokenSHA256: sha("api-key-0123456789abcdef")}}
	second := testConfig().Workspaces[0]
	second.ID, second.Name = "globex", "Globex"
	cfg.Workspaces = append(cfg.Workspaces, second)
	if err := r.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	ben.expectError(protocol.CodeUnauthorized, true)
	if code := ben.closed(); code != protocol.CloseUnauthorized {
		t.Errorf("Ben's old session closed with %d; want %d", code, protocol.CloseUnauthorized)
	}
	// Ana and Zoe keep going on the same connections.
	c := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, c, created("")))
	ana.mustLog(ana.ev(conv.KindMessageSent, c, msg("still here")))
	// The new token works, the old one does not; the new workspace serves.
	connect(t, r.url, agentAuth(newBen), protocol.Cursor{})
	old := dial(t, r.url)
	old.send(hello(testWS, "d2", protocol.Cursor{}, agentAuth(tokBen)))
	old.expectError(protocol.CodeUnauthorized, true)
	g := dial(t, r.url)
	g.send(hello("globex", "d3", protocol.Cursor{}, agentAuth(tokAna)))
	if f := g.next(); f.Type != protocol.TypeWelcome {
		t.Errorf("the reloaded workspace: %s; want welcome", trunc(f.Raw))
	}

	// A changed identity secret ends the contact's session.
	cfg.Workspaces[0].IdentitySecret = "a-new-identity-secret-0123456789"
	if err := r.srv.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	zoe.expectError(protocol.CodeUnauthorized, true)
	ana.mustLog(ana.ev(conv.KindMessageSent, c, msg("and still here")))
}
