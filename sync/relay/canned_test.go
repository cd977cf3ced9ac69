package relay

import (
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Saved replies (canned replies) travel as events of the workspace's
// library (conv.LibraryID) through the one log: the relay orders and
// validates them with conv.Apply and filters them with conv.Visible, with no
// logic of its own. Every agent's and assistant's device gets them, live and
// in a new device's backlog; contacts and visitors never do (rule 13).

func reply(id, title, text, shortcut string) conv.ReplySaved {
	return conv.ReplySaved{Reply: conv.Reply{ID: id, Title: title, Text: text, Shortcut: shortcut}}
}

func libraryEvents(evs []conv.Event) []conv.Event {
	var out []conv.Event
	for _, e := range evs {
		if e.Conv == conv.LibraryID || conv.IsReplyKind(e.Kind) {
			out = append(out, e)
		}
	}
	return out
}

func TestSavedRepliesReachTheTeamOnly(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	bot := connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{})
	dana := connect(t, r.url, contactAuth("dana"), protocol.Cursor{}, "dana-phone")
	vis := connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{}, "visitor-laptop")
	cc := newConvID()
	dana.mustLog(dana.ev(conv.KindConversationCreated, cc, created("")), dana.ev(conv.KindMessageSent, cc, msg("Hello?")))
	for _, s := range []*tsession{ana, ben, bot} {
		s.events(3) // created, the derived thread.started, the message
	}

	res := ana.mustLog(ana.ev(conv.KindReplySaved, conv.LibraryID, reply("r1", "Greeting", "Hi {{contact.name}}, I'm {{agent.name}}.", "hi")))
	for name, s := range map[string]*tsession{"ben": ben, "the assistant": bot} {
		got := libraryEvents(s.events(1))
		if len(got) != 1 || got[0].Kind != conv.KindReplySaved || got[0].Seq != res[0].Seq || got[0].Actor.ID != "agent:ana" {
			t.Fatalf("%s got %s; want ana's reply.saved at seq %d", name, kinds(got), res[0].Seq)
		}
	}
	ben.mustLog(ben.ev(conv.KindReplySaved, conv.LibraryID, reply("r1", "Greeting", "Hello {{contact.name}}!", "hi")))
	if got := libraryEvents(ana.events(1)); len(got) != 1 {
		t.Fatalf("ana got %s; want ben's edit", kinds(got))
	}

	// Refused as conv says, with its codes.
	cases := []struct {
		who  *tsession
		kind conv.Kind
		conv string
		data any
		code conv.Code
	}{
		{dana, conv.KindReplySaved, conv.LibraryID, reply("r2", "Mine", "x", ""), conv.CodeForbidden},
		{vis, conv.KindReplyDeleted, conv.LibraryID, conv.ReplyDeleted{ID: "r1"}, conv.CodeForbidden},
		{bot, conv.KindReplySaved, conv.LibraryID, reply("r2", "Bot's", "x", ""), conv.CodeForbidden},
		{ben, conv.KindReplySaved, conv.LibraryID, reply("r2", "Other", "x", "HI"), conv.CodeConflict},
		{ben, conv.KindReplySaved, conv.LibraryID, reply("r2", "", "x", ""), conv.CodeInvalid},
		{ben, conv.KindReplySaved, cc, reply("r2", "Here", "x", ""), conv.CodeInvalid},
		{ben, conv.KindMessageSent, conv.LibraryID, msg("to nobody"), conv.CodeInvalid},
		{dana, conv.KindConversationCreated, conv.LibraryID, created(""), conv.CodeInvalid},
	}
	for _, c := range cases {
		res, _ := c.who.push(c.who.ev(c.kind, c.conv, c.data))
		if res[0].Error == nil || res[0].Error.Code != c.code {
			t.Errorf("push %s in %s by %s = %+v; want %s", c.kind, c.conv, c.who.welcome.Identity.ID, res[0], c.code)
		}
	}
	ana.mustLog(ana.ev(conv.KindReplySaved, conv.LibraryID, reply("r3", "Bye", "Bye {{contact.name}}", "bye")))
	ana.mustLog(ana.ev(conv.KindReplyDeleted, conv.LibraryID, conv.ReplyDeleted{ID: "r3"}))
	// Deleting what is gone changes nothing: seq 0.
	if res, _ := ben.push(ben.ev(conv.KindReplyDeleted, conv.LibraryID, conv.ReplyDeleted{ID: "r3"})); res[0].Error != nil || res[0].Seq != 0 {
		t.Errorf("deleting a deleted reply = %+v; want accepted with seq 0", res[0])
	}

	// The contact and the visitor: live, nothing of the library reached
	// them (the team's next message in Dana's conversation is the next
	// thing Dana gets).
	ana.mustLog(ana.ev(conv.KindMessageSent, cc, msg("We're on it")))
	if got := dana.events(1); len(got) != 1 || got[0].Kind != conv.KindMessageSent {
		t.Fatalf("dana got %s live; want the team's message and nothing of the library", kinds(got))
	}
	vis.quiet(200 * time.Millisecond)
	// A new device's backlog: the team's has the library's whole history,
	// the contact's and the visitor's nothing of it.
	if got := libraryEvents(connect(t, r.url, agentAuth(tokBen), protocol.Cursor{}, "ben-desktop").backlog); len(got) != 4 {
		t.Errorf("ben's new device got %s of the library; want its 4 events", kinds(got))
	}
	if got := libraryEvents(connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{}, "faq-2").backlog); len(got) != 4 {
		t.Errorf("the assistant's new device got %s of the library; want its 4 events", kinds(got))
	}
	tablet := connect(t, r.url, contactAuth("dana"), protocol.Cursor{}, "dana-tablet")
	if got := libraryEvents(tablet.backlog); len(got) != 0 || len(tablet.backlog) == 0 {
		t.Errorf("dana's new device got %s (backlog of %d); want her conversation and nothing of the library", kinds(got), len(tablet.backlog))
	}
	if got := libraryEvents(connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: vis.welcome.VisitorToken}, protocol.Cursor{}, "visitor-tab").backlog); len(got) != 0 {
		t.Errorf("the visitor's new device got %s", kinds(got))
	}

	// The library's state is the log's: after a restart the shortcut is
	// still taken, and the edit is what stands.
	r.restart()
	ben2 := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{}, "ben-laptop-2")
	if res, _ := ben2.push(ben2.ev(conv.KindReplySaved, conv.LibraryID, reply("r4", "Again", "x", "hi"))); res[0].Error == nil || res[0].Error.Code != conv.CodeConflict {
		t.Errorf("after a restart, a taken shortcut = %+v; want conflict", res[0])
	}
	var lib *conv.Conversation
	for _, e := range libraryEvents(ben2.backlog) {
		var err error
		if lib, err = conv.Replay(lib, e); err != nil {
			t.Fatal(err)
		}
	}
	if rp, ok := lib.Reply("r1"); !ok || rp.Text != "Hello {{contact.name}}!" || len(lib.Replies) != 1 {
		t.Errorf("library rebuilt from the backlog = %+v; want r1 as ben edited it, alone", lib)
	}
}

// The HTTP API acts as the team: it may save replies and read the library
// at its id; the conversation list leaves the library out.
func TestSavedRepliesOverTheAPI(t *testing.T) {
	r := newAPIRelay(t)
	c := r.api(tokAPI)
	cv := c.create("1", "hello").ConversationID
	lib := "conversations/" + conv.LibraryID
	c.do("POST", lib+"/events", map[string]any{"kind": conv.KindReplySaved, "data": reply("r1", "Greeting", "Hi {{contact.name}}", "hi")}).must(t, 201)
	c.do("POST", lib+"/events", map[string]any{"kind": conv.KindReplySaved, "data": reply("r2", "Other", "x", "hi")}).mustErr(t, 409, "conflict")
	c.do("GET", lib, nil).mustErr(t, 404, "not_found")
	evs := decodeAnswer[struct{ Events []conv.Event }](t, c.do("GET", lib+"/events", nil).must(t, 200)).Events
	if len(evs) != 1 || evs[0].Kind != conv.KindReplySaved || evs[0].Actor.ID != "api:backend" {
		t.Errorf("GET the library's events = %s; want the API's reply.saved", kinds(evs))
	}
	page := decodeAnswer[conversationPage](t, c.do("GET", "conversations", nil).must(t, 200))
	if len(page.Conversations) != 1 || page.Conversations[0].ID != cv {
		t.Errorf("GET conversations = %d; want %s alone, not the library", len(page.Conversations), cv)
	}
}
