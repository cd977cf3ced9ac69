package relay

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func TestHelloWelcomesEachAuthKind(t *testing.T) {
	r := newTestRelay(t)
	tests := []struct {
		name string
		auth protocol.Auth
		want conv.Participant
	}{
		{"agent", agentAuth(tokAna), conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}},
		{"assistant", protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant, Name: "FAQ bot"}},
		{"contact", protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: contactHash("42"), Name: "Zoe"}, conv.Participant{ID: "contact:42", Role: conv.RoleContact, Name: "Zoe"}},
		{"contact, upper-case hash", protocol.Auth{Kind: protocol.AuthContact, ContactID: "43", Hash: strings.ToUpper(contactHash("43"))}, conv.Participant{ID: "contact:43", Role: conv.RoleContact}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := connect(t, r.url, tt.auth, protocol.Cursor{})
			w := s.welcome
			if w.Identity != tt.want {
				t.Errorf("identity = %+v; want %+v", w.Identity, tt.want)
			}
			if w.Epoch == "" || w.Epoch != r.srv.Epoch(testWS) {
				t.Errorf("epoch = %q; want the workspace's %q", w.Epoch, r.srv.Epoch(testWS))
			}
			if w.Head != 0 || w.Backlog != 0 || w.LastMid != 0 || w.VisitorToken != "" {
				t.Errorf("welcome = %+v; want head, backlog, lastMid 0 and no visitor token", w)
			}
			if s.caughtUp != (protocol.Cursor{Epoch: w.Epoch, Seq: 0}) {
				t.Errorf("caughtUp = %+v", s.caughtUp)
			}
		})
	}

	t.Run("visitor", func(t *testing.T) {
		v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
		w := v.welcome
		if w.Identity.Role != conv.RoleVisitor || !strings.HasPrefix(w.Identity.ID, "visitor:") || w.VisitorToken == "" {
			t.Fatalf("welcome = %+v; want a new visitor and its token", w)
		}
		again := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: w.VisitorToken}, protocol.Cursor{})
		if again.welcome.Identity != w.Identity || again.welcome.VisitorToken != "" {
			t.Errorf("resume: welcome = %+v; want identity %+v and no new token", again.welcome, w.Identity)
		}
		other := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
		if other.welcome.Identity == w.Identity || other.welcome.VisitorToken == w.VisitorToken {
			t.Errorf("second visitor got the first one's identity or token")
		}
		// A visitor token survives a restart.
		r.restart()
		again = connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: w.VisitorToken}, protocol.Cursor{})
		if again.welcome.Identity != w.Identity {
			t.Errorf("after restart: identity %+v; want %+v", again.welcome.Identity, w.Identity)
		}
	})
}

func TestHelloRefused(t *testing.T) {
	r := newTestRelay(t)
	// Something stored first, to check it survives every refusal.
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, cid, created("contact:1")), ana.ev(conv.KindMessageSent, cid, msg("hello")))
	before := wholeLog(t, r.url)

	h := func(mod func(*protocol.Hello)) string {
		x := hello(testWS, "dev-x", protocol.Cursor{}, agentAuth(tokAna))
		mod(&x)
		return string(mustJSON(x))
	}
	tests := []struct {
		name  string
		frame string
		code  string
		close websocket.StatusCode
	}{
		{"bad token", h(func(x *protocol.Hello) { x.Auth.Token = "nope-nope-nope-nope" }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"empty token", h(func(x *protocol.Hello) { x.Auth.Token = "" }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"agent token as assistant", h(func(x *protocol.Hello) { x.Auth.Kind = protocol.AuthAssistant }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"wrong contact hash", h(func(x *protocol.Hello) {
			x.Auth = protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: contactHash("43")}
		}), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"contact hash not hex", h(func(x *protocol.Hello) {
			x.Auth = protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: "zz"}
		}), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"unknown visitor token", h(func(x *protocol.Hello) { x.Auth = protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: "made-up"} }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"contact with unknown visitor token", h(func(x *protocol.Hello) { x.Auth = contactAuth("42"); x.Auth.VisitorToken = "made-up" }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"unknown auth kind", h(func(x *protocol.Hello) { x.Auth.Kind = "root" }), protocol.CodeUnauthorized, protocol.CloseUnauthorized},
		{"unknown workspace", h(func(x *protocol.Hello) { x.Workspace = "globex" }), protocol.CodeUnknownWorkspace, protocol.CloseUnknownWorkspace},
		{"unsupported protocol", h(func(x *protocol.Hello) { x.Protocol = 2 }), protocol.CodeUnsupportedProtocol, protocol.CloseUnsupportedProtocol},
		{"push before hello", `{"type":"push","events":[]}`, protocol.CodeNotReady, protocol.CloseNotReady},
		{"typing before hello", `{"type":"typing","conv":"x","on":true}`, protocol.CodeNotReady, protocol.CloseNotReady},
		{"unknown type before hello", `{"type":"subscribe"}`, protocol.CodeNotReady, protocol.CloseNotReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, r.url)
			c.sendRaw(tt.frame)
			c.expectError(tt.code, true)
			if got := c.closed(); got != tt.close {
				t.Errorf("close code %d; want %d", got, tt.close)
			}
		})
	}
	after := wholeLog(t, r.url)
	if len(after) != len(before) {
		t.Fatalf("log has %d events after the refusals; want %d", len(after), len(before))
	}
}

func TestHelloShapeErrorsAreNotFatal(t *testing.T) {
	r := newTestRelay(t)
	c := dial(t, r.url)
	c.sendRaw(`{not json`)
	c.expectError(protocol.CodeBadFrame, false)
	c.sendRaw(`{"type":"hello","protocol":"one"}`)
	c.expectError(protocol.CodeBadFrame, false)
	c.send(hello(testWS, "", protocol.Cursor{}, agentAuth(tokAna))) // no device
	c.expectError(protocol.CodeBadFrame, false)
	c.send(hello(testWS, "dev-1", protocol.Cursor{}, agentAuth(tokAna)))
	if f := c.next(); f.Type != protocol.TypeWelcome {
		t.Fatalf("after shape errors, hello got %s", trunc(f.Raw))
	}
}

func TestHelloTimeout(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.PingInterval = 50 * time.Millisecond; o.HelloTimeout = 100 * time.Millisecond })
	c := dial(t, r.url)
	if got := c.closed(); got != protocol.CloseIdle {
		t.Fatalf("close code %d; want %d", got, protocol.CloseIdle)
	}
}

func TestIdleConnectionDropped(t *testing.T) {
	r := newTestRelay(t, func(o *Options) {
		// Wide enough that a loaded CI machine running -race does not
		// miss a live client's pong.
		o.PingInterval = 50 * time.Millisecond
		o.IdleTimeout = 400 * time.Millisecond
	})
	// A client that reads answers pings and stays.
	live := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	// A client that does not read cannot answer pings: it is dropped.
	ctx := t.Context()
	dead, _, err := websocket.Dial(ctx, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dead.CloseNow()
	if err := dead.Write(ctx, websocket.MessageText, mustJSON(hello(testWS, "dev-dead", protocol.Cursor{}, agentAuth(tokBen)))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	var rerr error
	for rerr == nil {
		_, _, rerr = dead.Read(ctx)
	}
	if got := websocket.CloseStatus(rerr); got != protocol.CloseIdle {
		t.Errorf("silent connection: close %d (%v); want %d", got, rerr, protocol.CloseIdle)
	}
	select {
	case <-live.done:
		t.Fatalf("a connection that answers pings was dropped: %v", live.err)
	default:
	}
}

// TestWelcomeDescribesTheWorkspaceToTheTeam: agents' and assistants'
// welcomes carry the workspace's attribute definitions and members (never
// a token); contacts' and visitors' never do.
func TestWelcomeDescribesTheWorkspaceToTheTeam(t *testing.T) {
	r := newTestRelay(t)
	cfg := testConfig().Workspaces[0]
	want := protocol.WorkspaceInfo{
		ID:         testWS,
		Name:       cfg.Name,
		Attributes: cfg.Attributes,
		Members: []conv.Participant{
			{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"},
			{ID: "agent:ben", Role: conv.RoleAgent, Name: "Ben"},
			{ID: "ai:faq", Role: conv.RoleAssistant, Name: "FAQ bot"},
		},
	}
	for _, a := range []protocol.Auth{agentAuth(tokAna), {Kind: protocol.AuthAssistant, Token: tokFAQ}} {
		s := connect(t, r.url, a, protocol.Cursor{})
		if got := s.welcome.Workspace; got == nil || !reflect.DeepEqual(*got, want) {
			t.Errorf("%s's welcome workspace = %+v; want %+v", a.Kind, got, want)
		}
	}
	// On the wire: no token or secret anywhere in the welcome.
	c := dial(t, r.url)
	c.send(hello(testWS, c.device, protocol.Cursor{}, agentAuth(tokAna)))
	raw := string(c.nextOf(protocol.TypeWelcome).Raw)
	for _, secret := range []string{tokAna, tokBen, tokFAQ, testSecret} {
		if strings.Contains(raw, secret) {
			t.Errorf("the welcome carries a secret: %s", raw)
		}
	}
	if !strings.Contains(raw, `"workspace":{`) {
		t.Errorf("welcome on the wire: %s", raw)
	}

	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	auth := contactAuth("42")
	auth.VisitorToken = v.welcome.VisitorToken
	for _, s := range []*tsession{v, connect(t, r.url, contactAuth("42"), protocol.Cursor{}), connect(t, r.url, auth, protocol.Cursor{})} {
		if s.welcome.Workspace != nil {
			t.Errorf("%s's welcome carries the workspace: %+v", s.welcome.Identity.Role, s.welcome.Workspace)
		}
	}
	for _, a := range []protocol.Auth{{Kind: protocol.AuthVisitor}, contactAuth("43")} {
		c := dial(t, r.url)
		c.send(hello(testWS, c.device, protocol.Cursor{}, a))
		if raw := string(c.nextOf(protocol.TypeWelcome).Raw); strings.Contains(raw, `"workspace"`) || strings.Contains(raw, "Ana") || strings.Contains(raw, "plan") {
			t.Errorf("%s's welcome on the wire: %s", a.Kind, raw)
		}
	}
}
