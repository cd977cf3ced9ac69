package relay

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// What end users may set and see (rules 12 and 13), from outside: as the
// contact's and visitor's devices receive it, live and in a new device's
// backlog.

// teamFields returns which of priority, tags and attributes e's data holds.
func teamFields(t *testing.T, e conv.Event) []string {
	t.Helper()
	var d map[string]json.RawMessage
	if err := json.Unmarshal(e.Data, &d); err != nil {
		t.Fatalf("%s data %s: %v", e.Kind, e.Data, err)
	}
	var got []string
	for _, k := range []string{"priority", "tags", "attributes"} {
		if _, ok := d[k]; ok {
			got = append(got, k)
		}
	}
	return got
}

func findKind(evs []conv.Event, convID string, k conv.Kind) (conv.Event, bool) {
	for _, e := range evs {
		if e.Conv == convID && e.Kind == k {
			return e, true
		}
	}
	return conv.Event{}, false
}

func TestContactGetsCreatedWithoutTeamFields(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	phone := connect(t, r.url, contactAuth("dana"), protocol.Cursor{}, "dana-phone")
	// A visitor whose conversation the team opened for it, and who then
	// identifies as Dana on a device where Dana's phone is live.
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "dana-laptop")

	cc, vc := newConvID(), newConvID()
	teamMade := func(contact string) conv.Created {
		d := created(contact)
		d.Priority, d.Tags = conv.PriorityUrgent, []string{"vip", "billing"}
		d.Attributes = map[string]any{"plan": "pro", "seats": 12}
		return d
	}
	ana.mustLog(ana.ev(conv.KindConversationCreated, cc, teamMade("contact:dana")), ana.ev(conv.KindMessageSent, cc, msg("Your renewal")))
	ana.mustLog(ana.ev(conv.KindConversationCreated, vc, teamMade(v.welcome.Identity.ID)), ana.ev(conv.KindMessageSent, vc, msg("Can I help?")))

	check := func(name string, evs []conv.Event, convID string) {
		t.Helper()
		e, ok := findKind(evs, convID, conv.KindConversationCreated)
		if !ok {
			t.Fatalf("%s: no conversation.created among %s", name, kinds(evs))
		}
		if f := teamFields(t, e); len(f) > 0 {
			t.Errorf("%s: conversation.created reached the end user with %v: %s", name, f, e.Data)
		}
		var d conv.Created
		if err := json.Unmarshal(e.Data, &d); err != nil || d.Subject != "help" || d.Contact == nil {
			t.Errorf("%s: conversation.created lost what the end user may see: %s", name, e.Data)
		}
	}
	// Live.
	check("contact live", phone.events(3), cc)
	check("visitor live", v.events(3), vc)
	// A new device's backlog.
	check("contact backlog", connect(t, r.url, contactAuth("dana"), protocol.Cursor{}, "dana-tablet").backlog, cc)
	token := v.welcome.VisitorToken
	check("visitor backlog", connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: token}, protocol.Cursor{}, "dana-laptop-tab").backlog, vc)
	// The visitor identifies as Dana: her live phone gets the moved
	// conversation's history, its creation redacted too.
	auth := contactAuth("dana")
	auth.VisitorToken = token
	connect(t, r.url, auth, protocol.Cursor{}, "dana-laptop")
	check("moved history, live", phone.events(4), vc)

	// The team keeps every field.
	all := wholeLog(t, r.url)
	for _, id := range []string{cc, vc} {
		e, _ := findKind(all, id, conv.KindConversationCreated)
		if f := teamFields(t, e); len(f) != 3 {
			t.Errorf("the team's conversation.created has %v; want priority, tags and attributes", f)
		}
	}
}

func TestSupervisorMayOnlyJoinLeaveSeeAndNote(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-phone")
	c := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, c, created("")), zoe.ev(conv.KindMessageSent, c, msg("help")))
	sup := conv.Participant{ID: "agent:ben", Role: conv.RoleSupervisor}
	ben.mustLog(ben.ev(conv.KindParticipantJoined, c, conv.ParticipantChanged{Participant: sup}))

	forbidden := []conv.Event{
		ben.ev(conv.KindThreadStarted, c, conv.ThreadStarted{Thread: newConvID(), Topic: "Supervised"}),
		ben.ev(conv.KindThreadEnded, c, conv.ThreadEnded{}),
		ben.ev(conv.KindMessageSent, c, msg("psst")),
		ben.ev(conv.KindStatusChanged, c, conv.StatusChanged{Status: conv.StatusResolved}),
		ben.ev(conv.KindPriorityChanged, c, conv.PriorityChanged{Priority: conv.PriorityHigh}),
		ben.ev(conv.KindTagsChanged, c, conv.TagsChanged{Add: []string{"coached"}}),
		ben.ev(conv.KindAssigneeChanged, c, conv.AssigneeChanged{Assignee: &conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}}),
		ben.ev(conv.KindAttributesSet, c, conv.AttributesSet{Values: map[string]any{"vip": true}}),
	}
	for _, e := range forbidden {
		res, _ := ben.push(e)
		if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden {
			t.Errorf("supervisor's %s: %+v; want forbidden", e.Kind, res[0])
		}
	}
	ben.mustLog(
		ben.ev(conv.KindNoteAdded, c, conv.Note{Text: "watching"}),
		ben.ev(conv.KindSeenMarked, c, conv.SeenMarked{UpTo: 100}),
		ben.ev(conv.KindParticipantLeft, c, conv.ParticipantChanged{Participant: sup}),
	)
	ana.mustLog(ana.ev(conv.KindMessageSent, c, msg("Ana here")))

	all := wholeLog(t, r.url)
	for _, e := range all {
		if e.Actor.ID == "agent:ben" && e.Kind != conv.KindParticipantJoined && e.Kind != conv.KindParticipantLeft &&
			e.Kind != conv.KindNoteAdded && e.Kind != conv.KindSeenMarked {
			t.Errorf("the log holds a supervisor's %s", e.Kind)
		}
	}
	noBen := func(name string, evs []conv.Event) {
		t.Helper()
		if _, ok := findKind(evs, c, conv.KindMessageSent); !ok {
			t.Fatalf("%s: no messages at all: %s", name, kinds(evs))
		}
		for _, e := range evs {
			if e.Actor.ID == "agent:ben" || e.Actor.Role == conv.RoleSupervisor {
				t.Errorf("%s: the contact got %s by the supervisor", name, e.Kind)
			}
		}
	}
	zoe.events(1) // Ana's message, after everything Ben did
	zoe.quiet(50 * time.Millisecond)
	noBen("live", zoe.received())
	noBen("backlog", connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-laptop").backlog)
}

func TestEndUsersMayNotSetPriorityOrTags(t *testing.T) {
	r := newTestRelay(t)
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	for _, who := range []*tsession{v, zoe} {
		for _, d := range []conv.Created{
			{Subject: "help", Priority: conv.PriorityUrgent},
			{Subject: "help", Tags: []string{"vip"}},
		} {
			c := newConvID()
			res, _ := who.push(who.ev(conv.KindConversationCreated, c, d), who.ev(conv.KindMessageSent, c, msg("hi")))
			if res[0].Error == nil || res[0].Error.Code != conv.CodeForbidden || res[1].Error == nil {
				t.Errorf("%s creating with %+v: %+v; want forbidden, and the message refused with it", who.welcome.Identity.Role, d, res)
			}
		}
		// Attributes inside conversation.created are an end user's to set.
		c := newConvID()
		who.mustLog(who.ev(conv.KindConversationCreated, c, conv.Created{Subject: "help", Attributes: map[string]any{"plan": "pro"}}))
	}
	for _, e := range wholeLog(t, r.url) {
		if e.Kind != conv.KindConversationCreated {
			continue
		}
		var d conv.Created
		json.Unmarshal(e.Data, &d)
		if len(d.Tags) > 0 || (d.Priority != "" && d.Priority != conv.PriorityMedium) {
			t.Errorf("the inbox keeps an end user's priority %q and tags %v", d.Priority, d.Tags)
		}
	}
}

func TestAssistantIDMustNameAnAssistant(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	want := map[string]string{} // conversation → the assistantId it was created with
	for _, who := range []*tsession{ana, v} {
		d := created("")
		if who == ana {
			d = created("contact:zoe")
		}
		d.AssistantID = "nobody"
		res, _ := who.push(who.ev(conv.KindConversationCreated, newConvID(), d))
		if res[0].Error == nil || res[0].Error.Code != conv.CodeInvalid {
			t.Errorf("%s: assistantId naming no assistant: %+v; want invalid", who.welcome.Identity.Role, res[0])
		}
		for _, id := range []string{"faq", "ai:faq"} {
			d.AssistantID = id
			c := newConvID()
			who.mustLog(who.ev(conv.KindConversationCreated, c, d))
			want[c] = id
		}
	}
	all := wholeLog(t, r.url)
	for c, id := range want {
		e, _ := findKind(all, c, conv.KindConversationCreated)
		var cd conv.Created
		json.Unmarshal(e.Data, &cd)
		if cd.AssistantID != "faq" {
			t.Errorf("%s: assistantId %q logged as %q; want faq", e.Actor.Role, id, cd.AssistantID)
		}
	}
}

func TestDefaultAssistantAnswersEndUsersNewConversations(t *testing.T) {
	r := &testRelay{t: t, dir: t.TempDir(), conf: func(c *Config) { c.Workspaces[0].DefaultAssistant = "faq" }}
	r.start()
	t.Cleanup(r.stop)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	v := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})
	vc, ac := newConvID(), newConvID()
	v.mustLog(v.ev(conv.KindConversationCreated, vc, created("")))
	ana.mustLog(ana.ev(conv.KindConversationCreated, ac, created("contact:zoe")))
	all := wholeLog(t, r.url)
	for _, c := range []struct {
		id   string
		want string
	}{{vc, "faq"}, {ac, ""}} {
		e, _ := findKind(all, c.id, conv.KindConversationCreated)
		var d conv.Created
		json.Unmarshal(e.Data, &d)
		if d.AssistantID != c.want {
			t.Errorf("conversation by %s: assistantId %q; want %q", e.Actor.Role, d.AssistantID, c.want)
		}
	}
	// A config naming no assistant of the workspace is refused.
	cfg := testConfig()
	cfg.Workspaces[0].DefaultAssistant = "nobody"
	if err := cfg.Validate(); err == nil {
		t.Error("Validate accepted a defaultAssistant naming no assistant")
	}
}
