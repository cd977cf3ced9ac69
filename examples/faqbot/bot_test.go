package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const botToken = relaytest.TokFAQ

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

// world is a real relay on loopback with the bot running against it, and a
// contact on a real WebSocket client.
type world struct {
	ctx     context.Context
	mem     *client.Memory // the contact's
	botLogs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newWorld(t *testing.T, faq []Entry) *world {
	return newWorldAs(t, faq, relaytest.ContactAuth("alice"), nil)
}

// newWorldAs is newWorld with the end user saying hello with auth, and the
// workspace's config changed by edit (when not nil).
func newWorldAs(t *testing.T, faq []Entry, auth protocol.Auth, edit func(*relay.WorkspaceConfig)) *world {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	url := relayrun.Start(t, relayrun.WithConfig(relayrun.Config(edit))).WS

	w := &world{ctx: ctx, botLogs: &syncBuffer{}}
	botLog := slog.New(slog.NewTextHandler(w.botLogs, nil))
	botDone := make(chan error, 1)
	go func() { botDone <- serve(ctx, botLog, url, "acme", "faq", botToken, faq) }()

	me := conv.Participant{ID: "contact:" + auth.ContactID, Role: conv.RoleContact}
	if auth.Kind == protocol.AuthVisitor {
		me = conv.Participant{Role: conv.RoleVisitor} // the welcome names it
	}
	w.mem = client.NewMemory(me, uuid.NewString())
	cl, err := client.New(client.Options{URL: url, Workspace: "acme", Device: w.mem.Device(), Local: w.mem,
		Logger: slog.New(slog.DiscardHandler), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	clDone := make(chan struct{})
	go func() { _ = cl.Run(ctx); close(clDone) }()
	t.Cleanup(func() {
		cancel()
		<-clDone
		if err := <-botDone; err != nil {
			t.Errorf("bot: %v", err)
		}
		if t.Failed() {
			t.Logf("bot log:\n%s", w.botLogs)
		}
	})
	return w
}

// say sends text as the contact and waits until the relay has logged it.
func (w *world) say(t *testing.T, convID, text string) {
	t.Helper()
	e, err := w.mem.Act(convID, conv.KindMessageSent, conv.Message{Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.mem.Wait(w.ctx, e.ID); err != nil {
		t.Fatalf("the contact's %q: %v", text, err)
	}
}

func (w *world) create(t *testing.T) string {
	t.Helper()
	created, err := w.mem.Create(conv.Created{AssistantID: "faq"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.mem.Wait(w.ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	return created.Conv
}

// TestBotAnswersAndHandsOff runs the bot against a real relay on loopback,
// with a contact on a real WebSocket client: a question the FAQ covers gets
// its answer once; one it does not gets a hand-off to a human.
func TestBotAnswersAndHandsOff(t *testing.T) {
	faq, err := LoadFAQ(filepath.Join(".", "faq.json"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, faq)
	mem := w.mem
	id := w.create(t)
	w.say(t, id, "How much does the Pro plan cost?")
	waitFor(t, w.ctx, mem, "the FAQ answer", func() bool { return countMessages(mem, id, "ai:faq") == 1 })
	if c, _ := mem.Canonical(id); !c.AssistantMode || !strings.Contains(c.LastMessage, "$12") {
		t.Fatalf("after an FAQ question: mode %v, last %q; want still the bot's, with the pricing answer", c.AssistantMode, c.LastMessage)
	}

	w.say(t, id, "My server exploded and the backups are gone")
	waitFor(t, w.ctx, mem, "the hand-off", func() bool {
		c, ok := mem.Canonical(id)
		return ok && !c.AssistantMode
	})
	handedOff := 0
	for _, e := range mem.Timeline(id) {
		if e.Kind == conv.KindAssistantHandedOff && e.Actor.ID == "ai:faq" {
			handedOff++
		}
	}
	if n := countMessages(mem, id, "ai:faq"); n != 2 || handedOff != 1 {
		t.Fatalf("bot messages %d, hand-offs %d; want 2 (answer, hand-off note) and 1", n, handedOff)
	}
	// Once handed off, the bot stays quiet.
	w.say(t, id, "What does Pro cost again?")
	time.Sleep(300 * time.Millisecond) // give a wrong bot the chance to answer
	if n := countMessages(mem, id, "ai:faq"); n != 2 {
		t.Fatalf("bot answered after the hand-off: %d messages", n)
	}
}

// TestDefaultAssistantAnswersAVisitor: in a workspace whose
// defaultAssistant is the bot, a visitor's conversation started the
// standard widget's way (no assistantId) is the bot's until it hands off.
func TestDefaultAssistantAnswersAVisitor(t *testing.T) {
	faq, err := LoadFAQ("faq.json")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldAs(t, faq, protocol.Auth{Kind: protocol.AuthVisitor}, func(c *relay.WorkspaceConfig) { c.DefaultAssistant = "faq" })
	waitFor(t, w.ctx, w.mem, "the welcome naming the visitor", func() bool { return w.mem.Me().ID != "" })
	created, err := w.mem.Create(conv.Created{Subject: "From the website"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.mem.Wait(w.ctx, created.ID); err != nil {
		t.Fatal(err)
	}
	id := created.Conv
	if c, _ := w.mem.Canonical(id); !c.AssistantMode || c.AssistantID != "faq" {
		t.Fatalf("the visitor's conversation: mode %v, assistant %q; want the default assistant's", c.AssistantMode, c.AssistantID)
	}
	w.say(t, id, "How much does the Pro plan cost?")
	waitFor(t, w.ctx, w.mem, "the FAQ answer", func() bool { return countMessages(w.mem, id, "ai:faq") == 1 })
	w.say(t, id, "My server exploded")
	waitFor(t, w.ctx, w.mem, "the hand-off", func() bool {
		c, ok := w.mem.Canonical(id)
		return ok && !c.AssistantMode
	})
}

// TestBotSurvivesARefusedAnswer: an answer that cannot be sent is logged,
// not retried, and the bot goes on answering the next question.
func TestBotSurvivesARefusedAnswer(t *testing.T) {
	w := newWorld(t, []Entry{
		{Keywords: []string{"huge"}, Answer: strings.Repeat("x", conv.MaxTextBytes+1)},
		{Keywords: []string{"pro"}, Answer: "Pro is $12 a month."},
	})
	id := w.create(t)
	w.say(t, id, "Tell me something huge")
	for !strings.Contains(w.botLogs.String(), "an answer was refused") { // the log changes no store: poll it
		select {
		case <-w.ctx.Done():
			t.Fatal("timed out waiting for the bot's log of the refusal")
		case <-time.After(5 * time.Millisecond):
		}
	}
	w.say(t, id, "And what about Pro?")
	waitFor(t, w.ctx, w.mem, "the answer to the next question", func() bool { return countMessages(w.mem, id, "ai:faq") == 1 })
	time.Sleep(300 * time.Millisecond) // give a wrong bot the chance to retry
	if n := countMessages(w.mem, id, "ai:faq"); n != 1 {
		t.Errorf("bot messages = %d; want 1 (the refused answer is not retried)", n)
	}
	if c, _ := w.mem.Canonical(id); !c.AssistantMode || !strings.Contains(c.LastMessage, "$12") {
		t.Errorf("conversation = mode %v, last %q; want the bot's, with the Pro answer", c.AssistantMode, c.LastMessage)
	}
	if n := strings.Count(w.botLogs.String(), "an answer was refused"); n != 1 {
		t.Errorf("the refusal was logged %d times; want once", n)
	}
}

func TestLoadFAQRefusesBadEntries(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not json":    `{`,
		"no keywords": `[{"answer": "yes"}]`,
		"no answer":   `[{"keywords": ["a"], "answer": "  "}]`,
		"too long":    `[{"keywords": ["a"], "answer": "` + strings.Repeat("x", conv.MaxTextBytes+1) + `"}]`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadFAQ(p); err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("LoadFAQ(%s) = %v; want an error naming the file", name, err)
		}
	}
	if _, err := LoadFAQ(filepath.Join(dir, "missing.json")); err == nil {
		t.Errorf("LoadFAQ(missing file) = nil error")
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
