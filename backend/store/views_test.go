package store

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
)

// testClock is a clock a test moves by hand.
type testClock struct{ ms atomic.Int64 }

func (c *testClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }
func (c *testClock) set(ms int64)   { c.ms.Store(ms) }

// logged is a store fed by a relay, one event at a time, with a clock.
type logged struct {
	t     *testing.T
	dir   string
	s     *Store
	r     *relay
	clock *testClock
	n     int
}

func newLogged(t *testing.T) *logged {
	l := &logged{t: t, dir: t.TempDir(), r: newRelay(), clock: &testClock{}}
	l.clock.set(10_000)
	l.open()
	return l
}

func (l *logged) open() {
	l.t.Helper()
	s, err := Open(l.dir, Options{Me: me, Now: l.clock.now})
	if err != nil {
		l.t.Fatal(err)
	}
	l.s = s
	l.t.Cleanup(func() { s.Close() })
}

func (l *logged) reopen() {
	l.t.Helper()
	if err := l.s.Close(); err != nil {
		l.t.Fatal(err)
	}
	l.open()
}

// do logs an event of actor in conversation c at the clock's time, and
// delivers it to the store.
func (l *logged) do(actor conv.Participant, c string, k conv.Kind, data any) {
	l.t.Helper()
	l.n++
	evs, o := l.r.accept(conv.Event{ID: fmt.Sprintf("e%d", l.n), Conv: c, Kind: k, Actor: actor, Device: "d", At: l.clock.ms.Load(), Base: l.r.head, Data: conv.MustData(data)})
	if o.Err != nil || len(evs) == 0 {
		l.t.Fatalf("relay.accept(%s) = %+v; want it logged", k, o)
	}
	if err := l.s.ApplyCanonical("ep1", evs, l.r.head); err != nil {
		l.t.Fatal(err)
	}
}

func (l *logged) create(c string, d conv.Created) {
	l.t.Helper()
	if d.Contact == nil {
		d.Contact = &alice
	}
	l.do(ana, c, conv.KindConversationCreated, d)
}

// ids returns the ids of the rows q selects, every page of them.
func (l *logged) ids(q Query) []string {
	l.t.Helper()
	var out []string
	q.Limit = 2 // several pages, so the cursors are walked too
	for {
		rows, next, err := l.s.Page(q, nil)
		if err != nil {
			l.t.Fatalf("Page(%+v) = %v", q, err)
		}
		for _, r := range rows {
			out = append(out, r.ID)
		}
		if next == "" {
			return out
		}
		q.Cursor = next
	}
}

func (l *logged) count(q Query) (int, int) {
	l.t.Helper()
	total, unread, err := l.s.Count(q, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	return total, unread
}

var (
	openHuman = Query{Status: conv.StatusOpen, Lane: HumanLane}
	snoozed   = Query{Status: conv.StatusSnoozed}
	byWake    = Query{Sort: ByWake}
)

// Rule 6 with a clock: a snoozed conversation leaves the open views for
// the snoozed one, and is back in the open views when its time passes
// (Wake, or opening the store later) or when its contact writes; NextWake
// says when the next one is due. Nothing is logged when a snooze ends.
func TestSnoozeWakesWithTheClock(t *testing.T) {
	l := newLogged(t)
	for i, c := range []string{"c1", "c2", "c3"} {
		l.clock.set(10_001 + int64(i))
		l.create(c, conv.Created{Subject: c})
		l.do(alice, c, conv.KindMessageSent, conv.Message{Text: "hi"})
	}
	l.do(ana, "c1", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: 60_000})
	l.do(ana, "c2", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: 30_000})
	if got := l.ids(openHuman); !slices.Equal(got, []string{"c3"}) {
		t.Fatalf("open = %v; want [c3] (c1 and c2 snoozed)", got)
	}
	if got := l.ids(byWake); !slices.Equal(got, []string{"c2", "c1"}) {
		t.Fatalf("snoozed by wake = %v; want [c2 c1], soonest first", got)
	}
	if got := l.ids(snoozed); len(got) != 2 {
		t.Fatalf("snoozed = %v; want c1 and c2", got)
	}
	if n, u := l.count(snoozed); n != 2 || u != 2 {
		t.Fatalf("Count(snoozed) = %d, %d unread; want 2, 2", n, u)
	}
	if at, ok := l.s.NextWake(nil); !ok || at.UnixMilli() != 30_000 {
		t.Fatalf("NextWake = %v, %v; want 30000", at.UnixMilli(), ok)
	}
	if n, err := l.s.Wake(); err != nil || n != 0 {
		t.Fatalf("Wake at 10000 = %d, %v; want nothing due", n, err)
	}

	// c2's time passes: it is open again, for every query and count, and
	// who watches them hears it.
	ws := memdb.NewWatchSet()
	if _, _, err := l.s.Page(openHuman, ws); err != nil {
		t.Fatal(err)
	}
	l.clock.set(30_000)
	before := len(l.r.log)
	if n, err := l.s.Wake(); err != nil || n != 1 {
		t.Fatalf("Wake at 30000 = %d, %v; want c2", n, err)
	}
	if ws.Watch(time.After(5 * time.Second)) {
		t.Fatal("Wake did not fire the open page's watch")
	}
	if len(l.r.log) != before {
		t.Fatal("waking logged something")
	}
	if got := l.ids(openHuman); !slices.Equal(got, []string{"c3", "c2"}) {
		t.Fatalf("open after c2's time = %v; want [c3 c2]", got)
	}
	if got := l.ids(byWake); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("snoozed after c2's time = %v; want [c1]", got)
	}
	if r := l.s.Row("c2", nil); r.Sum.Status != conv.StatusOpen || r.Canon().Status != conv.StatusSnoozed {
		t.Fatalf("c2 shows %s (log: %s); want open, the log still snoozed", r.Sum.Status, r.Canon().Status)
	}
	if n, _ := l.count(openHuman); n != 2 {
		t.Fatalf("Count(open) = %d; want 2", n)
	}
	if at, ok := l.s.NextWake(nil); !ok || at.UnixMilli() != 60_000 {
		t.Fatalf("NextWake = %v, %v; want 60000", at.UnixMilli(), ok)
	}

	// The contact writes in c1 before its time: it reopens (a derived
	// status.changed), so it wakes at once.
	l.do(alice, "c1", conv.KindMessageSent, conv.Message{Text: "still broken"})
	if got := l.ids(openHuman); !slices.Equal(got, []string{"c1", "c3", "c2"}) {
		t.Fatalf("open after the contact wrote in c1 = %v; want c1 first", got)
	}
	if _, ok := l.s.NextWake(nil); ok {
		t.Fatal("NextWake: something still asleep")
	}

	// Snoozed again; the store closes, and opens after its time: it opens
	// showing c1 open, without a Wake.
	l.do(ana, "c1", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: 90_000})
	l.do(ana, "c3", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: 200_000})
	want := []string{"c2"}
	if got := l.ids(openHuman); !slices.Equal(got, want) {
		t.Fatalf("open = %v; want %v", got, want)
	}
	l.clock.set(100_000)
	l.reopen()
	if got := l.ids(openHuman); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("open after reopening past c1's time = %v; want [c1 c2]", got)
	}
	if got := l.ids(byWake); !slices.Equal(got, []string{"c3"}) {
		t.Fatalf("snoozed after reopening = %v; want [c3]", got)
	}
	checkIndexes(t, l.s)
	if err := l.s.Rebuild(); err != nil {
		t.Fatal(err)
	}
	if got := l.ids(byWake); !slices.Equal(got, []string{"c3"}) {
		t.Fatalf("snoozed after a rebuild = %v; want [c3]", got)
	}
	checkIndexes(t, l.s)
}

// The list's order is the latest message from either side: a private
// note, a seen mark or a lifecycle change does not move a conversation to
// the top; a reply does, pending or logged.
func TestActivityIsTheLatestMessage(t *testing.T) {
	l := newLogged(t)
	l.create("c1", conv.Created{})
	l.do(alice, "c1", conv.KindMessageSent, conv.Message{Text: "first"})
	l.clock.set(20_000)
	l.create("c2", conv.Created{})
	l.do(alice, "c2", conv.KindMessageSent, conv.Message{Text: "second"})
	all := Query{Status: conv.StatusOpen}
	if got := l.ids(all); !slices.Equal(got, []string{"c2", "c1"}) {
		t.Fatalf("open = %v; want [c2 c1]", got)
	}
	l.clock.set(30_000)
	l.do(ana, "c1", conv.KindNoteAdded, conv.Note{Text: "a note does not bump"})
	l.do(ana, "c1", conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityHigh})
	l.do(me, "c1", conv.KindSeenMarked, conv.SeenMarked{UpTo: l.r.head})
	if got := l.ids(all); !slices.Equal(got, []string{"c2", "c1"}) {
		t.Fatalf("open after a note in c1 = %v; want [c2 c1]", got)
	}
	if at := l.s.Row("c1", nil).Sum.LastActivityAt; at != 10_000 {
		t.Fatalf("c1's activity = %d; want its message's 10000", at)
	}
	// My reply, still pending, moves it up at once.
	l.clock.set(40_000)
	_, seq := l.s.Cursor(nil)
	if _, err := l.s.AddLocal([]conv.Event{{ID: "mine1", Conv: "c1", Kind: conv.KindMessageSent, Actor: me, At: 40_000, Base: seq, Data: conv.MustData(conv.Message{Text: "on it"})}}); err != nil {
		t.Fatal(err)
	}
	if got := l.ids(all); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("open after my pending reply = %v; want [c1 c2]", got)
	}
	l.do(bot, "c2", conv.KindMessageSent, conv.Message{Text: "the bot answers"})
	l.clock.set(50_000)
	l.do(alice, "c2", conv.KindMessageSent, conv.Message{Text: "thanks"})
	if got := l.ids(all); !slices.Equal(got, []string{"c2", "c1"}) {
		t.Fatalf("open after alice wrote in c2 = %v; want [c2 c1]", got)
	}
	before := takeSnapshot(t, l.s)
	if err := l.s.Rebuild(); err != nil {
		t.Fatal(err)
	}
	if d := diff(before, takeSnapshot(t, l.s)); d != "" {
		t.Fatalf("rebuilt: %s", d)
	}
}

// A conversation in assistant mode is the bot's lane: out of the human
// views until handoff; handed off, it needs a human until an agent replies
// or takes it.
func TestBotLaneAndHandoff(t *testing.T) {
	l := newLogged(t)
	l.create("c1", conv.Created{AssistantID: "faq"})
	l.do(alice, "c1", conv.KindMessageSent, conv.Message{Text: "hello bot"})
	l.do(bot, "c1", conv.KindMessageSent, conv.Message{Text: "hello human"})
	l.create("c2", conv.Created{})
	botOpen := Query{Status: conv.StatusOpen, Lane: BotLane}
	if got := l.ids(openHuman); !slices.Equal(got, []string{"c2"}) {
		t.Fatalf("open (team) = %v; want [c2]", got)
	}
	if got := l.ids(botOpen); !slices.Equal(got, []string{"c1"}) {
		t.Fatalf("open (bot) = %v; want [c1]", got)
	}
	if got := l.ids(Query{Status: conv.StatusOpen, Lane: HumanLane, Assignee: Unassigned}); !slices.Equal(got, []string{"c2"}) {
		t.Fatalf("unassigned (team) = %v; want [c2]", got)
	}
	if n, u := l.count(botOpen); n != 1 || u != 1 {
		t.Fatalf("Count(bot) = %d, %d; want 1, 1", n, u)
	}
	// The window title's total is the human views': the bot's unread
	// message is not in it until handoff, and a reopen agrees.
	if n := l.s.TotalUnread(nil); n != 0 {
		t.Fatalf("TotalUnread with the contact's message in the Bot view = %d; want 0", n)
	}
	l.reopen()
	if n := l.s.TotalUnread(nil); n != 0 {
		t.Fatalf("TotalUnread after a reopen = %d; want 0", n)
	}
	l.do(bot, "c1", conv.KindAssistantHandedOff, conv.HandedOff{})
	if n := l.s.TotalUnread(nil); n != 1 {
		t.Fatalf("TotalUnread after handoff = %d; want 1 (the contact's message)", n)
	}
	r := l.s.Row("c1", nil)
	if r.Sum.Bot || !r.Sum.NeedsHuman {
		t.Fatalf("handed off: bot %v, needs a human %v; want the team's, needing a human", r.Sum.Bot, r.Sum.NeedsHuman)
	}
	if got := l.ids(openHuman); !slices.Contains(got, "c1") {
		t.Fatalf("open (team) after handoff = %v; want c1 in it", got)
	}
	l.do(bot, "c1", conv.KindMessageSent, conv.Message{Text: "a teammate will be with you"})
	l.do(ana, "c1", conv.KindNoteAdded, conv.Note{Text: "who takes it?"})
	l.reopen()
	if r := l.s.Row("c1", nil); !r.Sum.NeedsHuman {
		t.Fatal("a bot's message or a note made it not need a human")
	}
	l.do(ana, "c1", conv.KindMessageSent, conv.Message{Text: "Ana here"})
	if r := l.s.Row("c1", nil); r.Sum.NeedsHuman {
		t.Fatal("an agent replied; it still needs a human")
	}

	// Taken instead of answered; and an agent taking it over from the bot.
	l.create("c3", conv.Created{AssistantID: "faq"})
	l.do(bot, "c3", conv.KindAssistantHandedOff, conv.HandedOff{})
	l.do(ana, "c3", conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &ana})
	l.create("c4", conv.Created{AssistantID: "faq"})
	l.do(ana, "c4", conv.KindAssistantHandedOff, conv.HandedOff{To: &ana})
	for _, c := range []string{"c3", "c4"} {
		if r := l.s.Row(c, nil); r.Sum.NeedsHuman || r.Sum.Bot {
			t.Fatalf("%s taken by an agent: needs a human %v, bot %v", c, r.Sum.NeedsHuman, r.Sum.Bot)
		}
	}
	before := takeSnapshot(t, l.s)
	if err := l.s.Rebuild(); err != nil {
		t.Fatal(err)
	}
	if d := diff(before, takeSnapshot(t, l.s)); d != "" {
		t.Fatalf("rebuilt: %s", d)
	}
}

// Count answers what walking every page of the same query finds, for the
// views and filters the inbox offers, through random runs.
func TestCountMatchesPages(t *testing.T) {
	queries := []Query{
		{}, {Status: conv.StatusOpen}, openHuman, {Status: conv.StatusOpen, Lane: BotLane},
		{Status: conv.StatusOpen, Lane: HumanLane, Assignee: me.ID}, {Status: conv.StatusOpen, Lane: HumanLane, Assignee: Unassigned},
		snoozed, byWake, {Status: conv.StatusResolved}, {UnreadOnly: true}, {Status: conv.StatusOpen, Lane: HumanLane, UnreadOnly: true},
		{Tag: "vip"}, {Status: conv.StatusOpen, Priority: conv.PriorityHigh}, {Lane: BotLane}, {Lane: HumanLane, Tag: "bug", UnreadOnly: true},
	}
	for _, seed := range seeds() {
		s := openStore(t, t.TempDir())
		w := newWorld(t, seed, s)
		for i := range 300 {
			w.step()
			if i%50 != 49 {
				continue
			}
			l := &logged{t: t, s: s}
			for _, q := range queries {
				ids := l.ids(q)
				unread := 0
				for _, id := range ids {
					if s.Row(id, nil).Unread > 0 {
						unread++
					}
				}
				total, u := l.count(q)
				if total != len(ids) || u != unread {
					t.Fatalf("seed %d step %d: Count(%+v) = %d, %d unread; the pages hold %d, %d unread", seed, i, q, total, u, len(ids), unread)
				}
			}
		}
	}
}

// A store derived by an older binary (before rule 8 was rewritten, and
// before the rows carried their history) is derived again, once, when it
// opens: a teammate's note no longer counts as unread there.
func TestOlderDerivationRebuilds(t *testing.T) {
	l := newLogged(t)
	l.create("c1", conv.Created{})
	l.do(alice, "c1", conv.KindMessageSent, conv.Message{Text: "hi"})
	l.do(ana, "c1", conv.KindNoteAdded, conv.Note{Text: "note"})
	want := takeSnapshot(t, l.s)
	// Make it what an older binary left: the note counted, format 1.
	r := l.s.Row("c1", nil)
	m, err := l.s.readMeta()
	if err != nil {
		t.Fatal(err)
	}
	err = l.s.db.Update(func(btx *badger.Txn) error {
		if err := btx.Set(convKey("c1"), encodeRow(2, r.canon)); err != nil {
			return err
		}
		b := encodeMeta(m)
		b[len(b)-1] = 1
		return btx.Set(metaKey, b)
	})
	if err != nil {
		t.Fatal(err)
	}
	l.s.removeSnapshot()
	l.s.Close()
	l.open()
	if d := diff(want, takeSnapshot(t, l.s)); d != "" {
		t.Fatalf("a store of format 1 opened as: %s", d)
	}
	if m, _ := l.s.readMeta(); m.Format != storeFormat {
		t.Fatalf("format %d once opened; want %d", m.Format, storeFormat)
	}
}

// AddLocalEach stores the drafts that apply, in one write, and says why
// each other one was refused.
func TestAddLocalEach(t *testing.T) {
	l := newLogged(t)
	l.create("c1", conv.Created{})
	l.create("c2", conv.Created{})
	l.do(ana, "c2", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved})
	_, seq := l.s.Cursor(nil)
	mk := func(id, c string, k conv.Kind, d any) conv.Event {
		return conv.Event{ID: id, Conv: c, Kind: k, Actor: me, Base: seq, Data: conv.MustData(d)}
	}
	stored, errs, err := l.s.AddLocalEach([]conv.Event{
		mk("a1", "c1", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}),
		mk("a2", "c2", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}), // resolved already: nothing
		mk("a3", "nope", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}),
		mk("a4", "c2", conv.KindTagsChanged, conv.TagsChanged{Add: []string{"x"}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range stored {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []string{"a1", "a4"}) {
		t.Fatalf("stored %v; want [a1 a4]", ids)
	}
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], conv.ErrNoSuchConversation) || errs[3] != nil {
		t.Fatalf("errs = %v; want only a3 refused (no such conversation)", errs)
	}
	if got := l.s.Row("c1", nil).Sum.Status; got != conv.StatusResolved {
		t.Fatalf("c1 shows %s; want resolved (pending)", got)
	}
	if stored[0].Mid+1 != stored[1].Mid {
		t.Fatalf("mids %d, %d; want consecutive", stored[0].Mid, stored[1].Mid)
	}
}
