package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const (
	secret   = "faqbot-test-identity-secret-0123"
	botToken = "faqbot-test-token-0123456789abcd"
)

func TestMatch(t *testing.T) {
	faq, err := LoadFAQ("faq.json")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		text string
		want string // a word of the answer; "" for no answer
	}{
		{"How much does Pro cost?", "$12"},
		{"I forgot my PASSWORD", "reset"},
		{"Can I get my money back?", "refund"},
		{"my server exploded", ""},
		{"implant", ""}, // "plan" inside another word does not count
	}
	for _, c := range cases {
		got := Match(faq, c.text)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("Match(%q) = %q; want an answer with %q", c.text, got, c.want)
		}
	}
}

// TestBotAnswersAndHandsOff runs the bot against a real relay on loopback,
// with a contact on a real WebSocket client: a question the FAQ covers gets
// its answer once; one it does not gets a hand-off to a human.
func TestBotAnswersAndHandsOff(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	log, err := relay.OpenBadgerLog(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &relay.Config{Workspaces: []relay.WorkspaceConfig{{
		ID: "acme", Name: "Acme", IdentitySecret: secret,
		Assistants: []relay.Member{{ID: "faq", Name: "FAQ bot", Token: botToken}},
	}}}
	srv, err := relay.New(cfg, log, relay.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	defer func() {
		hs.Close()
		_ = srv.Shutdown(context.Background())
		_ = log.Close()
	}()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")

	faq, err := LoadFAQ(filepath.Join(".", "faq.json"))
	if err != nil {
		t.Fatal(err)
	}
	botDone := make(chan error, 1)
	go func() { botDone <- serve(ctx, slog.New(slog.DiscardHandler), url, "acme", "faq", botToken, faq) }()

	// The contact.
	me := conv.Participant{ID: "contact:alice", Role: conv.RoleContact}
	mem := client.NewMemory(me, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: mem.Device(), Local: mem,
		Auth: protocol.Auth{Kind: protocol.AuthContact, ContactID: "alice", Hash: protocol.ContactHash(secret, "alice")}})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = cl.Run(ctx) }()

	created, err := mem.Create(conv.Created{AssistantID: "faq"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "How much does the Pro plan cost?"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()
	waitFor(t, ctx, mem, "the FAQ answer", func() bool { return countMessages(mem, created.Conv, "ai:faq") == 1 })
	if c, _ := mem.Canonical(created.Conv); !c.AssistantMode || !strings.Contains(c.LastMessage, "$12") {
		t.Fatalf("after an FAQ question: mode %v, last %q; want still the bot's, with the pricing answer", c.AssistantMode, c.LastMessage)
	}

	if _, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "My server exploded and the backups are gone"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()
	waitFor(t, ctx, mem, "the hand-off", func() bool {
		c, ok := mem.Canonical(created.Conv)
		return ok && !c.AssistantMode
	})
	handedOff := 0
	for _, e := range mem.Timeline(created.Conv) {
		if e.Kind == conv.KindAssistantHandedOff && e.Actor.ID == "ai:faq" {
			handedOff++
		}
	}
	if n := countMessages(mem, created.Conv, "ai:faq"); n != 2 || handedOff != 1 {
		t.Fatalf("bot messages %d, hand-offs %d; want 2 (answer, hand-off note) and 1", n, handedOff)
	}
	// Once handed off, the bot stays quiet.
	if _, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "What does Pro cost again?"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()
	waitFor(t, ctx, mem, "the contact's message logged", func() bool { return len(mem.Outbox()) == 0 })
	time.Sleep(300 * time.Millisecond) // give a wrong bot the chance to answer
	if n := countMessages(mem, created.Conv, "ai:faq"); n != 2 {
		t.Fatalf("bot answered after the hand-off: %d messages", n)
	}
	cancel()
	if err := <-botDone; err != nil {
		t.Fatalf("bot: %v", err)
	}
}

func countMessages(mem *client.Memory, id, by string) int {
	n := 0
	for _, e := range mem.Timeline(id) {
		if e.Kind == conv.KindMessageSent && e.Actor.ID == by {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, ctx context.Context, mem *client.Memory, what string, ok func() bool) {
	t.Helper()
	for {
		ch := mem.Changed() // before the check, so no change slips between them
		if ok() {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
