package inbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/client"
)

// *inbox.Inbox has sync/client.Local's method set. The compile-time check
//
//	var _ client.Local = (*inbox.Inbox)(nil)
//
// waits for the two packages to share one Outcome type (client declares its
// own struct; inbox cannot import client). Until then this test holds the
// method set to the interface: same names, same signatures, Outcome
// field for field.
func TestSatisfiesClientLocal(t *testing.T) {
	want := reflect.TypeFor[client.Local]()
	got := reflect.TypeFor[*inbox.Inbox]()
	for i := range want.NumMethod() {
		wm := want.Method(i)
		gm, ok := got.MethodByName(wm.Name)
		if !ok {
			t.Errorf("*inbox.Inbox has no method %s", wm.Name)
			continue
		}
		wt, gt := wm.Type, gm.Type // gt has the receiver first
		if wt.NumIn() != gt.NumIn()-1 || wt.NumOut() != gt.NumOut() {
			t.Errorf("%s: %v; want %v", wm.Name, gt, wt)
			continue
		}
		for j := range wt.NumIn() {
			if !sameShape(wt.In(j), gt.In(j+1)) {
				t.Errorf("%s: parameter %d is %v; want %v", wm.Name, j, gt.In(j+1), wt.In(j))
			}
		}
		for j := range wt.NumOut() {
			if !sameShape(wt.Out(j), gt.Out(j)) {
				t.Errorf("%s: result %d is %v; want %v", wm.Name, j, gt.Out(j), wt.Out(j))
			}
		}
	}
}

// sameShape reports whether a and b are the same type, or structs (or
// slices of structs) with the same fields.
func sameShape(a, b reflect.Type) bool {
	if a == b {
		return true
	}
	if a.Kind() != b.Kind() {
		return false
	}
	switch a.Kind() {
	case reflect.Slice:
		return sameShape(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.NumField() != b.NumField() {
			return false
		}
		for i := range a.NumField() {
			fa, fb := a.Field(i), b.Field(i)
			if fa.Name != fb.Name || fa.Type != fb.Type {
				return false
			}
		}
		return true
	}
	return false
}

func TestActions(t *testing.T) {
	tests := []struct {
		name  string
		act   func(in *inbox.Inbox, c string) (conv.Event, error)
		kind  conv.Kind
		check func(v *conv.Conversation) bool
	}{
		{"Send", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.Send(c, "on it") }, conv.KindMessageSent,
			func(v *conv.Conversation) bool { return v.LastMessage == "on it" && v.LastMessageBy.ID == me.ID }},
		{"AddNote", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.AddNote(c, "internal") }, conv.KindNoteAdded,
			func(v *conv.Conversation) bool { return v.Notes == 1 }},
		{"StartThread", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.StartThread(c, "Billing (Ticket #1)") }, conv.KindThreadStarted,
			func(v *conv.Conversation) bool { return v.Thread != nil && v.Thread.Topic == "Billing (Ticket #1)" }},
		{"EndThread", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.EndThread(c, "") }, conv.KindThreadEnded,
			func(v *conv.Conversation) bool { return v.Thread == nil }},
		{"Resolve", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.Resolve(c) }, conv.KindStatusChanged,
			func(v *conv.Conversation) bool { return v.Status == conv.StatusResolved && v.Thread == nil }},
		{"SetPriority", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.SetPriority(c, conv.PriorityUrgent) }, conv.KindPriorityChanged,
			func(v *conv.Conversation) bool { return v.Priority == conv.PriorityUrgent }},
		{"ChangeTags", func(in *inbox.Inbox, c string) (conv.Event, error) {
			return in.ChangeTags(c, []string{" Billing", "VIP"}, nil)
		}, conv.KindTagsChanged, func(v *conv.Conversation) bool { return slices.Equal(v.Tags, []string{"billing", "vip"}) }},
		{"Assign", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.Assign(c, &ana) }, conv.KindAssigneeChanged,
			func(v *conv.Conversation) bool { return v.Assignee != nil && v.Assignee.ID == ana.ID }},
		{"Join", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.Join(c, conv.RoleSupervisor) }, conv.KindParticipantJoined,
			func(v *conv.Conversation) bool { return v.IsSupervisor(me.ID) }},
		{"SetAttributes", func(in *inbox.Inbox, c string) (conv.Event, error) {
			return in.SetAttributes(c, map[string]any{"plan": "pro", "seats": 12.0})
		}, conv.KindAttributesSet, func(v *conv.Conversation) bool { return v.Attributes["plan"] == "pro" && v.Attributes["seats"] == 12.0 }},
		{"MarkSeen", func(in *inbox.Inbox, c string) (conv.Event, error) { return in.MarkSeen(c) }, conv.KindSeenMarked,
			func(v *conv.Conversation) bool { return v.SeenBy(me.ID) == v.LastItemSeq }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			c := f.create("s")
			f.foreign(alice, c, conv.KindMessageSent, conv.Message{Text: "any news?"})
			f.deliver()
			e, err := tt.act(f.in, c)
			if err != nil || e.Kind != tt.kind || e.Seq != 0 || e.Mid == 0 || e.Actor != me || e.Device != "laptop" {
				t.Fatalf("%s() = %+v, %v; want a pending %s by me", tt.name, e, err, tt.kind)
			}
			_, head, _ := f.in.Cursor()
			if e.Base != head {
				t.Errorf("%s().Base = %d; want the canonical head %d", tt.name, e.Base, head)
			}
			if v := f.view(c); !tt.check(v) {
				t.Errorf("%s: optimistic view %+v does not show it", tt.name, v)
			}
			if pend, _ := f.in.Pending(); len(pend) != 1 || pend[0].ID != e.ID {
				t.Errorf("Pending() = %v; want [%s]", pend, e.ID)
			}
			// Reopening keeps it; syncing makes it canonical, with the same view.
			f.reopen()
			if v := f.view(c); !tt.check(v) {
				t.Errorf("%s: after reopening, the view %+v does not show it", tt.name, v)
			}
			f.sync()
			if pend, _ := f.in.Pending(); len(pend) != 0 {
				t.Errorf("Pending() after sync = %v; want none", pend)
			}
			if v := f.view(c); !tt.check(v) || !reflect.DeepEqual(v, f.relay.state[c]) {
				t.Errorf("%s: after sync the view is %+v; want the relay's %+v", tt.name, v, f.relay.state[c])
			}
		})
	}
}

func TestCreateConversationIsOneAction(t *testing.T) {
	f := newFixture(t, false)
	id, err := f.in.CreateConversation(alice, "Server offline", "Our server is down", inbox.CreateOptions{
		Priority: conv.PriorityHigh, Tags: []string{"Outage"}, Attributes: map[string]any{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	pend, _ := f.in.Pending()
	if len(pend) != 2 || pend[0].Kind != conv.KindConversationCreated || pend[1].Kind != conv.KindMessageSent || pend[1].Mid != pend[0].Mid+1 {
		t.Fatalf("Pending() = %+v; want conversation.created then message.sent", pend)
	}
	v := f.view(id)
	if v.Subject != "Server offline" || v.Priority != conv.PriorityHigh || !v.HasTag("outage") || v.Contact.ID != alice.ID || v.Thread == nil {
		t.Fatalf("view = %+v", v)
	}
	want := []string{"conversation.created/pending", "thread.started/pending", "message.sent/pending"}
	if got := kinds(f.timeline(id)); !slices.Equal(got, want) {
		t.Fatalf("Timeline = %v; want %v", got, want)
	}
	f.sync()
	want = []string{"conversation.created/sent", "thread.started", "message.sent/sent"}
	if got := kinds(f.timeline(id)); !slices.Equal(got, want) {
		t.Fatalf("Timeline after sync = %v; want %v", got, want)
	}
}

// A rejected action returns its code and stores nothing.
func TestRejectionStoresNothing(t *testing.T) {
	tests := []struct {
		name string
		act  func(in *inbox.Inbox, c string) error
		want *conv.Error
	}{
		{"empty message", func(in *inbox.Inbox, c string) error { _, err := in.Send(c, "  "); return err }, conv.ErrInvalid},
		{"huge message", func(in *inbox.Inbox, c string) error {
			_, err := in.Send(c, string(make([]byte, conv.MaxTextBytes+1)))
			return err
		}, conv.ErrTooLarge},
		{"thread without topic", func(in *inbox.Inbox, c string) error { _, err := in.StartThread(c, ""); return err }, conv.ErrInvalid},
		{"ending another thread", func(in *inbox.Inbox, c string) error { _, err := in.EndThread(c, "not this one"); return err }, conv.ErrNoSuchThread},
		{"bogus priority", func(in *inbox.Inbox, c string) error { _, err := in.SetPriority(c, "bogus"); return err }, conv.ErrInvalid},
		{"assigning a contact", func(in *inbox.Inbox, c string) error { _, err := in.Assign(c, &bob); return err }, conv.ErrInvalid},
		{"unknown attribute", func(in *inbox.Inbox, c string) error {
			_, err := in.SetAttributes(c, map[string]any{"color": "red"})
			return err
		}, conv.ErrUnknownAttribute},
		{"wrong attribute type", func(in *inbox.Inbox, c string) error {
			_, err := in.SetAttributes(c, map[string]any{"seats": "many"})
			return err
		}, conv.ErrInvalidAttribute},
		{"unknown conversation", func(in *inbox.Inbox, _ string) error { _, err := in.Send("nope", "hi"); return err }, conv.ErrNoSuchConversation},
		{"creating for an agent", func(in *inbox.Inbox, _ string) error {
			_, err := in.CreateConversation(ana, "x", "y", inbox.CreateOptions{})
			return err
		}, conv.ErrInvalid},
		{"supervisor sending", func(in *inbox.Inbox, c string) error {
			if _, err := in.Join(c, conv.RoleSupervisor); err != nil {
				return err
			}
			_, err := in.Send(c, "hello")
			return err
		}, conv.ErrForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, false)
			c := f.create("s")
			if _, err := f.in.StartThread(c, "Current topic"); err != nil {
				t.Fatal(err)
			}
			before, beforeItems := f.in.Outbox(nil), f.timeline(c)
			err := tt.act(f.in, c)
			var ce *conv.Error
			if !errors.As(err, &ce) || !errors.Is(err, tt.want) || ce.Message == "" {
				t.Fatalf("%s = %v; want a *conv.Error %s with a message", tt.name, err, tt.want.Code)
			}
			after := f.in.Outbox(nil)
			if tt.name == "supervisor sending" { // the join itself was fine
				after = after[:len(after)-1]
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("%s stored something: outbox %v → %v", tt.name, before, after)
			}
			if tt.name != "supervisor sending" && !reflect.DeepEqual(beforeItems, f.timeline(c)) {
				t.Errorf("%s changed the timeline", tt.name)
			}
		})
	}
}

func TestNoopStoresNothing(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	for _, tt := range []struct {
		name        string
		first, then func() (conv.Event, error)
	}{
		{"Reopen an open conversation", nil, func() (conv.Event, error) { return f.in.Reopen(c) }},
		{"EndThread with none active", func() (conv.Event, error) { return f.in.EndThread(c, "") }, func() (conv.Event, error) { return f.in.EndThread(c, "") }},
		{"MarkSeen twice", func() (conv.Event, error) { return f.in.MarkSeen(c) }, func() (conv.Event, error) { return f.in.MarkSeen(c) }},
	} {
		name, act := tt.name, tt.then
		if tt.first != nil {
			if _, err := tt.first(); err != nil {
				t.Fatal(err)
			}
		}
		n := len(f.in.Outbox(nil))
		if e, err := act(); err != nil || e.ID != "" || len(f.in.Outbox(nil)) != n {
			t.Errorf("%s = %+v, %v, outbox %d → %d; want nothing stored", name, e, err, n, len(f.in.Outbox(nil)))
		}
	}
}

// Canonical events arriving under pending ones: the pending ones are
// re-applied on top (rebase).
func TestApplyCanonicalRebases(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	if _, err := f.in.EndThread(c, ""); err != nil {
		t.Fatal(err)
	}
	f.sync()
	// Offline: I reply; no thread is active, so the reply starts one.
	mine, err := f.in.Send(c, "we are looking into it")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(f.timeline(c))[4:], []string{"thread.started/pending", "message.sent/pending"}; !slices.Equal(got, want) {
		t.Fatalf("before rebase: %v; want %v", got, want)
	}
	// Meanwhile Ana started a thread with a topic: my reply joins it.
	f.foreign(ana, c, conv.KindThreadStarted, conv.ThreadStarted{Thread: "t-ana", Topic: "Outage"})
	f.deliver()
	items := f.timeline(c)
	last := items[len(items)-1]
	if got, want := kinds(items)[4:], []string{"thread.started", "message.sent/pending"}; !slices.Equal(got, want) {
		t.Fatalf("after rebase: %v; want %v", got, want)
	}
	if last.ID != mine.ID || last.Thread != "t-ana" || f.view(c).Thread.Topic != "Outage" {
		t.Fatalf("my pending reply = %+v; want it in Ana's thread", last)
	}
	// It comes back canonical: no longer pending, one item.
	f.sync()
	items = f.timeline(c)
	if last := items[len(items)-1]; last.ID != mine.ID || last.State != inbox.StateSent || last.Seq == 0 {
		t.Fatalf("after sync: %+v; want my reply canonical", last)
	}
	if pend, _ := f.in.Pending(); len(pend) != 0 {
		t.Fatalf("Pending() = %v", pend)
	}
}

// A pending event that no longer applies stays pending and visible; the
// relay decides, and its rejection is kept as failed until retried.
func TestStalePendingResolveFailsAndRetries(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	res, err := f.in.Resolve(c)
	if err != nil {
		t.Fatal(err)
	}
	if f.view(c).Status != conv.StatusResolved {
		t.Fatal("the optimistic view is not resolved")
	}
	// Alice writes before my resolve reaches the relay.
	f.foreign(alice, c, conv.KindMessageSent, conv.Message{Text: "wait, one more thing"})
	f.deliver()
	if v := f.view(c); v.Status != conv.StatusOpen {
		t.Fatalf("after rebase the view is %s; want open (my resolve no longer applies)", v.Status)
	}
	items := f.timeline(c)
	if last := items[len(items)-1]; last.ID != res.ID || last.State != inbox.StatePending {
		t.Fatalf("last item = %+v; want my resolve, still pending", last)
	}
	outs := f.push()
	if len(outs) != 1 || outs[0].Err == nil || outs[0].Err.Code != conv.CodeStale {
		t.Fatalf("relay answered %+v; want stale", outs)
	}
	if err := f.in.Acknowledged(outs); err != nil {
		t.Fatal(err)
	}
	items = f.timeline(c)
	last := items[len(items)-1]
	if last.ID != res.ID || last.State != inbox.StateFailed || last.Error == nil || last.Error.Code != conv.CodeStale || last.Error.Message == "" {
		t.Fatalf("last item = %+v; want my resolve failed with its stale error", last)
	}
	if _, row, _ := f.in.Conversation(c, nil); row.Failed != 1 {
		t.Fatalf("row.Failed = %d; want 1", row.Failed)
	}
	// Failed survives a restart and is not pushed again.
	f.reopen()
	if pend, _ := f.in.Pending(); len(pend) != 0 {
		t.Fatalf("Pending() = %v; a failed event is not pushed again", pend)
	}
	retry, err := f.in.Retry(res.ID)
	if err != nil || retry.ID == res.ID || retry.Mid <= res.Mid || retry.Kind != conv.KindStatusChanged {
		t.Fatalf("Retry() = %+v, %v; want a fresh event", retry, err)
	}
	f.sync()
	if v := f.view(c); v.Status != conv.StatusResolved || len(f.in.Outbox(nil)) != 0 {
		t.Fatalf("after the retry: %s, outbox %v", v.Status, f.in.Outbox(nil))
	}
}

func TestAcknowledged(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	sent, _ := f.in.Send(c, "logged")
	noop, _ := f.in.AddNote(c, "accepted, changed nothing")
	bad, _ := f.in.Send(c, "rejected")
	err := f.in.Acknowledged([]inbox.Outcome{
		{ID: sent.ID, Seq: 99},
		{ID: noop.ID, Seq: 0},
		{ID: bad.ID, Err: &conv.Error{Code: conv.CodeForbidden, Message: "you may not"}},
		{ID: "unknown", Seq: 7}, // its canonical copy came first: ignored
	})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]inbox.Item{}
	for _, it := range f.timeline(c) {
		states[it.ID] = it
	}
	if it := states[sent.ID]; it.State != inbox.StateSent {
		t.Errorf("seq > 0: %+v; want sent", it)
	}
	if it, ok := states[noop.ID]; ok {
		t.Errorf("seq 0: %+v; want it dropped", it)
	}
	if it := states[bad.ID]; it.State != inbox.StateFailed || it.Error.Code != conv.CodeForbidden || it.Error.Message != "you may not" || it.Text != "rejected" {
		t.Errorf("error: %+v; want failed with its code, message and text", it)
	}
	if pend, _ := f.in.Pending(); len(pend) != 0 {
		t.Errorf("Pending() = %v; want none (sent and failed are not pushed)", pend)
	}
	if err := f.in.Discard(bad.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.in.Discard(sent.ID); err == nil {
		t.Errorf("Discard(sent) = nil; only failed events may be discarded")
	}
	for _, it := range f.timeline(c) {
		if it.ID == bad.ID {
			t.Errorf("discarded item still shown")
		}
	}
}

func TestResetKeepsPending(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	m, _ := f.in.Send(c, "typed offline")
	if err := f.in.Reset("ep2"); err != nil {
		t.Fatal(err)
	}
	if ep, seq, _ := f.in.Cursor(); ep != "ep2" || seq != 0 {
		t.Fatalf("Cursor() = %s %d", ep, seq)
	}
	if pend, _ := f.in.Pending(); len(pend) != 1 || pend[0].ID != m.ID {
		t.Fatalf("Pending() = %v; want the typed message", pend)
	}
	if _, _, err := f.in.Conversation(c, nil); !errors.Is(err, inbox.ErrNotFound) {
		// the conversation's creation is gone with the canonical state
		t.Fatalf("Conversation after reset: %v", err)
	}
}

func TestUnread(t *testing.T) {
	f := newFixture(t, false)
	c1, c2 := f.create("one"), f.create("two")
	if n, _ := f.in.TotalUnread(nil); n != 0 {
		t.Fatalf("TotalUnread() = %d; want 0 (my own messages)", n)
	}
	f.foreign(alice, c1, conv.KindMessageSent, conv.Message{Text: "1"})
	f.foreign(alice, c1, conv.KindMessageSent, conv.Message{Text: "2"})
	f.foreign(ana, c1, conv.KindNoteAdded, conv.Note{Text: "a teammate's note does not count (rule 8)"})
	f.foreign(ana, c1, conv.KindMessageSent, conv.Message{Text: "nor does a teammate's reply"})
	f.foreign(ana, c1, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityHigh}) // lifecycle: does not
	f.foreign(alice, c2, conv.KindMessageSent, conv.Message{Text: "3"})
	f.deliver()
	if got := [3]int{f.unread(c1), f.unread(c2), total(f)}; got != [3]int{2, 1, 3} {
		t.Fatalf("unread = %v; want [2 1 3]", got)
	}
	// Marking seen clears it at once (pending), and for good once synced.
	if _, err := f.in.MarkSeen(c1); err != nil {
		t.Fatal(err)
	}
	if got := [2]int{f.unread(c1), total(f)}; got != [2]int{0, 1} {
		t.Fatalf("after MarkSeen: %v; want [0 1]", got)
	}
	// My own messages never count, even pending.
	f.in.Send(c2, "reply")
	if f.unread(c2) != 1 {
		t.Fatalf("unread(c2) = %d; want 1", f.unread(c2))
	}
	f.sync()
	f.foreign(ana, c1, conv.KindSeenMarked, conv.SeenMarked{UpTo: 100}) // not mine
	f.foreign(alice, c1, conv.KindMessageSent, conv.Message{Text: "4"})
	f.deliver()
	if got := [3]int{f.unread(c1), f.unread(c2), total(f)}; got != [3]int{1, 1, 2} {
		t.Fatalf("after more: %v; want [1 1 2]", got)
	}
	f.reopen()
	if got := [3]int{f.unread(c1), f.unread(c2), total(f)}; got != [3]int{1, 1, 2} {
		t.Fatalf("after reopening: %v; want [1 1 2]", got)
	}
}

func total(f *fixture) int {
	n, _ := f.in.TotalUnread(nil)
	return n
}

func TestSeenMarks(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	f.foreign(alice, c, conv.KindSeenMarked, conv.SeenMarked{UpTo: 3})
	f.foreign(ana, c, conv.KindSeenMarked, conv.SeenMarked{UpTo: 2})
	f.deliver()
	f.in.MarkSeen(c)
	got, err := f.in.SeenMarks(c, nil)
	want := []inbox.SeenMark{{Participant: ana.ID, UpTo: 2}, {Participant: alice.ID, UpTo: 3}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("SeenMarks() = %v, %v; want %v (others only)", got, err, want)
	}
}

func TestTimelineThreadsAndStates(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s") // created + derived thread.started + message
	f.in.StartThread(c, "Customer server offline (Ticket #1929383)")
	f.foreign(alice, c, conv.KindMessageSent, conv.Message{Text: "still down"}) // arrives before my thread
	f.sync()
	f.in.EndThread(c, "Customer server offline (Ticket #1929383)")
	f.sync()
	f.in.Send(c, "pending one")
	failed, _ := f.in.AddNote(c, "failed one")
	f.in.Acknowledged([]inbox.Outcome{{ID: failed.ID, Err: &conv.Error{Code: conv.CodeForbidden, Message: "no"}}})
	items := f.timeline(c)
	want := []string{
		"conversation.created/sent", "thread.started", "message.sent/sent", "message.sent",
		"thread.ended", "thread.started/sent", // my thread: the active one ended first (derived)
		"thread.ended/sent",
		"thread.started/pending", "message.sent/pending", // my pending message starts a thread
		"note.added/failed",
	}
	if got := kinds(items); !slices.Equal(got, want) {
		t.Fatalf("Timeline = %v; want %v", got, want)
	}
	if it := items[5]; it.Topic != "Customer server offline (Ticket #1929383)" || it.Thread == "" {
		t.Errorf("thread.started = %+v; want its topic and thread", it)
	}
	if it := items[6]; it.Topic != "Customer server offline (Ticket #1929383)" || it.Thread != items[5].Thread {
		t.Errorf("thread.ended = %+v; want the same thread and topic", it)
	}
	if it := items[3]; it.Text != "still down" || it.Mine || it.Actor.ID != alice.ID || it.Seq == 0 || it.At == 0 {
		t.Errorf("alice's message = %+v", it)
	}
	for i := 1; i < len(items); i++ {
		if a, b := items[i-1].Seq, items[i].Seq; b != 0 && a >= b {
			t.Errorf("items %d, %d out of order: seq %d, %d", i-1, i, a, b)
		}
	}
	// Paging back from the newest.
	var pages [][]string
	cursor := ""
	for {
		p, err := f.in.Timeline(c, cursor, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		pages = append([][]string{kinds(p.Items)}, pages...)
		if p.Older == "" {
			break
		}
		cursor = p.Older
	}
	if got := slices.Concat(pages...); !slices.Equal(got, want) {
		t.Fatalf("paged timeline = %v; want %v", pages, want)
	}
	if _, err := f.in.Timeline(c, "garbage", 3, nil); !errors.Is(err, inbox.ErrBadCursor) {
		t.Errorf("Timeline(bad cursor) = %v", err)
	}
}

// watchWakes blocks on ws in a goroutine and reports whether it wakes
// within a second after change runs.
func watchWakes(t *testing.T, ws memdb.WatchSet, change func()) bool {
	t.Helper()
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		ws.WatchCtx(ctx)
		close(done)
	}()
	select {
	case <-done:
		t.Fatal("woke before anything changed")
	case <-time.After(50 * time.Millisecond):
	}
	change()
	select {
	case <-done:
		return ctx.Err() == nil
	case <-time.After(3 * time.Second):
		return false
	}
}

func TestWatchSetWakes(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	newMessage := func() {
		f.foreign(alice, c, conv.KindMessageSent, conv.Message{Text: "new"})
		f.deliver()
	}
	queries := map[string]func(ws memdb.WatchSet){
		"InboxPage": func(ws memdb.WatchSet) {
			f.in.InboxPage(inbox.Filter{Status: conv.StatusOpen}, inbox.ByActivity, "", 50, ws)
		},
		"Timeline":    func(ws memdb.WatchSet) { f.in.Timeline(c, "", 50, ws) },
		"UnreadCount": func(ws memdb.WatchSet) { f.in.UnreadCount(c, ws) },
		"TotalUnread": func(ws memdb.WatchSet) { f.in.TotalUnread(ws) },
		"SeenMarks":   func(ws memdb.WatchSet) { f.in.SeenMarks(c, ws) },
	}
	for name, q := range queries {
		ws := memdb.NewWatchSet()
		q(ws)
		if !watchWakes(t, ws, newMessage) {
			t.Errorf("%s: a watcher did not wake when a new event arrived", name)
		}
	}
	ws := memdb.NewWatchSet()
	f.in.Timeline(c, "", 50, ws)
	if !watchWakes(t, ws, func() { f.in.Send(c, "a local action wakes it too") }) {
		t.Errorf("Timeline: a watcher did not wake on a local action")
	}
}

func TestLocalMode(t *testing.T) {
	f := newFixture(t, true)
	c, err := f.in.CreateConversation(alice, "offline", "no relay here", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	epoch, seq, _ := f.in.Cursor()
	if epoch[:len(inbox.LocalEpochPrefix)] != inbox.LocalEpochPrefix || seq != 3 {
		t.Fatalf("Cursor() = %q %d; want a local epoch at seq 3", epoch, seq)
	}
	if got, want := kinds(f.timeline(c)), []string{"conversation.created/sent", "thread.started", "message.sent/sent"}; !slices.Equal(got, want) {
		t.Fatalf("Timeline = %v; want everything canonical at once: %v", got, want)
	}
	if len(f.in.Outbox(nil)) != 0 {
		t.Fatalf("outbox = %v; want empty", f.in.Outbox(nil))
	}
	// Others' events (as the demo makes them) are logged the same way.
	log := f.in.LocalLog()
	if _, err := log.Append(conv.Event{ID: "x1", Conv: c, Kind: conv.KindMessageSent, Actor: alice, At: 5, Data: conv.MustData(conv.Message{Text: "hi"})}); err != nil {
		t.Fatal(err)
	}
	if f.unread(c) != 1 {
		t.Fatalf("unread = %d; want 1", f.unread(c))
	}
	if _, err := f.in.Resolve(c); err != nil {
		t.Fatal(err)
	}
	if v := f.view(c); v.Status != conv.StatusResolved || v != f.in.Store().Row(c, nil).Canon() {
		t.Fatalf("Resolve in local mode: %s; want resolved canonically", v.Status)
	}
	// A relay's store refuses a local log.
	g := newFixture(t, false)
	g.create("synced")
	if _, err := inbox.NewLocalLog(g.in).Append(conv.Event{ID: "y", Conv: "z", Kind: conv.KindConversationCreated, Actor: alice,
		Data: conv.MustData(conv.Created{})}); !errors.Is(err, inbox.ErrNotLocal) {
		t.Fatalf("LocalLog on a synced store = %v; want ErrNotLocal", err)
	}
}

func TestSeedDemo(t *testing.T) {
	f := newFixture(t, true)
	if err := inbox.SeedDemo(context.Background(), f.in, 1); err != nil {
		t.Fatal(err)
	}
	all := pages(t, f.in, inbox.Filter{}, inbox.ByActivity, 25)
	if len(all) < 55 || len(all) > 65 {
		t.Fatalf("demo has %d conversations; want about 60", len(all))
	}
	count := map[string]int{}
	for _, r := range all {
		count[string(r.Status)]++
		count[string(r.Priority)]++
		if r.Unread > 0 {
			count["unread"]++
		}
		if r.Assignee != nil {
			count[r.Assignee.ID]++
		}
		if r.Bot {
			count["bot"]++
		}
		if r.NeedsHuman {
			count["needs a human"]++
		}
		if r.Contact.Name == "" || r.Subject == "" || r.Preview == "" {
			t.Errorf("row %+v lacks a contact name, subject or preview", r)
		}
		if !strings.Contains(r.ContactEmail, "@") {
			t.Errorf("row %+v lacks its contact's email", r)
		}
		for _, tag := range r.Tags {
			count["tag:"+tag]++
		}
	}
	for _, k := range []string{"open", "resolved", "snoozed", "bot", "needs a human", "low", "medium", "high", "urgent", "unread", me.ID, "tag:billing", "tag:outage", "tag:vip"} {
		if count[k] == 0 {
			t.Errorf("demo has no %s conversation (%v)", k, count)
		}
	}
	topics, notes := 0, 0
	for _, r := range all {
		for _, it := range f.timeline(r.ID) {
			if it.Kind == conv.KindThreadStarted && it.Topic != "" {
				topics++
			}
			if it.Kind == conv.KindNoteAdded {
				notes++
			}
		}
	}
	if topics == 0 || notes == 0 {
		t.Errorf("demo has %d thread topics and %d notes; want some", topics, notes)
	}
	// The same seed gives the same inbox.
	g := newFixture(t, true)
	if err := inbox.SeedDemo(context.Background(), g.in, 1); err != nil {
		t.Fatal(err)
	}
	if other := pages(t, g.in, inbox.Filter{}, inbox.ByActivity, 25); !reflect.DeepEqual(all, other) {
		t.Errorf("SeedDemo(1) twice gives two inboxes")
	}
}

// pages collects every page of an inbox query.
func pages(t *testing.T, in *inbox.Inbox, f inbox.Filter, s inbox.Sort, limit int) []inbox.Row {
	t.Helper()
	var all []inbox.Row
	cursor := ""
	for i := 0; ; i++ {
		p, err := in.InboxPage(f, s, cursor, limit, nil)
		if err != nil {
			t.Fatalf("InboxPage(%+v, %d, %q) = %v", f, s, cursor, err)
		}
		if len(p.Rows) > limit {
			t.Fatalf("InboxPage returned %d rows; limit %d", len(p.Rows), limit)
		}
		all = append(all, p.Rows...)
		if p.Next == "" {
			return all
		}
		if i > 1000 {
			t.Fatal("paging does not end")
		}
		cursor = p.Next
	}
}

// The contact's profile the relay logs (contact.updated) reaches the inbox
// row and the conversation: its name and email, never only an id. It is
// state: no timeline item, no unread.
func TestContactProfileReachesRows(t *testing.T) {
	f := newFixture(t, false)
	dana := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	c := "0190a000-0000-7000-8000-000000000042"
	f.foreign(dana, c, conv.KindConversationCreated, conv.Created{Subject: "Invoice"})
	f.foreign(conv.System, c, conv.KindContactUpdated, conv.ContactUpdated{Contact: dana, Name: "Dana Whitfield", Email: "dana@example.com"})
	f.foreign(dana, c, conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"})
	f.deliver()

	p, err := f.in.InboxPage(inbox.Filter{}, inbox.ByActivity, "", 10, nil)
	if err != nil || len(p.Rows) != 1 {
		t.Fatalf("InboxPage = %+v, %v; want one row", p, err)
	}
	r := p.Rows[0]
	if r.Contact.ID != dana.ID || r.Contact.Name != "Dana Whitfield" || r.ContactEmail != "dana@example.com" || r.Unread != 1 {
		t.Fatalf("row %+v; want Dana Whitfield <dana@example.com> with one unread", r)
	}
	if b, _ := json.Marshal(r); !strings.Contains(string(b), `"contact":{"id":"contact:42","role":"contact","name":"Dana Whitfield"},"contactEmail":"dana@example.com"`) {
		t.Errorf("row JSON %s; want the contact's name and contactEmail", b)
	}
	if v := f.view(c); v.Contact.Name != "Dana Whitfield" || v.ContactEmail != "dana@example.com" {
		t.Errorf("conversation contact %+v <%s>; want Dana Whitfield <dana@example.com>", v.Contact, v.ContactEmail)
	}
	if got := kinds(f.timeline(c)); slices.Contains(got, string(conv.KindContactUpdated)) {
		t.Errorf("timeline %v holds contact.updated; want it as state only", got)
	}

	// A visitor who identifies becomes the contact; the profile that follows
	// names the row.
	visitor := conv.Participant{ID: "visitor:0b1c", Role: conv.RoleVisitor}
	sam := conv.Participant{ID: "contact:7", Role: conv.RoleContact}
	v := "0190a000-0000-7000-8000-000000000007"
	f.foreign(visitor, v, conv.KindConversationCreated, conv.Created{})
	f.foreign(visitor, v, conv.KindMessageSent, conv.Message{Text: "Anyone there?"})
	f.foreign(conv.System, v, conv.KindContactIdentified, conv.ContactIdentified{Visitor: visitor, Contact: sam})
	f.foreign(conv.System, v, conv.KindContactUpdated, conv.ContactUpdated{Contact: sam, Name: "Sam Reyes", Email: "sam@example.org"})
	f.deliver()
	_, row, err := f.in.Conversation(v, nil)
	if err != nil || row.Contact.ID != sam.ID || row.Contact.Name != "Sam Reyes" || row.ContactEmail != "sam@example.org" {
		t.Fatalf("identified row %+v, %v; want Sam Reyes <sam@example.org>", row, err)
	}
}

// A contact's history comes from the store's index by contact: its
// conversations (and no one else's), the earliest creation as first seen,
// its profile; after a reopen, the same.
func TestContactHistory(t *testing.T) {
	f := newFixture(t, false)
	dana := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	ravi := conv.Participant{ID: "contact:43", Role: conv.RoleContact}
	c1 := "0190a000-0000-7000-8000-000000000101"
	c2 := "0190a000-0000-7000-8000-000000000102"
	c3 := "0190a000-0000-7000-8000-000000000103"
	f.foreign(dana, c1, conv.KindConversationCreated, conv.Created{Subject: "Invoice"})
	f.foreign(conv.System, c1, conv.KindContactUpdated, conv.ContactUpdated{Contact: dana, Name: "Dana Whitfield", Email: "dana@example.com"})
	f.foreign(ravi, c3, conv.KindConversationCreated, conv.Created{Subject: "Other"})
	f.foreign(dana, c2, conv.KindConversationCreated, conv.Created{Subject: "Refund"})
	f.foreign(dana, c2, conv.KindMessageSent, conv.Message{Text: "And a refund?"})
	f.deliver()

	check := func(when string) {
		t.Helper()
		got, err := f.in.Contact(dana.ID, nil)
		if err != nil {
			t.Fatalf("%s: Contact = %v", when, err)
		}
		if got.Name != "Dana Whitfield" || got.Email != "dana@example.com" || len(got.Conversations) != 2 {
			t.Fatalf("%s: Contact = %+v; want Dana's two conversations", when, got)
		}
		if got.Conversations[0].ID != c2 || got.Conversations[1].ID != c1 {
			t.Errorf("%s: conversations %s, %s; want newest activity first", when, got.Conversations[0].ID, got.Conversations[1].ID)
		}
		if want := f.view(c1).CreatedAt; got.FirstSeen != want || want == 0 {
			t.Errorf("%s: first seen %d; want c1's creation %d", when, got.FirstSeen, want)
		}
		if none, err := f.in.Contact("contact:4", nil); err != nil || len(none.Conversations) != 0 {
			t.Errorf("%s: a prefix of the id = %+v, %v; want nothing", when, none, err)
		}
	}
	check("live")
	f.reopen()
	check("reopened")

	// Built once, the index follows what arrives: a new conversation of
	// Dana's.
	c4 := "0190a000-0000-7000-8000-000000000104"
	f.foreign(dana, c4, conv.KindConversationCreated, conv.Created{Subject: "Again"})
	f.deliver()
	got, err := f.in.Contact(dana.ID, nil)
	if err != nil || len(got.Conversations) != 3 || got.Conversations[0].ID != c4 {
		t.Fatalf("after a new conversation: Contact = %+v, %v; want c4 first of three", got, err)
	}
	if r, _ := f.in.Contact(ravi.ID, nil); len(r.Conversations) != 1 || r.Conversations[0].ID != c3 {
		t.Errorf("Ravi's history %+v; want c3 only", r)
	}
}
