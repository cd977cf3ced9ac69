package app

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// teammate is Ben on a device of his own, synced with the relay: what the
// relay's log holds, as the rest of the team sees it.
func teammate(t *testing.T, url string) *client.Memory {
	t.Helper()
	ben := client.NewMemory(conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: ben.Device(), Local: ben,
		Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: tokBen}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = cl.Run(ctx) }()
	t.Cleanup(func() { cancel(); cl.Close() })
	return ben
}

// eventually waits until cond holds, waking on the app's events and the
// teammate's changes.
func eventually(t *testing.T, rec *recorder, ben *client.Memory, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for !cond() {
		var changed <-chan struct{}
		if ben != nil {
			changed = ben.Changed()
		}
		select {
		case <-rec.ch:
		case <-changed:
		case <-time.After(50 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// texts returns the messages and notes of a conversation on Ben's device, with their authors.
func texts(ben *client.Memory, id string) []string {
	var out []string
	for _, e := range ben.Timeline(id) {
		if e.Kind == conv.KindMessageSent || e.Kind == conv.KindNoteAdded {
			d, _ := conv.Decode(e)
			switch d := d.(type) {
			case *conv.Message:
				out = append(out, e.Actor.ID+": "+d.Text)
			case *conv.Note:
				out = append(out, e.Actor.ID+": "+d.Text)
			}
		}
	}
	return out
}

func allIDs(t *testing.T, a *App) []string {
	t.Helper()
	page, err := a.Inbox(Query{View: "all", Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range page.Rows {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	return ids
}

// TestConnectKeepsLocalWork is issue 15's first point, against a real relay:
// on a demo profile, the conversation the user made goes up to the relay on
// the first connect, as the relay's identity, while the sample inbox is kept
// aside and can come back; disconnecting keeps the synced inbox readable and
// writable, and what was made offline goes up at the next connect, with the
// token left empty; nothing is ever sent twice.
func TestConnectKeepsLocalWork(t *testing.T) {
	url := startRelay(t)
	ben := teammate(t, url)
	a, rec := started(t, true)
	demo := allIDs(t, a)
	// The demo defines plan and vip; the relay's workspace only plan.
	mine, err := a.CreateConversation(NewConversation{ContactID: "dana@example.com", ContactName: "Dana", Subject: "Made offline", Text: "written before connecting",
		Attributes: map[string]any{"plan": "pro", "vip": true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AddNote(mine, "a note of mine"); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(demo[0], "a reply in a sample conversation"); err != nil {
		t.Fatal(err)
	}
	local := allIDs(t, a)

	plan, err := a.ConnectPlan(url, "acme")
	if err != nil || plan != (ConnectPlan{Action: PlanFirst, Send: 1, Keep: len(demo), Demo: true}) {
		t.Fatalf("ConnectPlan = %+v, %v; want first connect sending 1, keeping the %d sample ones", plan, err, len(demo))
	}
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	if got := allIDs(t, a); !slices.Equal(got, []string{mine}) {
		t.Fatalf("after Connect the inbox holds %v; want the user's conversation %s", got, mine)
	}
	eventually(t, rec, ben, "the local conversation on the relay", func() bool {
		return slices.Equal(texts(ben, mine), []string{"agent:ana: written before connecting", "agent:ana: a note of mine"})
	})
	if c, ok := ben.Conversation(mine); !ok || c.Subject != "Made offline" || c.Contact.ID != "contact:dana@example.com" ||
		len(c.Attributes) != 1 || c.Attributes["plan"] != "pro" {
		t.Fatalf("the relay's conversation = %+v; want Dana's, with plan pro (vip is not the workspace's)", c)
	}
	eventually(t, rec, nil, "the app to be online with nothing pending", func() bool {
		st, _ := a.Status()
		return st.Sync.State == client.StateOnline && st.Pending == 0
	})
	s, _ := a.Settings()
	if !s.Connected || s.LocalInbox == nil || s.LocalInbox.Conversations != len(local) || s.LocalInbox.Sent != 1 {
		t.Fatalf("Settings = %+v (local %+v); want connected, the local inbox of %d kept aside, 1 sent", s, s.LocalInbox, len(local))
	}

	// Disconnect: the synced inbox stays, readable and writable.
	if err := a.Disconnect(); err != nil {
		t.Fatalf("Disconnect = %v", err)
	}
	if info, _ := a.Info(); info.Connected || !info.Disconnected || info.Me.ID != "agent:ana" {
		t.Fatalf("Info after Disconnect = %+v; want disconnected, still Ana", info)
	}
	if got := allIDs(t, a); !slices.Equal(got, []string{mine}) {
		t.Fatalf("after Disconnect the inbox holds %v; want %s still", got, mine)
	}
	if err := a.Send(mine, "written while disconnected"); err != nil {
		t.Fatalf("Send while disconnected = %v", err)
	}
	if st, _ := a.Status(); st.Sync.State != stateDisconnected || st.Pending != 1 {
		t.Fatalf("Status while disconnected = %+v; want disconnected, 1 pending", st)
	}
	if plan, _ := a.ConnectPlan(url+"/", "acme"); plan.Action != PlanResume || plan.Pending != 1 {
		t.Fatalf("ConnectPlan while disconnected = %+v; want resume with 1 pending", plan)
	}
	// The token field's promise: saved, and empty keeps it.
	if err := a.Connect(url, "acme", ""); err != nil {
		t.Fatalf("Connect(empty token) = %v", err)
	}
	eventually(t, rec, ben, "the offline reply on the relay", func() bool {
		return slices.Contains(texts(ben, mine), "agent:ana: written while disconnected")
	})

	// Back to the sample inbox, as it was; then the relay's comes back
	// and nothing goes up twice.
	if err := a.UseLocalInbox(); err != nil {
		t.Fatalf("UseLocalInbox = %v", err)
	}
	if got := allIDs(t, a); !slices.Equal(got, local) {
		t.Fatalf("the local inbox came back with %d conversations; want the %d it had", len(got), len(local))
	}
	if info, _ := a.Info(); info.Connected || info.Disconnected || info.Me.ID != "agent:me" {
		t.Fatalf("Info in the local inbox = %+v", info)
	}
	if s, _ := a.Settings(); s.RelayURL != url || s.Workspace != "acme" || !s.HasToken || s.LocalInbox != nil {
		t.Fatalf("Settings in the local inbox = %+v; want the relay's settings ready to connect again", s)
	}
	if plan, _ := a.ConnectPlan(url, "acme"); plan.Action != PlanFirst || !plan.Returns || plan.Send != 1 {
		t.Fatalf("ConnectPlan back to the relay = %+v; want the relay's inbox to return", plan)
	}
	if err := a.Connect(url, "acme", ""); err != nil {
		t.Fatalf("Connect again = %v", err)
	}
	if got := allIDs(t, a); !slices.Equal(got, []string{mine}) {
		t.Fatalf("the relay's inbox came back with %v; want %s", got, mine)
	}
	eventually(t, rec, nil, "online again", func() bool {
		st, _ := a.Status()
		return st.Sync.State == client.StateOnline && st.Pending == 0
	})
	if got := texts(ben, mine); len(got) != 3 {
		t.Fatalf("the relay holds %v; want each of the 3 texts once", got)
	}

	// Another agent on the same device: Ana's inbox is kept aside, then back.
	if err := a.Connect(url, "acme", tokBen); err != nil {
		t.Fatalf("Connect as Ben = %v", err)
	}
	if info, _ := a.Info(); info.Me.ID != "agent:ben" {
		t.Fatalf("Info as Ben = %+v", info)
	}
	eventually(t, rec, nil, "Ben's inbox to sync", func() bool { return slices.Equal(allIDs(t, a), []string{mine}) })
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect as Ana again = %v", err)
	}
	if info, _ := a.Info(); info.Me.ID != "agent:ana" || !info.Connected {
		t.Fatalf("Info as Ana again = %+v", info)
	}
}

// TestConnectErrorsPeopleCanRead: a failed Connect says what happened in a
// sentence, at once, and changes nothing.
func TestConnectErrorsPeopleCanRead(t *testing.T) {
	url := startRelay(t)
	a, _ := started(t, true)
	before := allIDs(t, a)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "ws://" + ln.Addr().String()
	ln.Close()
	notRelay := httptest.NewServer(http.NotFoundHandler())
	defer notRelay.Close()

	for _, tc := range []struct {
		name, url, ws, token, code, want string
	}{
		{"refused", closed, "acme", tokAna, "offline", "Can't reach the relay at " + closed + " (connection refused). Check the address or your network."},
		{"not a relay", notRelay.URL, "acme", tokAna, "offline", "The server at " + notRelay.URL + " answered, but not as a Threadline relay (HTTP 404)."},
		{"wrong token", url, "acme", "wrong-token-0123456789", "unauthorized", "refused this agent token for workspace \"acme\""},
		{"unknown workspace", url, "nope", tokAna, "unknown_workspace", "has no workspace \"nope\". Check the workspace id."},
		{"no token saved", url, "acme", "", "invalid", "agent token: required"},
	} {
		err := a.Connect(tc.url, tc.ws, tc.token)
		e := wireError(err)
		if err == nil || e.Code != tc.code || !strings.Contains(e.Message, tc.want) || strings.Contains(e.Message, "client:") {
			t.Errorf("%s: Connect = %v; want %s saying %q", tc.name, err, tc.code, tc.want)
		}
	}
	if info, _ := a.Info(); info.Connected || info.Disconnected {
		t.Fatalf("a failed Connect changed the profile: %+v", info)
	}
	if got := allIDs(t, a); !slices.Equal(got, before) {
		t.Fatal("a failed Connect changed the inbox")
	}
}

func TestRelayProblemText(t *testing.T) {
	for _, tc := range []struct{ code, err, want string }{
		{"", `client: dial wss://relay.example.com/v1/sync: failed to WebSocket dial: failed to send handshake request: Get "https://relay.example.com/v1/sync": dial tcp: lookup relay.example.com: no such host`,
			"Can't reach the relay at wss://r (no server has that name). Check the address or your network."},
		{"", `client: dial: Get "https://127.0.0.1:8470/v1/sync": http: server gave HTTP response to HTTPS client; tls: first record does not look like a TLS handshake`,
			"The relay at wss://r does not use TLS. Use a ws:// or http:// address instead of wss://."},
		{"", `client: dial: failed to WebSocket dial: failed to send handshake request: Get "https://127.0.0.1/v1/sync": tls: failed to verify certificate: x509: certificate signed by unknown authority`,
			"The certificate of the relay at wss://r is not trusted on this computer (x509: certificate signed by unknown authority). Set THREADLINE_RELAY_CA"},
		{"", "client: dial: context deadline exceeded", "Can't reach the relay at wss://r (no answer within 10 seconds)."},
		{"", "client: connection lost: dead connection", "Can't reach the relay at wss://r (the connection closed)."},
		{"unsupported_protocol", "client: relay refused the session: unsupported_protocol: v1 (close 4503)", "speaks another version of Threadline's sync protocol"},
		{"", "client: something odd: weird thing", "Can't reach the relay at wss://r (weird thing)."},
	} {
		if got := relayProblemText("wss://r", "acme", tc.code, tc.err); !strings.Contains(got, tc.want) {
			t.Errorf("relayProblemText(%q) = %q; want %q…", tc.err, got, tc.want)
		}
	}
}
