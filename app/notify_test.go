package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest/visitor"
)

func TestNotifies(t *testing.T) {
	me := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	ben := conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}
	bot := conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
	maria := conv.Participant{ID: "contact:maria", Role: conv.RoleContact, Name: "Maria"}
	visitor := conv.Participant{ID: "visitor:7f", Role: conv.RoleVisitor}
	msg := func(by conv.Participant) conv.Event {
		return conv.Event{ID: "e1", Conv: "c1", Seq: 9, Kind: conv.KindMessageSent, Actor: by, Data: conv.MustData(conv.Message{Text: "hello"})}
	}
	note := conv.Event{ID: "e2", Conv: "c1", Seq: 9, Kind: conv.KindNoteAdded, Actor: ben, Data: conv.MustData(conv.Note{Text: "fyi"})}
	cases := []struct {
		name string
		c    *conv.Conversation
		e    conv.Event
		want bool
	}{
		{"the contact writes, unassigned", &conv.Conversation{ID: "c1", Contact: maria}, msg(maria), true},
		{"the contact writes, assigned to me", &conv.Conversation{ID: "c1", Contact: maria, Assignee: &me}, msg(maria), true},
		{"a visitor writes, unassigned", &conv.Conversation{ID: "c1", Contact: visitor}, msg(visitor), true},
		{"the contact writes, assigned to a teammate", &conv.Conversation{ID: "c1", Contact: maria, Assignee: &ben}, msg(maria), false},
		{"the contact writes, the bot's (assistant mode)", &conv.Conversation{ID: "c1", Contact: maria, AssistantID: "faq", AssistantMode: true}, msg(maria), false},
		{"the contact writes after handoff", &conv.Conversation{ID: "c1", Contact: maria, AssistantID: "faq"}, msg(maria), true},
		{"a teammate replies", &conv.Conversation{ID: "c1", Contact: maria}, msg(ben), false},
		{"the bot answers", &conv.Conversation{ID: "c1", Contact: maria}, msg(bot), false},
		{"my own reply", &conv.Conversation{ID: "c1", Contact: maria, Assignee: &me}, msg(me), false},
		{"a teammate's note", &conv.Conversation{ID: "c1", Contact: maria}, note, false},
		{"no conversation", nil, msg(maria), false},
	}
	for _, c := range cases {
		if got := Notifies(me, c.c, c.e); got != c.want {
			t.Errorf("Notifies(%s) = %v; want %v", c.name, got, c.want)
		}
	}
}

func TestNotifications(t *testing.T) {
	me := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	maria := conv.Participant{ID: "contact:maria", Role: conv.RoleContact, Name: "Maria"}
	visitor := conv.Participant{ID: "visitor:7f", Role: conv.RoleVisitor}
	now := time.UnixMilli(1_800_000_000_000)
	convs := map[string]*conv.Conversation{}
	for _, id := range []string{"c1", "c2", "c3", "c4", "c5"} {
		convs[id] = &conv.Conversation{ID: id, Contact: maria}
	}
	convs["v"] = &conv.Conversation{ID: "v", Contact: visitor}
	convOf := func(id string) *conv.Conversation { return convs[id] }
	n := 0
	msg := func(c, text string, age time.Duration) conv.Event {
		n++
		return conv.Event{ID: uuid.NewString(), Conv: c, Seq: uint64(n), Kind: conv.KindMessageSent, Actor: convs[c].Contact,
			At: now.Add(-age).UnixMilli(), Data: conv.MustData(conv.Message{Text: text})}
	}
	on := NotifySettings{Desktop: true}

	one := []conv.Event{msg("c1", "Where is  my\ninvoice?", time.Second)}
	if got := Notifications(me, one, convOf, on, false, now); len(got) != 1 || got[0].Conv != "c1" || got[0].Title != "Maria" || got[0].Body != "Where is my invoice?" || got[0].ID != one[0].ID {
		t.Errorf("Notifications(a contact's message, unfocused) = %+v; want one, from Maria, its text on one line", got)
	}
	if got := Notifications(me, one, convOf, on, true, now); len(got) != 0 {
		t.Errorf("Notifications(focused) = %+v; want none", got)
	}
	if got := Notifications(me, one, convOf, NotifySettings{Sound: true}, false, now); len(got) != 0 {
		t.Errorf("Notifications(switched off) = %+v; want none", got)
	}
	if got := Notifications(me, []conv.Event{msg("c1", "old news", time.Hour)}, convOf, on, false, now); len(got) != 0 {
		t.Errorf("Notifications(an hour-old message, a backlog) = %+v; want none", got)
	}
	if got := Notifications(me, []conv.Event{msg("v", "hi", 0)}, convOf, on, false, now); len(got) != 1 || got[0].Title != "A visitor" {
		t.Errorf("Notifications(a visitor's message) = %+v; want one titled A visitor", got)
	}
	burst := []conv.Event{msg("c1", "one", 0), msg("c1", "two", 0), msg("c2", "a", 0), msg("c3", "b", 0), msg("c4", "c", 0), msg("c5", "d", 0)}
	got := Notifications(me, burst, convOf, on, false, now)
	if len(got) != notifyMaxPerBatch || got[0].Conv != "c1" || got[0].Body != "two" {
		t.Errorf("Notifications(a burst over five conversations) = %+v; want %d, one per conversation with its latest message", got, notifyMaxPerBatch)
	}
}

// fakeNotifier records the notifications it is asked to show.
type fakeNotifier struct {
	mu  sync.Mutex
	got []Notification
	ch  chan Notification
}

func (f *fakeNotifier) Notify(n Notification) error {
	f.mu.Lock()
	f.got = append(f.got, n)
	f.mu.Unlock()
	f.ch <- n
	return nil
}

// TestNotificationForUnfocusedWindow: connected to a real relay, a contact's
// message raises a desktop notification while the window is not focused,
// none while it is; clicking one asks the UI to open the conversation.
func TestNotificationForUnfocusedWindow(t *testing.T) {
	url := startRelay(t)
	a, rec := started(t, false)
	fake := &fakeNotifier{ch: make(chan Notification, 16)}
	SetNotifier(a, fake)
	if err := a.Connect(url, "acme", tokAna); err != nil {
		t.Fatalf("Connect = %v", err)
	}
	if s, err := a.NotifySettings(); err != nil || s != DefaultNotifySettings || !s.Desktop {
		t.Fatalf("NotifySettings = %+v, %v; want the default, notifications on", s, err)
	}
	if err := a.SetNotifySettings(NotifySettings{Desktop: true, Sound: true}); err != nil {
		t.Fatal(err)
	}
	_ = a.SetFocused(false)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A visitor (no identity hash to compute) with a name: the notification's title.
	dana, cl := visitor.Connect(t, ctx, url, "acme", "Dana Whitfield")
	created, err := dana.Create(conv.Created{Subject: "Invoice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dana.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()

	var n Notification
	select {
	case n = <-fake.ch:
	case <-ctx.Done():
		t.Fatal("no notification for the contact's message while the window is not focused")
	}
	if n.Conv != created.Conv || n.Title != "Dana Whitfield" || n.Body != "Where is my invoice?" {
		t.Fatalf("notification = %+v; want Dana Whitfield's message in %s", n, created.Conv)
	}
	waitEvent(t, rec, EventNotified)

	// Focused: the next message raises none.
	_ = a.SetFocused(true)
	if _, err := dana.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Hello?"}); err != nil {
		t.Fatal(err)
	}
	cl.Kick()
	for {
		tl, _ := a.Timeline(created.Conv, "", 50)
		if len(tl.Items) > 0 && tl.Items[len(tl.Items)-1].Text == "Hello?" {
			break
		}
		select {
		case <-rec.ch:
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the second message never arrived")
		}
	}
	select {
	case n := <-fake.ch:
		t.Fatalf("notification %+v while the window is focused; want none", n)
	default:
	}

	// The click opens the conversation in the UI.
	a.notificationClicked(created.Conv)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, name := range rec.got {
		if name == EventOpenConversation {
			if r, ok := rec.data[i][0].(OpenRequest); !ok || r.Conv != created.Conv {
				t.Fatalf("%s data = %+v; want {conv: %s}", name, rec.data[i], created.Conv)
			}
			return
		}
	}
	t.Fatalf("a click emitted %v; want %s", rec.got, EventOpenConversation)
}
