package inbox_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

// viewIDs returns the ids of every row of view v, page by page.
func (f *fixture) viewIDs(v inbox.View) []string {
	f.t.Helper()
	fl, err := f.in.ViewFilter(v)
	if err != nil {
		f.t.Fatal(err)
	}
	sort := inbox.ByActivity
	if v == inbox.ViewSnoozed {
		sort = inbox.ByWake
	}
	var out []string
	for _, r := range pages(f.t, f.in, fl, sort, 3) {
		out = append(out, r.ID)
	}
	return out
}

func (f *fixture) counts() map[inbox.View]inbox.Count {
	f.t.Helper()
	c, err := f.in.ViewCounts(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// checkCounts holds every view's count to its pages, and each page's
// Total and Unread to the view's count.
func (f *fixture) checkCounts() {
	f.t.Helper()
	counts := f.counts()
	for _, v := range inbox.Views {
		ids := f.viewIDs(v)
		unread := 0
		for _, id := range ids {
			if f.unread(id) > 0 {
				unread++
			}
		}
		if c := counts[v]; c.Total != len(ids) || c.Unread != unread {
			f.t.Errorf("count of %s = %+v; its pages hold %d rows, %d unread", v, c, len(ids), unread)
		}
		fl, _ := f.in.ViewFilter(v)
		p, err := f.in.InboxPage(fl, inbox.ByActivity, "", 1, nil)
		if err != nil {
			f.t.Fatal(err)
		}
		if p.Total == nil || p.Unread == nil || *p.Total != counts[v].Total || *p.Unread != counts[v].Unread {
			f.t.Errorf("InboxPage(%s) says %v total, %v unread; the view's count is %+v", v, p.Total, p.Unread, counts[v])
		}
	}
}

// unreadVector is a case of backend/conv/testdata/unread.json: rule 8's
// vectors, which every client runs.
type unreadVector struct {
	Name    string           `json:"name"`
	Viewer  conv.Participant `json:"viewer"`
	Contact conv.Participant `json:"contact"`
	Kind    conv.Kind        `json:"kind"`
	Actor   conv.Participant `json:"actor"`
	Unread  bool             `json:"unread"`
}

// Rule 8 through a device's store: for each of conv's vectors, an inbox of
// the viewer that has seen everything gets the vector's event, and counts
// it unread exactly when the vector says so.
func TestUnreadVectors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "conv", "testdata", "unread.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []unreadVector
	if err := json.Unmarshal(b, &vs); err != nil || len(vs) == 0 {
		t.Fatalf("unread.json: %d vectors, %v", len(vs), err)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			viewer := v.Viewer
			supervisor := viewer.Role == conv.RoleSupervisor
			if supervisor {
				viewer.Role = conv.RoleAgent // an agent who joined as supervisor
			}
			dir := t.TempDir()
			in, err := inbox.Open(dir, inbox.Options{Me: viewer, Device: "d"})
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			r := newRelay()
			var log []conv.Event
			n := 0
			accept := func(actor conv.Participant, k conv.Kind, data any) {
				t.Helper()
				n++
				evs, o := r.accept(conv.Event{ID: fmt.Sprintf("e%d", n), Conv: "c1", Kind: k, Actor: actor, At: int64(n), Base: r.head, Data: conv.MustData(data)})
				if o.Err != nil {
					t.Fatalf("relay.accept(%s by %s) = %v", k, actor.ID, o.Err)
				}
				log = append(log, evs...)
			}
			accept(v.Contact, conv.KindConversationCreated, conv.Created{})
			accept(v.Contact, conv.KindMessageSent, conv.Message{Text: "hello"})
			if supervisor {
				accept(viewer, conv.KindParticipantJoined, conv.ParticipantChanged{Participant: v.Viewer})
			}
			accept(viewer, conv.KindSeenMarked, conv.SeenMarked{UpTo: r.head})
			switch v.Kind {
			case conv.KindMessageSent:
				accept(v.Actor, v.Kind, conv.Message{Text: v.Name})
			case conv.KindNoteAdded:
				accept(v.Actor, v.Kind, conv.Note{Text: v.Name})
			case conv.KindStatusChanged:
				accept(v.Actor, v.Kind, conv.StatusChanged{Status: conv.StatusResolved})
			case conv.KindThreadStarted: // as the relay derives it, by the system
				log = append(log, conv.Event{ID: "derived", Seq: r.head + 1, Conv: "c1", Kind: v.Kind, Actor: v.Actor, At: 99,
					Data: conv.MustData(conv.ThreadStarted{Thread: "t2"})})
				r.head++
			default:
				t.Fatalf("no case for a vector of kind %s", v.Kind)
			}
			if err := in.ApplyCanonical("ep1", log, r.head); err != nil {
				t.Fatal(err)
			}
			want := 0
			if v.Unread {
				want = 1
			}
			if got, _ := in.UnreadCount("c1", nil); got != want {
				t.Fatalf("%s: unread = %d; want %d", v.Name, got, want)
			}
		})
	}
}

// For the team, a teammate's note or reply and a bot's answer leave a
// conversation read and where it was in the list; the contact's message
// marks it unread and moves it up. The sidebar's counts follow.
func TestTeammatesDoNotMarkUnread(t *testing.T) {
	f := newFixture(t, false)
	c1, c2 := f.create("one"), f.create("two")
	f.in.MarkSeen(c1)
	f.in.MarkSeen(c2)
	f.sync()
	if got := f.viewIDs(inbox.ViewOpen); !slices.Equal(got, []string{c2, c1}) {
		t.Fatalf("open = %v; want [two one]", got)
	}
	f.foreign(ana, c1, conv.KindNoteAdded, conv.Note{Text: "a teammate's note"})
	f.foreign(ana, c1, conv.KindTagsChanged, conv.TagsChanged{Add: []string{"vip"}})
	f.deliver()
	if got := f.viewIDs(inbox.ViewOpen); !slices.Equal(got, []string{c2, c1}) || f.unread(c1) != 0 {
		t.Fatalf("after a teammate's note: open = %v, unread(one) = %d; want [two one], 0", got, f.unread(c1))
	}
	f.foreign(ana, c1, conv.KindMessageSent, conv.Message{Text: "a teammate's reply"})
	f.foreign(bot, c2, conv.KindMessageSent, conv.Message{Text: "the bot's answer"})
	f.deliver()
	if f.unread(c1) != 0 || f.unread(c2) != 0 || f.counts()[inbox.ViewOpen].Unread != 0 {
		t.Fatalf("a teammate's reply or the bot's answer counts: %d, %d, %+v", f.unread(c1), f.unread(c2), f.counts()[inbox.ViewOpen])
	}
	f.foreign(alice, c1, conv.KindMessageSent, conv.Message{Text: "the contact writes"})
	f.deliver()
	if got := f.viewIDs(inbox.ViewOpen); !slices.Equal(got, []string{c1, c2}) || f.unread(c1) != 1 {
		t.Fatalf("after the contact wrote: open = %v, unread = %d; want [one two], 1", got, f.unread(c1))
	}
	if c := f.counts(); c[inbox.ViewOpen] != (inbox.Count{Total: 2, Unread: 1}) || c[inbox.ViewUnassigned] != (inbox.Count{Total: 2, Unread: 1}) {
		t.Fatalf("counts = %+v; want open and unassigned 2 conversations, 1 unread", c)
	}
	f.checkCounts()
}

// Snooze (rule 6): the conversation leaves the open views for the Snoozed
// one, which lists it with its wake time, and comes back when the time
// passes (at the inbox's clock) or when the contact writes.
func TestSnoozeViews(t *testing.T) {
	f := newFixture(t, false)
	c1, c2, c3 := f.create("one"), f.create("two"), f.create("three")
	f.in.Assign(c1, &me)
	f.sync()
	now := f.clock.t
	if _, err := f.in.Snooze(c1, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.Snooze(c2, now.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	// At once (pending), and once synced.
	for _, when := range []string{"pending", "synced"} {
		if got := f.viewIDs(inbox.ViewOpen); !slices.Equal(got, []string{c3}) {
			t.Fatalf("%s: open = %v; want [three]", when, got)
		}
		if got := f.viewIDs(inbox.ViewMine); len(got) != 0 {
			t.Fatalf("%s: mine = %v; want none (one is snoozed)", when, got)
		}
		if got := f.viewIDs(inbox.ViewSnoozed); !slices.Equal(got, []string{c1, c2}) {
			t.Fatalf("%s: snoozed = %v; want [one two], soonest to wake first", when, got)
		}
		f.checkCounts()
		f.sync()
	}
	p, _ := f.in.InboxPage(inbox.Filter{Status: conv.StatusSnoozed}, inbox.ByWake, "", 10, nil)
	if r := p.Rows[0]; r.Status != conv.StatusSnoozed || r.SnoozedUntil != now.Add(time.Hour).UnixMilli() {
		t.Fatalf("snoozed row = %s until %d; want snoozed until %d", r.Status, r.SnoozedUntil, now.Add(time.Hour).UnixMilli())
	}
	if at, ok := f.in.NextWake(nil); !ok || !at.Equal(now.Add(time.Hour).Truncate(time.Millisecond)) {
		t.Fatalf("NextWake = %v, %v; want %v", at, ok, now.Add(time.Hour))
	}

	// An hour later, one is back in the open views (and mine), without an
	// event: the queries wake what is due, and so does Wake.
	f.clock.t = now.Add(time.Hour)
	head := f.relay.head
	if got := f.viewIDs(inbox.ViewMine); !slices.Equal(got, []string{c1}) {
		t.Fatalf("an hour later: mine = %v; want [one]", got)
	}
	if got := f.viewIDs(inbox.ViewSnoozed); !slices.Equal(got, []string{c2}) {
		t.Fatalf("an hour later: snoozed = %v; want [two]", got)
	}
	if _, row, _ := f.in.Conversation(c1, nil); row.Status != conv.StatusOpen || row.SnoozedUntil != 0 {
		t.Fatalf("woken row: %s until %d; want open", row.Status, row.SnoozedUntil)
	}
	f.sync()
	if f.relay.head != head {
		t.Fatal("waking logged an event")
	}
	f.checkCounts()

	// The contact writes in two before its time: it wakes at once.
	f.foreign(alice, c2, conv.KindMessageSent, conv.Message{Text: "any news?"})
	f.deliver()
	if got := f.viewIDs(inbox.ViewOpen); !slices.Equal(got, []string{c2, c3, c1}) {
		t.Fatalf("after the contact wrote: open = %v; want [two three one]", got)
	}
	if _, ok := f.in.NextWake(nil); ok {
		t.Fatal("something still asleep")
	}

	// Unsnoozing by hand is Reopen.
	f.in.Snooze(c3, f.clock.t.Add(time.Hour))
	if _, err := f.in.Reopen(c3); err != nil {
		t.Fatal(err)
	}
	if got := f.viewIDs(inbox.ViewSnoozed); len(got) != 0 {
		t.Fatalf("snoozed after reopening three = %v; want none", got)
	}
}

// A conversation in assistant mode is the Bot view's, out of the team's
// views; handed off, it is the team's and needs a human until an agent
// replies or takes it.
func TestBotViews(t *testing.T) {
	f := newFixture(t, false)
	c := "0190b7c0-0000-7000-8000-00000000b001"
	f.foreign(alice, c, conv.KindConversationCreated, conv.Created{AssistantID: "faq"})
	f.foreign(alice, c, conv.KindMessageSent, conv.Message{Text: "hi"})
	f.foreign(bot, c, conv.KindMessageSent, conv.Message{Text: "Hello! I am the bot."})
	f.deliver()
	other := f.create("human")
	if got := f.viewIDs(inbox.ViewBot); !slices.Equal(got, []string{c}) {
		t.Fatalf("bot = %v; want the assistant's conversation", got)
	}
	for _, v := range []inbox.View{inbox.ViewOpen, inbox.ViewUnassigned} {
		if got := f.viewIDs(v); !slices.Equal(got, []string{other}) {
			t.Fatalf("%s = %v; want only the team's conversation", v, got)
		}
	}
	if got := f.viewIDs(inbox.ViewAll); len(got) != 2 {
		t.Fatalf("all = %v; want both", got)
	}
	_, row, _ := f.in.Conversation(c, nil)
	if !row.Bot || row.NeedsHuman {
		t.Fatalf("row: bot %v, needs a human %v; want the bot's", row.Bot, row.NeedsHuman)
	}
	f.checkCounts()

	f.foreign(bot, c, conv.KindAssistantHandedOff, conv.HandedOff{})
	f.deliver()
	if got := f.viewIDs(inbox.ViewUnassigned); !slices.Contains(got, c) {
		t.Fatalf("unassigned after handoff = %v; want it there", got)
	}
	if _, row, _ := f.in.Conversation(c, nil); row.Bot || !row.NeedsHuman {
		t.Fatalf("handed off: bot %v, needs a human %v", row.Bot, row.NeedsHuman)
	}
	f.in.Send(c, "Hi, Sam here") // pending: it shows at once
	if _, row, _ := f.in.Conversation(c, nil); row.NeedsHuman {
		t.Fatal("my reply: it still needs a human")
	}
	f.sync()
	f.checkCounts()

	// Taking one over from the bot: handed off to me, mine.
	c2 := "0190b7c0-0000-7000-8000-00000000b002"
	f.foreign(alice, c2, conv.KindConversationCreated, conv.Created{AssistantID: "faq"})
	f.deliver()
	if _, err := f.in.TakeOver(c2); err != nil {
		t.Fatal(err)
	}
	f.sync()
	if got := f.viewIDs(inbox.ViewMine); !slices.Equal(got, []string{c2}) {
		t.Fatalf("mine after taking over = %v; want it", got)
	}
	if _, row, _ := f.in.Conversation(c2, nil); row.Bot || row.NeedsHuman || row.Assignee == nil || row.Assignee.ID != me.ID {
		t.Fatalf("taken over: %+v", row)
	}
}

// A bulk action is one durable write; each conversation stands alone.
func TestActOnEach(t *testing.T) {
	f := newFixture(t, false)
	a, b, c := f.create("a"), f.create("b"), f.create("c")
	errs, err := f.in.ActOnEach([]string{a, b, c, "no-such"}, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved})
	if err != nil {
		t.Fatal(err)
	}
	if errs[0] != nil || errs[1] != nil || errs[2] != nil || !errors.Is(errs[3], conv.ErrNoSuchConversation) {
		t.Fatalf("errs = %v; want only the unknown one refused", errs)
	}
	if got := f.viewIDs(inbox.ViewResolved); len(got) != 3 {
		t.Fatalf("resolved = %v; want the three", got)
	}
	f.sync()
	if got := f.viewIDs(inbox.ViewResolved); len(got) != 3 {
		t.Fatalf("resolved once synced = %v; want the three", got)
	}
	// Tag and assign the same way; one already tagged changes nothing.
	f.in.ChangeTags(a, []string{"vip"}, nil)
	if errs, err := f.in.ActOnEach([]string{a, b}, conv.KindTagsChanged, conv.TagsChanged{Add: []string{"vip"}}); err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("tag: %v, %v", errs, err)
	}
	if errs, err := f.in.ActOnEach([]string{a, c}, conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &ana}); err != nil || errs[0] != nil || errs[1] != nil {
		t.Fatalf("assign: %v, %v", errs, err)
	}
	f.sync()
	if !f.view(b).HasTag("vip") || f.view(c).Assignee == nil || f.view(c).Assignee.ID != ana.ID {
		t.Fatalf("b tags %v, c assignee %v", f.view(b).Tags, f.view(c).Assignee)
	}
}

// A new conversation takes its priority, tags, attributes and assignee in
// the same action.
func TestCreateWithOptions(t *testing.T) {
	f := newFixture(t, false)
	id, err := f.in.CreateConversation(alice, "Invoice", "hello", inbox.CreateOptions{
		Priority: conv.PriorityHigh, Tags: []string{"Billing"}, Attributes: map[string]any{"plan": "pro"}, Assignee: &me})
	if err != nil {
		t.Fatal(err)
	}
	f.sync()
	v := f.view(id)
	if v.Priority != conv.PriorityHigh || !v.HasTag("billing") || v.Attributes["plan"] != "pro" || v.Assignee == nil || v.Assignee.ID != me.ID {
		t.Fatalf("created: %+v", v)
	}
	if got := f.viewIDs(inbox.ViewMine); !slices.Equal(got, []string{id}) {
		t.Fatalf("mine = %v; want it", got)
	}
	// All or nothing: a bad attribute stores none of it.
	if _, err := f.in.CreateConversation(alice, "x", "y", inbox.CreateOptions{Attributes: map[string]any{"nope": 1}, Assignee: &me}); !errors.Is(err, conv.ErrUnknownAttribute) {
		t.Fatalf("bad attribute: %v; want unknown_attribute", err)
	}
	if n := len(f.in.Outbox(nil)); n != 0 {
		t.Fatalf("outbox holds %d events after a refused creation", n)
	}
}
