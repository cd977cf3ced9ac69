package conv

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// One test per lifecycle rule of DESIGN §4. Breaking a rule fails its test.

func TestRule01AtMostOneActiveThread(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "Billing"})
	out := w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t2", Topic: "Outage"})
	if got, want := kinds(out), []Kind{KindThreadEnded, KindThreadStarted}; !slices.Equal(got, want) {
		t.Fatalf("Apply(thread.started over an active one) logged %v; want %v", got, want)
	}
	if w.c.Thread == nil || w.c.Thread.ID != "t2" {
		t.Fatalf("active thread = %+v; want t2", w.c.Thread)
	}
	active := 0
	for _, e := range w.log {
		switch e.Kind {
		case KindThreadStarted:
			active++
		case KindThreadEnded:
			active--
		}
		if active > 1 {
			t.Fatalf("log has %d active threads at seq %d", active, e.Seq)
		}
	}
}

func TestRule02MessageStartsThreadNoteDoesNot(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	if out := w.do(ana, KindNoteAdded, Note{Text: "looking into it"}); len(out) != 1 {
		t.Fatalf("Apply(note.added) logged %v; want the note only", kinds(out))
	}
	if w.c.Thread != nil {
		t.Fatalf("a note started thread %+v", w.c.Thread)
	}
	out := w.do(alice, KindMessageSent, Message{Text: "My server is down"})
	if got, want := kinds(out), []Kind{KindThreadStarted, KindMessageSent}; !slices.Equal(got, want) {
		t.Fatalf("Apply(first message) logged %v; want %v", got, want)
	}
	started, msg := out[0], out[1]
	if started.Actor != System || started.Cause != msg.ID || started.ID != DerivedID(msg.ID, 0) {
		t.Fatalf("derived thread.started = %+v; want system actor, cause %s, id from cause", started, msg.ID)
	}
	d, _ := Decode(started)
	ts := d.(*ThreadStarted)
	if ts.Topic != "" || ts.Thread == "" {
		t.Fatalf("derived thread.started data = %+v; want an empty topic and an id", ts)
	}
	m, _ := Decode(msg)
	if m.(*Message).Thread != ts.Thread {
		t.Fatalf("message thread = %q; want %q", m.(*Message).Thread, ts.Thread)
	}
	if started.Seq+1 != msg.Seq {
		t.Fatalf("seqs %d, %d; want consecutive, derived first", started.Seq, msg.Seq)
	}
	// A second message stays in the same thread.
	out = w.do(ana, KindMessageSent, Message{Text: "We're on it", Thread: "forged"})
	m2, _ := Decode(out[0])
	if len(out) != 1 || m2.(*Message).Thread != ts.Thread {
		t.Fatalf("second message = %v in %q; want alone in %q", kinds(out), m2.(*Message).Thread, ts.Thread)
	}
}

func TestRule03ExplicitThreadNeedsTopic(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.reject(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "   "}, CodeInvalid)
	w.reject(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: strings.Repeat("x", MaxTopicChars+1)}, CodeTooLarge)
	w.reject(alice, KindThreadStarted, ThreadStarted{Thread: "", Topic: "ok"}, CodeInvalid)
	w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: strings.Repeat("é", MaxTopicChars)})
	out := w.do(ana, KindThreadStarted, ThreadStarted{Thread: "t2", Topic: "  Customer server offline (Ticket #1929383) "})
	if got, want := kinds(out), []Kind{KindThreadEnded, KindThreadStarted}; !slices.Equal(got, want) {
		t.Fatalf("logged %v; want %v", got, want)
	}
	if out[0].Cause != out[1].ID || out[0].Actor != System {
		t.Fatalf("derived thread.ended = %+v; want caused by %s", out[0], out[1].ID)
	}
	if w.c.Thread.ID != "t2" || w.c.Thread.Topic != "Customer server offline (Ticket #1929383)" {
		t.Fatalf("thread = %+v; want t2 with the trimmed topic", w.c.Thread)
	}
}

func TestRule04EndThread(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.noop(alice, KindThreadEnded, ThreadEnded{})
	w.noop(alice, KindThreadEnded, ThreadEnded{Topic: "nothing active"})
	w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "Billing"})
	w.reject(alice, KindThreadEnded, ThreadEnded{Topic: "Outage"}, CodeNoSuchThread)
	w.reject(alice, KindThreadEnded, ThreadEnded{Thread: "t9"}, CodeNoSuchThread)
	out := w.do(alice, KindThreadEnded, ThreadEnded{Topic: "Billing"})
	d, _ := Decode(out[0])
	if te := d.(*ThreadEnded); te.Thread != "t1" || te.Topic != "Billing" {
		t.Fatalf("thread.ended data = %+v; want t1/Billing filled in", te)
	}
	if w.c.Thread != nil {
		t.Fatalf("thread still active: %+v", w.c.Thread)
	}
	w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t2", Topic: "Outage"})
	w.do(ana, KindThreadEnded, ThreadEnded{})
	if w.c.Thread != nil {
		t.Fatal("thread.ended without topic did not end the active thread")
	}
}

func TestRule05ResolveEndsThreadAndRejectsStale(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindMessageSent, Message{Text: "hello?"})
	seen := w.head()
	w.do(alice, KindMessageSent, Message{Text: "anyone?"})

	stale := w.event(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	stale.Base = seen
	if _, err := w.try(stale); CodeOf(err) != CodeStale {
		t.Fatalf("Apply(resolve with base %d below the contact's message %d) = %v; want stale", seen, w.c.LastContactSeq, err)
	}
	if w.c.Status != StatusOpen {
		t.Fatal("a stale resolve resolved")
	}
	out := w.do(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	if got, want := kinds(out), []Kind{KindThreadEnded, KindStatusChanged}; !slices.Equal(got, want) {
		t.Fatalf("resolve logged %v; want %v", got, want)
	}
	if w.c.Status != StatusResolved || w.c.Thread != nil {
		t.Fatalf("after resolve: status %s thread %+v", w.c.Status, w.c.Thread)
	}
	w.noop(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	w.reject(ana, KindStatusChanged, StatusChanged{Status: "snoozed"}, CodeInvalid)
	// An agent's own message does not make the resolve stale.
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusOpen})
	w.do(ana, KindMessageSent, Message{Text: "anything else?"})
	old := w.event(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	old.Base = w.c.LastContactSeq
	if _, err := w.try(old); err != nil {
		t.Fatalf("Apply(resolve with base at the contact's latest message) = %v; want success", err)
	}
}

func TestRule06ContactMessageReopens(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindMessageSent, Message{Text: "hi"})
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	out := w.do(alice, KindMessageSent, Message{Text: "it broke again"})
	if got, want := kinds(out), []Kind{KindStatusChanged, KindThreadStarted, KindMessageSent}; !slices.Equal(got, want) {
		t.Fatalf("contact message in a resolved conversation logged %v; want %v", got, want)
	}
	d, _ := Decode(out[0])
	if d.(*StatusChanged).Status != StatusOpen || out[0].ID != DerivedID(out[2].ID, 0) || out[1].ID != DerivedID(out[2].ID, 1) {
		t.Fatalf("derived events %+v; want open, ids from cause by position", out[:2])
	}
	if w.c.Status != StatusOpen {
		t.Fatalf("status = %s; want open", w.c.Status)
	}
	// An agent's message does not reopen.
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	out = w.do(ana, KindMessageSent, Message{Text: "follow-up"})
	if w.c.Status != StatusResolved || slices.Contains(kinds(out), KindStatusChanged) {
		t.Fatalf("agent message reopened: %v", kinds(out))
	}
	// A snoozed conversation wakes when the contact writes, and when its
	// time passes (a view of the clock: no event).
	w.do(alice, KindMessageSent, Message{Text: "one more thing"})
	w.reject(ana, KindStatusChanged, StatusChanged{Status: StatusSnoozed}, CodeInvalid)
	w.reject(ana, KindStatusChanged, StatusChanged{Status: StatusOpen, Until: 5000}, CodeInvalid)
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusSnoozed, Until: 90_000})
	if w.c.Status != StatusSnoozed || w.c.SnoozedUntil != 90_000 || w.c.StatusAt(89_999) != StatusSnoozed || w.c.StatusAt(90_000) != StatusOpen {
		t.Fatalf("snoozed: %s until %d; want snoozed until 90000, open from then", w.c.Status, w.c.SnoozedUntil)
	}
	w.noop(ana, KindStatusChanged, StatusChanged{Status: StatusSnoozed, Until: 90_000})
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusSnoozed, Until: 120_000}) // snoozed again, later
	if w.c.Thread == nil {
		t.Fatal("a snooze ended the thread; only resolving does")
	}
	out = w.do(alice, KindMessageSent, Message{Text: "are you there?"})
	if out[0].Kind != KindStatusChanged || w.c.Status != StatusOpen || w.c.SnoozedUntil != 0 {
		t.Fatalf("contact message in a snoozed conversation logged %v, status %s; want a reopen first", kinds(out), w.c.Status)
	}
	// Visitors too.
	v := newWorld(t)
	v.create(visitor, Created{})
	v.do(visitor, KindMessageSent, Message{Text: "hi"})
	v.do(bot, KindStatusChanged, StatusChanged{Status: StatusResolved})
	if out := v.do(visitor, KindMessageSent, Message{Text: "again"}); out[0].Kind != KindStatusChanged {
		t.Fatalf("visitor message logged %v; want a reopen first", kinds(out))
	}
}

func TestRule07SeenIsMonotonicAndClamped(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindMessageSent, Message{Text: "hi"})
	w.do(ana, KindSeenMarked, SeenMarked{UpTo: 2})
	w.noop(ana, KindSeenMarked, SeenMarked{UpTo: 1})
	w.noop(ana, KindSeenMarked, SeenMarked{UpTo: 2})
	if got := w.c.SeenBy(ana.ID); got != 2 {
		t.Fatalf("seen = %d; want 2", got)
	}
	w.do(alice, KindMessageSent, Message{Text: "more"})
	out := w.do(ana, KindSeenMarked, SeenMarked{UpTo: 999})
	d, _ := Decode(out[0])
	// created 1, thread 2, message 3, seen 4, message 5: the latest item is 5.
	if got := d.(*SeenMarked).UpTo; got != 5 || w.c.SeenBy(ana.ID) != 5 {
		t.Fatalf("seen mark 999 logged as %d (state %d); want clamped to 5", got, w.c.SeenBy(ana.ID))
	}
	w.noop(ana, KindSeenMarked, SeenMarked{UpTo: 999})
	w.do(alice, KindSeenMarked, SeenMarked{UpTo: 3})
	if w.c.SeenBy(alice.ID) != 3 || w.c.SeenBy(ana.ID) != 5 {
		t.Fatalf("seen marks %v; want per participant", w.c.Seen)
	}
}

func TestRule08UnreadIsTheOtherSidesMessages(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindMessageSent, Message{Text: "hi"})        // 2,3
	w.do(ana, KindNoteAdded, Note{Text: "vip customer"})     // 4
	w.do(ana, KindMessageSent, Message{Text: "hello Alice"}) // 5
	w.do(ana, KindPriorityChanged, PriorityChanged{Priority: PriorityHigh})
	unread := func(p Participant) int {
		n := 0
		for _, e := range w.log {
			if e.Seq > w.c.SeenBy(p.ID) && CountsAsUnread(p, w.c, e) {
				n++
			}
		}
		return n
	}
	if got := unread(alice); got != 1 {
		t.Fatalf("unread(alice) = %d; want 1 (ana's message; not the note, not lifecycle, not her own)", got)
	}
	if got := unread(ben); got != 1 {
		t.Fatalf("unread(ben) = %d; want 1 (alice's message; a teammate's note and reply are not unread)", got)
	}
	w.do(bot, KindMessageSent, Message{Text: "I am the bot"})
	if got := unread(ben); got != 1 {
		t.Fatalf("unread(ben) after the bot's answer = %d; want 1 (a bot's answer is not unread for the team)", got)
	}
	if got := unread(alice); got != 2 {
		t.Fatalf("unread(alice) after the bot's answer = %d; want 2 (the team's messages)", got)
	}
	if got := unread(ana); got != 1 {
		t.Fatalf("unread(ana) = %d; want 1 (alice's message)", got)
	}
	w.do(ana, KindSeenMarked, SeenMarked{UpTo: w.head()})
	if got := unread(ana); got != 0 {
		t.Fatalf("unread(ana) after seen = %d; want 0", got)
	}
}

func TestRule09LaterWinsAndTagsAreNormalized(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	if w.c.Priority != PriorityMedium {
		t.Fatalf("default priority = %s; want medium", w.c.Priority)
	}
	w.do(ana, KindPriorityChanged, PriorityChanged{Priority: PriorityHigh})
	w.do(bot, KindPriorityChanged, PriorityChanged{Priority: PriorityUrgent})
	if w.c.Priority != PriorityUrgent {
		t.Fatalf("priority = %s; want the later urgent", w.c.Priority)
	}
	w.reject(ana, KindPriorityChanged, PriorityChanged{Priority: "p0"}, CodeInvalid)
	w.reject(alice, KindPriorityChanged, PriorityChanged{Priority: PriorityLow}, CodeForbidden)
	w.do(ana, KindTagsChanged, TagsChanged{Add: []string{"  Billing ", "VIP", "billing"}})
	if !slices.Equal(w.c.Tags, []string{"billing", "vip"}) {
		t.Fatalf("tags = %v; want [billing vip]", w.c.Tags)
	}
	w.do(bot, KindTagsChanged, TagsChanged{Remove: []string{"VIP"}})
	if !slices.Equal(w.c.Tags, []string{"billing"}) {
		t.Fatalf("tags = %v; want [billing]", w.c.Tags)
	}
	w.reject(ana, KindTagsChanged, TagsChanged{Add: []string{strings.Repeat("a", MaxTagChars+1)}}, CodeInvalid)
	w.reject(ana, KindTagsChanged, TagsChanged{Add: []string{"  "}}, CodeInvalid)
	many := make([]string, MaxTags)
	for i := range many {
		many[i] = strings.Repeat("t", i+1)
	}
	w.reject(ana, KindTagsChanged, TagsChanged{Add: many}, CodeInvalid) // 21 with billing
	w.do(ana, KindTagsChanged, TagsChanged{Add: many[:MaxTags-1]})
	if len(w.c.Tags) != MaxTags {
		t.Fatalf("len(tags) = %d; want %d", len(w.c.Tags), MaxTags)
	}
	w.noop(ana, KindTagsChanged, TagsChanged{Add: []string{"BILLING"}})
	w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"plan": "free"}})
	w.do(bot, KindAttributesSet, AttributesSet{Values: map[string]any{"plan": "pro"}})
	if w.c.Attributes["plan"] != "pro" {
		t.Fatalf("plan = %v; want the later pro", w.c.Attributes["plan"])
	}
}

func TestRule10AttributesMustBeDefinedAndTyped(t *testing.T) {
	w := newWorld(t)
	w.reject(alice, KindConversationCreated, Created{Attributes: map[string]any{"shoe": 42}}, CodeUnknownAttribute)
	w.create(alice, Created{Attributes: map[string]any{"plan": "pro"}})
	cases := []struct {
		values map[string]any
		code   Code
	}{
		{map[string]any{"color": "red"}, CodeUnknownAttribute},
		{map[string]any{"plan": "enterprise"}, CodeInvalidAttribute},
		{map[string]any{"seats": "ten"}, CodeInvalidAttribute},
		{map[string]any{"vip": "yes"}, CodeInvalidAttribute},
		{map[string]any{"company": 7.0}, CodeInvalidAttribute},
		{map[string]any{"company": strings.Repeat("x", MaxAttributeChars+1)}, CodeInvalidAttribute},
		{map[string]any{}, CodeInvalid},
	}
	for _, c := range cases {
		w.reject(ana, KindAttributesSet, AttributesSet{Values: c.values}, c.code)
	}
	w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"seats": 12.0, "vip": true, "company": "Acme"}})
	w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"vip": nil}})
	if _, ok := w.c.Attributes["vip"]; ok || w.c.Attributes["seats"] != 12.0 || w.c.Attributes["plan"] != "pro" {
		t.Fatalf("attributes = %v; want plan, seats, company and vip cleared", w.c.Attributes)
	}
	// A device that does not know the schema leaves the verdict to the relay.
	if _, _, err := Apply(w.c, w.event(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"color": "red"}}), Env{}); err != nil {
		t.Fatalf("Apply(attributes.set, nil schema) = %v; want accepted", err)
	}
	// An empty schema defines nothing.
	if _, _, err := Apply(w.c, w.event(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"plan": "pro"}}), Env{Schema: Schema{}}); CodeOf(err) != CodeUnknownAttribute {
		t.Fatalf("Apply(attributes.set, empty schema) = %v; want unknown_attribute", err)
	}
}

func TestRule11ConversationIDConflict(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.reject(bob, KindConversationCreated, Created{}, CodeConflict)
	w.reject(ana, KindConversationCreated, Created{Contact: &alice}, CodeConflict)
	none := newWorld(t)
	none.reject(ana, KindMessageSent, Message{Text: "hi"}, CodeNoSuchConversation)
}

func TestRule12WhoMayDoWhat(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	if w.c.Contact.ID != alice.ID {
		t.Fatalf("contact = %+v; want alice filled in", w.c.Contact)
	}
	// Contacts: only their own conversations, only their verbs.
	w.reject(bob, KindMessageSent, Message{Text: "let me in"}, CodeForbidden)
	w.reject(bob, KindSeenMarked, SeenMarked{UpTo: 1}, CodeForbidden)
	for _, k := range []Kind{KindNoteAdded, KindStatusChanged, KindTagsChanged, KindAssigneeChanged, KindParticipantJoined, KindAttributesSet, KindAssistantHandedOff, KindContactIdentified} {
		w.reject(alice, k, NewData(k), CodeForbidden)
	}
	w.do(alice, KindMessageSent, Message{Text: "mine"})
	w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "Mine"})
	// A contact creates for itself only; the team creates for a contact.
	other := newWorld(t)
	other.reject(alice, KindConversationCreated, Created{Contact: &bob}, CodeForbidden)
	other.reject(ana, KindConversationCreated, Created{}, CodeInvalid)
	other.reject(ana, KindConversationCreated, Created{Contact: &ben}, CodeInvalid)
	other.create(ana, Created{Contact: &bob, Subject: "Renewal"})
	// End users may not set priority or tags, even on their own conversation.
	mine := newWorld(t)
	mine.reject(alice, KindConversationCreated, Created{Priority: PriorityUrgent}, CodeForbidden)
	mine.reject(visitor, KindConversationCreated, Created{Priority: PriorityMedium}, CodeForbidden)
	mine.reject(visitor, KindConversationCreated, Created{Tags: []string{"vip"}}, CodeForbidden)
	mine.create(visitor, Created{Attributes: map[string]any{"plan": "pro"}})
	if mine.c.Priority != PriorityMedium || len(mine.c.Tags) != 0 {
		t.Fatalf("a visitor's conversation has priority %q tags %v; want medium and none", mine.c.Priority, mine.c.Tags)
	}
	// Assistants: no assignment or joining.
	w.reject(bot, KindAssigneeChanged, AssigneeChanged{Assignee: &ana}, CodeForbidden)
	w.reject(bot, KindParticipantJoined, ParticipantChanged{Participant: bot}, CodeForbidden)
	w.do(bot, KindNoteAdded, Note{Text: "bot note"})
	// Agents do everything; a supervisor may not send public messages.
	w.do(ana, KindAssigneeChanged, AssigneeChanged{Assignee: &ben})
	w.do(ana, KindParticipantJoined, ParticipantChanged{Participant: Participant{ID: ben.ID, Role: RoleSupervisor}})
	// A supervisor may join, leave, mark seen and add notes, nothing else.
	w.do(alice, KindMessageSent, Message{Text: "still there?"})
	for _, try := range []struct {
		k Kind
		d any
	}{
		{KindMessageSent, Message{Text: "psst"}},
		{KindThreadStarted, ThreadStarted{Thread: "t2", Topic: "Supervised"}},
		{KindThreadEnded, ThreadEnded{}},
		{KindStatusChanged, StatusChanged{Status: StatusResolved}},
		{KindPriorityChanged, PriorityChanged{Priority: PriorityUrgent}},
		{KindTagsChanged, TagsChanged{Add: []string{"coached"}}},
		{KindAssigneeChanged, AssigneeChanged{Assignee: &ana}},
		{KindAttributesSet, AttributesSet{Values: map[string]any{"vip": true}}},
		{KindAssistantHandedOff, HandedOff{To: &ana}},
	} {
		w.reject(ben, try.k, try.d, CodeForbidden)
		w.reject(Participant{ID: ben.ID, Role: RoleSupervisor}, try.k, try.d, CodeForbidden)
	}
	w.do(ben, KindNoteAdded, Note{Text: "coach: ask for the ticket id"})
	w.do(ben, KindSeenMarked, SeenMarked{UpTo: w.head()})
	w.do(ben, KindParticipantLeft, ParticipantChanged{Participant: Participant{ID: ben.ID, Role: RoleSupervisor}})
	w.do(ben, KindMessageSent, Message{Text: "taking over"})
	w.do(ben, KindThreadStarted, ThreadStarted{Thread: "t3", Topic: "Taken over"})
	// Only the relay identifies contacts.
	w.reject(ana, KindContactIdentified, ContactIdentified{Visitor: visitor, Contact: alice}, CodeForbidden)
}

func TestRule13WhatEndUsersNeverSee(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.do(alice, KindMessageSent, Message{Text: "hi"})
	benEarlier := w.do(ben, KindMessageSent, Message{Text: "Ben here, before supervising"})[0]
	note := w.do(ana, KindNoteAdded, Note{Text: "internal"})[0]
	tags := w.do(ana, KindTagsChanged, TagsChanged{Add: []string{"vip"}})[0]
	prio := w.do(ana, KindPriorityChanged, PriorityChanged{Priority: PriorityHigh})[0]
	attrs := w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"vip": true}})[0]
	sup := w.do(ben, KindParticipantJoined, ParticipantChanged{Participant: Participant{ID: ben.ID, Role: RoleSupervisor}})[0]
	supSeen := w.do(ben, KindSeenMarked, SeenMarked{UpTo: 99})[0]
	supNote := w.do(ben, KindNoteAdded, Note{Text: "coaching"})[0]
	if supSeen.Actor.Role != RoleSupervisor || supNote.Actor.Role != RoleSupervisor {
		t.Fatalf("a supervisor's events logged with roles %s, %s; want supervisor", supSeen.Actor.Role, supNote.Actor.Role)
	}
	join := w.do(ana, KindParticipantJoined, ParticipantChanged{Participant: ana})[0]
	reply := w.do(ana, KindMessageSent, Message{Text: "hello"})[0]
	for _, e := range []Event{note, tags, prio, attrs, sup, supSeen} {
		if Visible(alice, w.c, e) {
			t.Errorf("Visible(alice, %s) = true; want false", e.Kind)
		}
		if !Visible(ana, w.c, e) || !Visible(bot, w.c, e) {
			t.Errorf("Visible(team, %s) = false; want true", e.Kind)
		}
	}
	for _, e := range []Event{w.log[0], join, reply, benEarlier} { // ben supervising later hides nothing he said before
		if !Visible(alice, w.c, e) {
			t.Errorf("Visible(alice, %s) = false; want true", e.Kind)
		}
	}
	for _, e := range w.log {
		if Visible(bob, w.c, e) || Visible(visitor, w.c, e) {
			t.Fatalf("another end user sees %s", e.Kind)
		}
	}
	// A conversation.created the team made for a contact reaches it without
	// its priority, tags and attributes; the team gets it whole.
	for_ := newWorld(t)
	for_.create(ana, Created{Contact: &alice, Subject: "Renewal", Priority: PriorityUrgent, Tags: []string{"vip"}, Attributes: map[string]any{"plan": "pro"}})
	made := for_.log[0]
	got, changed := Redact(alice, made)
	var d map[string]any
	if err := json.Unmarshal(got.Data, &d); err != nil {
		t.Fatal(err)
	}
	if !changed || d["priority"] != nil || d["tags"] != nil || d["attributes"] != nil || d["subject"] != "Renewal" || d["contact"] == nil {
		t.Errorf("Redact(alice, conversation.created) = %s, %v; want subject and contact only", got.Data, changed)
	}
	if got, changed := Redact(ana, made); changed || string(got.Data) != string(made.Data) {
		t.Errorf("Redact(ana, conversation.created) = %s, %v; want it whole", got.Data, changed)
	}
	if _, changed := Redact(alice, reply); changed {
		t.Error("Redact changed a reply")
	}
	if TypingVisible(alice, w.c, ben) || !TypingVisible(alice, w.c, ana) || !TypingVisible(ben, w.c, alice) {
		t.Fatal("typing visibility: a contact sees a supervisor type, or misses an agent")
	}
}

func TestContactIdentifiedMovesVisitorHistory(t *testing.T) {
	w := newWorld(t)
	w.create(visitor, Created{})
	w.do(visitor, KindMessageSent, Message{Text: "anonymous question"})
	w.do(visitor, KindSeenMarked, SeenMarked{UpTo: 3})
	w.reject(alice, KindMessageSent, Message{Text: "before identification"}, CodeForbidden)
	w.do(System, KindContactIdentified, ContactIdentified{Visitor: visitor, Contact: alice})
	if w.c.Contact.ID != alice.ID || w.c.SeenBy(alice.ID) != 3 {
		t.Fatalf("after identification contact %+v seen %d; want alice with the visitor's mark", w.c.Contact, w.c.SeenBy(alice.ID))
	}
	for _, e := range w.log[:3] {
		if !Visible(alice, w.c, e) || Visible(visitor, w.c, e) {
			t.Fatalf("history event %s not moved to the contact", e.Kind)
		}
	}
	w.do(alice, KindMessageSent, Message{Text: "now identified"})
}

func TestAssistantIDNamesAnAssistantOfTheWorkspace(t *testing.T) {
	for _, id := range []string{"nobody", "ai:nobody", "ai:", "agent:faq", "FAQ"} {
		newWorld(t).reject(ana, KindConversationCreated, Created{Contact: &alice, AssistantID: id}, CodeInvalid)
		newWorld(t).reject(visitor, KindConversationCreated, Created{AssistantID: id}, CodeInvalid)
	}
	for _, id := range []string{"faq", "ai:faq"} {
		w := newWorld(t)
		w.create(ana, Created{Contact: &alice, AssistantID: id})
		if !w.c.AssistantMode || w.c.AssistantID != "faq" {
			t.Errorf("created with assistantId %q: mode %v id %q; want assistant mode with faq", id, w.c.AssistantMode, w.c.AssistantID)
		}
	}
	// A device that does not know the workspace's assistants leaves the
	// check to the relay.
	_, out, err := Apply(nil, Event{ID: "e1", Conv: "c1", Kind: KindConversationCreated, Actor: visitor,
		Data: MustData(Created{AssistantID: "ai:faq"})}, Env{})
	if err != nil || len(out) != 1 {
		t.Fatalf("Apply on a device = %v; want accepted", err)
	}
	// The default assistant answers end users' new conversations, not the
	// team's, and an explicit choice wins.
	w := newWorld(t)
	w.defaultBot = "faq"
	w.create(visitor, Created{})
	if !w.c.AssistantMode || w.c.AssistantID != "faq" {
		t.Errorf("a visitor's conversation with a default assistant: mode %v id %q; want faq", w.c.AssistantMode, w.c.AssistantID)
	}
	team := newWorld(t)
	team.defaultBot = "faq"
	team.create(ana, Created{Contact: &alice})
	if team.c.AssistantMode {
		t.Error("the team's conversation went to the default assistant")
	}
}

func TestAssistantModeAndHandOff(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{AssistantID: "faq"})
	if !w.c.AssistantMode {
		t.Fatal("created with assistantId but not in assistant mode")
	}
	w.do(bot, KindMessageSent, Message{Text: "I can help"})
	w.do(bot, KindAssistantHandedOff, HandedOff{To: &ana})
	if w.c.AssistantMode || w.c.Assignee == nil || w.c.Assignee.ID != ana.ID {
		t.Fatalf("after hand-off mode=%v assignee=%+v; want human ana", w.c.AssistantMode, w.c.Assignee)
	}
	w.noop(bot, KindAssistantHandedOff, HandedOff{})
	w.reject(alice, KindAssistantHandedOff, HandedOff{}, CodeForbidden)
}

func TestTextLimits(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.reject(alice, KindMessageSent, Message{Text: strings.Repeat("a", MaxTextBytes+1)}, CodeTooLarge)
	w.reject(ana, KindNoteAdded, Note{Text: strings.Repeat("a", MaxTextBytes+1)}, CodeTooLarge)
	w.reject(alice, KindMessageSent, Message{Text: "  \n"}, CodeInvalid)
	w.do(alice, KindMessageSent, Message{Text: strings.Repeat("a", MaxTextBytes)})
	w.do(alice, KindMessageSent, Message{Attachments: []Attachment{file("log.txt", 12)}})
	if w.c.LastMessage != "📎 log.txt" {
		t.Fatalf("preview = %q; want the attachment", w.c.LastMessage)
	}
}

// file is an attachment of a made-up file called name.
func file(name string, size int64) Attachment {
	id := fmt.Sprintf("%064x", sha256.Sum256([]byte(name)))
	return Attachment{ID: id, Name: name, Size: size, Type: "text/plain; charset=utf-8", SHA256: id}
}

// TestAttachmentLimits: a message or note carries at most MaxAttachments
// files, each named by its SHA-256 (id == sha256, 64 lowercase hex), with a
// name of at most MaxNameChars and at most MaxFileBytes (DESIGN §10).
func TestAttachmentLimits(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	ten := make([]Attachment, MaxAttachments)
	for i := range ten {
		ten[i] = file(fmt.Sprintf("part%d.txt", i), 1)
	}
	w.do(alice, KindMessageSent, Message{Text: "ten", Attachments: ten})
	w.do(ana, KindNoteAdded, Note{Attachments: ten[:1]}) // a note's text may be empty with a file
	mod := func(f func(*Attachment)) Attachment { a := file("a.txt", 1); f(&a); return a }
	tests := []struct {
		name string
		a    []Attachment
		code Code
	}{
		{"eleven files", append(slices.Clone(ten), file("k.txt", 1)), CodeTooLarge},
		{"over 25 MiB", []Attachment{file("big.bin", MaxFileBytes+1)}, CodeTooLarge},
		{"no id", []Attachment{mod(func(a *Attachment) { a.ID = "" })}, CodeInvalid},
		{"id is not sha256", []Attachment{mod(func(a *Attachment) { a.SHA256 = strings.Repeat("0", 64) })}, CodeInvalid},
		{"upper-case hex", []Attachment{mod(func(a *Attachment) { a.ID = strings.ToUpper(a.ID); a.SHA256 = a.ID })}, CodeInvalid},
		{"short id", []Attachment{mod(func(a *Attachment) { a.ID = a.ID[:63]; a.SHA256 = a.ID })}, CodeInvalid},
		{"a path for an id", []Attachment{mod(func(a *Attachment) { a.ID = "../" + a.ID[3:]; a.SHA256 = a.ID })}, CodeInvalid},
		{"no name", []Attachment{mod(func(a *Attachment) { a.Name = "" })}, CodeInvalid},
		{"long name", []Attachment{mod(func(a *Attachment) { a.Name = strings.Repeat("é", MaxNameChars+1) })}, CodeInvalid},
		{"newline in name", []Attachment{mod(func(a *Attachment) { a.Name = "a\r\nb" })}, CodeInvalid},
		{"negative size", []Attachment{mod(func(a *Attachment) { a.Size = -1 })}, CodeInvalid},
		{"long type", []Attachment{mod(func(a *Attachment) { a.Type = strings.Repeat("x", MaxFileTypeBytes+1) })}, CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w.reject(alice, KindMessageSent, Message{Text: "x", Attachments: tt.a}, tt.code)
			w.reject(ana, KindNoteAdded, Note{Text: "x", Attachments: tt.a}, tt.code)
		})
	}
	w.do(alice, KindMessageSent, Message{Attachments: []Attachment{file(strings.Repeat("é", MaxNameChars), MaxFileBytes)}})
}

func TestApplyDoesNotModifyItsInput(t *testing.T) {
	w := newWorld(t)
	w.create(ana, Created{Contact: &alice, Tags: []string{"a"}, Attributes: map[string]any{"plan": "pro"}})
	w.do(alice, KindMessageSent, Message{Text: "hi"})
	before := w.c.Clone()
	snapshot := string(MustData(before))
	held := w.c
	w.do(ana, KindTagsChanged, TagsChanged{Add: []string{"b"}})
	w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"plan": "free"}})
	w.do(ana, KindSeenMarked, SeenMarked{UpTo: 9})
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	if got := string(MustData(held)); got != snapshot {
		t.Fatalf("Apply modified a state it was given:\n got %s\nwant %s", got, snapshot)
	}
	// Again from a state whose maps and slices are all set (the reducer
	// shares what an event does not change).
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusOpen})
	w.do(ana, KindParticipantJoined, ParticipantChanged{Participant: ben})
	held, snapshot = w.c, string(MustData(w.c))
	w.do(ana, KindParticipantJoined, ParticipantChanged{Participant: Participant{ID: "agent:cy", Role: RoleAgent}})
	w.do(ana, KindParticipantLeft, ParticipantChanged{Participant: ben})
	w.do(alice, KindMessageSent, Message{Text: "more"})
	w.do(ana, KindSeenMarked, SeenMarked{UpTo: w.head()})
	w.do(alice, KindSeenMarked, SeenMarked{UpTo: w.head()})
	w.do(ana, KindAttributesSet, AttributesSet{Values: map[string]any{"plan": nil}})
	w.do(ana, KindTagsChanged, TagsChanged{Remove: []string{"a"}})
	if got := string(MustData(held)); got != snapshot {
		t.Fatalf("Apply modified a state it was given:\n got %s\nwant %s", got, snapshot)
	}
}

func TestPendingEventsKeepSeqZero(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	e := w.event(ana, KindMessageSent, Message{Text: "offline reply"})
	next, out, err := Apply(w.c, e, Env{})
	if err != nil || len(out) != 2 {
		t.Fatalf("Apply(pending) = %v, %v", kinds(out), err)
	}
	for _, o := range out {
		if o.Seq != 0 {
			t.Fatalf("pending %s got seq %d; want 0", o.Kind, o.Seq)
		}
	}
	if next.Thread == nil || next.LastSeq != w.c.LastSeq {
		t.Fatalf("optimistic state %+v; want a thread and an unchanged LastSeq", next)
	}
	// The relay, later, derives the same ids.
	_, canon, _ := Apply(w.c, e, Env{Schema: testSchema, NextSeq: 9})
	if canon[0].ID != out[0].ID || canon[0].Seq != 9 || canon[1].Seq != 10 {
		t.Fatalf("canonical %+v; want the optimistic ids with seqs 9, 10", canon)
	}
}

func TestReplayRebuildsTheSameState(t *testing.T) {
	w := newWorld(t)
	w.create(ana, Created{Contact: &alice, Subject: "Server", Tags: []string{"outage"}})
	w.do(alice, KindMessageSent, Message{Text: "down"})
	w.do(ana, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "Customer server offline (Ticket #1929383)"})
	w.do(ana, KindSeenMarked, SeenMarked{UpTo: 5})
	w.do(ana, KindStatusChanged, StatusChanged{Status: StatusResolved})
	w.do(alice, KindMessageSent, Message{Text: "again"})
	var c *Conversation
	for _, e := range w.log {
		var err error
		if c, err = Replay(c, e); err != nil {
			t.Fatalf("Replay(%s) = %v", e.Kind, err)
		}
	}
	if !equalState(c, w.c) {
		t.Fatalf("Replay state\n%s\nwant\n%s", MustData(c), MustData(w.c))
	}
}

func TestContactUpdatedCarriesTheProfile(t *testing.T) {
	w := newWorld(t)
	w.create(alice, Created{})
	w.reject(alice, KindContactUpdated, ContactUpdated{Contact: alice, Name: "Alice"}, CodeForbidden)
	w.reject(ana, KindContactUpdated, ContactUpdated{Contact: alice, Name: "Alice"}, CodeForbidden)
	w.reject(System, KindContactUpdated, ContactUpdated{Contact: bob, Name: "Bob"}, CodeInvalid)
	w.reject(System, KindContactUpdated, ContactUpdated{Contact: alice, Email: strings.Repeat("a", MaxEmailBytes) + "@x"}, CodeTooLarge)
	up := w.do(System, KindContactUpdated, ContactUpdated{Contact: alice, Name: "Alice Moreau", Email: "alice@example.com"})[0]
	if w.c.Contact.Name != "Alice Moreau" || w.c.ContactEmail != "alice@example.com" || w.c.Contact.ID != alice.ID {
		t.Fatalf("after contact.updated: %+v %q; want Alice's name and email", w.c.Contact, w.c.ContactEmail)
	}
	w.noop(System, KindContactUpdated, ContactUpdated{Contact: alice, Name: "Alice Moreau"})
	// Only what changed is logged; an empty field keeps what was.
	e := w.do(System, KindContactUpdated, ContactUpdated{Contact: alice, Name: "Alice Moreau", Email: "a.moreau@example.com"})[0]
	var d ContactUpdated
	if err := json.Unmarshal(e.Data, &d); err != nil || d.Name != "" || d.Email != "a.moreau@example.com" {
		t.Errorf("logged %s; want the new email alone", e.Data)
	}
	if w.c.Contact.Name != "Alice Moreau" {
		t.Errorf("name %q after an email change; want it kept", w.c.Contact.Name)
	}
	if Visible(alice, w.c, up) || !Visible(ana, w.c, up) || IsTimelineItem(KindContactUpdated) {
		t.Error("contact.updated: want the team's only, and not a timeline item")
	}
}
