package conv

import (
	"errors"
	"fmt"
	"testing"
)

var (
	ana     = Participant{ID: "agent:ana", Role: RoleAgent}
	ben     = Participant{ID: "agent:ben", Role: RoleAgent}
	bot     = Participant{ID: "ai:faq", Role: RoleAssistant}
	alice   = Participant{ID: "contact:alice", Role: RoleContact}
	bob     = Participant{ID: "contact:bob", Role: RoleContact}
	visitor = Participant{ID: "visitor:7f", Role: RoleVisitor}
)

var testSchema = NewSchema([]AttributeDef{
	{Key: "plan", Type: AttrEnum, Values: []string{"free", "pro"}},
	{Key: "seats", Type: AttrNumber},
	{Key: "vip", Type: AttrBool},
	{Key: "company", Type: AttrString},
})

// world is a tiny relay: one conversation, a head seq, and the log.
type world struct {
	t    *testing.T
	c    *Conversation
	log  []Event
	n    int
	conv string
	// defaultBot is the workspace's default assistant (Env.DefaultAssistant).
	defaultBot string
}

// testAssistants are the workspace's assistants, by config id.
var testAssistants = []string{"faq"}

func newWorld(t *testing.T) *world { return &world{t: t, conv: "c1"} }

func (w *world) head() uint64 { return uint64(len(w.log)) }

func (w *world) event(actor Participant, k Kind, data any) Event {
	w.n++
	return Event{
		ID:    fmt.Sprintf("e%03d", w.n),
		Conv:  w.conv,
		Kind:  k,
		Actor: actor,
		At:    int64(1000 * w.n),
		Base:  w.head(),
		Data:  MustData(data),
	}
}

// try applies an event as the relay would, returning the logged events.
func (w *world) try(e Event) ([]Event, error) {
	next, out, err := Apply(w.c, e, Env{Schema: testSchema, Assistants: testAssistants, DefaultAssistant: w.defaultBot, NextSeq: w.head() + 1})
	if err != nil {
		return nil, err
	}
	w.c = next
	w.log = append(w.log, out...)
	return out, nil
}

// do applies and fails the test on error.
func (w *world) do(actor Participant, k Kind, data any) []Event {
	w.t.Helper()
	e := w.event(actor, k, data)
	out, err := w.try(e)
	if err != nil {
		w.t.Fatalf("Apply(%s by %s) = %v; want success", k, actor.ID, err)
	}
	return out
}

// reject applies and fails the test unless it is rejected with code.
func (w *world) reject(actor Participant, k Kind, data any, code Code) {
	w.t.Helper()
	before := w.c.Clone()
	e := w.event(actor, k, data)
	_, err := w.try(e)
	if err == nil {
		w.t.Fatalf("Apply(%s by %s) = nil; want %s", k, actor.ID, code)
	}
	if got := CodeOf(err); got != code {
		w.t.Fatalf("Apply(%s by %s) = %v; want %s", k, actor.ID, err, code)
	}
	if !errors.Is(err, &Error{Code: code}) {
		w.t.Fatalf("errors.Is(%v, %s) = false", err, code)
	}
	if !equalState(before, w.c) {
		w.t.Fatalf("Apply(%s) rejected but changed the state", k)
	}
}

// noop applies and fails the test unless nothing is logged.
func (w *world) noop(actor Participant, k Kind, data any) {
	w.t.Helper()
	e := w.event(actor, k, data)
	out, err := w.try(e)
	if err != nil || len(out) != 0 {
		w.t.Fatalf("Apply(%s by %s) = %d events, %v; want a no-op", k, actor.ID, len(out), err)
	}
}

func (w *world) create(by Participant, data Created) {
	w.t.Helper()
	w.do(by, KindConversationCreated, data)
}

func kinds(es []Event) []Kind {
	ks := make([]Kind, len(es))
	for i, e := range es {
		ks[i] = e.Kind
	}
	return ks
}

func equalState(a, b *Conversation) bool {
	return string(MustData(a)) == string(MustData(b))
}
