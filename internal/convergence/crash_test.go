package convergence

import (
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// TestCrashBeforeAckIsResentOnce is idempotency across a device crash: the
// device pushes, the relay logs, but the device dies before it reads the
// ack (the route swallows every frame from the relay, then the client and
// the inbox are closed). Reopened from the same directory, the inbox still
// holds the events as pending, with the same ids and mids; reconnected, the
// client resends them, the relay answers from what it stored, and its log
// holds each event once. The device ends with them canonical, nothing
// pending. With relay-restarted, the relay also restarts while the device
// is down, so the answer comes from the log on disk, not from a cache.
func TestCrashBeforeAckIsResentOnce(t *testing.T) {
	for _, restart := range []bool{false, true} {
		name := "relay-up"
		if restart {
			name = "relay-restarted"
		}
		t.Run(name, func(t *testing.T) { crashBeforeAck(t, restart) })
	}
}

func crashBeforeAck(t *testing.T, restartRelay bool) {
	r := startRelay(t, relay.Options{})
	p := newWSProxy(t, func() string { return relayURL(r.target()) })
	d := newInboxDevice(t, r, "ana-laptop", ana, agentAuth(tokAna), nil)
	d.url = p.url()
	d.start()
	d.waitOnline(t)

	// Something canonical first, so the crash is not on a fresh store.
	first, err := d.in.CreateConversation(c42, "Before the crash", "hello", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.kick()
	waitFor(t, 10*time.Second, "the first conversation canonical", func() bool { return d.unsettled() == 0 })
	_, headBefore := r.head()

	// The route dies downstream: the push reaches the relay, nothing comes back.
	p.swallow()
	cid, err := d.in.CreateConversation(c42, "Lost ack", "is anyone there?", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	note, err := d.in.AddNote(first, "crash right after this push")
	if err != nil {
		t.Fatal(err)
	}
	before := d.in.Outbox(nil)
	if len(before) != 3 {
		t.Fatalf("outbox before the push = %d items; want 3 (created, message, note)", len(before))
	}
	d.kick()
	// created + derived thread.started + message, and the note: 4 events.
	waitFor(t, 10*time.Second, "the relay to log the push", func() bool { _, h := r.head(); return h == headBefore+4 })

	// The device dies before it records the ack.
	time.Sleep(50 * time.Millisecond) // the ack would have arrived by now
	for _, o := range d.in.Outbox(nil) {
		if o.State != inbox.StatePending {
			t.Fatalf("outbox item %s is %s before the crash; the proxy let the ack through", o.Event.ID, o.State)
		}
	}
	d.stop()
	if err := d.in.Close(); err != nil {
		t.Fatal(err)
	}
	if restartRelay {
		r.restart()
	}
	d.open()
	after := d.in.Outbox(nil)
	if len(after) != len(before) {
		t.Fatalf("outbox after reopening = %d items; want %d", len(after), len(before))
	}
	for i := range after {
		a, b := after[i], before[i]
		if a.Event.ID != b.Event.ID || a.Event.Mid != b.Event.Mid || a.State != inbox.StatePending {
			t.Errorf("outbox item %d after reopening: %s mid %d %s; before: %s mid %d %s",
				i, a.Event.ID, a.Event.Mid, a.State, b.Event.ID, b.Event.Mid, b.State)
		}
	}

	p.swallowNothing()
	d.start()
	d.waitSettled(t)
	d.stop()

	// The resend carried the same events: same ids, same mids, same data.
	copies := map[string][]conv.Event{}
	for _, push := range p.pushes() {
		for _, e := range push {
			copies[e.ID] = append(copies[e.ID], e)
		}
	}
	for _, o := range before {
		cs := copies[o.Event.ID]
		if len(cs) < 2 {
			t.Errorf("event %s (%s) was pushed %d times; want the push and its resend", o.Event.ID, o.Event.Kind, len(cs))
			continue
		}
		for _, c := range cs[1:] {
			if c.Mid != cs[0].Mid || c.Base != cs[0].Base || normJSON(c.Data) != normJSON(cs[0].Data) || c.Kind != cs[0].Kind {
				t.Errorf("event %s resent as %s; first sent as %s", o.Event.ID, js(c), js(cs[0]))
			}
		}
	}

	rl := r.readLog()
	if rl.head != headBefore+4 {
		t.Errorf("relay head = %d; want %d (the resend logged nothing new)", rl.head, headBefore+4)
	}
	for _, o := range before {
		if _, ok := rl.byID[o.Event.ID]; !ok {
			t.Errorf("event %s (%s) is not in the relay's log", o.Event.ID, o.Event.Kind)
		}
		d.rec.madeEvent(o.Event)
	}
	// Canonical on the device, not pending, not failed.
	if ob := d.in.Outbox(nil); len(ob) != 0 {
		t.Errorf("outbox = %+v; want empty", ob)
	}
	for _, id := range []string{cid, first} {
		for _, it := range timelineAll(t, d.in, id) {
			if it.Seq == 0 || (it.Mine && it.State != inbox.StateSent) {
				t.Errorf("timeline of %s: item %s (%s) seq %d state %q; want canonical", id, it.ID, it.Kind, it.Seq, it.State)
			}
		}
	}
	if it := findItem(timelineAll(t, d.in, first), note.ID); it == nil || it.Seq == 0 {
		t.Errorf("the note is not canonical: %+v", it)
	}
	checkDevice(t, rl, d)
	checkAccounted(t, rl, d)
}

func findItem(items []inbox.Item, id string) *inbox.Item {
	for i := range items {
		if items[i].ID == id {
			return &items[i]
		}
	}
	return nil
}

// TestCrashAfterAckIsNotResent: the device records the ack (its events are
// sent, with their seqs) but dies before their canonical copies arrive (the
// route loses the relay's events frames). Reopened, the inbox still knows
// them as sent; reconnected, it does not push them again: the backlog
// brings their canonical copies, and the relay's log holds each once.
func TestCrashAfterAckIsNotResent(t *testing.T) {
	r := startRelay(t, relay.Options{})
	p := newWSProxy(t, func() string { return relayURL(r.target()) })
	d := newInboxDevice(t, r, "ana-laptop", ana, agentAuth(tokAna), nil)
	d.url = p.url()
	d.start()
	d.waitOnline(t)

	p.swallow(protocol.TypeEvents)
	cid, err := d.in.CreateConversation(c42, "Ack recorded", "the ack came, the copy did not", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range d.in.Outbox(nil) {
		d.rec.madeEvent(o.Event)
	}
	d.kick()
	waitFor(t, 10*time.Second, "the acks recorded", func() bool {
		ob := d.in.Outbox(nil)
		for _, o := range ob {
			if o.State != inbox.StateSent || o.Seq == 0 {
				return false
			}
		}
		return len(ob) == 2
	})
	before := d.in.Outbox(nil)
	d.stop()
	if err := d.in.Close(); err != nil {
		t.Fatal(err)
	}
	d.open()
	after := d.in.Outbox(nil)
	if len(after) != 2 {
		t.Fatalf("outbox after reopening = %+v; want the 2 sent events", after)
	}
	for i := range after {
		if after[i].Event.ID != before[i].Event.ID || after[i].State != inbox.StateSent || after[i].Seq != before[i].Seq {
			t.Errorf("outbox item %d after reopening = %s %s seq %d; before %s %s seq %d", i,
				after[i].Event.ID, after[i].State, after[i].Seq, before[i].Event.ID, before[i].State, before[i].Seq)
		}
	}
	if pending, _ := d.in.Pending(); len(pending) != 0 {
		t.Errorf("Pending() after reopening = %d events; want none (they are sent)", len(pending))
	}

	p.swallowNothing()
	d.start()
	d.waitSettled(t)
	d.stop()
	pushed := map[string]int{}
	for _, push := range p.pushes() {
		for _, e := range push {
			pushed[e.ID]++
		}
	}
	for _, o := range before {
		if pushed[o.Event.ID] != 1 {
			t.Errorf("event %s (%s) pushed %d times; want once", o.Event.ID, o.Event.Kind, pushed[o.Event.ID])
		}
	}
	for _, it := range timelineAll(t, d.in, cid) {
		if it.Seq == 0 {
			t.Errorf("timeline item %s (%s) is not canonical: %q", it.ID, it.Kind, it.State)
		}
	}
	rl := r.readLog()
	checkDevice(t, rl, d)
	checkAccounted(t, rl, d)
}
