package conv

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the test vectors in testdata/")

// UnreadVector is one case of rule 8 as clients outside Go must apply it:
// does an event of kind Kind by Actor, in a conversation of Contact, count
// as unread for Viewer? testdata/unread.json holds them, written from
// CountsAsUnread itself; the widget's and the desktop UI's tests run them.
type UnreadVector struct {
	Name    string      `json:"name"`
	Viewer  Participant `json:"viewer"`
	Contact Participant `json:"contact"`
	Kind    Kind        `json:"kind"`
	Actor   Participant `json:"actor"`
	Unread  bool        `json:"unread"`
}

func unreadVectors(t *testing.T) []UnreadVector {
	supervisor := Participant{ID: ben.ID, Role: RoleSupervisor}
	cases := []struct {
		name          string
		viewer, actor Participant
		kind          Kind
	}{
		{"the contact's message, for an agent", ana, alice, KindMessageSent},
		{"the contact's message, for an assistant", bot, alice, KindMessageSent},
		{"the contact's message, for a supervisor", supervisor, alice, KindMessageSent},
		{"a visitor's message, for an agent", ana, visitor, KindMessageSent},
		{"a teammate's reply, for an agent", ana, ben, KindMessageSent},
		{"my own reply", ana, ana, KindMessageSent},
		{"the bot's answer, for an agent", ana, bot, KindMessageSent},
		{"a teammate's note, for an agent", ana, ben, KindNoteAdded},
		{"a lifecycle event, for an agent", ana, System, KindThreadStarted},
		{"a status change, for an agent", ana, ben, KindStatusChanged},
		{"an agent's reply, for the contact", alice, ana, KindMessageSent},
		{"the bot's answer, for the contact", alice, bot, KindMessageSent},
		{"my own message, for the contact", alice, alice, KindMessageSent},
		{"a note, for the contact", alice, ana, KindNoteAdded},
		{"a lifecycle event, for the contact", alice, System, KindThreadStarted},
		{"an agent's reply, for a visitor", visitor, ana, KindMessageSent},
	}
	var out []UnreadVector
	for _, c := range cases {
		contact := alice
		if c.viewer.Role == RoleVisitor || c.actor.Role == RoleVisitor {
			contact = visitor
		}
		conv := &Conversation{ID: "c1", Contact: contact}
		e := Event{ID: "e1", Seq: 2, Conv: "c1", Kind: c.kind, Actor: c.actor}
		switch c.kind {
		case KindMessageSent:
			e.Data = MustData(Message{Text: "hi", Thread: "t1"})
		case KindNoteAdded:
			e.Data = MustData(Note{Text: "hi"})
		case KindThreadStarted:
			e.Data = MustData(ThreadStarted{Thread: "t1"})
		case KindStatusChanged:
			e.Data = MustData(StatusChanged{Status: StatusResolved})
		}
		out = append(out, UnreadVector{Name: c.name, Viewer: c.viewer, Contact: contact, Kind: c.kind, Actor: c.actor,
			Unread: CountsAsUnread(c.viewer, conv, e)})
	}
	return out
}

// TestUnreadVectors holds testdata/unread.json equal to what CountsAsUnread
// answers (go test -run UnreadVectors -update rewrites it) and to rule 8.
func TestUnreadVectors(t *testing.T) {
	vs := unreadVectors(t)
	for _, v := range vs {
		want := v.Kind == KindMessageSent && v.Actor.ID != v.Viewer.ID &&
			(v.Viewer.IsEndUser() && (v.Actor.Role == RoleAgent || v.Actor.Role == RoleAssistant) ||
				!v.Viewer.IsEndUser() && v.Actor.IsEndUser())
		if v.Unread != want {
			t.Errorf("CountsAsUnread: %s = %v; want %v", v.Name, v.Unread, want)
		}
	}
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", "unread.json")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(held, b) {
		t.Fatalf("%s is not what conv answers (err %v): run go test ./backend/conv -run UnreadVectors -update", path, err)
	}
}
