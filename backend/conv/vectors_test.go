package conv

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
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
	holdVectors(t, "unread.json", "UnreadVectors", vs)
}

// holdVectors keeps testdata/name equal to vs as indented JSON: -update
// rewrites it, and otherwise a difference fails the test (the file is what
// the JavaScript tests run, so it must be what conv answers).
func holdVectors(t *testing.T, name, test string, vs any) {
	t.Helper()
	b, err := json.MarshalIndent(vs, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	held, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(held, b) {
		t.Fatalf("%s is not what conv answers (err %v): run go test ./backend/conv -run %s -update", path, err, test)
	}
}

// IDVector is one case of the id scheme (DESIGN §2) as RoleOfID answers it:
// the role an id's prefix names ("" for none) and whether it is well-formed.
// testdata/ids.json holds them.
type IDVector struct {
	ID    string `json:"id"`
	Role  Role   `json:"role"`
	Valid bool   `json:"valid"`
}

// TestIDVectors holds testdata/ids.json equal to what RoleOfID answers.
func TestIDVectors(t *testing.T) {
	cases := []struct {
		id    string
		role  Role
		valid bool
	}{
		{"agent:ana", RoleAgent, true},
		{"agent:ana.lima@example.com", RoleAgent, true},
		{"ai:faq", RoleAssistant, true},
		{"contact:42", RoleContact, true},
		{"contact:alice", RoleContact, true},
		{"visitor:0190f3a2-7c1e-7b2a-9f00-1a2b3c4d5e6f", RoleVisitor, true},
		{"system", RoleSystem, true},
		{"agent:", RoleAgent, false},
		{"ai:", RoleAssistant, false},
		{"contact:", RoleContact, false},
		{"visitor:", RoleVisitor, false},
		{"contact:" + strings.Repeat("x", MaxIDChars-len(ContactPrefix)), RoleContact, true},
		{"contact:" + strings.Repeat("x", MaxIDChars-len(ContactPrefix)+1), RoleContact, false},
		{"contact:a b", RoleContact, false},
		{"agent:ana\n", RoleAgent, false},
		{"ana", "", false},
		{"", "", false},
		{"supervisor:ben", "", false},
		{"assistant:faq", "", false},
		{"Agent:ana", "", false},
		{"systems", "", false},
		{":ana", "", false},
	}
	var vs []IDVector
	for _, c := range cases {
		role, valid := RoleOfID(c.id)
		if role != c.role || valid != c.valid {
			t.Errorf("RoleOfID(%q) = %q, %v; want %q, %v", c.id, role, valid, c.role, c.valid)
		}
		vs = append(vs, IDVector{ID: c.id, Role: role, Valid: valid})
	}
	holdVectors(t, "ids.json", "IDVectors", vs)
}

// SettleVector is one case of how the relay's answer settles a pending
// event (Settle): an event of Kind, answered with Seq or Error, on a device
// that applied the log up to Applied. testdata/settle.json holds them.
type SettleVector struct {
	Name       string     `json:"name"`
	Kind       Kind       `json:"kind"`
	Seq        uint64     `json:"seq"`
	Error      *Error     `json:"error,omitempty"`
	Applied    uint64     `json:"applied"`
	Settlement Settlement `json:"settlement"`
}

// TestSettleVectors holds testdata/settle.json equal to what Settle answers.
func TestSettleVectors(t *testing.T) {
	stale := &Error{Code: CodeStale, Message: "a new message arrived"}
	forbidden := &Error{Code: CodeForbidden, Message: "not yours"}
	cases := []struct {
		name    string
		kind    Kind
		seq     uint64
		err     *Error
		applied uint64
		want    Settlement
	}{
		{"logged ahead of the device: sent, waiting for its copy", KindMessageSent, 12, nil, 10, SettleSent},
		{"logged, its copy already applied: gone", KindMessageSent, 12, nil, 12, SettleDrop},
		{"logged below what the device applied: gone", KindMessageSent, 5, nil, 10, SettleDrop},
		{"accepted, changed nothing (seq 0): gone", KindStatusChanged, 0, nil, 10, SettleDrop},
		{"a no-op on a fresh device: gone", KindTagsChanged, 0, nil, 0, SettleDrop},
		{"a first event logged on a fresh device: sent", KindConversationCreated, 1, nil, 0, SettleSent},
		{"refused as stale: failed", KindStatusChanged, 0, stale, 10, SettleFailed},
		{"a refused message: failed", KindMessageSent, 0, forbidden, 10, SettleFailed},
		{"a refused note: failed", KindNoteAdded, 0, forbidden, 0, SettleFailed},
		{"a refused seen mark: gone", KindSeenMarked, 0, forbidden, 10, SettleDrop},
		{"a logged seen mark ahead: sent", KindSeenMarked, 11, nil, 10, SettleSent},
		{"a seen mark, changed nothing: gone", KindSeenMarked, 0, nil, 10, SettleDrop},
	}
	var vs []SettleVector
	for _, c := range cases {
		got := Settle(c.kind, Outcome{ID: "e1", Seq: c.seq, Err: c.err}, c.applied)
		if got != c.want {
			t.Errorf("Settle(%s) = %v; want %v", c.name, got, c.want)
		}
		vs = append(vs, SettleVector{Name: c.name, Kind: c.kind, Seq: c.seq, Error: c.err, Applied: c.applied, Settlement: got})
	}
	holdVectors(t, "settle.json", "SettleVectors", vs)
}
