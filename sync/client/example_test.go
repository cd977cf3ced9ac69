package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// The examples run against a real relay on loopback, with its log in a
// temporary folder: one workspace, "acme", with an agent (ana), an
// assistant (faq) and one custom attribute (plan).
const (
	exSecret   = "example-identity-secret-0123456789"
	exAnaToken = "example-token-ana-0123456789"
	exFAQToken = "example-token-faq-0123456789"
)

var (
	anaAgent = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	faqBot   = conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
	alice    = conv.Participant{ID: "contact:alice", Role: conv.RoleContact}

	anaAuth   = protocol.Auth{Kind: protocol.AuthAgent, Token: exAnaToken}
	faqAuth   = protocol.Auth{Kind: protocol.AuthAssistant, Token: exFAQToken}
	aliceAuth = protocol.Auth{Kind: protocol.AuthContact, ContactID: "alice", Hash: protocol.ContactHash(exSecret, "alice")}
)

// startRelay starts the relay and returns its URL and a function that stops
// it and removes its log.
func startRelay() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "threadline-example-")
	if err != nil {
		panic(err)
	}
	lg, err := eventlog.OpenBadger(dir, nil)
	if err != nil {
		panic(err)
	}
	cfg := &relay.Config{Workspaces: []relay.WorkspaceConfig{{
		ID: "acme", Name: "Acme Hosting", IdentitySecret: exSecret,
		Agents:     []relay.Member{{ID: "ana", Name: "Ana", Token: exAnaToken}},
		Assistants: []relay.Member{{ID: "faq", Name: "FAQ bot", Token: exFAQToken}},
		Attributes: []conv.AttributeDef{{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}}},
	}}}
	srv, err := relay.New(cfg, lg, relay.Options{})
	if err != nil {
		panic(err)
	}
	hs := httptest.NewServer(srv.Handler())
	return "ws" + strings.TrimPrefix(hs.URL, "http"), func() {
		hs.Close()
		_ = srv.Shutdown(context.Background())
		_ = lg.Close()
		_ = os.RemoveAll(dir)
	}
}

// connect runs a Client for mem until the returned function is called.
func connect(url string, mem *client.Memory, auth protocol.Auth) (stop func()) {
	cl, err := client.New(client.Options{
		URL: url, Workspace: "acme", Device: mem.Device(), Auth: auth, Local: mem,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = cl.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// waitUntil blocks until ok holds for mem (checked at each of its changes),
// or gives up after 30 s.
func waitUntil(mem *client.Memory, ok func() bool) bool {
	timeout := time.After(30 * time.Second)
	for {
		ch := mem.Changed() // before the check, so no change slips in between
		if ok() {
			return true
		}
		select {
		case <-ch:
		case <-timeout:
			return false
		}
	}
}

// A bot answers the conversations it is the assistant of: it keeps only
// those (KeepMine), acts on each change, and needs no Kick: an event is
// pushed as soon as it is made.
func Example() {
	url, stop := startRelay()
	defer stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The bot.
	bot := client.NewMemory(faqBot, uuid.NewString(), client.KeepMine(faqBot))
	defer connect(url, bot, faqAuth)()
	go func() {
		for {
			changed := bot.Changed()
			for _, c := range bot.Conversations() {
				if c.AssistantMode && c.LastMessageBy.IsEndUser() { // the optimistic view: answered once
					// Pushed at once. bot.Wait(ctx, ev.ID) would tell what the
					// relay made of it (see ExampleMemory_Wait); examples/faqbot
					// logs a refused answer and leaves that question alone.
					if _, err := bot.Act(c.ID, conv.KindMessageSent, conv.Message{Text: "We answer from 9 to 5, Monday to Friday."}); err != nil {
						fmt.Println(err)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
	}()

	// A contact on the website asks the bot.
	mem := client.NewMemory(alice, uuid.NewString())
	defer connect(url, mem, aliceAuth)()
	created, err := mem.Create(conv.Created{AssistantID: "faq"})
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "When are you open?"}); err != nil {
		fmt.Println(err)
		return
	}

	waitUntil(mem, func() bool { c, ok := mem.Canonical(created.Conv); return ok && c.Messages == 2 })
	for _, e := range mem.Timeline(created.Conv) {
		if d, err := conv.Decode(e); err == nil && e.Kind == conv.KindMessageSent {
			fmt.Printf("%s: %s\n", e.Actor.ID, d.(*conv.Message).Text)
		}
	}
	// Output:
	// contact:alice: When are you open?
	// ai:faq: We answer from 9 to 5, Monday to Friday.
}

// Wait tells what the relay made of an event: logged with its seq, or
// rejected with the relay's error, the event kept in the outbox until it is
// retried or discarded.
func ExampleMemory_Wait() {
	url, stop := startRelay()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	mem := client.NewMemory(anaAgent, uuid.NewString())
	defer connect(url, mem, anaAuth)()

	created, _ := mem.Create(conv.Created{Contact: &alice, Subject: "Renewal"})
	msg, _ := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Your domain renews tomorrow."})
	out, err := mem.Wait(ctx, msg.ID)
	fmt.Println("message logged:", out.Seq > 0, err)

	// The workspace defines no "seats": only the relay knows, so it rejects it.
	bad, _ := mem.Act(created.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"seats": 3}})
	var rejected *conv.Error
	if _, err := mem.Wait(ctx, bad.ID); errors.As(err, &rejected) {
		fmt.Println("attributes.set rejected:", rejected.Code) // rejected.Message says more, for people
	}
	for _, it := range mem.Outbox() {
		fmt.Println("outbox:", it.Event.Kind, it.State)
	}
	_ = mem.Discard(bad.ID)
	fmt.Println("outbox after Discard:", len(mem.Outbox()))

	// Bad input never leaves the device: the reducer refuses it at once.
	if _, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "  "}); errors.Is(err, conv.ErrInvalid) {
		fmt.Println("blank message: invalid; outbox:", len(mem.Outbox()))
	}
	// Output:
	// message logged: true <nil>
	// attributes.set rejected: unknown_attribute
	// outbox: attributes.set failed
	// outbox after Discard: 0
	// blank message: invalid; outbox: 0
}

// KeepMine holds the events of the bot's own conversations only, and the
// state of every other: one assigned to the bot later has its whole state
// at once, and its events from then on.
func ExampleKeepMine() {
	url, stop := startRelay()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	bot := client.NewMemory(faqBot, uuid.NewString(), client.KeepMine(faqBot))
	defer connect(url, bot, faqAuth)()
	ana := client.NewMemory(anaAgent, uuid.NewString())
	defer connect(url, ana, anaAuth)()

	logged := func(e conv.Event, err error) uint64 {
		if err != nil {
			panic(err)
		}
		out, err := ana.Wait(ctx, e.ID)
		if err != nil {
			panic(err)
		}
		return out.Seq
	}
	pricing, _ := ana.Create(conv.Created{Contact: &alice, Subject: "Pricing", AssistantID: "faq"})
	logged(pricing, nil)
	billing, _ := ana.Create(conv.Created{Contact: &alice, Subject: "Billing"})
	logged(billing, nil)
	seq := logged(ana.Act(billing.Conv, conv.KindNoteAdded, conv.Note{Text: "refund pending"}))

	subjects := func() []string {
		var s []string
		for _, c := range bot.Conversations() {
			s = append(s, c.Subject)
		}
		slices.Sort(s)
		return s
	}
	caughtUp := func(seq uint64) {
		waitUntil(bot, func() bool { _, s, _ := bot.Cursor(); return s >= seq })
	}
	caughtUp(seq)
	c, _ := bot.Canonical(billing.Conv)
	fmt.Println("kept:", subjects())
	fmt.Printf("billing: %d note, %d events held\n", c.Notes, len(bot.Timeline(billing.Conv)))

	seq = logged(ana.Act(billing.Conv, conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &faqBot}))
	caughtUp(seq)
	c, _ = bot.Canonical(billing.Conv)
	fmt.Println("kept:", subjects())
	fmt.Printf("billing: %d note, events held from %s\n", c.Notes, bot.Timeline(billing.Conv)[0].Kind)
	// Output:
	// kept: [Pricing]
	// billing: 1 note, 0 events held
	// kept: [Billing Pricing]
	// billing: 1 note, events held from assignee.changed
}
