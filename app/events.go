package app

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
