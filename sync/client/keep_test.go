package client

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

var faqBot = conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}

func TestIsMine(t *testing.T) {
	other := conv.Participant{ID: "agent:bob", Role: conv.RoleAgent}
	cases := []struct {
		name string
		c    *conv.Conversation
		want bool
	}{
		{"nil", nil, false},
		{"someone else's", &conv.Conversation{Contact: contact, CreatedBy: contact, Assignee: &other}, false},
		{"assistant mode, config id", &conv.Conversation{AssistantID: "faq", AssistantMode: true}, true},
		{"assistant mode, participant id", &conv.Conversation{AssistantID: "ai:faq", AssistantMode: true}, true},
		{"handed off", &conv.Conversation{AssistantID: "faq"}, false},
		{"another assistant", &conv.Conversation{AssistantID: "sales", AssistantMode: true}, false},
		{"assigned", &conv.Conversation{Assignee: &faqBot}, true},
		{"joined", &conv.Conversation{Participants: []conv.Participant{other, faqBot}}, true},
		{"created by it", &conv.Conversation{CreatedBy: faqBot}, true},
	}
	for _, c := range cases {
		if got := IsMine(faqBot, c.c); got != c.want {
			t.Errorf("IsMine(ai:faq, %s) = %v; want %v", c.name, got, c.want)
		}
	}
	if IsMine(conv.Participant{}, &conv.Conversation{}) {
		t.Errorf("IsMine(no one, empty conversation) = true")
	}
	if !IsMine(contact, &conv.Conversation{Contact: contact}) {
		t.Errorf("IsMine(contact, its conversation) = false")
	}
}

// TestKeepDropsAndTakesBackEvents drives Keep with canonical events by hand:
// events of a conversation not kept are applied to its state only, a
// resent one is ignored there too, and the timeline starts again when the
// conversation is kept again.
func TestKeepDropsAndTakesBackEvents(t *testing.T) {
	full := NewMemory(ana, "full")
	kept := NewMemory(faqBot, "bot", KeepMine(faqBot))
	convID := uuid.NewString()
	seq := uint64(0)
	ev := func(kind conv.Kind, actor conv.Participant, data any) conv.Event {
		seq++
		return conv.Event{ID: uuid.NewString(), Seq: seq, Conv: convID, Kind: kind, Actor: actor, Device: "d", Mid: seq,
			At: int64(seq), Data: conv.MustData(data)}
	}
	thread := uuid.NewString()
	created := ev(conv.KindConversationCreated, contact, conv.Created{Contact: &contact})
	started := ev(conv.KindThreadStarted, conv.System, conv.ThreadStarted{Thread: thread})
	asked := ev(conv.KindMessageSent, contact, conv.Message{Text: "hello?", Thread: thread})
	assigned := ev(conv.KindAssigneeChanged, ana, conv.AssigneeChanged{Assignee: &faqBot})
	answer := ev(conv.KindMessageSent, faqBot, conv.Message{Text: "hi!", Thread: thread})
	unassigned := ev(conv.KindAssigneeChanged, ana, conv.AssigneeChanged{})
	later := ev(conv.KindMessageSent, contact, conv.Message{Text: "thanks", Thread: thread})
	back := ev(conv.KindParticipantJoined, ana, conv.ParticipantChanged{Participant: faqBot})

	steps := []struct {
		events []conv.Event
		want   []conv.Event // the kept Memory's timeline after them
	}{
		{[]conv.Event{created, started, asked}, nil},
		{[]conv.Event{asked}, nil}, // sent twice: ignored, state unchanged
		{[]conv.Event{assigned, answer}, []conv.Event{assigned, answer}},
		{[]conv.Event{unassigned, later}, nil},
		{[]conv.Event{back}, []conv.Event{back}},
	}
	for i, s := range steps {
		for _, m := range []*Memory{full, kept} {
			if err := m.ApplyCanonical("e1", s.events, s.events[len(s.events)-1].Seq); err != nil {
				t.Fatal(err)
			}
		}
		got := kept.Timeline(convID)
		if !slices.EqualFunc(got, s.want, func(a, b conv.Event) bool { return a.ID == b.ID }) {
			t.Errorf("step %d: kept timeline = %v; want %v", i, kindsOf(got), kindsOf(s.want))
		}
		if kept.Len() != len(s.want) {
			t.Errorf("step %d: Len() = %d; want %d", i, kept.Len(), len(s.want))
		}
		if n := len(kept.Conversations()); (n == 1) != (len(s.want) > 0) {
			t.Errorf("step %d: %d conversations listed; want it listed only while kept", i, n)
		}
		a, _ := full.Canonical(convID)
		b, ok := kept.Canonical(convID)
		if !ok || !sameConv(a, b) {
			t.Errorf("step %d: states differ:\n full %+v\n kept %+v", i, a, b)
		}
	}
	if c, _ := kept.Canonical(convID); c.Messages != 3 {
		t.Errorf("kept state counts %d messages; want 3 (a resent event is not applied twice)", c.Messages)
	}
	if full.Len() != int(seq) {
		t.Errorf("full Memory holds %d events; want %d", full.Len(), seq)
	}
	// A Memory keeping conversations acts in one it does not keep: it holds its state.
	if _, err := kept.Act(convID, conv.KindNoteAdded, conv.Note{Text: "for the team"}); err != nil {
		t.Errorf("Act in a conversation not kept: %v", err)
	}
}

// TestKeepMineAgainstTheRelay: an assistant whose Memory keeps its own
// conversations holds the events of those only, the state of all of them
// (equal to a full agent device's, contact.updated included), and a
// conversation that becomes its later (assigned) from then on; a fresh one
// syncing the same log from scratch ends up holding the same.
func TestKeepMineAgainstTheRelay(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	assistant := protocol.Auth{Kind: protocol.AuthAssistant, Token: faqToken}

	bot := NewMemory(faqBot, uuid.NewString(), KeepMine(faqBot))
	start(t, r.url(), bot, assistant, nil)
	full := NewMemory(ana, "ana-laptop")
	start(t, r.url(), full, agentAuth(anaToken), nil)
	alice := NewMemory(contact, "alice-phone")
	start(t, r.url(), alice, protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: relaytest.ContactHash("42"), Name: "Alice"}, nil)

	do := func(m *Memory, convID string, kind conv.Kind, data any) conv.Event {
		t.Helper()
		e, err := m.Act(convID, kind, data)
		if err != nil {
			t.Fatalf("Act(%s): %v", kind, err)
		}
		if _, err := m.Wait(ctx, e.ID); err != nil {
			t.Fatalf("Wait(%s): %v", kind, err)
		}
		return e
	}
	create := func(m *Memory, data conv.Created) string {
		t.Helper()
		e, err := m.Create(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Wait(ctx, e.ID); err != nil {
			t.Fatalf("Wait(created): %v", err)
		}
		return e.Conv
	}

	asked := create(alice, conv.Created{AssistantID: "faq"})
	do(alice, asked, conv.KindMessageSent, conv.Message{Text: "How much is Pro?"})
	other := create(alice, conv.Created{Subject: "For humans"})
	do(alice, other, conv.KindMessageSent, conv.Message{Text: "Hi humans"})
	do(full, other, conv.KindNoteAdded, conv.Note{Text: "VIP"})
	do(full, other, conv.KindTagsChanged, conv.TagsChanged{Add: []string{"vip"}})
	forBot := create(full, conv.Created{Contact: &contact, AssistantID: "ai:faq"}) // normalized to "faq" by the relay
	caughtUpTo(t, r, bot)
	caughtUpTo(t, r, full)

	ids := func(m *Memory) []string {
		var out []string
		for _, c := range m.Conversations() {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	if got, want := ids(bot), sorted(asked, forBot); !slices.Equal(got, want) {
		t.Errorf("bot lists %v; want its assistant-mode conversations %v", got, want)
	}
	if tl := bot.Timeline(other); len(tl) != 0 {
		t.Errorf("bot holds %d events of a conversation not its own", len(tl))
	}
	if c, _ := bot.Canonical(asked); c.Contact.Name != "Alice" || c.AssistantID != "faq" {
		t.Errorf("bot's state of its conversation = %+v; want Alice's name (contact.updated) and assistant faq", c)
	}
	if c, _ := bot.Canonical(forBot); c.AssistantID != "faq" || !c.AssistantMode {
		t.Errorf("conversation created for ai:faq = %+v; want assistant faq, in assistant mode", c)
	}

	// The bot hands one off and is assigned the other.
	do(bot, asked, conv.KindAssistantHandedOff, conv.HandedOff{})
	assigned := do(full, other, conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &faqBot})
	do(alice, other, conv.KindMessageSent, conv.Message{Text: "Anyone?"})
	caughtUpTo(t, r, bot)
	caughtUpTo(t, r, full)
	if got, want := ids(bot), sorted(other, forBot); !slices.Equal(got, want) {
		t.Errorf("after the hand-off and the assignment, bot lists %v; want %v", got, want)
	}
	if tl := bot.Timeline(other); len(tl) != 2 || tl[0].ID != assigned.ID || tl[1].Kind != conv.KindMessageSent {
		t.Errorf("timeline of the conversation assigned later = %v; want assignee.changed, message.sent", kindsOf(tl))
	}
	if tl := bot.Timeline(asked); len(tl) != 0 {
		t.Errorf("bot still holds %d events of a conversation it handed off", len(tl))
	}
	if c, ok := bot.Canonical(other); !ok || c.Messages != 2 || c.Notes != 1 || !slices.Equal(c.Tags, []string{"vip"}) {
		t.Errorf("bot's state of the conversation assigned later = %+v; want its whole history's", c)
	}
	for id, c := range full.convs {
		if b, ok := bot.Canonical(id); !ok || !sameConv(c, b) {
			t.Errorf("conversation %s:\n full %+v\n bot  %+v", id, c, b)
		}
	}
	if want := len(bot.Timeline(other)) + len(bot.Timeline(forBot)); bot.Len() != want {
		t.Errorf("bot Len() = %d; want %d", bot.Len(), want)
	}

	// The same log from scratch: the same holding.
	fresh := NewMemory(faqBot, uuid.NewString(), KeepMine(faqBot))
	start(t, r.url(), fresh, assistant, nil)
	caughtUpTo(t, r, fresh)
	if fresh.Len() != bot.Len() || !slices.Equal(ids(fresh), ids(bot)) {
		t.Errorf("fresh bot holds %d events of %v; live one %d of %v", fresh.Len(), ids(fresh), bot.Len(), ids(bot))
	}
	for _, id := range ids(bot) {
		a, b := bot.Timeline(id), fresh.Timeline(id)
		if !slices.EqualFunc(a, b, func(x, y conv.Event) bool { return x.ID == y.ID && x.Seq == y.Seq }) {
			t.Errorf("timeline %s: live %v, fresh %v", id, kindsOf(a), kindsOf(b))
		}
	}
}
