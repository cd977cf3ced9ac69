package app

import (
	"slices"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/inbox"
)

func ids(p inbox.Page) []string {
	var out []string
	for _, r := range p.Rows {
		out = append(out, r.ID)
	}
	return out
}

func (a *App) viewIDs(t *testing.T, view string) []string {
	t.Helper()
	p, err := a.Inbox(Query{View: inbox.View(view), Limit: 500})
	if err != nil {
		t.Fatalf("Inbox(%s) = %v", view, err)
	}
	return ids(p)
}

func newConv(t *testing.T, a *App, n NewConversation) string {
	t.Helper()
	id, err := a.CreateConversation(n)
	if err != nil {
		t.Fatalf("CreateConversation(%+v) = %v", n, err)
	}
	return id
}

// A snoozed conversation is in Snoozed with its wake time, out of the open
// views, and back in them when the time comes: the watcher's timer wakes
// it and tells the UI (inbox:changed), with no event logged.
func TestSnoozeWakesOnTime(t *testing.T) {
	a, rec := started(t, false)
	id := newConv(t, a, NewConversation{ContactID: "maria@example.com", Text: "hello"})
	other := newConv(t, a, NewConversation{ContactID: "ivo@example.com", Text: "hi"})
	until := time.Now().Add(700 * time.Millisecond).UnixMilli()
	if err := a.Snooze(id, until); err != nil {
		t.Fatalf("Snooze = %v", err)
	}
	if err := a.Snooze(id, time.Now().Add(-time.Minute).UnixMilli()); err == nil || wireError(err).Code != "invalid" {
		t.Fatalf("Snooze(in the past) = %v; want invalid", err)
	}
	if got := a.viewIDs(t, "open"); !slices.Equal(got, []string{other}) {
		t.Fatalf("open = %v; want only the other one", got)
	}
	p, err := a.Inbox(Query{View: "snoozed"})
	if err != nil || len(p.Rows) != 1 || p.Rows[0].ID != id || p.Rows[0].SnoozedUntil != until || *p.Total != 1 {
		t.Fatalf("snoozed = %+v, %v; want it, until %d", p, err, until)
	}
	c, _ := a.Counts()
	if c[inbox.ViewSnoozed].Total != 1 || c[inbox.ViewOpen].Total != 1 {
		t.Fatalf("Counts = %+v", c)
	}
	st, _ := a.Status()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case name := <-rec.ch:
			if name != EventInboxChanged || time.Now().UnixMilli() < until {
				continue
			}
			if c, _ := a.Counts(); c[inbox.ViewOpen].Total == 2 && c[inbox.ViewSnoozed].Total == 0 {
				if got := a.viewIDs(t, "open"); !slices.Contains(got, id) {
					t.Fatalf("woken, but open = %v", got)
				}
				if after, _ := a.Status(); after.Pending != st.Pending {
					t.Fatalf("waking made events: pending %d, was %d", after.Pending, st.Pending)
				}
				return
			}
		case <-deadline:
			t.Fatalf("the snoozed conversation did not wake (counts %+v)", c)
		}
	}
}

// The New conversation form's options go in with the conversation, and
// bulk actions do one thing to several conversations, each on its own.
func TestCreateOptionsAndBulk(t *testing.T) {
	a, _ := started(t, true)
	me, _ := a.Info()
	id := newConv(t, a, NewConversation{ContactID: "42", ContactName: "Dana", Subject: "Invoice", Text: "where is it?",
		Priority: "urgent", Tags: []string{"Billing"}, Attributes: map[string]any{"plan": "pro"}, Assignee: me.Me.ID})
	v, err := a.Conversation(id)
	if err != nil {
		t.Fatal(err)
	}
	if c := v.Conversation; c.Priority != "urgent" || !c.HasTag("billing") || c.Attributes["plan"] != "pro" || c.Assignee == nil || c.Assignee.ID != me.Me.ID {
		t.Fatalf("created %+v", c)
	}
	if got := a.viewIDs(t, "mine"); !slices.Contains(got, id) {
		t.Fatal("not in Mine")
	}
	if _, err := a.CreateConversation(NewConversation{ContactID: "43", Text: "x", Attributes: map[string]any{"plan": "gold"}}); wireError(err).Code != "invalid_attribute" {
		t.Fatalf("bad attribute = %v; want invalid_attribute", err)
	}

	open := a.viewIDs(t, "open")
	if len(open) < 3 {
		t.Fatalf("demo open = %v", open)
	}
	three := open[:3]
	res, err := a.Bulk(append(slices.Clone(three), "nope"), BulkAction{Kind: "resolve"})
	if err != nil || res.Done != 3 || len(res.Failed) != 1 || res.Failed[0].ID != "nope" || res.Failed[0].Error.Code != "no_such_conversation" {
		t.Fatalf("Bulk(resolve) = %+v, %v; want 3 done, nope refused", res, err)
	}
	resolved := a.viewIDs(t, "resolved")
	for _, c := range three {
		if !slices.Contains(resolved, c) || slices.Contains(a.viewIDs(t, "open"), c) {
			t.Fatalf("%s not resolved", c)
		}
	}
	if res, err := a.Bulk(three, BulkAction{Kind: "tag", Tag: "Follow-up"}); err != nil || res.Done != 3 {
		t.Fatalf("Bulk(tag) = %+v, %v", res, err)
	}
	if res, err := a.Bulk(three, BulkAction{Kind: "assign", Assignee: "agent:ana"}); err != nil || res.Done != 3 {
		t.Fatalf("Bulk(assign) = %+v, %v", res, err)
	}
	if res, err := a.Bulk(three, BulkAction{Kind: "snooze", Until: time.Now().Add(time.Hour).UnixMilli()}); err != nil || res.Done != 3 {
		t.Fatalf("Bulk(snooze) = %+v, %v", res, err)
	}
	for _, c := range three {
		v, _ := a.Conversation(c)
		if v.Row.Status != "snoozed" || !v.Conversation.HasTag("follow-up") || v.Conversation.Assignee == nil || v.Conversation.Assignee.ID != "agent:ana" {
			t.Fatalf("%s after the bulk actions: %+v", c, v.Row)
		}
	}
	for _, bad := range []BulkAction{{Kind: "explode"}, {Kind: "tag"}, {Kind: "snooze", Until: 1}} {
		if _, err := a.Bulk(three, bad); wireError(err).Code != "invalid" {
			t.Fatalf("Bulk(%+v) = %v; want invalid", bad, err)
		}
	}
	if _, err := a.Bulk(nil, BulkAction{Kind: "resolve"}); wireError(err).Code != "invalid" {
		t.Fatalf("Bulk(none) = %v; want invalid", err)
	}
}

// The views' counts are the pages' totals; the demo's bot conversations
// are in Bot only, and one handed off needs a human.
func TestCountsAndBotView(t *testing.T) {
	a, _ := started(t, true)
	c, err := a.Counts()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range inbox.Views {
		p, err := a.Inbox(Query{View: v, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		unread := 0
		for _, r := range p.Rows {
			if r.Unread > 0 {
				unread++
			}
		}
		if c[v].Total != len(p.Rows) || c[v].Unread != unread || *p.Total != c[v].Total || *p.Unread != c[v].Unread {
			t.Fatalf("view %s: Counts %+v, page %d rows (%d unread), says %d/%d", v, c[v], len(p.Rows), unread, *p.Total, *p.Unread)
		}
	}
	bot := a.viewIDs(t, "bot")
	if len(bot) == 0 {
		t.Fatal("the demo has no conversation in assistant mode")
	}
	open := a.viewIDs(t, "open")
	for _, id := range bot {
		if slices.Contains(open, id) {
			t.Fatalf("%s is in Bot and in All open", id)
		}
	}
	var needs bool
	all, _ := a.Inbox(Query{View: "open", Limit: 500})
	for _, r := range all.Rows {
		needs = needs || r.NeedsHuman
	}
	if !needs {
		t.Fatal("no demo conversation handed off, needing a human")
	}
	if err := a.TakeOver(bot[0]); err != nil {
		t.Fatalf("TakeOver = %v", err)
	}
	if got := a.viewIDs(t, "mine"); !slices.Contains(got, bot[0]) {
		t.Fatal("taken over, not mine")
	}
}
