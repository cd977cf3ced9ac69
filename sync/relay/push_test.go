package relay

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func TestPushAckAndEcho(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	c := ana.ev(conv.KindConversationCreated, cid, created("contact:7"))
	m := ana.ev(conv.KindMessageSent, cid, msg("Hi, how can I help?"))
	res, echoed := ana.push(c, m)
	// created(1), thread.started(2, derived), message(3)
	if res[0] != (protocol.Result{ID: c.ID, Seq: 1}) || res[1] != (protocol.Result{ID: m.ID, Seq: 3}) {
		t.Fatalf("results = %+v", res)
	}
	if got := kinds(echoed); got != "conversation.created thread.started message.sent" {
		t.Fatalf("echo = %s; want the pushed events with the derived one, before the ack", got)
	}
	for _, e := range echoed {
		if e.Conv != cid {
			t.Errorf("echo %s: conv %s", e.Kind, e.Conv)
		}
	}
	if e := echoed[2]; e.ID != m.ID || e.Device != ana.device || e.Mid != m.Mid || e.At != m.At || e.Actor != (conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}) {
		t.Errorf("logged message = %+v; want the client's id, device, mid, at and the session's actor", e)
	}
	// Empty push: empty ack.
	res, _ = ana.push()
	if len(res) != 0 {
		t.Errorf("empty push: %+v", res)
	}
}

func TestBadFramesAreNotFatal(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	for _, tt := range []struct{ frame, code string }{
		{`{"type":"push","events":[`, protocol.CodeBadFrame},
		{`[1,2,3]`, protocol.CodeBadFrame},
		{`{"type":"push"}`, protocol.CodeBadFrame},
		{`{"type":"push","events":5}`, protocol.CodeBadFrame},
		{`{"type":"push","events":[{"id":7}]}`, protocol.CodeBadFrame},
		{`{"type":"typing","on":true}`, protocol.CodeBadFrame},
		{`{"type":"hello","protocol":1}`, protocol.CodeBadFrame},
		{`{"type":"subscribe","topic":"all"}`, protocol.CodeUnknownType},
		{`{"type":"welcome","events":5}`, protocol.CodeUnknownType},
		{`{"type":"ack"}`, protocol.CodeUnknownType},
	} {
		ana.sendRaw(tt.frame)
		e := ana.expectError(tt.code, false)
		if e.Message == "" {
			t.Errorf("%s: error without a message", tt.frame)
		}
	}
	// Binary frames are not JSON text.
	if err := ana.c.Write(t.Context(), websocket.MessageBinary, []byte(`{"type":"push","events":[]}`)); err != nil {
		t.Fatal(err)
	}
	ana.expectError(protocol.CodeBadFrame, false)
	// The session still works.
	cid := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, cid, created("contact:1")))
}

func TestOversizedFrameIsFatal(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, cid, created("contact:1")))
	big := `{"type":"push","events":[],"pad":"` + strings.Repeat("x", protocol.MaxFrameBytes) + `"}`
	ana.sendRaw(big)
	ana.expectError(protocol.CodeTooLarge, true)
	if got := ana.closed(); got != protocol.CloseTooLarge {
		t.Fatalf("close %d; want %d", got, protocol.CloseTooLarge)
	}
	// A frame of exactly the limit is fine.
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	pad := protocol.MaxFrameBytes - len(`{"type":"push","events":[],"pad":""}`)
	ben.sendRaw(`{"type":"push","events":[],"pad":"` + strings.Repeat("x", pad) + `"}`)
	ben.nextOf(protocol.TypeAck, protocol.TypeEvents)
	if n := len(wholeLog(t, r.url)); n != 1 {
		t.Fatalf("log has %d events; want 1", n)
	}
}

func TestTooManyEvents(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	evs := make([]conv.Event, protocol.MaxPushEvents+1)
	for i := range evs {
		evs[i] = ana.ev(conv.KindConversationCreated, newConvID(), created("contact:1"))
	}
	ana.send(protocol.Push{Type: protocol.TypePush, Events: evs})
	ana.expectError(protocol.CodeTooMany, false)
	if h := r.head(); h != 0 {
		t.Fatalf("head = %d after a refused push; want 0", h)
	}
	// Exactly the limit is fine; the refused push used up no mids.
	ana.mid = 0
	evs = evs[:0]
	for range protocol.MaxPushEvents {
		evs = append(evs, ana.ev(conv.KindConversationCreated, newConvID(), created("contact:1")))
	}
	ana.mustLog(evs...)
}

func TestRateLimit(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	batch := func() []conv.Event {
		evs := make([]conv.Event, 100)
		for i := range evs {
			evs[i] = ana.ev(conv.KindConversationCreated, newConvID(), created("contact:1"))
		}
		return evs
	}
	ana.mustLog(batch()...)
	ana.mustLog(batch()...) // the burst is 200
	refused := batch()
	ana.send(protocol.Push{Type: protocol.TypePush, Events: refused})
	ana.expectError(protocol.CodeRateLimited, false)
	if h := r.head(); h != 200 {
		t.Fatalf("head = %d; want 200: nothing of a rate-limited push is logged", h)
	}
	// Other sessions have their own bucket.
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	ben.mustLog(ben.ev(conv.KindConversationCreated, newConvID(), created("contact:1")))
}

func TestActorComesFromTheSession(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	max := connect(t, r.url, contactAuth("max"), protocol.Cursor{})

	// Zoe claims to be an agent: logged as herself.
	cid := newConvID()
	c := zoe.ev(conv.KindConversationCreated, cid, created(""))
	c.Actor = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	m := zoe.ev(conv.KindMessageSent, cid, msg("my site is down"))
	m.Actor = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	m.Cause, m.Seq = "forged", 99
	zoe.mustLog(c, m)
	got := ana.events(3)
	zoeP := conv.Participant{ID: "contact:zoe", Role: conv.RoleContact}
	if got[0].Actor != zoeP || got[2].Actor != zoeP || got[2].Cause != "" || got[2].Seq != 3 {
		t.Fatalf("logged %+v / %+v; want actor %v, no cause, seq 3", got[0], got[2], zoeP)
	}
	var d conv.Created
	json.Unmarshal(got[0].Data, &d)
	if d.Contact == nil || d.Contact.ID != "contact:zoe" {
		t.Errorf("created.contact = %+v; want contact:zoe", d.Contact)
	}

	// A contact may not make agent-only events, even claiming to be one.
	n := zoe.ev(conv.KindNoteAdded, cid, conv.Note{Text: "internal"})
	n.Actor = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	res, _ := zoe.push(n)
	if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden {
		t.Errorf("contact note claiming agent: %+v; want forbidden", res[0])
	}
	// Max may not write into Zoe's conversation.
	res, _ = max.push(max.ev(conv.KindMessageSent, cid, msg("hi zoe")))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden {
		t.Errorf("contact in another's conversation: %+v; want forbidden", res[0])
	}
	// Nor create one for Zoe.
	res, _ = max.push(max.ev(conv.KindConversationCreated, newConvID(), created("contact:zoe")))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden {
		t.Errorf("contact creating for another: %+v; want forbidden", res[0])
	}
	// An event naming another device is refused.
	o := zoe.ev(conv.KindMessageSent, cid, msg("from elsewhere"))
	o.Device = "someone-else"
	res, _ = zoe.push(o)
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
		t.Errorf("event of another device: %+v; want invalid", res[0])
	}
	if h := r.head(); h != 3 {
		t.Errorf("head = %d; want 3", h)
	}
	// An event without a mid is processed (it just cannot be recognized if
	// resent), and leaves lastMid alone.
	o = zoe.ev(conv.KindMessageSent, cid, msg("no mid"))
	o.Mid = 0
	if res := zoe.mustLog(o); res[0].Seq != 4 {
		t.Errorf("event without mid: %+v", res[0])
	}
	// (Mids 1–3 were processed; 4 claimed another device, so it is not
	// this device's.)
	if again := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, zoe.device); again.welcome.LastMid != 3 {
		t.Errorf("lastMid %d; want 3", again.welcome.LastMid)
	}
}

func TestResendIsAnsweredAsTheFirstTime(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "laptop")
	cid := newConvID()
	evs := []conv.Event{
		ana.ev(conv.KindConversationCreated, cid, created("contact:1")),
		ana.ev(conv.KindMessageSent, cid, msg("first")),
		ana.ev(conv.KindPriorityChanged, cid, conv.PriorityChanged{Priority: "extreme"}), // rejected
		ana.ev(conv.KindThreadEnded, newConvID(), conv.ThreadEnded{}),                    // rejected: no conversation
		ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusOpen}), // changes nothing: seq 0
	}
	first, _ := ana.push(evs...)
	if first[2].Error == nil || first[3].Error == nil || first[4].Seq != 0 || first[4].Error != nil {
		t.Fatalf("first results = %+v", first)
	}
	head := r.head()
	ana.c.Close(websocket.StatusNormalClosure, "")

	// Reconnect from the same device: lastMid says all five have an outcome.
	again := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "laptop")
	if again.welcome.LastMid != 5 {
		t.Fatalf("lastMid = %d; want 5", again.welcome.LastMid)
	}
	second, echoed := again.push(evs...)
	checkResent(t, "resend", first, second)
	if len(echoed) != 0 || r.head() != head {
		t.Fatalf("resend logged something: head %d → %d, echoed %s", head, r.head(), kinds(echoed))
	}
	// Resent alone, in another order, and after a restart: the same.
	r.restart()
	again = connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "laptop")
	third, _ := again.push(evs[3], evs[1])
	if !sameResult(third[0], first[3]) || !sameResult(third[1], first[1]) {
		t.Errorf("after restart: %+v; want %+v and %+v", third, first[3], first[1])
	}
	// The same mids from another device are other events.
	other := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "desktop")
	m := other.ev(conv.KindMessageSent, cid, msg("from the desktop"))
	if m.Mid != 1 {
		t.Fatalf("desktop mid %d", m.Mid)
	}
	other.mustLog(m)
	checkGapFree(t, wholeLog(t, r.url))
}

// checkResent fails t where a resend's results differ from the first
// push's.
func checkResent(t *testing.T, what string, first, again []protocol.Result) {
	t.Helper()
	if len(again) != len(first) {
		t.Errorf("%s: %d results; want %d", what, len(again), len(first))
		return
	}
	for i := range first {
		if !sameResult(first[i], again[i]) {
			t.Errorf("%s %d: %+v; want %+v", what, i, again[i], first[i])
		}
	}
}

func sameResult(a, b protocol.Result) bool {
	if a.ID != b.ID || a.Seq != b.Seq || (a.Error == nil) != (b.Error == nil) {
		return false
	}
	return a.Error == nil || *a.Error == *b.Error
}

// TestRejectionCodes reaches every rejection code through the relay.
func TestRejectionCodes(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	cid := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, cid, created("")), zoe.ev(conv.KindMessageSent, cid, msg("help")))
	started := ana.ev(conv.KindThreadStarted, cid, conv.ThreadStarted{Thread: newConvID(), Topic: "billing"})
	ana.mustLog(started)

	tests := []struct {
		name string
		c    *client
		e    conv.Event
		code conv.Code
	}{
		{"stale", ana.client, func() conv.Event {
			e := ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved})
			e.Base = 1 // Zoe's message is seq 3
			return e
		}(), conv.CodeStale},
		{"no_such_thread", ana.client, ana.ev(conv.KindThreadEnded, cid, conv.ThreadEnded{Topic: "shipping"}), conv.CodeNoSuchThread},
		{"no_such_conversation", ana.client, ana.ev(conv.KindMessageSent, newConvID(), msg("hello?")), conv.CodeNoSuchConversation},
		{"forbidden", zoe.client, zoe.ev(conv.KindTagsChanged, cid, conv.TagsChanged{Add: []string{"vip"}}), conv.CodeForbidden},
		{"unknown_attribute", ana.client, ana.ev(conv.KindAttributesSet, cid, conv.AttributesSet{Values: map[string]any{"shoe_size": 44}}), conv.CodeUnknownAttribute},
		{"invalid_attribute", ana.client, ana.ev(conv.KindAttributesSet, cid, conv.AttributesSet{Values: map[string]any{"seats": "many"}}), conv.CodeInvalidAttribute},
		{"invalid_attribute enum", ana.client, ana.ev(conv.KindAttributesSet, cid, conv.AttributesSet{Values: map[string]any{"plan": "gold"}}), conv.CodeInvalidAttribute},
		{"conflict", ana.client, ana.ev(conv.KindConversationCreated, cid, created("contact:zoe")), conv.CodeConflict},
		{"invalid", ana.client, ana.ev(conv.KindPriorityChanged, cid, conv.PriorityChanged{Priority: "extreme"}), conv.CodeInvalid},
		{"invalid kind", ana.client, ana.ev("conversation.exploded", cid, struct{}{}), conv.CodeInvalid},
		{"too_large", zoe.client, zoe.ev(conv.KindMessageSent, cid, msg(strings.Repeat("a", protocol.MaxTextBytes+1))), conv.CodeTooLarge},
		{"too_large note", ana.client, ana.ev(conv.KindNoteAdded, cid, conv.Note{Text: strings.Repeat("é", protocol.MaxTextBytes/2+1)}), conv.CodeTooLarge},
	}
	head := r.head()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := tt.c.push(tt.e)
			if res[0].Error == nil || res[0].Error.Code != tt.code || res[0].Error.Message == "" || res[0].ID != tt.e.ID {
				t.Fatalf("result = %+v; want %s with a message", res[0], tt.code)
			}
		})
	}
	if r.head() != head {
		t.Fatalf("rejected events were logged: head %d → %d", head, r.head())
	}
	// A text at the limit is fine.
	zoe.mustLog(zoe.ev(conv.KindMessageSent, cid, msg(strings.Repeat("a", protocol.MaxTextBytes))))
	// The rejections are counted by code.
	var b strings.Builder
	r.srv.m.write(&b)
	for _, code := range []string{"stale", "no_such_thread", "no_such_conversation", "forbidden", "unknown_attribute", "invalid_attribute", "conflict", "invalid", "too_large"} {
		if !strings.Contains(b.String(), `threadline_relay_rejections_total{code="`+code+`"}`) {
			t.Errorf("metrics lack rejections of %s", code)
		}
	}
}

// TestRejectedCreationRejectsTheRestOfItsPush: when a push's
// conversation.created is rejected (its id is taken), the same push's later
// events in that conversation are rejected with the creation's code and
// logged nowhere; events of other conversations are not affected, and a
// resend is answered as the first time.
func TestRejectedCreationRejectsTheRestOfItsPush(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "laptop")
	taken := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, taken, created("contact:42")), ana.ev(conv.KindMessageSent, taken, msg("hello 42")))
	head := r.head()

	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{}, "tablet")
	other := newConvID()
	evs := []conv.Event{
		ben.ev(conv.KindConversationCreated, taken, created("contact:99")),
		ben.ev(conv.KindMessageSent, taken, msg("your password")),
		ben.ev(conv.KindConversationCreated, other, created("contact:7")),
		ben.ev(conv.KindNoteAdded, taken, conv.Note{Text: "for 99"}),
		ben.ev(conv.KindMessageSent, other, msg("hello 7")),
	}
	res, _ := ben.push(evs...)
	if res[0].Error == nil || res[0].Error.Code != conv.CodeConflict {
		t.Fatalf("created: %+v; want conflict", res[0])
	}
	for _, i := range []int{1, 3} {
		if e := res[i].Error; e == nil || e.Code != conv.CodeConflict || !strings.Contains(e.Message, "not created") {
			t.Errorf("%s after the rejected creation: %+v; want conflict, not created", evs[i].Kind, res[i])
		}
	}
	for _, i := range []int{2, 4} {
		if res[i].Error != nil || res[i].Seq == 0 {
			t.Errorf("%s of another conversation: %+v; want logged", evs[i].Kind, res[i])
		}
	}
	all := wholeLog(t, r.url)
	for _, e := range all {
		if e.Conv == taken && e.Seq > head {
			t.Errorf("logged %s at %d in the taken conversation", e.Kind, e.Seq)
		}
	}
	// A resend is answered as the first time, alone or whole.
	ben.c.Close(websocket.StatusNormalClosure, "")
	again := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{}, "tablet")
	h := r.head()
	second, _ := again.push(evs[1])
	if !sameResult(second[0], res[1]) {
		t.Errorf("resent message: %+v; want %+v", second[0], res[1])
	}
	whole, _ := again.push(evs...)
	for i := range evs {
		if !sameResult(whole[i], res[i]) {
			t.Errorf("resend %d: %+v; want %+v", i, whole[i], res[i])
		}
	}
	if r.head() != h {
		t.Errorf("resends logged something: head %d → %d", h, r.head())
	}
}

// TestInvalidCreationTakesItsMessageDown: a creation rejected for another
// reason than conflict leaves no conversation; the same push's message in
// it is rejected as no_such_conversation, as it always was.
func TestInvalidCreationTakesItsMessageDown(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	bad := created("contact:42")
	bad.Attributes = map[string]any{"plan": "gold"}
	res, echoed := ana.push(ana.ev(conv.KindConversationCreated, cid, bad), ana.ev(conv.KindMessageSent, cid, msg("welcome")))
	if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalidAttribute {
		t.Errorf("created: %+v; want invalid_attribute", res[0])
	}
	if e := res[1].Error; e == nil || e.Code != conv.CodeNoSuchConversation || !strings.Contains(e.Message, "not created") {
		t.Errorf("message: %+v; want no_such_conversation, not created", res[1])
	}
	if len(echoed) != 0 || r.head() != 0 {
		t.Errorf("logged %s (head %d)", kinds(echoed), r.head())
	}
}
