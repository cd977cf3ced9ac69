package relay

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// hidden reports events a contact or visitor must never receive (rule 13).
func hidden(t *testing.T, e conv.Event) bool {
	switch e.Kind {
	case conv.KindNoteAdded, conv.KindTagsChanged, conv.KindPriorityChanged, conv.KindAttributesSet:
		return true
	case conv.KindParticipantJoined, conv.KindParticipantLeft:
		var d conv.ParticipantChanged
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		return d.Participant.Role == conv.RoleSupervisor
	}
	return e.Actor.ID == "agent:ben" // Ben supervises below
}

func TestContactIsolation(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-phone")
	max := connect(t, r.url, contactAuth("max"), protocol.Cursor{}, "max-phone")

	zc, mc := newConvID(), newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, zc, created("")), zoe.ev(conv.KindMessageSent, zc, msg("zoe here")))
	max.mustLog(max.ev(conv.KindConversationCreated, mc, created("")), max.ev(conv.KindMessageSent, mc, msg("max here")))
	ana.mustLog(
		ana.ev(conv.KindMessageSent, zc, msg("hi zoe")),
		ana.ev(conv.KindNoteAdded, zc, conv.Note{Text: "zoe is on the free plan"}),
		ana.ev(conv.KindTagsChanged, zc, conv.TagsChanged{Add: []string{"billing"}}),
		ana.ev(conv.KindPriorityChanged, zc, conv.PriorityChanged{Priority: conv.PriorityHigh}),
		ana.ev(conv.KindAttributesSet, zc, conv.AttributesSet{Values: map[string]any{"plan": "free", "seats": 3}}),
		ana.ev(conv.KindParticipantJoined, zc, conv.ParticipantChanged{Participant: conv.Participant{ID: "agent:ben", Role: conv.RoleSupervisor}}),
		ana.ev(conv.KindAssigneeChanged, zc, conv.AssigneeChanged{Assignee: &conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}}),
	)
	// Ben supervises: his note, seen mark and messages stay with the team.
	ben.mustLog(ben.ev(conv.KindNoteAdded, zc, conv.Note{Text: "watching"}))
	res, _ := ben.push(ben.ev(conv.KindMessageSent, zc, msg("I am a supervisor")))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden {
		t.Fatalf("supervisor message: %+v; want forbidden", res[0])
	}
	ben.mustLog(ben.ev(conv.KindSeenMarked, zc, conv.SeenMarked{UpTo: 100}))
	ana.mustLog(ana.ev(conv.KindMessageSent, mc, msg("hi max")))
	zoe.mustLog(zoe.ev(conv.KindSeenMarked, zc, conv.SeenMarked{UpTo: 100}))

	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	head := all[len(all)-1].Seq
	var wantZoe []uint64
	for _, e := range all {
		if e.Conv == zc && !hidden(t, e) {
			wantZoe = append(wantZoe, e.Seq)
		}
	}

	seqs := func(evs []conv.Event) []uint64 {
		var s []uint64
		for _, e := range evs {
			s = append(s, e.Seq)
		}
		return s
	}
	check := func(name string, evs []conv.Event) {
		t.Helper()
		for _, e := range evs {
			if e.Conv != zc {
				t.Errorf("%s: Zoe got an event of another conversation: %s", name, e.Kind)
			}
			if hidden(t, e) {
				t.Errorf("%s: Zoe got %s by %s", name, e.Kind, e.Actor.ID)
			}
		}
		if got := seqs(evs); !slices.Equal(got, wantZoe) {
			t.Errorf("%s: Zoe got seqs %v; want %v", name, got, wantZoe)
		}
	}
	// Live: what Zoe's phone received.
	time.Sleep(50 * time.Millisecond)
	check("live", zoe.received())

	// Backlog: a new device of Zoe's.
	laptop := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-laptop")
	check("backlog", laptop.backlog)
	w := laptop.welcome
	if w.Backlog != uint64(len(wantZoe)) || w.Head != wantZoe[len(wantZoe)-1] {
		t.Errorf("welcome backlog %d head %d; want %d and %d", w.Backlog, w.Head, len(wantZoe), wantZoe[len(wantZoe)-1])
	}
	if laptop.caughtUp.Seq != head {
		t.Errorf("caughtUp seq %d; want the workspace head %d", laptop.caughtUp.Seq, head)
	}
	// Resuming from the middle gets the rest only.
	mid := wantZoe[2]
	resumed := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{Epoch: w.Epoch, Seq: mid}, "zoe-laptop")
	if got, want := seqs(resumed.backlog), wantZoe[3:]; !slices.Equal(got, want) {
		t.Errorf("resume from %d: seqs %v; want %v", mid, got, want)
	}
	// Caught up: head is still her last visible event, backlog 0.
	done := connect(t, r.url, contactAuth("zoe"), laptop.caughtUp, "zoe-laptop")
	if done.welcome.Backlog != 0 || done.welcome.Head != wantZoe[len(wantZoe)-1] || len(done.backlog) != 0 {
		t.Errorf("caught-up hello: %+v, %d events", done.welcome, len(done.backlog))
	}
	// Max's devices never see Zoe's conversation.
	maxLaptop := connect(t, r.url, contactAuth("max"), protocol.Cursor{}, "max-laptop")
	for _, e := range maxLaptop.backlog {
		if e.Conv != mc {
			t.Errorf("Max got %s of another conversation", e.Kind)
		}
	}
	for _, e := range max.received() {
		if e.Conv != mc {
			t.Errorf("Max got live %s of another conversation", e.Kind)
		}
	}
	// The team sees everything.
	if ts := connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{}); len(ts.backlog) != len(all) {
		t.Errorf("assistant backlog %d; want %d", len(ts.backlog), len(all))
	}
}

func TestVisitorIsolationAndIdentification(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	// Zoe's phone is already signed in as the contact.
	phone := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-phone")
	pc := newConvID()
	phone.mustLog(phone.ev(conv.KindConversationCreated, pc, created("")), phone.ev(conv.KindMessageSent, pc, msg("from my phone")))

	// Her laptop browses anonymously first.
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "zoe-laptop")
	token, vid := v.welcome.VisitorToken, v.welcome.Identity.ID
	vc := newConvID()
	_, echoed := v.push(v.ev(conv.KindConversationCreated, vc, created("")), v.ev(conv.KindMessageSent, vc, msg("anonymous question")))
	ana.mustLog(ana.ev(conv.KindMessageSent, vc, msg("answer")), ana.ev(conv.KindNoteAdded, vc, conv.Note{Text: "probably Zoe"}))
	more := v.events(1) // the thread is active: just the answer; never the note
	v.quiet(50 * time.Millisecond)
	visitorSaw := append(echoed, more...)
	var cd conv.Created
	json.Unmarshal(echoed[0].Data, &cd)
	if cd.Contact == nil || cd.Contact.ID != vid || cd.Contact.Role != conv.RoleVisitor {
		t.Fatalf("visitor's created.contact = %+v; want %s", cd.Contact, vid)
	}

	// Another anonymous visitor, and a visitor resuming without the token,
	// see none of it.
	stranger := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	if len(stranger.backlog) != 0 || stranger.welcome.Backlog != 0 || stranger.welcome.Head != 0 {
		t.Fatalf("stranger got %d events (welcome %+v)", len(stranger.backlog), stranger.welcome)
	}
	// The same visitor on another tab (same token) sees its conversation.
	tab := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: token}, protocol.Cursor{}, "zoe-laptop-tab")
	for _, e := range tab.backlog {
		if e.Conv != vc || e.Kind == conv.KindNoteAdded {
			t.Errorf("visitor tab got %s of %s", e.Kind, e.Conv)
		}
	}
	if len(tab.backlog) != 4 {
		t.Errorf("visitor tab got %s; want created, thread.started, message, answer", kinds(tab.backlog))
	}
	// The phone (Zoe) has not seen the visitor's conversation.
	phone.quiet(50 * time.Millisecond)

	// The laptop signs in as Zoe, carrying its visitor token.
	auth := contactAuth("zoe")
	auth.VisitorToken = token
	laptop := connect(t, r.url, auth, visitorCursor(v, visitorSaw), "zoe-laptop")
	// It gets her phone's conversation and the moved conversation's history
	// (again: the relay cannot tell what the device holds, and a device
	// ignores events it holds), then contact.identified.
	if got := kinds(laptop.backlog); got != "conversation.created thread.started message.sent conversation.created thread.started message.sent message.sent contact.identified" {
		t.Errorf("identifying laptop's backlog: %s", got)
	}
	var idEv conv.Event
	for _, e := range laptop.backlog {
		if e.Kind == conv.KindContactIdentified {
			idEv = e
		}
	}
	var d conv.ContactIdentified
	json.Unmarshal(idEv.Data, &d)
	if idEv.Conv != vc || idEv.Actor != conv.System || d.Visitor.ID != vid || d.Contact.ID != "contact:zoe" {
		t.Fatalf("contact.identified = %+v %+v", idEv, d)
	}
	// The phone, live, gets the moved conversation's history (without the
	// note), then contact.identified.
	got := phone.events(5)
	if k := kinds(got); k != "conversation.created thread.started message.sent message.sent contact.identified" {
		t.Errorf("phone got %s", k)
	}
	for _, e := range got {
		if e.Conv != vc {
			t.Errorf("phone got %s of %s", e.Kind, e.Conv)
		}
	}
	// The agent sees contact.identified live too.
	if e := ana.events(1)[0]; e.Kind != conv.KindContactIdentified {
		t.Errorf("agent got %s", e.Kind)
	}
	// A new device of Zoe's gets both conversations.
	desk := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-desk")
	convs := map[string]int{}
	for _, e := range desk.backlog {
		convs[e.Conv]++
	}
	if convs[pc] != 3 || convs[vc] != 5 {
		t.Errorf("new device of Zoe's: %v", convs)
	}
	// The phone, reconnecting from an old cursor, gets the moved history too.
	re := connect(t, r.url, contactAuth("zoe"), phone.welcomeCursorAfter(3), "zoe-phone")
	if k := kinds(re.backlog); k != "conversation.created thread.started message.sent message.sent contact.identified" {
		t.Errorf("phone reconnecting: %s", k)
	}
	// The visitor identity no longer sees the conversation; live messages
	// go to Zoe's devices.
	tab.c.Close(websocket.StatusNormalClosure, "")
	gone := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: token}, protocol.Cursor{})
	if len(gone.backlog) != 0 {
		t.Errorf("visitor after identification got %s", kinds(gone.backlog))
	}
	ana.mustLog(ana.ev(conv.KindMessageSent, vc, msg("welcome back, Zoe")))
	if e := desk.events(1)[0]; e.Conv != vc || e.Kind != conv.KindMessageSent {
		t.Errorf("desk got %+v", e)
	}
	gone.quiet(50 * time.Millisecond)
	// Zoe may now write in it.
	desk.mustLog(desk.ev(conv.KindMessageSent, vc, msg("thanks")))
	// Identifying again changes nothing.
	again := connect(t, r.url, auth, protocol.Cursor{}, "zoe-laptop")
	n := 0
	for _, e := range again.backlog {
		if e.Kind == conv.KindContactIdentified {
			n++
		}
	}
	if n != 1 {
		t.Errorf("contact.identified logged %d times", n)
	}
}

// visitorCursor is the cursor a visitor device holds after seeing evs.
func visitorCursor(v *tsession, evs []conv.Event) protocol.Cursor {
	var s uint64
	for _, e := range evs {
		s = max(s, e.Seq)
	}
	return protocol.Cursor{Epoch: v.welcome.Epoch, Seq: s}
}

func (s *tsession) welcomeCursorAfter(seq uint64) protocol.Cursor {
	return protocol.Cursor{Epoch: s.welcome.Epoch, Seq: seq}
}

// TestIdentifiedDeviceKeepsItsMids: a device pushes as a visitor, then says
// hello as a contact with its visitor token; its resends of what it pushed
// as the visitor are answered as the first time, and lastMid counts them.
func TestIdentifiedDeviceKeepsItsMids(t *testing.T) {
	r := newTestRelay(t)
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "tablet")
	cid := newConvID()
	evs := []conv.Event{v.ev(conv.KindConversationCreated, cid, created("")), v.ev(conv.KindMessageSent, cid, msg("anonymous"))}
	first, _ := v.push(evs...)
	v.c.Close(websocket.StatusNormalClosure, "")
	head := r.head()

	a := contactAuth("zoe")
	a.VisitorToken = v.welcome.VisitorToken
	z := connect(t, r.url, a, protocol.Cursor{}, "tablet")
	if z.welcome.LastMid != 2 {
		t.Errorf("lastMid %d after identification; want the visitor's 2", z.welcome.LastMid)
	}
	again, _ := z.push(evs...)
	checkResent(t, "resend as the contact", first, again)
	if h := r.head(); h != head+1 { // + contact.identified
		t.Errorf("head %d; want %d", h, head+1)
	}
	z.mid = 2
	res := z.mustLog(z.ev(conv.KindMessageSent, cid, msg("signed in now")))
	all := wholeLog(t, r.url)
	if e := all[res[0].Seq-1]; e.Actor.ID != "contact:zoe" || e.Mid != 3 {
		t.Errorf("logged %+v", e)
	}
}

// TestIdentifiedDeviceKeepsItsMidsWithoutTheToken: a device that identified
// (and then forgot its visitor token, as the widget does) says hello as the
// contact again. What it pushed as the visitor is still its own: lastMid
// counts it, and a resend of it (an ack lost in between) is answered as the
// first time, not taken as the contact's new push. Another device of the
// contact's is not the visitor.
func TestIdentifiedDeviceKeepsItsMidsWithoutTheToken(t *testing.T) {
	r := newTestRelay(t)
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "tablet")
	cid := newConvID()
	evs := []conv.Event{v.ev(conv.KindConversationCreated, cid, created("")), v.ev(conv.KindMessageSent, cid, msg("anonymous")), v.ev(conv.KindSeenMarked, cid, conv.SeenMarked{UpTo: 1})}
	first, _ := v.push(evs...)
	v.c.Close(websocket.StatusNormalClosure, "")

	a := contactAuth("zoe")
	a.VisitorToken = v.welcome.VisitorToken
	connect(t, r.url, a, protocol.Cursor{}, "tablet").c.Close(websocket.StatusNormalClosure, "")
	head := r.head()

	a.VisitorToken = ""
	z := connect(t, r.url, a, protocol.Cursor{}, "tablet")
	if z.welcome.LastMid != 3 {
		t.Errorf("lastMid %d at a later hello without the token; want the visitor's 3", z.welcome.LastMid)
	}
	again, _ := z.push(evs...)
	checkResent(t, "resend without the token", first, again)
	if h := r.head(); h != head {
		t.Errorf("head %d after the resend; want %d", h, head)
	}
	if other := connect(t, r.url, a, protocol.Cursor{}, "phone"); other.welcome.LastMid != 0 {
		t.Errorf("lastMid %d on the contact's other device; want 0", other.welcome.LastMid)
	}
}

// TestConversationMovedAtALaterHelloComesWhole: a device identified its
// visitor as a contact; afterwards an agent creates a conversation for the
// visitor id, and the device's cursor passes its events (it may not see
// them: they are still the visitor's). At the device's next hello with its
// visitor token the conversation moves to the contact, and the device gets
// its whole history, not just what follows its cursor.
func TestConversationMovedAtALaterHelloComesWhole(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "tablet")
	vid, token := v.welcome.Identity.ID, v.welcome.VisitorToken
	vc := newConvID()
	v.mustLog(v.ev(conv.KindConversationCreated, vc, created("")))
	v.c.Close(websocket.StatusNormalClosure, "")

	auth := contactAuth("77")
	auth.VisitorToken = token
	first := connect(t, r.url, auth, protocol.Cursor{Epoch: v.welcome.Epoch, Seq: 1}, "tablet")
	if n := len(first.backlog); n == 0 || first.backlog[n-1].Kind != conv.KindContactIdentified {
		t.Fatalf("first identification: %s", kinds(first.backlog))
	}
	// Written to the visitor id after the identification: not the contact's yet.
	wc := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, wc, created(vid)), ana.ev(conv.KindMessageSent, wc, msg("still there?")))
	first.quiet(50 * time.Millisecond)
	for _, e := range first.received() {
		if e.Conv == wc {
			t.Fatalf("the contact got %s of the visitor's conversation", e.Kind)
		}
	}
	first.c.Close(websocket.StatusNormalClosure, "")

	again := connect(t, r.url, auth, protocol.Cursor{Epoch: v.welcome.Epoch, Seq: r.head()}, "tablet")
	if k := kinds(again.backlog); k != "conversation.created thread.started message.sent contact.identified" {
		t.Errorf("moved at the second hello: got %s; want w's whole history", k)
	}
	for _, e := range again.backlog {
		if e.Conv != wc {
			t.Errorf("got %s of %s", e.Kind, e.Conv)
		}
	}
	if again.welcome.Backlog != uint64(len(again.backlog)) {
		t.Errorf("welcome backlog %d; got %d events", again.welcome.Backlog, len(again.backlog))
	}
}
