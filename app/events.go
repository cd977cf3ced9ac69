package app

import "github.com/threadline/threadline/backend/conv"

// Event names the App emits to the frontend, mirrored one for one in frontend/src/events.ts
// (TestEventsMirrored keeps the two in step). High-rate events are batched every ~100–300 ms,
// never sent one per item.
const (
	// EventInboxChanged: inbox rows, the outbox or unread counts changed. Data: the Status
	// (sync state, pending and failed counts, total unread).
	EventInboxChanged = "inbox:changed"
	// EventTimelineChanged: timeline items of some conversations changed. Data: their ids.
	EventTimelineChanged = "timeline:changed"
	// EventSyncState: the connection to the relay changed. Data: the Status.
	EventSyncState = "sync:state"
	// EventTyping: someone started or stopped typing. Data: {conv, participant, on}.
	EventTyping = "typing"
	// EventNotified: a desktop notification was raised for a contact's message. Data: {conv, sound}
	// (the UI plays the sound when sound is set).
	EventNotified = "notify:sent"
	// EventOpenConversation: the user clicked a notification; the UI opens the conversation.
	// Data: {conv}.
	EventOpenConversation = "conversation:open"
)

// EventData is what each event is emitted with: its arguments, by example. app/tsgen writes their
// TypeScript types (EventData in frontend/src/api/generated.ts), so the UI reads the data as typed.
var EventData = map[string][]any{
	EventInboxChanged:     {Status{}},
	EventTimelineChanged:  {[]string{}},
	EventSyncState:        {Status{}},
	EventTyping:           {TypingData{}},
	EventNotified:         {Notified{}},
	EventOpenConversation: {OpenRequest{}},
}

// TypingData is the data of EventTyping: who started or stopped typing where.
type TypingData struct {
	Conv        string            `json:"conv"`
	Participant *conv.Participant `json:"participant"`
	On          bool              `json:"on"`
}
