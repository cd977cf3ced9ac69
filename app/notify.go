package app

import (
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// Desktop notifications (issue 15 part 7): a contact's new message in a
// conversation assigned to me or unassigned raises an OS notification while
// the window is not focused, if the user has not switched them off in
// Settings; clicking it opens the conversation. Whom to notify is decided
// by two pure functions, Notifies (one event) and Notifications (a batch, with
// the settings and the focus); the App feeds them every canonical event the
// sync client applies and hands what they answer to a Notifier.

// Notification is one desktop notification.
type Notification struct {
	ID    string // the message's event id: the OS's notification id too
	Conv  string // the conversation a click opens
	Title string // who wrote: the contact's name, else its email, else "A visitor"/"Contact 42"
	Body  string // what they wrote, shortened
}

// Notifier shows desktop notifications through the OS. The window's is
// Wails' notifications runtime (D-Bus org.freedesktop.Notifications on
// Linux, notifier_wails.go); tests use a fake.
type Notifier interface {
	Notify(n Notification) error
}

// NotifySettings are the Settings switches of notifications; the UI plays the
// sound (EventNotified says when), the OS shows the notification.
type NotifySettings struct {
	// Desktop: raise an OS notification for a contact's new message while the
	// window is not focused.
	Desktop bool `json:"desktop"`
	// Sound: play a short sound with it.
	Sound bool `json:"sound"`
}

// DefaultNotifySettings: notifications on, the sound off.
var DefaultNotifySettings = NotifySettings{Desktop: true}

// Notifies reports whether e, a canonical event just applied to c (the
// conversation as it is after e), calls for notifying me: a message from the
// contact or visitor (rule 8's unread: conv.CountsAsUnread) in a conversation
// assigned to me or to nobody, and not the bot's (in assistant mode the bot
// answers until it hands off).
func Notifies(me conv.Participant, c *conv.Conversation, e conv.Event) bool {
	if c == nil || c.AssistantMode || !conv.CountsAsUnread(me, c, e) {
		return false
	}
	return c.Assignee == nil || c.Assignee.ID == "" || c.Assignee.ID == me.ID
}

// notifyMaxAge: an event made longer ago than this is not news (a backlog
// after a long time offline, the first sync of a workspace): no notification.
const notifyMaxAge = 2 * time.Minute

// notifyMaxPerBatch caps the notifications one batch of events raises.
const notifyMaxPerBatch = 3

// Notifications returns the notifications a batch of canonical events calls
// for: none when they are switched off or the window is focused (the user is
// looking), none for an event older than notifyMaxAge at now, one per
// conversation (its latest message), at most notifyMaxPerBatch. convOf
// returns a conversation's state after the batch.
func Notifications(me conv.Participant, events []conv.Event, convOf func(id string) *conv.Conversation, set NotifySettings, focused bool, now time.Time) []Notification {
	if !set.Desktop || focused || me.ID == "" {
		return nil
	}
	var out []Notification
	at := map[string]int{} // conversation → its place in out
	for _, e := range events {
		if e.Kind != conv.KindMessageSent || !e.Actor.IsEndUser() || now.Sub(time.UnixMilli(e.At)) > notifyMaxAge {
			continue
		}
		c := convOf(e.Conv)
		if !Notifies(me, c, e) {
			continue
		}
		n := Notification{ID: e.ID, Conv: e.Conv, Title: contactTitle(c), Body: messageBody(e)}
		if i, ok := at[e.Conv]; ok {
			out[i] = n
			continue
		}
		if len(out) == notifyMaxPerBatch {
			continue
		}
		at[e.Conv] = len(out)
		out = append(out, n)
	}
	return out
}

func contactTitle(c *conv.Conversation) string {
	p := c.Contact
	switch {
	case p.Name != "":
		return p.Name
	case c.ContactEmail != "":
		return c.ContactEmail
	case p.Role == conv.RoleVisitor || strings.HasPrefix(p.ID, conv.VisitorPrefix):
		return "A visitor"
	default:
		return "Contact " + strings.TrimPrefix(p.ID, conv.ContactPrefix)
	}
}

const notifyBodyChars = 200

func messageBody(e conv.Event) string {
	var m conv.Message
	_ = json.Unmarshal(e.Data, &m)
	text := strings.Join(strings.Fields(m.Text), " ")
	if text == "" && len(m.Attachments) > 0 {
		if len(m.Attachments) == 1 {
			return "Sent a file: " + m.Attachments[0].Name
		}
		return "Sent files"
	}
	if utf8.RuneCountInString(text) > notifyBodyChars {
		r := []rune(text)
		text = strings.TrimSpace(string(r[:notifyBodyChars-1])) + "…"
	}
	return text
}

// notifyState is what the App keeps for notifications.
type notifyState struct {
	mu       sync.Mutex
	notifier Notifier // nil: none (browser mode without one, before OnStartup)
	focused  bool     // the window has the user's attention, as the UI last said
}

// SetNotifier sets how the App shows desktop notifications (nil: it shows
// none). main's window gets Wails' (OnStartup sets it); tests set a fake.
// A function, not a method, so that Wails does not offer it to the frontend.
func SetNotifier(a *App, n Notifier) {
	a.notify.mu.Lock()
	a.notify.notifier = n
	a.notify.mu.Unlock()
}

// SetFocused tells the App whether the window has the user's attention
// (focused and visible): the UI calls it on focus, blur and visibility
// changes. While it is focused, no notification is raised.
func (a *App) SetFocused(focused bool) error {
	a.notify.mu.Lock()
	changed := a.notify.focused != focused
	a.notify.focused = focused
	a.notify.mu.Unlock()
	if changed { // what decides whether a message notifies: in the log, for "why no notification?"
		a.log.Info("window attention", "focused", focused)
	}
	return nil
}

// NotifySettings returns the notification switches of Settings.
func (a *App) NotifySettings() (NotifySettings, error) {
	p, err := a.prefsOrErr()
	if err != nil {
		return NotifySettings{}, err
	}
	return p.notifySettings(), nil
}

// SetNotifySettings changes the notification switches of Settings.
func (a *App) SetNotifySettings(s NotifySettings) error {
	p, err := a.prefsOrErr()
	if err != nil {
		return err
	}
	return p.setNotifySettings(s)
}

// applied is called with the canonical events the sync client applied: it
// raises the notifications they call for.
func (a *App) applied(events []conv.Event) {
	a.notify.mu.Lock()
	n, focused := a.notify.notifier, a.notify.focused
	a.notify.mu.Unlock()
	if n == nil {
		return
	}
	a.mu.RLock()
	in, p := a.in, a.prefs
	a.mu.RUnlock()
	if in == nil || p == nil {
		return
	}
	convOf := func(id string) *conv.Conversation {
		c, _, err := in.Conversation(id, nil)
		if err != nil {
			return nil
		}
		return c
	}
	set := p.notifySettings()
	for _, note := range Notifications(in.Me(), events, convOf, set, focused, time.Now()) {
		if err := n.Notify(note); err != nil {
			a.log.Warn("desktop notification", "err", err)
			continue
		}
		a.log.Info("desktop notification", "conv", note.Conv)
		a.emit(EventNotified, Notified{Conv: note.Conv, Sound: set.Sound})
	}
}

// Notified is the data of EventNotified.
type Notified struct {
	Conv  string `json:"conv"`
	Sound bool   `json:"sound"` // play the notification sound
}

// OpenRequest is the data of EventOpenConversation.
type OpenRequest struct {
	Conv string `json:"conv"`
}

// notificationClicked opens conv in the window: the notifier calls it when
// the user clicks a notification.
func (a *App) notificationClicked(convID string) {
	if convID == "" {
		return
	}
	a.log.Info("notification clicked: opening the conversation", "conv", convID)
	a.mu.RLock()
	show := a.show
	a.mu.RUnlock()
	if show != nil {
		show()
	}
	a.emit(EventOpenConversation, OpenRequest{Conv: convID})
}
