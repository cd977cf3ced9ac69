package conv

import (
	"fmt"
	"strings"
	"testing"
)

func library(t *testing.T) *world {
	w := newWorld(t)
	w.conv = LibraryID
	return w
}

func saved(id, title, text, shortcut string) ReplySaved {
	return ReplySaved{Reply: Reply{ID: id, Title: title, Text: text, Shortcut: shortcut}}
}

func TestReplySavedMakesTheLibraryAndLaterWins(t *testing.T) {
	w := library(t)
	out := w.do(ana, KindReplySaved, saved("r1", "  Refund policy ", "Hi {{contact.name}}, refunds take 5 days.", " /Refund "))
	if len(out) != 1 || out[0].Seq != 1 {
		t.Fatalf("Apply(reply.saved) = %v; want one event at seq 1", out)
	}
	r, ok := w.c.Reply("r1")
	if !ok || r.Title != "Refund policy" || r.Shortcut != "refund" || w.c.ID != LibraryID {
		t.Fatalf("library = %+v; want r1 titled %q with shortcut %q", w.c, "Refund policy", "refund")
	}
	d, _ := Decode(out[0])
	if got := d.(*ReplySaved).Reply; got != r {
		t.Errorf("logged reply = %+v; want it normalized as the state holds it: %+v", got, r)
	}
	w.do(ben, KindReplySaved, saved("r0", "Greeting", "Hello!", ""))
	w.do(ben, KindReplySaved, saved("r1", "Refunds", "Refunds take 5 days.", "refund"))
	if len(w.c.Replies) != 2 || w.c.Replies[0].ID != "r0" || w.c.Replies[1].Title != "Refunds" {
		t.Fatalf("Replies = %+v; want r0, then r1 as ben edited it", w.c.Replies)
	}
	w.noop(ana, KindReplySaved, saved("r1", "Refunds", "Refunds take 5 days.", "refund"))
	if w.c.LastItemSeq != 0 {
		t.Errorf("LastItemSeq = %d; saved replies are not timeline items", w.c.LastItemSeq)
	}
}

func TestReplyDeleted(t *testing.T) {
	w := library(t)
	w.do(ana, KindReplySaved, saved("r1", "A", "a", "a"))
	w.do(ana, KindReplySaved, saved("r2", "B", "b", ""))
	w.do(ben, KindReplyDeleted, ReplyDeleted{ID: "r1"})
	if _, ok := w.c.Reply("r1"); ok || len(w.c.Replies) != 1 {
		t.Fatalf("Replies = %+v; want r2 only", w.c.Replies)
	}
	w.noop(ana, KindReplyDeleted, ReplyDeleted{ID: "r1"}) // deleted at once by two agents: both succeed
	w.reject(ana, KindReplyDeleted, ReplyDeleted{}, CodeInvalid)
	// The shortcut of a deleted reply is free again.
	w.do(ana, KindReplySaved, saved("r3", "A again", "a", "a"))
}

func TestReplyValidation(t *testing.T) {
	long := func(n int) string { return strings.Repeat("é", n) }
	cases := []struct {
		name string
		r    Reply
		code Code
	}{
		{"no id", Reply{Title: "T", Text: "x"}, CodeInvalid},
		{"long id", Reply{ID: strings.Repeat("i", MaxIDChars+1), Title: "T", Text: "x"}, CodeInvalid},
		{"no title", Reply{ID: "r", Title: "  ", Text: "x"}, CodeInvalid},
		{"title of 101", Reply{ID: "r", Title: long(101), Text: "x"}, CodeTooLarge},
		{"no text", Reply{ID: "r", Title: "T", Text: " \n "}, CodeInvalid},
		{"text of 5001", Reply{ID: "r", Title: "T", Text: long(5001)}, CodeTooLarge},
		{"shortcut with a space", Reply{ID: "r", Title: "T", Text: "x", Shortcut: "a b"}, CodeInvalid},
		{"shortcut with an accent", Reply{ID: "r", Title: "T", Text: "x", Shortcut: "café"}, CodeInvalid},
		{"shortcut of 33", Reply{ID: "r", Title: "T", Text: "x", Shortcut: strings.Repeat("a", 33)}, CodeInvalid},
	}
	for _, c := range cases {
		w := library(t)
		w.reject(ana, KindReplySaved, ReplySaved{Reply: c.r}, c.code)
	}
	w := library(t)
	w.do(ana, KindReplySaved, ReplySaved{Reply: Reply{ID: "r", Title: long(100), Text: long(5000), Shortcut: strings.Repeat("a-9", 10) + "zz"}})
}

func TestReplyShortcutIsUnique(t *testing.T) {
	w := library(t)
	w.do(ana, KindReplySaved, saved("r1", "A", "a", "hi"))
	w.reject(ben, KindReplySaved, saved("r2", "B", "b", "HI"), CodeConflict)
	w.do(ben, KindReplySaved, saved("r2", "B", "b", "hello"))
	w.reject(ben, KindReplySaved, saved("r2", "B", "b", "hi"), CodeConflict)
	w.do(ana, KindReplySaved, saved("r1", "A", "a", "hi")) // its own shortcut is no conflict: a no-op
}

func TestLibraryLimits(t *testing.T) {
	w := library(t)
	for i := range MaxReplies {
		w.do(ana, KindReplySaved, saved(fmt.Sprintf("r%03d", i), "T", "x", ""))
	}
	w.reject(ana, KindReplySaved, saved("r-one-more", "T", "x", ""), CodeInvalid)
	w.do(ana, KindReplySaved, saved("r000", "T", "edited", "")) // editing is still fine
	w.do(ana, KindReplyDeleted, ReplyDeleted{ID: "r001"})
	w.do(ana, KindReplySaved, saved("r-one-more", "T", "x", ""))

	w = library(t)
	big := strings.Repeat("x", MaxReplyTextChars)
	n := MaxLibraryBytes / (MaxReplyTextChars + 1)
	for i := range n {
		w.do(ana, KindReplySaved, saved(fmt.Sprintf("r%03d", i), "T", big, ""))
	}
	w.reject(ana, KindReplySaved, saved("r-over", "T", big, ""), CodeTooLarge)
}

func TestReplyEventsLiveInTheLibraryOnly(t *testing.T) {
	w := newWorld(t)
	w.create(ana, Created{Contact: &alice})
	w.reject(ana, KindReplySaved, saved("r1", "A", "a", ""), CodeInvalid) // not in a conversation

	l := library(t)
	l.reject(ana, KindConversationCreated, Created{Contact: &alice}, CodeInvalid)
	l.do(ana, KindReplySaved, saved("r1", "A", "a", ""))
	l.reject(ana, KindMessageSent, Message{Text: "hi"}, CodeInvalid)
	l.reject(ana, KindNoteAdded, Note{Text: "hi"}, CodeInvalid)
}

func TestReplyWhoMayChangeTheLibrary(t *testing.T) {
	for _, p := range []Participant{bot, alice, visitor, System, {ID: "agent:sup", Role: RoleSupervisor}} {
		w := library(t)
		w.reject(p, KindReplySaved, saved("r1", "A", "a", ""), CodeForbidden)
		w.do(ana, KindReplySaved, saved("r1", "A", "a", ""))
		w.reject(p, KindReplyDeleted, ReplyDeleted{ID: "r1"}, CodeForbidden)
	}
	// An API key acts as the team, with an agent's rights (DESIGN §9).
	w := library(t)
	w.do(Participant{ID: "api:backend", Role: RoleAgent}, KindReplySaved, saved("r1", "A", "a", ""))
}

// Rule 13: the library is the team's. Contacts and visitors never receive
// its events, whatever its state; agents, assistants and supervisors do.
func TestReplyVisibleToTheTeamOnly(t *testing.T) {
	w := library(t)
	out := w.do(ana, KindReplySaved, saved("r1", "A", "Hi {{contact.name}}", ""))
	out = append(out, w.do(ana, KindReplyDeleted, ReplyDeleted{ID: "r1"})...)
	empty := &Conversation{ID: LibraryID} // a contact id "" must not match either
	for _, c := range []*Conversation{w.c, empty} {
		for _, e := range out {
			for _, p := range []Participant{ana, bot, {ID: "agent:sup", Role: RoleSupervisor}} {
				if _, ok := ForViewer(p, c, e); !ok {
					t.Errorf("ForViewer(%s, %s) = false; the team sees the library", p.ID, e.Kind)
				}
			}
			for _, p := range []Participant{alice, visitor, {Role: RoleContact}, {}} {
				if _, ok := ForViewer(p, c, e); ok {
					t.Errorf("ForViewer(%q, %s) = true; end users never see saved replies", p.ID, e.Kind)
				}
				if CanSee(p, c) {
					t.Errorf("CanSee(%q, library) = true", p.ID)
				}
			}
		}
	}
	if CountsAsUnread(ana, w.c, out[0]) || IsTimelineItem(KindReplySaved) || IsTimelineItem(KindReplyDeleted) {
		t.Error("library events are neither unread nor timeline items")
	}
}

func TestReplayRebuildsTheLibrary(t *testing.T) {
	w := library(t)
	w.do(ana, KindReplySaved, saved("r2", "B", "b", "b"))
	w.do(ana, KindReplySaved, saved("r1", "A", "a", "a"))
	w.do(ben, KindReplySaved, saved("r2", "B2", "b2", ""))
	w.do(ben, KindReplyDeleted, ReplyDeleted{ID: "r1"})
	var c *Conversation
	for _, e := range w.log {
		var err error
		if c, err = Replay(c, e); err != nil {
			t.Fatalf("Replay(%s) = %v", e.Kind, err)
		}
	}
	if !equalState(c, w.c) {
		t.Fatalf("Replay = %+v; Apply gave %+v", c, w.c)
	}
	// Pending on a device (NextSeq 0): seq stays 0, the state holds it.
	next, out, err := Apply(w.c, w.event(ana, KindReplySaved, saved("r3", "C", "c", "")), Env{})
	if err != nil || out[0].Seq != 0 || len(next.Replies) != 2 || len(w.c.Replies) != 1 {
		t.Fatalf("pending Apply = %v, %+v, %v; want seq 0 and the input unchanged", out, next, err)
	}
}
