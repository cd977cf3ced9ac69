package search

import (
	"fmt"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
)

func ev(seq uint64, id, c string, k conv.Kind, data any) conv.Event {
	return conv.Event{ID: id, Seq: seq, Conv: c, Kind: k, At: int64(seq), Data: conv.MustData(data)}
}

func TestSearch(t *testing.T) {
	x := New()
	maria := conv.Participant{ID: "contact:maria", Role: conv.RoleContact, Name: "Maria Garcia"}
	x.Add(ev(1, "e1", "c1", conv.KindConversationCreated, conv.Created{Contact: &maria, Subject: "Server offline"}))
	x.Add(ev(2, "e2", "c1", conv.KindMessageSent, conv.Message{Text: "My server is offline since 9:00"}))
	x.Add(ev(3, "e3", "c1", conv.KindNoteAdded, conv.Note{Text: "Escalated to the datacenter team"}))
	x.Add(ev(4, "e4", "c2", conv.KindMessageSent, conv.Message{Text: "Invoice question, not about servers"}))
	x.Add(ev(5, "e5", "c2", conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}))

	cases := []struct {
		q     string
		items []string
	}{
		{"datacenter", []string{"e3"}},
		{"DATACEN", []string{"e3"}},            // a prefix while typing, any case
		{"server offline", []string{"e2", ""}}, // the message, then the conversation (newest first)
		{"serv", []string{"e4", "e2", ""}},
		{"maria", []string{""}},
		{"invoice datacenter", nil},
		{"  ", nil},
	}
	for _, c := range cases {
		hits := x.Search(c.q, 10)
		var got []string
		for _, h := range hits {
			got = append(got, h.Item)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.items) {
			t.Errorf("Search(%q) items = %q; want %q", c.q, got, c.items)
		}
	}
	h := x.Search("datacenter", 1)[0]
	if h.Kind != "note" || h.Conv != "c1" || h.Contact.Name != "Maria Garcia" || h.Snippet == "" {
		t.Fatalf("hit = %+v; want the note in c1 with its contact and a snippet", h)
	}
	if x.Seq() != 5 {
		t.Fatalf("Seq = %d; want 5", x.Seq())
	}
	if got := len(x.Search("serv", 2)); got != 2 {
		t.Fatalf("Search limit 2 gave %d hits", got)
	}
}

// A contact's profile (contact.updated) is what a search finds and what its
// hits show; a visitor's conversation follows it to the contact it became.
func TestSearchFindsTheContactsProfile(t *testing.T) {
	x := New()
	dana := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	visitor := conv.Participant{ID: "visitor:0b1c", Role: conv.RoleVisitor}
	x.Add(ev(1, "e1", "c1", conv.KindConversationCreated, conv.Created{Contact: &dana, Subject: "Billing"}))
	x.Add(ev(2, "e2", "c1", conv.KindContactUpdated, conv.ContactUpdated{Contact: dana, Name: "Dana Whitfield", Email: "dana@example.com"}))
	x.Add(ev(3, "e3", "c1", conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"}))
	x.Add(ev(4, "e4", "c2", conv.KindConversationCreated, conv.Created{Contact: &visitor, Subject: "Hello"}))
	x.Add(ev(5, "e5", "c2", conv.KindMessageSent, conv.Message{Text: "Anyone there?"}))
	x.Add(ev(6, "e6", "c2", conv.KindContactIdentified, conv.ContactIdentified{Visitor: visitor, Contact: conv.Participant{ID: "contact:7", Role: conv.RoleContact}}))
	x.Add(ev(7, "e7", "c2", conv.KindContactUpdated, conv.ContactUpdated{Contact: conv.Participant{ID: "contact:7", Role: conv.RoleContact}, Name: "Sam Reyes", Email: "sam@example.org"}))
	// A profile for another contact than the conversation's changes nothing (the reducer refuses it).
	x.Add(ev(8, "e8", "c2", conv.KindContactUpdated, conv.ContactUpdated{Contact: dana, Name: "Not Sam"}))

	cases := []struct {
		q    string
		hits []string // conv/item
	}{
		{"Dana", []string{"c1/"}},
		{"whitfield", []string{"c1/"}},
		{"dana@example.com", []string{"c1/"}},
		{"dana@exa", []string{"c1/"}}, // still typing
		{"42", []string{"c1/"}},       // the website's id still finds it
		{"billing dana", []string{"c1/"}},
		{"sam", []string{"c2/"}},
		{"sam@example.org", []string{"c2/"}},
		{"not", nil},
	}
	for _, c := range cases {
		var got []string
		for _, h := range x.Search(c.q, 10) {
			got = append(got, h.Conv+"/"+h.Item)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.hits) {
			t.Errorf("Search(%q) = %q; want %q", c.q, got, c.hits)
		}
	}
	for _, c := range []struct{ q, conv, name, email string }{
		{"invoice", "c1", "Dana Whitfield", "dana@example.com"},
		{"anyone", "c2", "Sam Reyes", "sam@example.org"}, // a message the visitor wrote
	} {
		hits := x.Search(c.q, 10)
		if len(hits) != 1 || hits[0].Conv != c.conv || hits[0].Contact.Name != c.name || hits[0].ContactEmail != c.email {
			t.Errorf("Search(%q) = %+v; want one hit in %s by %s <%s>", c.q, hits, c.conv, c.name, c.email)
		}
	}
	if h := x.Search("dana", 1); len(h) != 1 || h[0].Kind != "conversation" || h[0].Snippet != "Dana Whitfield dana@example.com 42 Billing" {
		t.Errorf("Search(dana) = %+v; want the conversation, its snippet the contact's profile", h)
	}
	// A later change of name: the old one no longer finds the conversation twice.
	x.Add(ev(9, "e9", "c1", conv.KindContactUpdated, conv.ContactUpdated{Contact: dana, Name: "Dana Moreau"}))
	if h := x.Search("dana", 10); len(h) != 1 || h[0].Contact.Name != "Dana Moreau" || h[0].ContactEmail != "dana@example.com" {
		t.Errorf("after a new name, Search(dana) = %+v; want one hit with the new name and the email kept", h)
	}
	if h := x.Search("whitfield", 10); len(h) != 0 {
		t.Errorf("after a new name, Search(whitfield) = %+v; want none", h)
	}
}

func TestSnippetKeepsUTF8(t *testing.T) {
	s := snippet("ééééééééééééééééééééééééééééééééééééééééééééé needle ééééé", []string{"needle"})
	for _, r := range s {
		if r == '\uFFFD' {
			t.Fatalf("snippet %q cut a character", s)
		}
	}
}

func BenchmarkSearch(b *testing.B) {
	x := New()
	words := []string{"server", "offline", "invoice", "refund", "password", "dns", "backup", "ssl", "upgrade", "latency"}
	for i := range 200000 {
		x.Add(ev(uint64(i+1), fmt.Sprint(i), fmt.Sprint(i%5000), conv.KindMessageSent, conv.Message{Text: words[i%10] + " " + words[(i/10)%10] + " ticket " + fmt.Sprint(i)}))
	}
	b.ResetTimer()
	for b.Loop() {
		x.Search("server back", 20)
	}
}

// TestSearchFindsFilesByName: a message or note is found by its files'
// names (a file-only one too), and the snippet names the file.
func TestSearchFindsFilesByName(t *testing.T) {
	x := New()
	sha := strings.Repeat("ab", 32)
	x.Add(ev(1, "c1", "c1", conv.KindConversationCreated, conv.Created{Subject: "Billing"}))
	x.Add(ev(2, "m1", "c1", conv.KindMessageSent, conv.Message{Text: "here it is",
		Attachments: []conv.Attachment{{ID: sha, SHA256: sha, Name: "invoice-2026.pdf", Size: 10, Type: "application/pdf"}}}))
	x.Add(ev(3, "n1", "c1", conv.KindNoteAdded, conv.Note{
		Attachments: []conv.Attachment{{ID: sha, SHA256: sha, Name: "screenshot-login.png", Size: 10, Type: "image/png"}}}))
	for _, tc := range []struct {
		q, item, snippet string
	}{
		{"invoice-2026.pdf", "m1", "here it is · Attached: invoice-2026.pdf"},
		{"invoi", "m1", "here it is · Attached: invoice-2026.pdf"},
		{"screenshot login", "n1", "Attached: screenshot-login.png"},
	} {
		hits := x.Search(tc.q, 10)
		if len(hits) != 1 || hits[0].Item != tc.item || hits[0].Snippet != tc.snippet {
			t.Errorf("Search(%q) = %+v; want %s with snippet %q", tc.q, hits, tc.item, tc.snippet)
		}
	}
}
