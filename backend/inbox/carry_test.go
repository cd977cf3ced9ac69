package inbox_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

// TestCarryLocalWork: a demo inbox where the user made a conversation of
// their own (and replied in a sample one) carries only the user's
// conversation to a synced inbox, as pending events of the relay's identity
// numbered after the relay's last mid; the relay logs them as the user made
// them; carrying again adds nothing; the local inbox is left as it was.
func TestCarryLocalWork(t *testing.T) {
	f := newFixture(t, true)
	if err := inbox.SeedDemo(context.Background(), f.in, 1); err != nil {
		t.Fatal(err)
	}
	demo := pages(t, f.in, inbox.Filter{}, inbox.ByActivity, 100)
	mine, err := f.in.CreateConversation(bob, "Mine", "made while local", inbox.CreateOptions{Tags: []string{"vip"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.Assign(mine, &me); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.AddNote(mine, "a note of mine"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.Resolve(mine); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.MarkSeen(mine); err != nil && !errors.Is(err, inbox.ErrNotFound) {
		t.Fatal(err)
	}
	if _, err := f.in.Send(demo[0].ID, "a reply in a sample conversation"); err != nil {
		t.Fatal(err)
	}

	w, err := f.in.LocalWork()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(w.Conversations, []string{mine}) || w.Total != len(demo)+1 || w.Others() != len(demo) {
		t.Fatalf("LocalWork = %v of %d (%d others); want only %s of %d", w.Conversations, w.Total, w.Others(), mine, len(demo)+1)
	}
	var got []conv.Kind
	for _, e := range w.Events {
		got = append(got, e.Kind)
	}
	want := []conv.Kind{conv.KindConversationCreated, conv.KindMessageSent, conv.KindAssigneeChanged, conv.KindNoteAdded, conv.KindStatusChanged}
	if !slices.Equal(got, want) {
		t.Fatalf("LocalWork events = %v; want %v (no seen mark, nothing derived)", got, want)
	}

	// The synced inbox of the relay's identity, on the same device.
	ana := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}
	synced, err := inbox.Open(t.TempDir(), inbox.Options{Me: ana, Device: "laptop"})
	if err != nil {
		t.Fatal(err)
	}
	defer synced.Close()
	added, err := synced.Carry(w, 7)
	if err != nil || !slices.Equal(added, []string{mine}) {
		t.Fatalf("Carry = %v, %v; want %s", added, err, mine)
	}
	pend, _ := synced.Pending()
	if len(pend) != len(want) {
		t.Fatalf("pending = %d events; want %d", len(pend), len(want))
	}
	for i, e := range pend {
		if e.Actor != ana || e.Device != "laptop" || e.Mid != uint64(8+i) || e.Seq != 0 || e.ID != w.Events[i].ID || e.At != w.Events[i].At {
			t.Fatalf("pending[%d] = %+v; want Ana's, mid %d, the local event's id and time", i, e, 8+i)
		}
		if e.Kind == conv.KindAssigneeChanged {
			d, _ := conv.Decode(e)
			if a := d.(*conv.AssigneeChanged).Assignee; a == nil || a.ID != ana.ID {
				t.Fatalf("the assignment names %+v; want Ana, who agent:me is on the relay", a)
			}
		}
	}
	if v, _, err := synced.Conversation(mine, nil); err != nil || v.Status != conv.StatusResolved || v.Assignee == nil || v.Assignee.ID != ana.ID {
		t.Fatalf("synced view = %+v, %v; want resolved, assigned to Ana", v, err)
	}

	// A relay takes them as they come.
	r := newRelay()
	for _, e := range pend {
		if _, o := r.accept(e); o.Err != nil {
			t.Fatalf("relay.accept(%s) = %v", e.Kind, o.Err)
		}
	}
	if again, err := synced.Carry(w, 7); err != nil || len(again) != 0 {
		t.Fatalf("Carry again = %v, %v; want nothing added", again, err)
	}
	if p, _ := synced.Pending(); len(p) != len(want) {
		t.Fatalf("pending after carrying again = %d; want %d", len(p), len(want))
	}
	if len(pages(t, f.in, inbox.Filter{}, inbox.ByActivity, 100)) != len(demo)+1 {
		t.Fatal("the local inbox changed")
	}
	if _, err := synced.LocalWork(); err != nil {
		t.Fatalf("LocalWork on a never-synced inbox = %v", err)
	}
}

// TestCarryFitsTheWorkspaceAttributes: attribute values the workspace does
// not define are left in the local inbox; the conversation still goes up.
func TestCarryFitsTheWorkspaceAttributes(t *testing.T) {
	f := newFixture(t, true)
	mine, err := f.in.CreateConversation(bob, "Attributes", "hi", inbox.CreateOptions{Attributes: map[string]any{"plan": "pro", "seats": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.SetAttributes(mine, map[string]any{"seats": 4}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.in.SetAttributes(mine, map[string]any{"plan": "free", "seats": 5}); err != nil {
		t.Fatal(err)
	}
	w, err := f.in.LocalWork()
	if err != nil {
		t.Fatal(err)
	}
	ana := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	only := conv.NewSchema([]conv.AttributeDef{{Key: "plan", Type: conv.AttrEnum, Values: []string{"free", "pro"}}})
	synced, err := inbox.Open(t.TempDir(), inbox.Options{Me: ana, Device: "laptop", Schema: only})
	if err != nil {
		t.Fatal(err)
	}
	defer synced.Close()
	if added, err := synced.Carry(w, 0); err != nil || len(added) != 1 {
		t.Fatalf("Carry = %v, %v; want the conversation", added, err)
	}
	pend, _ := synced.Pending()
	var got []string
	for _, e := range pend {
		got = append(got, string(e.Kind)+" "+string(e.Data))
	}
	want := []string{
		`conversation.created {"contact":{"id":"contact:bob","role":"contact","name":"Bob"},"subject":"Attributes","priority":"medium","attributes":{"plan":"pro"}}`,
		`message.sent {"text":"hi"}`,
		`attributes.set {"values":{"plan":"free"}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("pending = %v; want %v (seats left out, the seats-only set dropped)", got, want)
	}
	for i := range want {
		if i != 1 && got[i] != want[i] { // the message's data carries the local thread id
			t.Fatalf("pending[%d] = %s; want %s", i, got[i], want[i])
		}
	}
}
