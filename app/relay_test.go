package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const (
	tokAna = relaytest.TokAna
	tokBen = relaytest.TokBen
)

// relayConfig is relaytest's standard workspace with no assistant (the
// team is ana and ben) and plan as its only attribute (the demo's vip is
// not the workspace's).
func relayConfig() *relay.Config {
	return relayrun.Config(func(w *relay.WorkspaceConfig) {
		w.Assistants = nil
		w.Attributes = w.Attributes[:1]
	})
}

// startRelay runs a real relay on loopback with agents ana and ben; it
// returns its ws:// URL.
func startRelay(t *testing.T) string {
	t.Helper()
	return relayrun.Start(t, relayrun.WithConfig(relayConfig())).WS
}

// TestConnectAndLiveTeammate connects a profile to a real relay, then a
// teammate on another device writes: the conversation appears live.
func TestConnectAndLiveTeammate(t *testing.T) {
	url := startRelay(t)
	a, rec := started(t, true) // a demo profile: its local store is kept aside on connect
	if err := a.Connect(url, "acme", "wrong-token-0123456789"); err == nil || wireError(err).Code != "unauthorized" {
		t.Fatalf("Connect(wrong token) = %v; want unauthorized", err)
	}
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	info, _ := a.Info()
	if info.Me.ID != "agent:ana" || !info.Connected {
		t.Fatalf("Info after Connect = %+v; want agent:ana, connected", info)
	}
	if s, _ := a.Settings(); s.Workspace != "acme" || !s.HasToken {
		t.Fatalf("Settings = %+v", s)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ben := client.NewMemory(conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: ben.Device(), Local: ben,
		Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: tokBen}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cl.Run(ctx) }()
	contact := conv.Participant{ID: "contact:maria", Role: conv.RoleContact, Name: "Maria"}
	created, err := ben.Create(conv.Created{Contact: &contact, Subject: "Server offline"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ben.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Hi Maria, Ben here."}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()

	for {
		page, err := a.Inbox(Query{View: "open"})
		if err == nil && len(page.Rows) == 1 && page.Rows[0].Preview == "Hi Maria, Ben here." {
			break
		}
		select {
		case <-rec.ch:
		case <-ctx.Done():
			t.Fatalf("Ben's conversation never arrived: %+v, %v", page, err)
		}
	}
	if err := a.Send(created.Conv, "Ana joining in."); err != nil {
		t.Fatalf("Send = %v", err)
	}
	for {
		tl, _ := a.Timeline(created.Conv, "", 50)
		last := tl.Items[len(tl.Items)-1]
		if last.Text == "Ana joining in." && last.State == "sent" && last.Seq > 0 {
			break
		}
		select {
		case <-rec.ch:
		case <-ctx.Done():
			t.Fatalf("reply never became sent: %+v", last)
		}
	}
	st, _ := a.Status()
	if st.Sync.State != client.StateOnline || st.Pending != 0 {
		t.Fatalf("Status = %+v; want online, nothing pending", st)
	}
	// The welcome taught the profile the workspace's definitions and team.
	attrs, _ := a.Attributes()
	team, _ := a.Teammates()
	if len(attrs) != 1 || attrs[0].Key != "plan" || len(team) != 2 || team[1].ID != "agent:ben" {
		t.Fatalf("Attributes = %+v, Teammates = %+v; want plan, and ana with ben", attrs, team)
	}
}

// TestBrowserBridge drives the App over HTTP as the browser-mode frontend does.
func TestBrowserBridge(t *testing.T) {
	a := New(Config{DataDir: t.TempDir(), Demo: true})
	h := Handler(a, fstest.MapFS{"index.html": {Data: []byte("<title>Threadline</title>")}})
	if err := Start(a); err != nil {
		t.Fatal(err)
	}
	defer Stop(a)
	srv := httptest.NewServer(h)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events", nil)
	events, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()

	post := func(method string, args ...any) (int, map[string]json.RawMessage) {
		if args == nil {
			args = []any{}
		}
		b, _ := json.Marshal(map[string]any{"method": method, "args": args})
		resp, err := http.Post(srv.URL+"/api/call", "application/json", bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, out := post("Inbox", map[string]any{"view": "open", "limit": 5})
	var page struct {
		Rows []struct{ ID string } `json:"rows"`
	}
	if code != 200 || json.Unmarshal(out["result"], &page) != nil || len(page.Rows) != 5 {
		t.Fatalf("POST Inbox = %d %s; want 5 rows", code, out)
	}
	if code, out := post("Send", page.Rows[0].ID, "from the browser"); code != 200 {
		t.Fatalf("POST Send = %d %s", code, out)
	}
	if code, out := post("Send", page.Rows[0].ID, "  "); code != 422 || !strings.Contains(string(out["error"]), `"code":"invalid"`) {
		t.Fatalf("POST Send(blank) = %d %s; want 422 invalid", code, out)
	}
	if code, _ := post("Nope"); code != 404 {
		t.Fatalf("POST Nope = %d; want 404", code)
	}
	if code, _ := post("Stop"); code != 404 {
		t.Fatalf("POST Stop = %d; lifecycle methods must not be callable", code)
	}
	if code, _ := post("Send", "only one arg"); code != 400 {
		t.Fatalf("POST Send(1 arg) = %d; want 400", code)
	}
	sc := bufio.NewScanner(events.Body)
	for sc.Scan() {
		if sc.Text() == "event: "+EventTimelineChanged || sc.Text() == "event: "+EventInboxChanged {
			break
		}
	}
	if sc.Err() != nil {
		t.Fatalf("event stream: %v", sc.Err())
	}
	resp, err := http.Get(srv.URL + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET / = %v, %v", resp, err)
	}
	resp.Body.Close()
}

// TestContactProfileFromRelay: a contact's hello carries its name and email;
// the relay logs them (contact.updated) and the bindings the UI reads (the
// inbox row, the conversation, search hits) carry them, so the desktop shows
// "Dana Whitfield" and her email, never "contact:42".
func TestContactProfileFromRelay(t *testing.T) {
	url := startRelay(t)
	a, rec := started(t, false)
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dana := client.NewMemory(conv.Participant{ID: "contact:42", Role: conv.RoleContact}, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: dana.Device(), Local: dana,
		Auth: protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: relaytest.ContactHash("42"), Name: "Dana Whitfield", Email: "dana@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cl.Run(ctx) }()
	created, err := dana.Create(conv.Created{Subject: "Invoice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dana.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()

	var row inbox.Row
	for {
		page, err := a.Inbox(Query{View: "open"})
		if err == nil && len(page.Rows) == 1 && page.Rows[0].ContactEmail != "" && page.Rows[0].Preview != "" {
			row = page.Rows[0]
			break
		}
		select {
		case <-rec.ch:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("Dana's conversation never arrived with her email: %+v, %v", page, err)
		}
	}
	if row.Contact.ID != "contact:42" || row.Contact.Name != "Dana Whitfield" || row.ContactEmail != "dana@example.com" {
		t.Fatalf("Inbox row contact %+v <%s>; want Dana Whitfield <dana@example.com>", row.Contact, row.ContactEmail)
	}
	v, err := a.Conversation(row.ID)
	if err != nil || v.Conversation.Contact.Name != "Dana Whitfield" || v.Conversation.ContactEmail != "dana@example.com" || v.Row.ContactEmail != "dana@example.com" {
		t.Fatalf("Conversation = %+v, %v; want Dana's name and email in the conversation and its row", v, err)
	}
	for _, q := range []string{"Dana", "dana@example.com", "invoice"} {
		hits, err := a.Search(q, 10)
		if err != nil || len(hits) == 0 || hits[0].Conv != row.ID || hits[0].Contact.Name != "Dana Whitfield" || hits[0].ContactEmail != "dana@example.com" {
			t.Errorf("Search(%q) = %+v, %v; want Dana's conversation, with her name and email", q, hits, err)
		}
	}
}
