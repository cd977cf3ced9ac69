package store

import (
	"fmt"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

// The library of saved replies (conv.LibraryID) is a row like a
// conversation's: canonical state from the log, pending saves on top, kept
// across a reopen and a rebuild; but no view lists or counts it.
func TestLibraryIsARowNoViewLists(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	r := newRelay()
	var log []conv.Event
	accept := func(actor conv.Participant, c string, k conv.Kind, data any) {
		t.Helper()
		evs, o := r.accept(conv.Event{ID: fmt.Sprintf("e%d", len(r.log)+1), Conv: c, Kind: k, Actor: actor, At: int64(len(r.log) + 1), Base: r.head, Data: conv.MustData(data)})
		if o.Err != nil || len(evs) == 0 {
			t.Fatalf("relay.accept(%s) = %+v; want it logged", k, o)
		}
		log = append(log, evs...)
	}
	accept(alice, "c1", conv.KindConversationCreated, conv.Created{Subject: "Billing"})
	accept(ana, conv.LibraryID, conv.KindReplySaved, conv.ReplySaved{Reply: conv.Reply{ID: "r1", Title: "Refunds", Text: "Hi {{contact.name}}", Shortcut: "refund"}})
	accept(ana, conv.LibraryID, conv.KindReplySaved, conv.ReplySaved{Reply: conv.Reply{ID: "r2", Title: "Bye", Text: "Bye!"}})
	accept(ana, conv.LibraryID, conv.KindReplyDeleted, conv.ReplyDeleted{ID: "r2"})
	accept(alice, "c1", conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"})
	if err := s.ApplyCanonical("ep1", log, r.head); err != nil {
		t.Fatal(err)
	}
	// A save made offline, on top.
	if _, err := s.AddLocal([]conv.Event{{ID: "p1", Conv: conv.LibraryID, Kind: conv.KindReplySaved, Actor: me, Device: "d", At: 99,
		Data: conv.MustData(conv.ReplySaved{Reply: conv.Reply{ID: "r3", Title: "Hello", Text: "Hello {{agent.name}}"}})}}); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		row := s.Row(conv.LibraryID, nil)
		if row == nil || row.Canon() == nil {
			t.Fatalf("%s: no library row", when)
		}
		if got := row.Canon().Replies; len(got) != 1 || got[0].Shortcut != "refund" || got[0].Text != "Hi {{contact.name}}" {
			t.Errorf("%s: canonical replies %+v; want r1 alone", when, got)
		}
		if got := row.View().Replies; len(got) != 2 || got[1].ID != "r3" {
			t.Errorf("%s: optimistic replies %+v; want r1 and the pending r3", when, got)
		}
		rows, _, err := s.Page(Query{Limit: 50}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].ID != "c1" {
			t.Errorf("%s: Page(all) = %d rows; want c1 alone, never the library", when, len(rows))
		}
		for _, q := range []Query{{}, {Status: "other"}, {Lane: HumanLane}, {Assignee: Unassigned}, {Tag: "x"}} {
			total, _, err := s.Count(q, nil)
			if err != nil {
				t.Fatal(err)
			}
			want := 1
			if q.Status != "" || q.Tag != "" {
				want = 0
			}
			if total != want {
				t.Errorf("%s: Count(%+v) = %d; want %d (the library is no conversation)", when, q, total, want)
			}
		}
		if s.TotalUnread(nil) != 1 {
			t.Errorf("%s: total unread %d; want the message alone", when, s.TotalUnread(nil))
		}
		items, _, err := s.Timeline(conv.LibraryID, 0, 50, nil)
		if err != nil || len(items) != 0 {
			t.Errorf("%s: library timeline = %d items, %v; want none", when, len(items), err)
		}
	}
	check("applied")
	before := takeSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	check("reopened")
	if err := s.Rebuild(); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	if d := diff(before, takeSnapshot(t, s)); d != "" {
		t.Errorf("rebuilt store differs: %s", d)
	}
}
