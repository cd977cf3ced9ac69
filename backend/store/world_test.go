package store

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

var seedFlag = flag.Int64("seed", 0, "seed of the randomized tests (0: a few fixed ones)")

// seeds returns the seeds a randomized test runs with: -seed, or a fixed set.
func seeds() []int64 {
	if *seedFlag != 0 {
		return []int64{*seedFlag}
	}
	return []int64{1, 2, 3, 42, 1234}
}

// worldNow is the store's clock in the randomized tests (Unix ms): a
// conversation snoozed until before it shows as open.
const worldNow = 1_000_000

var (
	me      = GenerateMe
	ana     = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	bot     = conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
	alice   = conv.Participant{ID: "contact:alice", Role: conv.RoleContact}
	bob     = conv.Participant{ID: "contact:bob", Role: conv.RoleContact}
	actors  = []conv.Participant{me, ana, bot, alice, bob}
	someIDs = []string{"c1", "c2", "c3", "c4"}
)

// relay is a tiny in-memory relay: it orders events with conv.Apply and
// NextSeq, and remembers what it logged.
type relay struct {
	head  uint64
	state map[string]*conv.Conversation
	log   []conv.Event
}

func newRelay() *relay { return &relay{state: map[string]*conv.Conversation{}} }

// accept logs e as a relay would and returns the logged events and the outcome.
func (r *relay) accept(e conv.Event) ([]conv.Event, Outcome) {
	next, evs, err := conv.Apply(r.state[e.Conv], e, conv.Env{NextSeq: r.head + 1})
	if err != nil {
		ce, _ := err.(*conv.Error)
		return nil, Outcome{ID: e.ID, Err: ce}
	}
	if len(evs) == 0 {
		return nil, Outcome{ID: e.ID}
	}
	r.state[e.Conv] = next
	r.head = evs[len(evs)-1].Seq
	r.log = append(r.log, evs...)
	return evs, Outcome{ID: e.ID, Seq: evs[len(evs)-1].Seq}
}

// world drives one device's store against a relay with random events.
type world struct {
	t     *testing.T
	rng   *rand.Rand
	prng  *rand.Rand // contact profiles
	s     *Store
	r     *relay
	n     int
	dir   string
	sent  int // how many of the relay's log the device has received
	inbox []Outcome
}

func newWorld(t *testing.T, seed int64, s *Store) *world {
	return &world{t: t, rng: rand.New(rand.NewPCG(uint64(seed), 99)), prng: rand.New(rand.NewPCG(uint64(seed), 7)), s: s, r: newRelay()}
}

func (w *world) id() string { w.n++; return fmt.Sprintf("e%05d", w.n) }

// randomEvent makes a random (often valid, sometimes not) event by actor in
// one of a few conversations.
func (w *world) randomEvent(actor conv.Participant, base uint64) conv.Event {
	c := someIDs[w.rng.IntN(len(someIDs))]
	e := conv.Event{ID: w.id(), Conv: c, Actor: actor, Device: "d-" + actor.ID, At: int64(1000 + w.n), Base: base}
	contact := alice
	if c == "c2" || c == "c4" {
		contact = bob
	}
	var data any
	switch w.rng.IntN(15) {
	case 0:
		d := conv.Created{Contact: &contact, Subject: "s " + c, Tags: []string{"vip"}}
		if c == "c3" { // the bot's, until handed off
			d.AssistantID = "faq"
		}
		e.Kind, data = conv.KindConversationCreated, d
	case 1, 2, 3:
		e.Kind, data = conv.KindMessageSent, conv.Message{Text: "hi " + e.ID}
	case 4:
		e.Kind, data = conv.KindNoteAdded, conv.Note{Text: "note " + e.ID}
	case 5:
		e.Kind, data = conv.KindThreadStarted, conv.ThreadStarted{Thread: "t" + e.ID, Topic: "Topic " + e.ID}
	case 6:
		e.Kind, data = conv.KindThreadEnded, conv.ThreadEnded{}
	case 7:
		d := conv.StatusChanged{Status: conv.StatusResolved}
		switch w.rng.IntN(3) {
		case 0:
			d.Status = conv.StatusOpen
		case 1: // snoozed: some wake while the run goes on (Now), some do not
			d.Status, d.Until = conv.StatusSnoozed, worldNow+int64(w.rng.IntN(3)-1)*1000
		}
		e.Kind, data = conv.KindStatusChanged, d
	case 8:
		e.Kind, data = conv.KindPriorityChanged, conv.PriorityChanged{Priority: []conv.Priority{"low", "medium", "high", "urgent", "bogus"}[w.rng.IntN(5)]}
	case 9:
		e.Kind, data = conv.KindTagsChanged, conv.TagsChanged{Add: []string{[]string{"Billing", "vip", "bug"}[w.rng.IntN(3)]}, Remove: []string{"vip"}[:w.rng.IntN(2)]}
	case 10:
		var a *conv.Participant
		if w.rng.IntN(3) > 0 {
			p := actors[w.rng.IntN(3)]
			a = &p
		}
		e.Kind, data = conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: a}
	case 11:
		e.Kind, data = conv.KindSeenMarked, conv.SeenMarked{UpTo: w.r.head + uint64(w.rng.IntN(3))}
	case 12:
		role := []conv.Role{conv.RoleAgent, conv.RoleSupervisor}[w.rng.IntN(2)]
		k := conv.KindParticipantJoined
		if w.rng.IntN(3) == 0 {
			k = conv.KindParticipantLeft
		}
		e.Kind, data = k, conv.ParticipantChanged{Participant: conv.Participant{ID: actor.ID, Role: role}}
	case 13:
		e.Kind, data = conv.KindAssistantHandedOff, conv.HandedOff{}
	default:
		e.Kind, data = conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "pro", "seats": float64(w.rng.IntN(9))}}
	}
	e.Data = conv.MustData(data)
	return e
}

// profile makes the contact.updated a relay logs for c's contact: a random
// name, email or both (one may be what c already holds: then it changes
// nothing and is not logged).
func (w *world) profile(c *conv.Conversation) conv.Event {
	d := conv.ContactUpdated{Contact: conv.Participant{ID: c.Contact.ID, Role: c.Contact.Role}}
	k := w.prng.IntN(3)
	if k != 1 {
		d.Name = []string{"Alice Moreau", "Alice M.", "Bob Okafor"}[w.prng.IntN(3)]
	}
	if k != 0 {
		d.Email = []string{"alice@example.com", "a.moreau@example.com", "bob@example.org"}[w.prng.IntN(3)]
	}
	return conv.Event{ID: w.id(), Conv: c.ID, Kind: conv.KindContactUpdated, Actor: conv.System, At: int64(1000 + w.n), Base: w.r.head, Data: conv.MustData(d)}
}

// deliver hands the device the relay's events it has not received yet, in
// random pages, with a cursor that may run past the last one.
func (w *world) deliver() {
	for w.sent < len(w.r.log) {
		n := 1 + w.rng.IntN(len(w.r.log)-w.sent)
		page := w.r.log[w.sent : w.sent+n]
		w.sent += n
		if err := w.s.ApplyCanonical("ep1", page, page[len(page)-1].Seq); err != nil {
			w.t.Fatalf("ApplyCanonical: %v", err)
		}
	}
}

// step does one random thing: a foreign event, a local action, a push of
// the outbox with its acks, or a delivery.
func (w *world) step() {
	switch w.rng.IntN(6) {
	case 0, 1: // someone else acts on another device
		w.r.accept(w.randomEvent(actors[1+w.rng.IntN(len(actors)-1)], w.r.head))
		// Now and then the relay logs a contact's profile too. Its own
		// generator: the other steps stay what each seed gave before.
		if c := w.r.state[someIDs[w.prng.IntN(len(someIDs))]]; c != nil && w.prng.IntN(6) == 0 {
			w.r.accept(w.profile(c))
		}
	case 2, 3: // the local participant acts
		_, seq := w.s.Cursor(nil)
		e := w.randomEvent(me, seq)
		if _, err := w.s.AddLocal([]conv.Event{e}); err != nil {
			if _, ok := err.(*conv.Error); !ok {
				w.t.Fatalf("AddLocal(%s) = %v; want nil or a *conv.Error", e.Kind, err)
			}
		}
	case 4: // push the outbox; the acks may come before or after the events
		var outs []Outcome
		for _, e := range w.s.Pending(nil) {
			_, o := w.r.accept(e)
			outs = append(outs, o)
		}
		if w.rng.IntN(2) == 0 {
			w.deliver()
		}
		if err := w.s.Acknowledged(outs); err != nil {
			w.t.Fatalf("Acknowledged: %v", err)
		}
	default:
		w.deliver()
	}
}

// snapshot is everything a store derives, copied out.
type snapshot struct {
	Epoch       string
	Seq         uint64
	TotalUnread int
	Rows        map[string]rowCopy
	Items       map[string][]Item
	Outbox      []Pending
}

// rowCopy is a Row with its states decoded, for comparing.
type rowCopy struct {
	ID                  string
	Sum                 Summary
	CanonUnread, Unread int
	Overlay             []Item
	Failed              int
	Placeholder         bool
	Canon, View         *conv.Conversation
}

func copyRow(r *Row) rowCopy {
	return rowCopy{ID: r.ID, Sum: r.Sum, CanonUnread: r.CanonUnread, Unread: r.Unread, Overlay: r.Overlay,
		Failed: r.Failed, Placeholder: r.Placeholder, Canon: r.Canon(), View: r.View()}
}

func takeSnapshot(t *testing.T, s *Store) snapshot {
	t.Helper()
	sn := snapshot{Rows: map[string]rowCopy{}, Items: map[string][]Item{}}
	if err := s.ready(); err != nil {
		t.Fatal(err)
	}
	sn.Epoch, sn.Seq = s.Cursor(nil)
	sn.TotalUnread = s.TotalUnread(nil)
	it, err := s.mdb.Txn(false).Get(tableConvs, indexID+"_prefix", "")
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*Row)
		sn.Rows[r.ID] = copyRow(r)
		sum += r.humanUnread()
		var all []Item
		before := uint64(0)
		for {
			items, older, err := s.Timeline(r.ID, before, 7, nil)
			if err != nil {
				t.Fatal(err)
			}
			if before != 0 {
				items = append(items, all...)
			}
			all = items
			if older == 0 {
				break
			}
			before = older
		}
		sn.Items[r.ID] = all
	}
	if sum != sn.TotalUnread {
		t.Errorf("TotalUnread() = %d; want the sum of the rows' unread outside the Bot view %d", sn.TotalUnread, sum)
	}
	checkIndexes(t, s)
	for _, p := range s.Outbox(nil) {
		sn.Outbox = append(sn.Outbox, *p)
	}
	return sn
}

// diff describes how two snapshots differ ("" if they do not).
func diff(a, b snapshot) string {
	if reflect.DeepEqual(a, b) {
		return ""
	}
	if a.Epoch != b.Epoch || a.Seq != b.Seq || a.TotalUnread != b.TotalUnread {
		return fmt.Sprintf("cursor/unread (%q %d %d) vs (%q %d %d)", a.Epoch, a.Seq, a.TotalUnread, b.Epoch, b.Seq, b.TotalUnread)
	}
	var ids []string
	for id := range a.Rows {
		ids = append(ids, id)
	}
	for id := range b.Rows {
		if _, ok := a.Rows[id]; !ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		ra, rb := a.Rows[id], b.Rows[id]
		if !reflect.DeepEqual(ra.Canon, rb.Canon) {
			return fmt.Sprintf("row %s canon:\n %+v\n %+v", id, ra.Canon, rb.Canon)
		}
		if !reflect.DeepEqual(ra.View, rb.View) {
			return fmt.Sprintf("row %s view:\n %+v\n %+v", id, ra.View, rb.View)
		}
		if !reflect.DeepEqual(ra, rb) {
			return fmt.Sprintf("row %s:\n %+v\n %+v", id, ra, rb)
		}
		if !reflect.DeepEqual(a.Items[id], b.Items[id]) {
			return fmt.Sprintf("items of %s:\n %+v\n %+v", id, a.Items[id], b.Items[id])
		}
	}
	return fmt.Sprintf("outbox:\n %+v\n %+v", a.Outbox, b.Outbox)
}

// checkIndexes holds the counts and the snoozed table to what the rows
// say: every row with a view counted in its group, every row asleep (and
// only those) in the snoozed table.
func checkIndexes(t *testing.T, s *Store) {
	t.Helper()
	if err := s.ready(); err != nil {
		t.Fatal(err)
	}
	txn := s.mdb.Txn(false)
	want := &counts{m: map[countKey]tally{}}
	asleep := map[string]bool{}
	it, err := txn.Get(tableConvs, indexID+"_prefix", "")
	if err != nil {
		t.Fatal(err)
	}
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*Row)
		if r.hasView() {
			want.add(r, 1)
			if r.Sum.Asleep() {
				asleep[r.ID] = true
			}
		}
	}
	o, err := txn.First(tableCounts, indexID, "n")
	if err != nil || o == nil {
		t.Fatalf("no counts (%v)", err)
	}
	if got := o.(*counts); !reflect.DeepEqual(got.m, want.m) {
		t.Errorf("counts = %v; want %v (from the rows)", got.m, want.m)
	}
	it, err = txn.Get(tableSnoozed, indexID+"_prefix", "")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*entry).row()
		if !asleep[r.ID] {
			t.Errorf("snoozed table holds %s (%s until %d)", r.ID, r.Sum.Status, r.Sum.SnoozedUntil)
		}
		n++
	}
	if n != len(asleep) {
		t.Errorf("snoozed table holds %d rows; want %d", n, len(asleep))
	}
}
