package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// A website's backend creates a conversation for a contact with its first
// message, attributes and an assistant: one push of conversation.created
// (the key's) and the contact's message.sent, through the same log the
// WebSocket devices read.
func TestAPICreateConversation(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	agent := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})

	a := c.do("POST", "conversations", map[string]any{
		"contact": "42", "message": "My invoice is wrong", "subject": "Billing",
		"priority": "high", "tags": []string{" Billing "}, "attributes": map[string]any{"plan": "pro", "seats": 5},
		"assistantId": "faq",
	}).must(t, 201)
	got := decodeAnswer[createdResponse](t, a)
	if got.ConversationID == "" || got.Seq != 1 || !got.IsInAssistantMode {
		t.Fatalf("create = %+v; want an id, seq 1, in assistant mode", got)
	}
	at, err := time.Parse(time.RFC3339, got.CreatedAt)
	if err != nil || time.Since(at) > time.Minute {
		t.Fatalf("createdAt %q: %v", got.CreatedAt, err)
	}

	evs := agent.events(3)
	if k := kinds(evs); k != "conversation.created thread.started message.sent" {
		t.Fatalf("agent got %s", k)
	}
	if evs[0].Actor.ID != "api:backend" || evs[0].Actor.Role != conv.RoleAgent {
		t.Errorf("conversation.created actor %+v; want api:backend (agent)", evs[0].Actor)
	}
	if evs[2].Actor.ID != "contact:42" || evs[2].Actor.Role != conv.RoleContact {
		t.Errorf("first message actor %+v; want the contact", evs[2].Actor)
	}
	for _, e := range evs {
		if e.Conv != got.ConversationID {
			t.Errorf("%s in %s; want %s", e.Kind, e.Conv, got.ConversationID)
		}
	}

	st := c.state(got.ConversationID)
	if st.Contact.ID != "contact:42" || st.Subject != "Billing" || st.Priority != conv.PriorityHigh ||
		!slices.Equal(st.Tags, []string{"billing"}) || st.Attributes["plan"] != "pro" || !st.AssistantMode ||
		st.AssistantID != "faq" || st.Messages != 1 || st.LastContactSeq != 3 || st.CreatedBy.ID != "api:backend" {
		t.Errorf("state = %+v", st)
	}

	// The contact's own device gets its conversation as rule 13 allows.
	contact := connect(t, r.url, contactAuth("42"), protocol.Cursor{})
	if k := kinds(contact.backlog); k != "conversation.created thread.started message.sent" {
		t.Fatalf("contact got %s", k)
	}
	d, _ := conv.Decode(contact.backlog[0])
	if cr := d.(*conv.Created); cr.Priority != "" || len(cr.Tags) > 0 || len(cr.Attributes) > 0 {
		t.Errorf("the contact got priority, tags or attributes: %+v", cr)
	}

	// Without a message: just the conversation.
	bare := c.create("43", "")
	if bare.Seq != 4 || bare.IsInAssistantMode {
		t.Errorf("create without message = %+v", bare)
	}
	if evs := c.events(bare.ConversationID); kinds(evs) != "conversation.created" {
		t.Errorf("timeline %s", kinds(evs))
	}
}

// Creating validates the conversation and its message before logging
// either: nothing is left half made.
func TestAPICreateRejectsWholly(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	for _, tc := range []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"unknown attribute", map[string]any{"contact": "1", "attributes": map[string]any{"mood": "x"}}, 422, "unknown_attribute"},
		{"attribute of the wrong type", map[string]any{"contact": "1", "attributes": map[string]any{"seats": "many"}}, 422, "invalid_attribute"},
		{"unknown assistant", map[string]any{"contact": "1", "assistantId": "nobody"}, 422, "invalid"},
		{"unknown priority", map[string]any{"contact": "1", "priority": "asap"}, 422, "invalid"},
		{"a 21st tag", map[string]any{"contact": "1", "tags": strings.Split("a b c d e f g h i j k l m n o p q r s t u", " ")}, 422, "invalid"},
		{"empty message", map[string]any{"contact": "1", "message": "  "}, 422, "invalid"},
		{"message too long", map[string]any{"contact": "1", "message": strings.Repeat("x", conv.MaxTextBytes+1)}, 413, "too_large"},
		{"subject too long", map[string]any{"contact": "1", "subject": strings.Repeat("x", 201)}, 413, "too_large"},
		{"no contact", map[string]any{"message": "hi"}, 400, "bad_request"},
		{"contact id too long", map[string]any{"contact": strings.Repeat("x", 121)}, 400, "bad_request"},
	} {
		c.do("POST", "conversations", tc.body).mustErr(t, tc.status, tc.code)
	}
	if h := r.head(); h != 0 {
		t.Fatalf("rejected creations logged %d events", h)
	}
}

// Posting events: messages and notes as the team, a message as the
// contact, status, priority, tags, assignee; the reducer's codes with
// their statuses; no-ops answered 200 with seq 0.
func TestAPIPostEvents(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	cv := c.create("42", "Hello?").ConversationID
	path := "conversations/" + cv + "/events"

	reply := decodeAnswer[eventResponse](t, c.post(cv, conv.KindMessageSent, conv.Message{Text: "Hi, how can we help?"}).must(t, 201))
	if reply.ID == "" || reply.Seq != 4 {
		t.Fatalf("reply = %+v", reply)
	}
	c.post(cv, conv.KindNoteAdded, conv.Note{Text: "VIP customer"}).must(t, 201)
	fromContact := decodeAnswer[eventResponse](t, c.post(cv, conv.KindMessageSent, conv.Message{Text: "The form again"}, "as", "contact").must(t, 201))
	c.post(cv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityUrgent}).must(t, 201)
	c.post(cv, conv.KindTagsChanged, conv.TagsChanged{Add: []string{"Refund"}}).must(t, 201)
	c.post(cv, conv.KindAssigneeChanged, map[string]any{"assignee": map[string]any{"id": "agent:ana", "role": "agent"}}).must(t, 201)
	c.post(cv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"vip": true}}).must(t, 201)

	// Rule 5: a resolve whose base is below the contact's latest message
	// is stale; without a base it is validated at the head.
	c.do("POST", path, map[string]any{"kind": "status.changed", "data": map[string]any{"status": "resolved"}, "base": fromContact.Seq - 1}).
		mustErr(t, 422, "stale")
	res := c.post(cv, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}).must(t, 201)
	if decodeAnswer[eventResponse](t, res).Seq == 0 {
		t.Fatal("resolve logged nothing")
	}
	noop := decodeAnswer[eventResponse](t, c.post(cv, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}).must(t, 200))
	if noop.Seq != 0 || noop.ID == "" {
		t.Errorf("resolving again = %+v; want its id and seq 0", noop)
	}

	// The contact's message reopens it (rule 6).
	c.post(cv, conv.KindMessageSent, conv.Message{Text: "Still broken"}, "as", "contact").must(t, 201)
	st := c.state(cv)
	if st.Status != conv.StatusOpen || st.Priority != conv.PriorityUrgent || !slices.Equal(st.Tags, []string{"refund"}) ||
		st.Assignee == nil || st.Assignee.ID != "agent:ana" || st.Attributes["vip"] != true || st.Notes != 1 || st.Messages != 4 {
		t.Errorf("state = %+v", st)
	}
	evs := c.events(cv)
	byID := map[string]conv.Event{}
	for _, e := range evs {
		byID[e.ID] = e
	}
	if e := byID[fromContact.ID]; e.Actor.ID != "contact:42" || e.Actor.Role != conv.RoleContact {
		t.Errorf("as contact: actor %+v", e.Actor)
	}
	if e := byID[reply.ID]; e.Actor.ID != "api:backend" || e.Device != apiDevice {
		t.Errorf("team reply: actor %+v device %q", e.Actor, e.Device)
	}
	last := evs[len(evs)-1]
	if last.Kind != conv.KindMessageSent || evs[len(evs)-3].Kind != conv.KindStatusChanged {
		t.Errorf("reopening: %s", kinds(evs[len(evs)-3:]))
	}

	// Threads: an explicit one without an id gets one; the same again is a conflict.
	started := decodeAnswer[eventResponse](t, c.post(cv, conv.KindThreadStarted, map[string]any{"topic": "Refund"}).must(t, 201))
	th := c.state(cv).Thread
	if th == nil || th.Topic != "Refund" || th.ID == "" {
		t.Fatalf("thread = %+v", th)
	}
	c.post(cv, conv.KindThreadStarted, conv.ThreadStarted{Thread: th.ID, Topic: "Again"}).mustErr(t, 409, "conflict")
	c.post(cv, conv.KindThreadEnded, conv.ThreadEnded{Topic: "Not this one"}).mustErr(t, 422, "no_such_thread")
	_ = started

	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"relay-only kind", map[string]any{"kind": "contact.updated", "data": map[string]any{"contact": map[string]any{"id": "contact:42", "role": "contact"}, "name": "X"}}, 403, "forbidden"},
		{"unknown kind", map[string]any{"kind": "message.deleted"}, 422, "invalid"},
		{"data of the wrong type", map[string]any{"kind": "message.sent", "data": map[string]any{"text": 5}}, 422, "invalid"},
		{"text too long", map[string]any{"kind": "note.added", "data": map[string]any{"text": strings.Repeat("é", conv.MaxTextBytes/2+1)}}, 413, "too_large"},
		{"unknown attribute", map[string]any{"kind": "attributes.set", "data": map[string]any{"values": map[string]any{"mood": 1}}}, 422, "unknown_attribute"},
		{"misspelt field in data", map[string]any{"kind": "assignee.changed", "data": map[string]any{"asignee": nil}}, 400, "bad_request"},
		{"data not an object", map[string]any{"kind": "note.added", "data": "hi"}, 400, "bad_request"},
		{"no kind", map[string]any{"data": map[string]any{"text": "hi"}}, 400, "bad_request"},
		{"a creation", map[string]any{"kind": "conversation.created", "data": map[string]any{}}, 400, "bad_request"},
		{"as someone else", map[string]any{"kind": "message.sent", "data": map[string]any{"text": "hi"}, "as": "agent"}, 400, "bad_request"},
		{"a note as the contact", map[string]any{"kind": "note.added", "data": map[string]any{"text": "hi"}, "as": "contact"}, 400, "bad_request"},
		{"base not a number", map[string]any{"kind": "note.added", "data": map[string]any{"text": "hi"}, "base": "1"}, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r.api(tokAPI).do("POST", path, tc.body).mustErr(t, tc.status, tc.code)
		})
	}
	// Unassigning is explicit.
	c.post(cv, conv.KindAssigneeChanged, map[string]any{"assignee": nil}).must(t, 201)
	if a := c.state(cv).Assignee; a != nil {
		t.Errorf("assignee %+v after unassigning", a)
	}
}

// Idempotency-Key: a retry is answered as the first time, whatever its
// body, and logs nothing; per API key; concurrent retries create one
// conversation.
func TestAPIIdempotency(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	first := c.do("POST", "conversations", map[string]any{"contact": "7", "message": "hi"}, "Idempotency-Key", "order-1").must(t, 201)
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Error("a first request is marked replayed")
	}
	want := decodeAnswer[createdResponse](t, first)
	head := r.head()
	for _, body := range []any{
		map[string]any{"contact": "7", "message": "hi"},
		map[string]any{"contact": "8"},
		map[string]any{"contact": "7", "message": "hi", "attributes": map[string]any{"nope": 1}},
		"not even JSON",
	} {
		a := c.do("POST", "conversations", body, "Idempotency-Key", "order-1").must(t, 201)
		if got := decodeAnswer[createdResponse](t, a); got != want {
			t.Errorf("retry with %v = %+v; want %+v", body, got, want)
		}
		if a.Header.Get("Idempotent-Replayed") != "true" {
			t.Error("a retry is not marked Idempotent-Replayed")
		}
	}
	if h := r.head(); h != head {
		t.Fatalf("retries logged %d events", h-head)
	}

	// A refused request is answered as the first time too, even when the
	// retry would do.
	c.do("POST", "conversations", map[string]any{"contact": "7", "priority": "never"}, "Idempotency-Key", "bad-1").mustErr(t, 422, "invalid")
	c.do("POST", "conversations", map[string]any{"contact": "7"}, "Idempotency-Key", "bad-1").mustErr(t, 422, "invalid")
	if h := r.head(); h != head {
		t.Fatalf("a refused request and its retry logged %d events", h-head)
	}

	// Events: the retry gets the first id and seq.
	cv := want.ConversationID
	p1 := c.do("POST", "conversations/"+cv+"/events", map[string]any{"kind": "note.added", "data": map[string]any{"text": "one"}}, "Idempotency-Key", "note-1").must(t, 201)
	p2 := c.do("POST", "conversations/"+cv+"/events", map[string]any{"kind": "note.added", "data": map[string]any{"text": "two"}}, "Idempotency-Key", "note-1").must(t, 201)
	if decodeAnswer[eventResponse](t, p1) != decodeAnswer[eventResponse](t, p2) {
		t.Errorf("event retry = %s; first %s", p2.Body, p1.Body)
	}
	// The same key used first for an event, then for a create: a conflict.
	c.do("POST", "conversations", map[string]any{"contact": "7"}, "Idempotency-Key", "note-1").mustErr(t, 409, "conflict")
	// Keys are per API key: the CRM's "note-1" is its own.
	r.api(tokCRM).do("POST", "conversations/"+cv+"/events", map[string]any{"kind": "note.added", "data": map[string]any{"text": "crm"}}, "Idempotency-Key", "note-1").must(t, 201)
	if st := c.state(cv); st.Notes != 2 {
		t.Errorf("notes = %d; want 2", st.Notes)
	}

	// Concurrent requests with one key: one conversation.
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := r.api(tokAPI).do("POST", "conversations", map[string]any{"contact": "9", "message": fmt.Sprint("try ", i)}, "Idempotency-Key", "burst")
			if a.Status != 201 {
				t.Errorf("burst %d: %d %s", i, a.Status, a.Body)
				return
			}
			ids[i] = decodeAnswer[createdResponse](t, a).ConversationID
		}()
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("one key made conversations %v", ids)
		}
	}
	list := decodeAnswer[conversationPage](t, c.do("GET", "conversations?contact=9", nil).must(t, 200))
	if len(list.Conversations) != 1 || list.Conversations[0].Messages != 1 {
		t.Fatalf("contact 9 has %d conversations", len(list.Conversations))
	}
	// Kept across a restart, as mids are.
	r.restart()
	c = r.api(tokAPI)
	a := c.do("POST", "conversations", map[string]any{"contact": "7"}, "Idempotency-Key", "order-1").must(t, 201)
	if got := decodeAnswer[createdResponse](t, a); got != want {
		t.Errorf("retry after a restart = %+v; want %+v", got, want)
	}
}

// Reads: a conversation's state, its timeline in pages by seq, a
// contact's conversations, and the conversations changed since a cursor
// in pages by their latest seq.
func TestAPIReads(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	a := c.create("1", "first")                                                                                    // seqs 1-3
	b := c.create("2", "second")                                                                                   // 4-6
	a2 := c.create("1", "another")                                                                                 // 7-9
	c.post(a.ConversationID, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 201)                                // 10
	c.post(b.ConversationID, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}).must(t, 201) // 11-12

	// A timeline, in pages of 3, as on the wire (notes and derived events included).
	evs := c.events(a.ConversationID)
	if k := kinds(evs); k != "conversation.created thread.started message.sent note.added" {
		t.Fatalf("timeline %s", k)
	}
	raw := c.do("GET", "conversations/"+a.ConversationID+"/events?after=2&limit=1", nil).must(t, 200)
	page := decodeAnswer[struct {
		Events []json.RawMessage
		Next   *uint64
	}](t, raw)
	if len(page.Events) != 1 || page.Next == nil || *page.Next != 3 {
		t.Fatalf("page after 2 = %s", raw.Body)
	}
	stored, _ := r.log.Events(testWS, []uint64{3})
	if string(page.Events[0]) != string(stored[0]) {
		t.Errorf("event %s; the log holds %s", page.Events[0], stored[0])
	}

	// Changed since a cursor, by latest seq: b (12), then a (10) before it, a2 (9) first.
	order := func(q string) ([]string, *uint64) {
		p := decodeAnswer[conversationPage](t, c.do("GET", "conversations"+q, nil).must(t, 200))
		var ids []string
		for _, cv := range p.Conversations {
			ids = append(ids, cv.ID)
		}
		return ids, p.Next
	}
	ids, next := order("")
	if !slices.Equal(ids, []string{a2.ConversationID, a.ConversationID, b.ConversationID}) || next != nil {
		t.Fatalf("all = %v next %v", ids, next)
	}
	ids, next = order("?limit=2")
	if !slices.Equal(ids, []string{a2.ConversationID, a.ConversationID}) || next == nil || *next != 10 {
		t.Fatalf("first page = %v next %v", ids, next)
	}
	ids, next = order(fmt.Sprintf("?limit=2&after=%d", *next))
	if !slices.Equal(ids, []string{b.ConversationID}) || next != nil {
		t.Fatalf("second page = %v next %v", ids, next)
	}
	if ids, _ = order("?after=12"); len(ids) != 0 {
		t.Fatalf("after the head: %v", ids)
	}
	// A change moves a conversation to the end.
	c.post(a2.ConversationID, conv.KindMessageSent, conv.Message{Text: "up"}).must(t, 201)
	if ids, _ = order("?after=10"); !slices.Equal(ids, []string{b.ConversationID, a2.ConversationID}) {
		t.Fatalf("after 10 = %v", ids)
	}
	if ids, _ = order("?contact=1"); !slices.Equal(ids, []string{a.ConversationID, a2.ConversationID}) {
		t.Fatalf("contact 1 = %v", ids)
	}
	if ids, _ = order("?contact=1&after=10"); !slices.Equal(ids, []string{a2.ConversationID}) {
		t.Fatalf("contact 1 after 10 = %v", ids)
	}
	if ids, _ = order("?status=resolved"); !slices.Equal(ids, []string{b.ConversationID}) {
		t.Fatalf("resolved = %v", ids)
	}
	if ids, _ = order("?contact=nobody"); len(ids) != 0 {
		t.Fatalf("an unknown contact has %v", ids)
	}

	// A visitor's conversation moves to the contact it identifies as, and
	// with it in the contact's listing.
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	vc := newConvID()
	v.mustLog(v.ev(conv.KindConversationCreated, vc, created("")), v.ev(conv.KindMessageSent, vc, msg("anonymous")))
	id := connect(t, r.url, protocol.Auth{Kind: protocol.AuthContact, ContactID: "1", Hash: contactHash("1"), VisitorToken: v.welcome.VisitorToken}, protocol.Cursor{})
	_ = id
	if ids, _ = order("?contact=1"); !slices.Equal(ids, []string{a.ConversationID, a2.ConversationID, vc}) {
		t.Fatalf("contact 1 after identifying = %v", ids)
	}

	// The state, with everything the team sees.
	st := c.state(a.ConversationID)
	if st.ID != a.ConversationID || st.Notes != 1 || st.Contact.ID != "contact:1" || st.LastSeq != 10 {
		t.Errorf("state = %+v", st)
	}
}

// Bad input of every kind gets a clear error and loses nothing.
func TestAPIBadInput(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	cv := c.create("42", "hello").ConversationID
	other := r.api(tokGlobex)
	other.ws = globexWS
	gcv := other.create("g1", "globex's").ConversationID
	head := r.head()
	before := c.events(cv)

	big := `{"contact":"1","message":"` + strings.Repeat("x", maxAPIBody) + `"}`
	for _, tc := range []struct {
		name         string
		c            *apiClient
		method, path string
		body         any
		status       int
		code         string
	}{
		{"not JSON", c, "POST", "conversations", `{"contact":`, 400, "bad_request"},
		{"not an object", c, "POST", "conversations", `["contact"]`, 400, "bad_request"},
		{"empty body", c, "POST", "conversations", ``, 400, "bad_request"},
		{"two objects", c, "POST", "conversations", `{"contact":"1"}{"contact":"2"}`, 400, "bad_request"},
		{"unknown field", c, "POST", "conversations", `{"contact":"1","mesage":"typo"}`, 400, "bad_request"},
		{"wrong type", c, "POST", "conversations", `{"contact":1}`, 400, "bad_request"},
		{"oversized body", c, "POST", "conversations", big, 413, "too_large"},
		{"oversized event", c, "POST", "conversations/" + cv + "/events", `{"kind":"note.added","data":{"text":"` + strings.Repeat("x", maxAPIBody) + `"}}`, 413, "too_large"},
		{"no key", &apiClient{t: t, base: c.base, ws: testWS}, "GET", "conversations", nil, 401, "unauthorized"},
		{"wrong key", r.api("not-a-key"), "POST", "conversations", `{"contact":"1"}`, 401, "unauthorized"},
		{"another workspace's key", r.api(tokGlobex), "GET", "conversations/" + cv, nil, 401, "unauthorized"},
		{"another workspace's conversation", c, "GET", "conversations/" + gcv, nil, 404, "not_found"},
		{"another workspace's conversation's events", c, "GET", "conversations/" + gcv + "/events", nil, 404, "not_found"},
		{"an event in another workspace's conversation", c, "POST", "conversations/" + gcv + "/events", `{"kind":"note.added","data":{"text":"x"}}`, 404, "not_found"},
		{"no such conversation", c, "GET", "conversations/nope", nil, 404, "not_found"},
		{"no such workspace", c, "GET", "/v1/api/workspaces/initech/conversations", nil, 404, "not_found"},
		{"no such route", c, "GET", "threads", nil, 404, "not_found"},
		{"no such route at all", c, "GET", "/v1/api/nothing", nil, 404, "not_found"},
		{"wrong method", c, "DELETE", "conversations/" + cv, nil, 405, "bad_request"},
		{"unknown query parameter", c, "GET", "conversations?afer=3", nil, 400, "bad_request"},
		{"bad cursor", c, "GET", "conversations?after=-1", nil, 400, "bad_request"},
		{"limit 0", c, "GET", "conversations/" + cv + "/events?limit=0", nil, 400, "bad_request"},
		{"limit too big", c, "GET", "conversations?limit=100000", nil, 400, "bad_request"},
		{"unknown status", c, "GET", "conversations?status=closed", nil, 400, "bad_request"},
		{"empty contact", c, "GET", "conversations?contact=", nil, 400, "bad_request"},
		{"bad Idempotency-Key", c, "POST", "conversations", `{"contact":"1"}`, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := *tc.c
			cc.t = t
			var hdr []string
			if tc.name == "bad Idempotency-Key" {
				hdr = []string{"Idempotency-Key", strings.Repeat("k", 300)}
			}
			a := cc.do(tc.method, tc.path, tc.body, hdr...).mustErr(t, tc.status, tc.code)
			if tc.status == 401 && a.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tc.status == 405 && a.Header.Get("Allow") != "GET" {
				t.Errorf("405 with Allow %q", a.Header.Get("Allow"))
			}
			var e apiErrorBody
			if json.Unmarshal(a.Body, &e); e.Error.Message == "" {
				t.Error("an error without a message")
			}
		})
	}
	if h := r.head(); h != head {
		t.Fatalf("bad requests logged %d events", h-head)
	}
	if after := c.events(cv); len(after) != len(before) {
		t.Fatalf("the conversation had %d events, now %d", len(before), len(after))
	}
	if st := other.state(gcv); st.Messages != 1 {
		t.Fatalf("globex's conversation: %+v", st)
	}
}

// Requests are limited per key, at the sessions' rate.
func TestAPIRateLimit(t *testing.T) {
	r := newAPIRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 0.001, 2 })
	c := r.api(tokAPI)
	c.do("GET", "conversations", nil).must(t, 200)
	c.do("GET", "conversations", nil).must(t, 200)
	a := c.do("POST", "conversations", map[string]any{"contact": "1"}).mustErr(t, 429, "rate_limited")
	if a.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	// Another key has its own budget.
	r.api(tokCRM).do("GET", "conversations", nil).must(t, 200)
	if h := r.head(); h != 0 {
		t.Fatalf("a limited request logged %d events", h)
	}
}

// /metrics counts the API's requests by route and status.
func TestAPIMetrics(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	c.create("1", "hi")
	r.api("wrong").do("GET", "conversations", nil)
	res, err := http.Get(r.hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`threadline_relay_api_requests_total{route="createConversation",status="201"} 1`,
		`threadline_relay_api_requests_total{route="listConversations",status="401"} 1`,
		`threadline_relay_api_request_seconds_count 2`,
	} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Writes after the relay began shutting down are refused as unavailable;
// nothing half logged.
func TestAPIUnavailable(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	cv := c.create("1", "hi").ConversationID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.do("POST", "conversations", map[string]any{"contact": "2"}).mustErr(t, 503, "unavailable")
	c.post(cv, conv.KindNoteAdded, conv.Note{Text: "x"}).mustErr(t, 503, "unavailable")
	c.state(cv) // reads go on
}

// A snoozed conversation whose time has passed is shown, and listed, as
// open (rule 6: a view of the clock, no event).
func TestAPISnooze(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	later := c.create("1", "hi").ConversationID
	passed := c.create("2", "hi").ConversationID
	now := time.Now().UnixMilli()
	c.post(later, conv.KindStatusChanged, map[string]any{"status": "snoozed", "until": now + 3_600_000}).must(t, 201)
	c.post(passed, conv.KindStatusChanged, map[string]any{"status": "snoozed", "until": now - 1}).must(t, 201)
	c.post(passed, conv.KindStatusChanged, map[string]any{"status": "snoozed"}).mustErr(t, 422, "invalid")
	if st := c.state(later); st.Status != conv.StatusSnoozed || st.SnoozedUntil != now+3_600_000 {
		t.Errorf("snoozed for an hour: %s until %d", st.Status, st.SnoozedUntil)
	}
	if st := c.state(passed); st.Status != conv.StatusOpen {
		t.Errorf("a passed snooze shows %s; want open", st.Status)
	}
	for q, want := range map[string]string{"snoozed": later, "open": passed} {
		p := decodeAnswer[conversationPage](t, c.do("GET", "conversations?status="+q, nil).must(t, 200))
		if len(p.Conversations) != 1 || p.Conversations[0].ID != want || p.Conversations[0].Status != conv.Status(q) {
			t.Errorf("status=%s lists %+v", q, p.Conversations)
		}
	}
}
