package convergence

import (
	"errors"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// TestCrossDeviceContinuity: one contact on several devices — a laptop (an
// inbox), a phone (a Memory), a desktop that first syncs when the history
// already exists, and a tablet where it was an anonymous visitor before it
// identified — sees one history: the same events, the same seqs, threads
// with their topics, nothing an end user may not see (notes, tags,
// priority). Another contact and the visitor, before it identified, never
// see any of it.
func TestCrossDeviceContinuity(t *testing.T) {
	r := startRelay(t, relay.Options{})
	agent := newInboxDevice(t, r, "ana-laptop", ana, agentAuth(tokAna), conv.NewSchema(attributeDefs))
	laptop := newInboxDevice(t, r, "c42-laptop", c42, contactAuth("42"), nil)
	phone := newMemoryDevice(t, r, "c42-phone", c42, contactAuth("42"))
	other := newInboxDevice(t, r, "c99-laptop", c99, contactAuth("99"), nil)
	tablet := newMemoryDevice(t, r, "tablet", conv.Participant{Role: conv.RoleVisitor}, protocol.Auth{Kind: protocol.AuthVisitor})
	devs := []*device{agent, laptop, phone, other, tablet}
	for _, d := range devs {
		d.start()
	}
	tablet.waitOnline(t)
	settle := func(ds ...*device) {
		t.Helper()
		for _, d := range ds {
			d.kick()
		}
		for _, d := range ds {
			d.waitSettled(t)
		}
	}
	ok := func(e conv.Event, err error) conv.Event {
		t.Helper()
		if err != nil || e.ID == "" {
			t.Fatalf("action: %+v, %v", e, err)
		}
		return e
	}

	// The agent writes to the contact; the contact answers from both
	// devices and runs a thread from the laptop.
	x, err := agent.in.CreateConversation(c42, "Your order", "Your order has shipped.", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	settle(devs...)
	ok(phone.mem.Act(x, conv.KindMessageSent, conv.Message{Text: "Thanks! A question about a refund."}))
	phone.kick()
	ok(laptop.in.StartThread(x, "Refund"))
	settle(devs...)
	ok(phone.mem.Act(x, conv.KindMessageSent, conv.Message{Text: "Order 1234, the blue one."}))
	ok(agent.in.AddNote(x, "Check the warehouse first"))
	ok(agent.in.ChangeTags(x, []string{"refund"}, nil))
	ok(agent.in.SetPriority(x, conv.PriorityHigh))
	ok(agent.in.SetAttributes(x, map[string]any{"plan": "pro"}))
	ok(agent.in.Send(x, "Refund issued."))
	settle(devs...)
	ok(laptop.in.EndThread(x, "Refund"))
	ok(laptop.in.MarkSeen(x))

	// Each end user starts a conversation of its own.
	y, err := phone.mem.Create(conv.Created{Subject: "Invoice address"})
	ok(y, err)
	ok(phone.mem.Act(y.Conv, conv.KindMessageSent, conv.Message{Text: "Please change my invoice address."}))
	z, err := other.in.CreateConversation(c99, "Other contact", "I am someone else.", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := tablet.mem.Create(conv.Created{Subject: "Anonymous question"})
	ok(v, err)
	ok(tablet.mem.Act(v.Conv, conv.KindMessageSent, conv.Message{Text: "Do you ship abroad?"}))
	settle(devs...)
	ok(agent.in.Send(z, "Hello, other contact."))
	ok(agent.in.Send(v.Conv, "We do."))
	settle(devs...)

	// The visitor's conversation is its own, and it sees nothing else.
	for _, d := range []*device{laptop, phone, other} {
		if evs := eventsOf(d, v.Conv); len(evs) > 0 {
			t.Errorf("%s sees the visitor's conversation: %s", d.name, kinds(evs))
		}
	}
	for _, e := range tablet.held() {
		if e.Conv != v.Conv {
			t.Errorf("the visitor received %s of conversation %s", e.Kind, e.Conv)
		}
	}

	// A new device of the contact catches up with the whole history.
	desktop := newInboxDevice(t, r, "c42-desktop", c42, contactAuth("42"), nil)
	desktop.start()
	settle(desktop)

	// The tablet's visitor identifies as the contact while the laptop is
	// offline: its conversation moves to every device of the contact.
	laptop.stop()
	tablet.stop()
	tablet.auth = protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: contactHash("42"), VisitorToken: tablet.auth.VisitorToken}
	tablet.start()
	settle(agent, phone, tablet, desktop)
	laptop.start()
	contacts := []*device{laptop, phone, desktop, tablet}
	all := append(devs, desktop)
	settle(all...)
	if id := tablet.identity(); id.ID != c42.ID {
		t.Fatalf("tablet identity after identifying = %s; want %s", id.ID, c42.ID)
	}

	// One history on every device of the contact.
	ref := laptop.held()
	for _, d := range contacts[1:] {
		compareEvents(t, d.name+" against "+laptop.name, d.held(), ref)
	}
	for _, d := range contacts {
		for _, id := range []string{x, y.Conv, v.Conv} {
			if len(eventsOf(d, id)) == 0 {
				t.Errorf("%s: conversation %s missing", d.name, id)
			}
		}
		for _, e := range d.held() {
			switch e.Kind {
			case conv.KindNoteAdded, conv.KindTagsChanged, conv.KindPriorityChanged, conv.KindAttributesSet:
				t.Errorf("%s received %s", d.name, e.Kind)
			}
		}
		evs := eventsOf(d, x)
		var topics []string
		for _, e := range evs {
			if e.Kind == conv.KindThreadStarted {
				var ts conv.ThreadStarted
				if err := jsonUnmarshal(e.Data, &ts); err != nil {
					t.Fatal(err)
				}
				topics = append(topics, ts.Topic)
			}
		}
		// The first message started an unnamed thread; "Refund" ended it.
		if len(topics) != 2 || topics[0] != "" || topics[1] != "Refund" {
			t.Errorf("%s: thread topics of %s = %q; want [\"\" \"Refund\"]", d.name, x, topics)
		}
	}
	// The inbox shows the thread boundaries with their topic.
	var sawStart, sawEnd bool
	for _, it := range timelineAll(t, desktop.in, x) {
		if it.Topic == "Refund" && it.Kind == conv.KindThreadStarted {
			sawStart = true
		}
		if it.Topic == "Refund" && it.Kind == conv.KindThreadEnded {
			sawEnd = true
		}
	}
	if !sawStart || !sawEnd {
		t.Errorf("desktop's timeline of %s shows the Refund thread start %v, end %v", x, sawStart, sawEnd)
	}

	// The other contact sees only its own conversation.
	for _, e := range other.held() {
		if e.Conv != z {
			t.Errorf("%s received %s of conversation %s", other.name, e.Kind, e.Conv)
		}
	}
	for _, id := range []string{x, y.Conv, v.Conv} {
		if _, _, err := other.in.Conversation(id, nil); !errors.Is(err, inbox.ErrNotFound) {
			t.Errorf("%s: Conversation(%s) = %v; want ErrNotFound", other.name, id, err)
		}
	}

	for _, d := range all {
		d.stop()
	}
	rl := r.readLog()
	if c := rl.states[v.Conv]; c.Contact.ID != c42.ID {
		t.Errorf("the visitor's conversation belongs to %s; want %s", c.Contact.ID, c42.ID)
	}
	for _, d := range all {
		checkDevice(t, rl, d)
		checkAccounted(t, rl, d)
	}
}

// eventsOf returns the canonical events d holds of conversation id.
func eventsOf(d *device, id string) []conv.Event {
	var out []conv.Event
	for _, e := range d.held() {
		if e.Conv == id {
			out = append(out, e)
		}
	}
	return out
}
