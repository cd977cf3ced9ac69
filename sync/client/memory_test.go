package client

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func TestMemoryActChecksAndNumbers(t *testing.T) {
	m := NewMemory(ana, "dev-1")
	if _, err := m.Act(uuid.NewString(), conv.KindMessageSent, conv.Message{Text: "hi"}); !errors.Is(err, conv.ErrNoSuchConversation) {
		t.Errorf("Act(message in no conversation) = %v; want no_such_conversation", err)
	}
	c, err := m.Create(conv.Created{Contact: &contact, Subject: "Billing"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "   "}); !errors.Is(err, conv.ErrInvalid) {
		t.Errorf("Act(empty message) = %v; want invalid", err)
	}
	th, err := m.Act(c.Conv, conv.KindThreadStarted, conv.ThreadStarted{Topic: "Invoice 42"})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := conv.Decode(th)
	if d.(*conv.ThreadStarted).Thread == "" {
		t.Errorf("thread.started got no thread id")
	}
	msg, err := m.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "Here it is"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Mid != 1 || th.Mid != 2 || msg.Mid != 3 {
		t.Errorf("mids = %d, %d, %d; want 1, 2, 3 (failed checks use none)", c.Mid, th.Mid, msg.Mid)
	}
	if msg.Actor != ana || msg.Device != "dev-1" || msg.Base != 0 || msg.At == 0 {
		t.Errorf("envelope = %+v", msg)
	}
	view, ok := m.Conversation(c.Conv)
	if !ok || view.Messages != 1 || view.Thread == nil || view.Thread.Topic != "Invoice 42" {
		t.Errorf("optimistic view = %+v", view)
	}
	if _, ok := m.Canonical(c.Conv); ok {
		t.Errorf("a pending conversation is canonical")
	}
	if got := len(m.Timeline(c.Conv)); got != 3 {
		t.Errorf("optimistic timeline has %d items; want 3", got)
	}
	p, _ := m.Pending()
	if len(p) != 3 {
		t.Errorf("Pending() = %d events; want 3", len(p))
	}
}

func TestMemoryOutcomesResetAndRetry(t *testing.T) {
	m := NewMemory(ana, "dev-1")
	c, _ := m.Create(conv.Created{Contact: &contact})
	n, _ := m.Act(c.Conv, conv.KindNoteAdded, conv.Note{Text: "note"})
	a, _ := m.Act(c.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "pro"}})

	// The relay logs the creation (seq 1) and the note (seq 2), rejects the attribute.
	if err := m.Acknowledged([]Outcome{{ID: c.ID, Seq: 1}, {ID: n.ID, Seq: 2},
		{ID: a.ID, Err: &conv.Error{Code: conv.CodeUnknownAttribute, Message: "no plan"}}}); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Pending(); len(p) != 0 {
		t.Errorf("Pending() after the acks = %d; want 0", len(p))
	}
	states := map[string]OutboxState{}
	for _, it := range m.Outbox() {
		states[it.Event.ID] = it.State
	}
	if states[c.ID] != OutboxLogged || states[n.ID] != OutboxLogged || states[a.ID] != OutboxFailed {
		t.Errorf("outbox states = %v", states)
	}

	// The log is replaced before the canonical copies came: logged events are pending again.
	if err := m.Reset("epoch-2"); err != nil {
		t.Fatal(err)
	}
	if p, _ := m.Pending(); len(p) != 2 || p[0].ID != c.ID || p[1].ID != n.ID {
		t.Errorf("Pending() after Reset = %v; want the creation and the note again", p)
	}
	if e, s, _ := m.Cursor(); e != "epoch-2" || s != 0 {
		t.Errorf("cursor after Reset = (%s, %d)", e, s)
	}

	// Their canonical copies arrive: they leave the outbox.
	canon := []conv.Event{c, n}
	canon[0].Seq, canon[1].Seq = 1, 2
	if err := m.ApplyCanonical("epoch-2", canon, 5); err != nil {
		t.Fatal(err)
	}
	if got := m.Outbox(); len(got) != 1 || got[0].Event.ID != a.ID {
		t.Errorf("outbox = %+v; want only the failed event", got)
	}
	if e, s, _ := m.Cursor(); e != "epoch-2" || s != 5 {
		t.Errorf("cursor = (%s, %d); want (epoch-2, 5)", e, s)
	}
	if err := m.ApplyCanonical("epoch-1", nil, 9); err == nil {
		t.Errorf("ApplyCanonical in another epoch succeeded")
	}

	// Retry makes a new event; the failed one goes.
	r, err := m.Retry(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == a.ID || r.Mid != 4 || r.Base != 5 {
		t.Errorf("retry = %+v; want a new id, mid 4, base 5", r)
	}
	if _, err := m.Retry(a.ID); !errors.Is(err, ErrNotFailed) {
		t.Errorf("second Retry = %v; want ErrNotFailed", err)
	}
	if p, _ := m.Pending(); len(p) != 1 || p[0].ID != r.ID {
		t.Errorf("Pending() = %v; want the retry", p)
	}
}

func TestMemoryWelcomeMovesMidsPastTheRelays(t *testing.T) {
	m := NewMemory(conv.Participant{Role: conv.RoleVisitor}, "dev-1")
	if err := m.Welcomed(protocol.Welcome{Identity: conv.Participant{ID: "visitor:7", Role: conv.RoleVisitor}, LastMid: 41}); err != nil {
		t.Fatal(err)
	}
	e, err := m.Create(conv.Created{})
	if err != nil {
		t.Fatal(err)
	}
	if e.Mid != 42 || e.Actor.ID != "visitor:7" {
		t.Errorf("event = mid %d by %s; want mid 42 by visitor:7", e.Mid, e.Actor.ID)
	}
}

// slowLocal makes every ApplyCanonical slower than the idle timeout.
type slowLocal struct {
	*Memory
	delay time.Duration
	mu    sync.Mutex
	calls int
	last  uint64
	bad   bool
}

func (s *slowLocal) ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	s.calls++
	for _, e := range events {
		if e.Seq <= s.last {
			s.bad = true
		}
		s.last = e.Seq
	}
	s.mu.Unlock()
	return s.Memory.ApplyCanonical(epoch, events, upTo)
}

func TestSlowLocalKeepsOrderAndConnection(t *testing.T) {
	r := newFakeRelay(t)
	fill(t, r, 6_000, 60)
	_, head := r.head()
	mem := NewMemory(ana, uuid.NewString())
	// Every ApplyCanonical outlasts the idle timeout.
	slow := &slowLocal{Memory: mem, delay: time.Second}
	h := start(t, r.url(), mem, agentAuth("ana-token"), func(o *Options) {
		o.Local = slow
		o.PingInterval = 100 * time.Millisecond
		o.IdleTimeout = 600 * time.Millisecond
	})
	waitState(t, h.c, StateOnline)
	if _, s, _ := mem.Cursor(); s != head {
		t.Errorf("cursor = %d; want %d", s, head)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.bad {
		t.Errorf("events were applied out of order or twice")
	}
	if n := r.hellos.Load(); n != 1 {
		t.Errorf("%d connections; a slow store must not look like a dead relay", n)
	}
	if slow.calls >= int(head)/protocol.BacklogPage {
		t.Errorf("%d ApplyCanonical calls for %d events; waiting frames were not merged", slow.calls, head)
	}
	sameAsRelay(t, r, mem)
}

func TestMemoryTakesHistoryBelowTheCursor(t *testing.T) {
	m := NewMemory(contact, "dev-1")
	mk := func(seq uint64, id, convID string, k conv.Kind, d any) conv.Event {
		return conv.Event{ID: id, Seq: seq, Conv: convID, Kind: k, Actor: ana, Data: conv.MustData(d)}
	}
	a := []conv.Event{
		mk(10, "a1", "A", conv.KindConversationCreated, conv.Created{Contact: &contact}),
		mk(12, "a2", "A", conv.KindNoteAdded, conv.Note{Text: "x"}),
	}
	if err := m.ApplyCanonical("e", a, 20); err != nil {
		t.Fatal(err)
	}
	// Conversation B just became this contact's: its history comes, below the cursor,
	// with one event of A sent again.
	b := []conv.Event{
		mk(3, "b1", "B", conv.KindConversationCreated, conv.Created{Contact: &contact}),
		mk(5, "b2", "B", conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityHigh}),
		mk(12, "a2", "A", conv.KindNoteAdded, conv.Note{Text: "x"}),
		mk(21, "b3", "B", conv.KindNoteAdded, conv.Note{Text: "y"}),
	}
	if err := m.ApplyCanonical("e", b, 21); err != nil {
		t.Fatal(err)
	}
	if _, s, _ := m.Cursor(); s != 21 {
		t.Errorf("cursor = %d; want 21", s)
	}
	if m.Len() != 5 {
		t.Errorf("holds %d events; want 5 (the resent one once)", m.Len())
	}
	cb, ok := m.Canonical("B")
	ca, _ := m.Canonical("A")
	if !ok || cb.Priority != conv.PriorityHigh || cb.Notes != 1 || ca.Notes != 1 {
		t.Errorf("A = %+v\nB = %+v", ca, cb)
	}
}
