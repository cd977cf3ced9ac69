// Event names the Go side emits (app/events.go), one for one: the Go test TestEventsMirrored
// fails when the two files differ. Subscribe with `on(EventInboxChanged, ...)` from ./api.

// Inbox rows, the outbox or unread counts changed. Data: the Status.
export const EventInboxChanged = 'inbox:changed'
// Timeline items of some conversations changed. Data: their ids.
export const EventTimelineChanged = 'timeline:changed'
// The connection to the relay changed. Data: the Status.
export const EventSyncState = 'sync:state'
// Someone started or stopped typing. Data: {conv, participant, on}.
export const EventTyping = 'typing'
// A desktop notification was raised for a contact's message. Data: {conv, sound}.
export const EventNotified = 'notify:sent'
// The user clicked a notification: open the conversation. Data: {conv}.
export const EventOpenConversation = 'conversation:open'
