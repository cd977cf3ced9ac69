package inbox_test

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

var (
	me    = conv.Participant{ID: "agent:me", Role: conv.RoleAgent}
	ana   = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	bot   = conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
	alice = conv.Participant{ID: "contact:alice", Role: conv.RoleContact, Name: "Alice"}
	bob   = conv.Participant{ID: "contact:bob", Role: conv.RoleContact, Name: "Bob"}
)

var testSchema = conv.NewSchema([]conv.AttributeDef{
	{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}},
	{Key: "seats", Type: conv.AttrNumber},
})

// clock is a fake clock: every reading is one second after the last.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

// ids makes UUIDv7-shaped ids from a counter, in order.
type ids struct{ n uint64 }

func (g *ids) next() (uuid.UUID, error) {
	g.n++
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[8:], g.n)
	u[6], u[8] = 0x70, 0x80|u[8]&0x3f
	return u, nil
}

// relay is a tiny relay for the tests: conv.Apply with NextSeq, a log.
type relay struct {
	head  uint64
	state map[string]*conv.Conversation
	log   []conv.Event
	sent  int // how much of the log the device has received
}

func newRelay() *relay { return &relay{state: map[string]*conv.Conversation{}} }

func (r *relay) accept(e conv.Event) ([]conv.Event, inbox.Outcome) {
	next, evs, err := conv.Apply(r.state[e.Conv], e, conv.Env{Schema: testSchema, NextSeq: r.head + 1})
	var ce *conv.Error
	if errors.As(err, &ce) {
		return nil, inbox.Outcome{ID: e.ID, Err: ce}
	}
	if len(evs) == 0 {
		return nil, inbox.Outcome{ID: e.ID}
	}
	r.state[e.Conv] = next
	r.head = evs[len(evs)-1].Seq
	r.log = append(r.log, evs...)
	return evs, inbox.Outcome{ID: e.ID, Seq: r.head}
}

// fixture is a device's inbox and the relay it syncs with.
type fixture struct {
	t     *testing.T
	dir   string
	in    *inbox.Inbox
	relay *relay
	clock *clock
	ids   *ids
	n     int
}

func newFixture(t *testing.T, local bool) *fixture {
	t.Helper()
	f := &fixture{t: t, dir: t.TempDir(), relay: newRelay(), clock: &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}, ids: &ids{}}
	f.open(local)
	return f
}

func (f *fixture) open(local bool) {
	f.t.Helper()
	in, err := inbox.Open(f.dir, inbox.Options{Me: me, Device: "laptop", Schema: testSchema, Now: f.clock.now, NewID: f.ids.next, Local: local})
	if err != nil {
		f.t.Fatalf("Open: %v", err)
	}
	f.in = in
	f.t.Cleanup(func() { in.Close() })
}

func (f *fixture) reopen() {
	f.t.Helper()
	if err := f.in.Close(); err != nil {
		f.t.Fatal(err)
	}
	f.open(false)
}

// foreign logs an event made on another device by actor.
func (f *fixture) foreign(actor conv.Participant, c string, k conv.Kind, data any) conv.Event {
	f.t.Helper()
	f.n++
	e := conv.Event{ID: "foreign-" + string(rune('a'+f.n%26)) + uuid.NewString(), Conv: c, Kind: k, Actor: actor, Device: "other",
		At: f.clock.now().UnixMilli(), Base: f.relay.head, Data: conv.MustData(data)}
	evs, o := f.relay.accept(e)
	if o.Err != nil {
		f.t.Fatalf("relay.accept(%s) = %v", k, o.Err)
	}
	return evs[len(evs)-1]
}

// deliver hands the device every event it has not received.
func (f *fixture) deliver() {
	f.t.Helper()
	if err := f.in.ApplyCanonical("ep1", f.relay.log[f.relay.sent:], f.relay.head); err != nil {
		f.t.Fatalf("ApplyCanonical: %v", err)
	}
	f.relay.sent = len(f.relay.log)
}

// push sends the outbox to the relay and returns the outcomes, without
// acknowledging them.
func (f *fixture) push() []inbox.Outcome {
	f.t.Helper()
	pend, err := f.in.Pending()
	if err != nil {
		f.t.Fatal(err)
	}
	var outs []inbox.Outcome
	for _, e := range pend {
		_, o := f.relay.accept(e)
		outs = append(outs, o)
	}
	return outs
}

// sync pushes, acknowledges and delivers.
func (f *fixture) sync() {
	f.t.Helper()
	outs := f.push()
	if err := f.in.Acknowledged(outs); err != nil {
		f.t.Fatal(err)
	}
	f.deliver()
}

// create makes a conversation with alice (one local action) and syncs it.
func (f *fixture) create(subject string) string {
	f.t.Helper()
	id, err := f.in.CreateConversation(alice, subject, "hello from "+subject, inbox.CreateOptions{})
	if err != nil {
		f.t.Fatalf("CreateConversation: %v", err)
	}
	f.sync()
	return id
}

func (f *fixture) timeline(c string) []inbox.Item {
	f.t.Helper()
	p, err := f.in.Timeline(c, "", 500, nil)
	if err != nil {
		f.t.Fatalf("Timeline(%s): %v", c, err)
	}
	return p.Items
}

func (f *fixture) view(c string) *conv.Conversation {
	f.t.Helper()
	v, _, err := f.in.Conversation(c, nil)
	if err != nil {
		f.t.Fatalf("Conversation(%s): %v", c, err)
	}
	return v
}

func (f *fixture) unread(c string) int {
	f.t.Helper()
	n, err := f.in.UnreadCount(c, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

func kinds(items []inbox.Item) []string {
	var out []string
	for _, it := range items {
		s := string(it.Kind)
		if it.State != "" {
			s += "/" + it.State
		}
		out = append(out, s)
	}
	return out
}
