package search

import (
	"fmt"
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
