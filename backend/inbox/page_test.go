package inbox_test

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
)

// TestInboxPage checks every filter and sort against a list computed here
// from the conversations' states, page by page.
func TestInboxPage(t *testing.T) {
	f := newFixture(t, true)
	prios := []conv.Priority{conv.PriorityLow, conv.PriorityMedium, conv.PriorityHigh, conv.PriorityUrgent}
	tags := []string{"billing", "vip", "bug"}
	var ids []string
	for i := range 30 {
		c, err := f.in.CreateConversation(alice, fmt.Sprintf("conversation %d", i), "hello", inbox.CreateOptions{
			Priority: prios[i%4], Tags: []string{tags[i%3]}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c)
		switch i % 5 {
		case 0:
			f.in.Assign(c, &me)
		case 1:
			f.in.Assign(c, &ana)
		}
		if i%4 == 1 {
			f.in.Resolve(c)
		}
	}
	// Some get newer activity (a reply), some a note (which is not
	// activity the list sorts by: rule 8's spirit), some unread messages.
	for i, c := range ids {
		if i%3 == 0 {
			f.in.Send(c, "bump")
		}
		if i%4 == 2 {
			f.in.AddNote(c, "a note does not bump")
		}
		if i%7 == 2 {
			f.in.LocalLog().Append(conv.Event{ID: fmt.Sprintf("u%d", i), Conv: c, Kind: conv.KindMessageSent, Actor: alice, At: f.clock.now().UnixMilli(),
				Data: conv.MustData(conv.Message{Text: "unread"})})
		}
	}
	type want struct {
		f    inbox.Filter
		sort inbox.Sort
	}
	cases := []want{
		{inbox.Filter{}, inbox.ByActivity},
		{inbox.Filter{Status: conv.StatusOpen}, inbox.ByActivity},
		{inbox.Filter{Status: conv.StatusResolved}, inbox.ByActivity},
		{inbox.Filter{}, inbox.ByPriority},
		{inbox.Filter{Status: conv.StatusOpen}, inbox.ByPriority},
		{inbox.Filter{Priority: conv.PriorityUrgent}, inbox.ByActivity},
		{inbox.Filter{Priority: conv.PriorityHigh}, inbox.ByPriority},
		{inbox.Filter{Tag: "VIP"}, inbox.ByActivity},
		{inbox.Filter{Tag: "billing", Status: conv.StatusOpen}, inbox.ByPriority},
		{inbox.Filter{Assignee: me.ID}, inbox.ByActivity},
		{inbox.Filter{Assignee: inbox.Unassigned}, inbox.ByActivity},
		{inbox.Filter{UnreadOnly: true}, inbox.ByActivity},
		{inbox.Filter{UnreadOnly: true, Status: conv.StatusOpen}, inbox.ByPriority},
		{inbox.Filter{Tag: "nothing"}, inbox.ByActivity},
	}
	for _, tc := range cases {
		var expect []string
		type rowInfo struct {
			id       string
			v        *conv.Conversation
			rank     int
			activity int64 // the latest message's at (either side), or the creation's
		}
		var all []rowInfo
		for _, c := range ids {
			v := f.view(c)
			r := rowInfo{c, v, v.Priority.Rank(), v.CreatedAt}
			for _, it := range f.timeline(c) {
				if it.Kind == conv.KindMessageSent {
					r.activity = max(r.activity, it.At)
				}
			}
			all = append(all, r)
		}
		slices.SortFunc(all, func(a, b rowInfo) int {
			if tc.sort == inbox.ByPriority {
				if c := cmp.Compare(b.rank, a.rank); c != 0 {
					return c
				}
			}
			if c := cmp.Compare(b.activity, a.activity); c != 0 {
				return c
			}
			return cmp.Compare(a.id, b.id)
		})
		for _, r := range all {
			v, fl := r.v, tc.f
			switch {
			case fl.Status != "" && v.Status != fl.Status,
				fl.Priority != "" && v.Priority != fl.Priority,
				fl.Tag != "" && !v.HasTag("vip") && fl.Tag == "VIP",
				fl.Tag != "" && fl.Tag != "VIP" && !v.HasTag(fl.Tag),
				fl.Assignee == inbox.Unassigned && v.Assignee != nil,
				fl.Assignee != "" && fl.Assignee != inbox.Unassigned && (v.Assignee == nil || v.Assignee.ID != fl.Assignee),
				fl.UnreadOnly && f.unread(r.id) == 0:
				continue
			}
			expect = append(expect, r.id)
		}
		for _, limit := range []int{1, 4, 50} {
			var got []string
			for _, row := range pages(t, f.in, tc.f, tc.sort, limit) {
				got = append(got, row.ID)
			}
			if !slices.Equal(got, expect) {
				t.Errorf("InboxPage(%+v, sort %d, limit %d) = %d rows %v; want %d rows %v", tc.f, tc.sort, limit, len(got), got, len(expect), expect)
			}
		}
	}
	// Rows carry what the list shows.
	p, _ := f.in.InboxPage(inbox.Filter{UnreadOnly: true}, inbox.ByActivity, "", 1, nil)
	if r := p.Rows[0]; r.Unread != 1 || r.Preview != "unread" || r.Contact.ID != alice.ID || r.Subject == "" || r.LastActivityAt == 0 || !r.InThread {
		t.Errorf("row = %+v", r)
	}
	if _, err := f.in.InboxPage(inbox.Filter{}, inbox.ByActivity, "not-a-cursor", 5, nil); !errors.Is(err, inbox.ErrBadCursor) {
		t.Errorf("InboxPage(bad cursor) = %v; want ErrBadCursor", err)
	}
	first, _ := f.in.InboxPage(inbox.Filter{}, inbox.ByActivity, "", 5, nil)
	if _, err := f.in.InboxPage(inbox.Filter{}, inbox.ByPriority, first.Next, 5, nil); !errors.Is(err, inbox.ErrBadCursor) {
		t.Errorf("InboxPage(cursor of another sort) = %v; want ErrBadCursor", err)
	}
}

// A pending action moves a row at once: the list shows the optimistic view.
func TestInboxPageShowsPending(t *testing.T) {
	f := newFixture(t, false)
	c := f.create("s")
	if _, err := f.in.Resolve(c); err != nil {
		t.Fatal(err)
	}
	open, _ := f.in.InboxPage(inbox.Filter{Status: conv.StatusOpen}, inbox.ByActivity, "", 10, nil)
	resolved, _ := f.in.InboxPage(inbox.Filter{Status: conv.StatusResolved}, inbox.ByActivity, "", 10, nil)
	if len(open.Rows) != 0 || len(resolved.Rows) != 1 || resolved.Rows[0].Pending != 1 {
		t.Fatalf("open %v, resolved %v; want it resolved (pending)", open.Rows, resolved.Rows)
	}
}
