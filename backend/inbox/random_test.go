package inbox_test

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

var seedFlag = flag.Int64("seed", 0, "seed of TestRandomActions (0: a fixed set)")

// TestRandomActions applies random valid and invalid actions through the
// inbox, with others acting on other devices and the device syncing at
// random moments (acks before or after the events, restarts), and checks
// the invariants after every step: unread never negative and summing to the
// total, seen marks never going back, at most one active thread; and at the
// end that the device holds the relay's state, and that rebuilding from the
// log gives what was built incrementally, twice over.
func TestRandomActions(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6}
	if *seedFlag != 0 {
		seeds = []int64{*seedFlag}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			defer func() {
				if t.Failed() {
					t.Logf("re-run with: go test ./backend/inbox -run 'TestRandomActions' -seed %d", seed)
				}
			}()
			randomRun(t, seed, 300)
		})
	}
}

type randomWorld struct {
	*fixture
	rng   *rand.Rand
	convs []string
	seen  map[string]map[string]uint64 // canonical seen marks seen so far
}

func randomRun(t *testing.T, seed int64, steps int) {
	w := &randomWorld{fixture: newFixture(t, false), rng: rand.New(rand.NewPCG(uint64(seed), 7)), seen: map[string]map[string]uint64{}}
	for i := range steps {
		w.step(i)
		w.check()
	}
	// Settle: everything pushed, acknowledged and delivered.
	for range 3 {
		w.sync()
	}
	for id, want := range w.relay.state {
		r := w.in.Store().Row(id, nil)
		if r == nil || !reflect.DeepEqual(r.Canon(), want) {
			t.Fatalf("after settling, conversation %s differs from the relay's", id)
		}
	}
	checkThreads(t, w.fixture, w.allConvs())
	t.Logf("%d conversations, %d canonical events, %d failed events kept", len(w.allConvs()), len(w.relay.log), len(w.in.Outbox(nil)))
	before := w.snapshot()
	for i := range 2 { // replaying the same log twice gives the same state
		if err := w.in.Store().Rebuild(); err != nil {
			t.Fatal(err)
		}
		if after := w.snapshot(); !reflect.DeepEqual(before, after) {
			t.Fatalf("rebuild %d differs from the incremental state:\n%s", i+1, firstDiff(before, after))
		}
	}
	w.reopen()
	if after := w.snapshot(); !reflect.DeepEqual(before, after) {
		t.Fatalf("reopened store differs:\n%s", firstDiff(before, after))
	}
}

func (w *randomWorld) pick() string {
	if len(w.convs) == 0 || w.rng.IntN(20) == 0 {
		return "unknown-conversation"
	}
	return w.convs[w.rng.IntN(len(w.convs))]
}

func (w *randomWorld) text() string {
	switch w.rng.IntN(12) {
	case 0:
		return "   "
	case 1:
		return strings.Repeat("x", conv.MaxTextBytes+1)
	}
	return fmt.Sprintf("text %d", w.rng.IntN(1000))
}

func (w *randomWorld) step(int) {
	in := w.in
	switch op := w.rng.IntN(20); {
	case op < 2:
		contact := []conv.Participant{alice, bob, ana}[w.rng.IntN(3)] // ana: invalid
		if id, err := in.CreateConversation(contact, "subject", w.text(), inbox.CreateOptions{Tags: []string{"vip"}}); err == nil {
			w.convs = append(w.convs, id)
		}
	case op < 10:
		c := w.pick()
		switch w.rng.IntN(13) {
		case 0, 1, 2:
			in.Send(c, w.text())
		case 3:
			in.AddNote(c, w.text())
		case 4:
			in.StartThread(c, []string{"", "Outage (Ticket #1)", "Billing"}[w.rng.IntN(3)])
		case 5:
			in.EndThread(c, []string{"", "Billing", "nope"}[w.rng.IntN(3)])
		case 6:
			in.Resolve(c)
		case 7:
			in.Reopen(c)
		case 8:
			in.SetPriority(c, []conv.Priority{"low", "urgent", "bogus"}[w.rng.IntN(3)])
		case 9:
			in.ChangeTags(c, []string{"Billing", ""}[w.rng.IntN(2):], []string{"vip"})
		case 10:
			in.Assign(c, []*conv.Participant{nil, &me, &ana, &alice}[w.rng.IntN(4)])
		case 11:
			in.SetAttributes(c, map[string]any{[]string{"plan", "color"}[w.rng.IntN(2)]: "pro"})
		default:
			in.MarkSeen(c)
		}
	case op < 14: // someone else, on another device
		w.foreignRandom()
	case op < 16:
		outs := w.push()
		if w.rng.IntN(2) == 0 {
			w.deliver()
		}
		if err := in.Acknowledged(outs); err != nil {
			w.t.Fatal(err)
		}
	case op < 18:
		w.deliver()
	case op < 19:
		for _, o := range in.Outbox(nil) {
			if o.State == inbox.StateFailed {
				if w.rng.IntN(2) == 0 {
					in.Retry(o.Event.ID)
				} else if err := in.Discard(o.Event.ID); err != nil {
					w.t.Fatal(err)
				}
				break
			}
		}
	default:
		if w.rng.IntN(4) == 0 {
			w.reopen()
		}
	}
}

func (w *randomWorld) foreignRandom() {
	actors := []conv.Participant{alice, bob, ana, bot}
	a := actors[w.rng.IntN(len(actors))]
	c := w.pick()
	var k conv.Kind
	var data any
	switch w.rng.IntN(7) {
	case 0:
		c = fmt.Sprintf("foreign-%d", w.rng.IntN(1e6))
		contact := alice
		k, data = conv.KindConversationCreated, conv.Created{Contact: &contact, Subject: "theirs"}
	case 1, 2, 3:
		k, data = conv.KindMessageSent, conv.Message{Text: "from " + a.ID}
	case 4:
		k, data = conv.KindNoteAdded, conv.Note{Text: "note"}
	case 5:
		k, data = conv.KindSeenMarked, conv.SeenMarked{UpTo: w.relay.head}
	default:
		k, data = conv.KindThreadStarted, conv.ThreadStarted{Thread: fmt.Sprintf("t%d", w.rng.IntN(1e6)), Topic: "Theirs"}
	}
	w.n++
	e := conv.Event{ID: fmt.Sprintf("f%d", w.n), Conv: c, Kind: k, Actor: a, Device: "other", At: w.clock.now().UnixMilli(), Base: w.relay.head, Data: conv.MustData(data)}
	if _, o := w.relay.accept(e); o.Err == nil && k == conv.KindConversationCreated {
		w.convs = append(w.convs, c)
	}
}

func (w *randomWorld) allConvs() []string {
	p, err := w.in.InboxPage(inbox.Filter{}, inbox.ByActivity, "", 1000, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	var ids []string
	for _, r := range p.Rows {
		ids = append(ids, r.ID)
	}
	return ids
}

func (w *randomWorld) check() {
	w.t.Helper()
	checkInvariants(w.t, w.in)
	for _, c := range w.allConvs() {
		r := w.in.Store().Row(c, nil)
		if r == nil || r.Canon() == nil {
			continue
		}
		if w.seen[c] == nil {
			w.seen[c] = map[string]uint64{}
		}
		for p, up := range r.Canon().Seen {
			if up < w.seen[c][p] {
				w.t.Fatalf("seen mark of %s in %s went back: %d → %d", p, c, w.seen[c][p], up)
			}
			w.seen[c][p] = up
		}
	}
}

// checkThreads: in every timeline, a thread starts only when none is
// active (the previous one ended first).
func checkThreads(t *testing.T, f *fixture, convs []string) {
	t.Helper()
	for _, c := range convs {
		active := ""
		for _, it := range f.timeline(c) {
			if it.State == inbox.StatePending || it.State == inbox.StateFailed {
				continue
			}
			switch it.Kind {
			case conv.KindThreadStarted:
				if active != "" {
					t.Fatalf("conversation %s: thread %s starts while %s is active", c, it.Thread, active)
				}
				active = it.Thread
			case conv.KindThreadEnded:
				active = ""
			case conv.KindStatusChanged:
				if strings.Contains(string(it.Data), `"resolved"`) && active != "" {
					t.Fatalf("conversation %s resolved with thread %s active", c, active)
				}
			}
		}
	}
}

type inboxSnapshot struct {
	Rows      []inbox.Row
	Timelines map[string][]inbox.Item
	Seen      map[string][]inbox.SeenMark
	Total     int
	Outbox    []inbox.OutboxItem
}

func (w *randomWorld) snapshot() inboxSnapshot {
	w.t.Helper()
	s := inboxSnapshot{Timelines: map[string][]inbox.Item{}, Seen: map[string][]inbox.SeenMark{}, Outbox: w.in.Outbox(nil)}
	p, err := w.in.InboxPage(inbox.Filter{}, inbox.ByActivity, "", 1000, nil)
	if err != nil {
		w.t.Fatal(err)
	}
	s.Rows = p.Rows
	for _, r := range p.Rows {
		s.Timelines[r.ID] = w.timeline(r.ID)
		s.Seen[r.ID], _ = w.in.SeenMarks(r.ID, nil)
	}
	s.Total, _ = w.in.TotalUnread(nil)
	return s
}

func firstDiff(a, b inboxSnapshot) string {
	if !reflect.DeepEqual(a.Rows, b.Rows) {
		for i := range min(len(a.Rows), len(b.Rows)) {
			if !reflect.DeepEqual(a.Rows[i], b.Rows[i]) {
				return fmt.Sprintf("row %d:\n %+v\n %+v", i, a.Rows[i], b.Rows[i])
			}
		}
		return fmt.Sprintf("%d rows vs %d", len(a.Rows), len(b.Rows))
	}
	for id := range a.Timelines {
		if !reflect.DeepEqual(a.Timelines[id], b.Timelines[id]) {
			return fmt.Sprintf("timeline of %s:\n %v\n %v", id, kinds(a.Timelines[id]), kinds(b.Timelines[id]))
		}
	}
	return fmt.Sprintf("seen, total or outbox:\n %+v\n %+v", a, b)
}
