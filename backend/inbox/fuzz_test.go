package inbox_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/store"
)

// memInbox is an inbox over an in-memory store with one conversation.
func memInbox(t *testing.T) (*inbox.Inbox, string) {
	t.Helper()
	st, err := store.Open("", store.Options{Me: me, InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ids := &ids{}
	in, err := inbox.New(st, inbox.Options{Me: me, Device: "fuzz", NewID: ids.next, Schema: testSchema})
	if err != nil {
		t.Fatal(err)
	}
	c, err := in.CreateConversation(alice, "fuzz", "hello", inbox.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return in, c
}

var knownCodes = []conv.Code{conv.CodeStale, conv.CodeNoSuchThread, conv.CodeNoSuchConversation, conv.CodeForbidden,
	conv.CodeUnknownAttribute, conv.CodeInvalidAttribute, conv.CodeConflict, conv.CodeInvalid, conv.CodeTooLarge}

// checkInvariants: unread never negative, the total is the sum, at most one
// active thread per conversation view.
func checkInvariants(t *testing.T, in *inbox.Inbox) {
	t.Helper()
	p, err := in.InboxPage(inbox.Filter{}, inbox.ByActivity, "", 1000, nil)
	if err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, r := range p.Rows {
		if r.Unread < 0 {
			t.Fatalf("unread(%s) = %d", r.ID, r.Unread)
		}
		sum += r.Unread
	}
	if total, _ := in.TotalUnread(nil); total != sum {
		t.Fatalf("TotalUnread() = %d; rows sum to %d", total, sum)
	}
}

// FuzzActions: fuzzed text, topics, tags, priorities and attributes through
// every action. An action either succeeds or returns a *conv.Error with a
// known code; nothing panics; invariants hold.
func FuzzActions(f *testing.F) {
	f.Add(uint8(0), "hello", "vip", "high")
	f.Add(uint8(3), "", "  ", "bogus")
	f.Add(uint8(4), "Topic", "a-very-long-tag-that-is-longer-than-32-characters", "urgent")
	f.Add(uint8(9), "\xff\xfe", "x", "")
	f.Fuzz(func(t *testing.T, op uint8, s1, s2, s3 string) {
		in, c := memInbox(t)
		acts := []func() (conv.Event, error){
			func() (conv.Event, error) { return in.Send(c, s1) },
			func() (conv.Event, error) { return in.AddNote(c, s1) },
			func() (conv.Event, error) { return in.StartThread(c, s1) },
			func() (conv.Event, error) { return in.EndThread(c, s1) },
			func() (conv.Event, error) { return in.ChangeTags(c, []string{s2}, []string{s1}) },
			func() (conv.Event, error) { return in.SetPriority(c, conv.Priority(s3)) },
			func() (conv.Event, error) { return in.SetAttributes(c, map[string]any{s2: s1}) },
			func() (conv.Event, error) { return in.Assign(c, &conv.Participant{ID: s1, Role: conv.Role(s3)}) },
			func() (conv.Event, error) { return in.Join(c, conv.Role(s3)) },
			func() (conv.Event, error) {
				id, err := in.CreateConversation(conv.Participant{ID: s1, Role: conv.Role(s3)}, s2, s1, inbox.CreateOptions{Tags: []string{s2}})
				return conv.Event{Conv: id}, err
			},
			func() (conv.Event, error) { return in.Send(s2, s1) },
		}
		for i := range 3 {
			_, err := acts[(int(op)+i)%len(acts)]()
			if err != nil {
				var ce *conv.Error
				if !errors.As(err, &ce) || !slices.Contains(knownCodes, ce.Code) {
					t.Fatalf("action %d = %v; want nil or a *conv.Error with a known code", (int(op)+i)%len(acts), err)
				}
			}
		}
		checkInvariants(t, in)
	})
}

// FuzzApplyCanonical: any batch of canonical events (a relay could be buggy
// or hostile) is stored or skipped without a panic or an error, and the
// invariants hold.
func FuzzApplyCanonical(f *testing.F) {
	f.Add([]byte(`[{"id":"x1","seq":10,"conv":"c9","kind":"conversation.created","actor":{"id":"contact:z","role":"contact"},"data":{"contact":{"id":"contact:z","role":"contact"}}},{"id":"x2","seq":11,"conv":"c9","kind":"message.sent","actor":{"id":"contact:z","role":"contact"},"data":{"text":"hi"}}]`), uint64(11))
	f.Add([]byte(`[{"id":"x3","seq":4,"conv":"nope","kind":"seen.marked","actor":{"id":"agent:me","role":"agent"},"data":{"upTo":99}}]`), uint64(2))
	f.Add([]byte(`[{"id":"x4","seq":7,"conv":"","kind":"bogus","data":"not an object"},{"seq":7}]`), uint64(0))
	f.Fuzz(func(t *testing.T, raw []byte, upTo uint64) {
		var events []conv.Event
		if json.Unmarshal(raw, &events) != nil || len(events) > 64 {
			return
		}
		in, c := memInbox(t)
		if err := in.ApplyCanonical("ep", events, upTo); err != nil {
			t.Fatalf("ApplyCanonical = %v", err)
		}
		checkInvariants(t, in)
		if _, err := in.Send(c, "still works"); err != nil && !errors.Is(err, conv.ErrNoSuchConversation) {
			var ce *conv.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Send after fuzzed events = %v", err)
			}
		}
	})
}
