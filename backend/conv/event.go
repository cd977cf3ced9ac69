package conv

import (
	"encoding/json"
	"fmt"
)

// Role says what a participant is; it decides what it may do and see.
type Role string

// Roles of DESIGN §2. System is the actor of derived events.
const (
	RoleAgent      Role = "agent"
	RoleAssistant  Role = "assistant"
	RoleContact    Role = "contact"
	RoleVisitor    Role = "visitor"
	RoleSupervisor Role = "supervisor"
	RoleSystem     Role = "system"
)

// Participant names someone in a workspace: "agent:ana", "contact:42".
type Participant struct {
	ID   string `json:"id"`
	Role Role   `json:"role"`
	Name string `json:"name,omitempty"`
}

// Participant id prefixes: the id scheme of DESIGN §2. An agent "ana" of the
// config is "agent:ana", an assistant "faq" is "ai:faq", the website's
// contact "42" is "contact:42", a visitor is "visitor:<uuid>".
const (
	AgentPrefix     = "agent:"
	AssistantPrefix = "ai:"
	ContactPrefix   = "contact:"
	VisitorPrefix   = "visitor:"
)

// System is the actor of every derived event.
var System = Participant{ID: "system", Role: RoleSystem}

// IsEndUser reports whether p is a contact or a visitor (the customer side).
func (p Participant) IsEndUser() bool { return p.Role == RoleContact || p.Role == RoleVisitor }

// IsTeam reports whether p speaks for the workspace (agent or assistant).
func (p Participant) IsTeam() bool { return p.Role == RoleAgent || p.Role == RoleAssistant }

// Kind names an event kind.
type Kind string

// Event kinds of DESIGN §3.
const (
	KindConversationCreated Kind = "conversation.created"
	KindMessageSent         Kind = "message.sent"
	KindNoteAdded           Kind = "note.added"
	KindThreadStarted       Kind = "thread.started"
	KindThreadEnded         Kind = "thread.ended"
	KindStatusChanged       Kind = "status.changed"
	KindPriorityChanged     Kind = "priority.changed"
	KindTagsChanged         Kind = "tags.changed"
	KindAssigneeChanged     Kind = "assignee.changed"
	KindParticipantJoined   Kind = "participant.joined"
	KindParticipantLeft     Kind = "participant.left"
	KindAttributesSet       Kind = "attributes.set"
	KindSeenMarked          Kind = "seen.marked"
	KindAssistantHandedOff  Kind = "assistant.handed_off"
	KindContactIdentified   Kind = "contact.identified"
	KindContactUpdated      Kind = "contact.updated"
	KindReplySaved          Kind = "reply.saved"   // the team's library of saved replies (LibraryID)
	KindReplyDeleted        Kind = "reply.deleted" // the team's library of saved replies (LibraryID)
)

// Kinds lists every kind, in the order of DESIGN §3.
var Kinds = []Kind{
	KindConversationCreated, KindMessageSent, KindNoteAdded, KindThreadStarted,
	KindThreadEnded, KindStatusChanged, KindPriorityChanged, KindTagsChanged,
	KindAssigneeChanged, KindParticipantJoined, KindParticipantLeft,
	KindAttributesSet, KindSeenMarked, KindAssistantHandedOff, KindContactIdentified,
	KindContactUpdated, KindReplySaved, KindReplyDeleted,
}

// Event is one change, as it travels on the wire and sits in the log.
type Event struct {
	ID     string          `json:"id"`
	Seq    uint64          `json:"seq"`
	Conv   string          `json:"conv"`
	Kind   Kind            `json:"kind"`
	Actor  Participant     `json:"actor"`
	Device string          `json:"device,omitempty"`
	Mid    uint64          `json:"mid,omitempty"`
	At     int64           `json:"at"` // device clock, Unix milliseconds; display only
	Base   uint64          `json:"base"`
	Cause  string          `json:"cause,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// Status of a conversation.
type Status string

// Statuses.
const (
	StatusOpen     Status = "open"
	StatusResolved Status = "resolved"
	StatusSnoozed  Status = "snoozed" // until a time (StatusChanged.Until), or until the contact writes
)

// Priority of a conversation; medium by default.
type Priority string

// Priorities, lowest first.
const (
	PriorityLow    Priority = "low"
	PriorityMedium Priority = "medium"
	PriorityHigh   Priority = "high"
	PriorityUrgent Priority = "urgent"
)

// Rank orders priorities: low 0 … urgent 3; unknown -1.
func (p Priority) Rank() int {
	switch p {
	case PriorityLow:
		return 0
	case PriorityMedium:
		return 1
	case PriorityHigh:
		return 2
	case PriorityUrgent:
		return 3
	}
	return -1
}

// Created is the data of conversation.created.
type Created struct {
	Contact     *Participant   `json:"contact,omitempty"`
	Channel     string         `json:"channel,omitempty"`
	Subject     string         `json:"subject,omitempty"`
	Priority    Priority       `json:"priority,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	AssistantID string         `json:"assistantId,omitempty"`
}

// Attachment is a file a message or note carries (DESIGN §10). Its bytes
// are uploaded to the relay before the event: ID and SHA256 are both their
// SHA-256 in lowercase hex; the relay fills Size and Type from what it
// stored (its sniffed type wins over the device's).
type Attachment struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	Type   string `json:"type"`
	SHA256 string `json:"sha256"`
}

// IsFileID reports whether id names a file as an Attachment does: 64
// lowercase hex digits.
func IsFileID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Message is the data of message.sent.
type Message struct {
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Thread      string       `json:"thread,omitempty"`
}

// Note is the data of note.added.
type Note struct {
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// ThreadStarted is the data of thread.started.
type ThreadStarted struct {
	Thread string `json:"thread"`
	Topic  string `json:"topic"`
}

// ThreadEnded is the data of thread.ended.
type ThreadEnded struct {
	Thread string `json:"thread,omitempty"`
	Topic  string `json:"topic,omitempty"`
}

// StatusChanged is the data of status.changed. Until (Unix milliseconds)
// goes with snoozed only: when the conversation wakes.
type StatusChanged struct {
	Status Status `json:"status"`
	Until  int64  `json:"until,omitempty"`
}

// PriorityChanged is the data of priority.changed.
type PriorityChanged struct {
	Priority Priority `json:"priority"`
}

// TagsChanged is the data of tags.changed.
type TagsChanged struct {
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
}

// AssigneeChanged is the data of assignee.changed; a nil Assignee unassigns.
type AssigneeChanged struct {
	Assignee *Participant `json:"assignee"`
}

// ParticipantChanged is the data of participant.joined and participant.left.
type ParticipantChanged struct {
	Participant Participant `json:"participant"`
}

// AttributesSet is the data of attributes.set.
type AttributesSet struct {
	Values map[string]any `json:"values"`
}

// SeenMarked is the data of seen.marked.
type SeenMarked struct {
	UpTo uint64 `json:"upTo"`
}

// HandedOff is the data of assistant.handed_off.
type HandedOff struct {
	To *Participant `json:"to,omitempty"`
}

// ContactIdentified is the data of contact.identified.
type ContactIdentified struct {
	Visitor Participant `json:"visitor"`
	Contact Participant `json:"contact"`
}

// ContactUpdated is the data of contact.updated: the contact's profile as
// its website gave it (name; for a verified contact, email). An empty field
// is unchanged. The relay logs it in each of the contact's conversations
// whose profile differs, so a conversation's state carries who its contact
// is (Conversation.Contact.Name, ContactEmail).
type ContactUpdated struct {
	Contact Participant `json:"contact"`
	Name    string      `json:"name,omitempty"`
	Email   string      `json:"email,omitempty"`
}

// Reply is one of the team's saved replies (canned replies): a title, the
// text it inserts (with variables such as {{contact.name}} that the
// composer fills in) and an optional shortcut that the composer's picker
// matches first. Its ID is a UUIDv7 made by the device that first saved it.
type Reply struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Text     string `json:"text"`
	Shortcut string `json:"shortcut,omitempty"`
}

// ReplySaved is the data of reply.saved: the whole reply, new or edited.
type ReplySaved struct {
	Reply Reply `json:"reply"`
}

// ReplyDeleted is the data of reply.deleted.
type ReplyDeleted struct {
	ID string `json:"id"`
}

// Known reports whether k is one of Kinds (without making its data value,
// as NewData does).
func Known(k Kind) bool {
	switch k {
	case KindConversationCreated, KindMessageSent, KindNoteAdded, KindThreadStarted,
		KindThreadEnded, KindStatusChanged, KindPriorityChanged, KindTagsChanged,
		KindAssigneeChanged, KindParticipantJoined, KindParticipantLeft,
		KindAttributesSet, KindSeenMarked, KindAssistantHandedOff, KindContactIdentified,
		KindContactUpdated, KindReplySaved, KindReplyDeleted:
		return true
	}
	return false
}

// NewData returns a pointer to the zero data value of kind k, or nil for an
// unknown kind.
func NewData(k Kind) any {
	switch k {
	case KindConversationCreated:
		return &Created{}
	case KindMessageSent:
		return &Message{}
	case KindNoteAdded:
		return &Note{}
	case KindThreadStarted:
		return &ThreadStarted{}
	case KindThreadEnded:
		return &ThreadEnded{}
	case KindStatusChanged:
		return &StatusChanged{}
	case KindPriorityChanged:
		return &PriorityChanged{}
	case KindTagsChanged:
		return &TagsChanged{}
	case KindAssigneeChanged:
		return &AssigneeChanged{}
	case KindParticipantJoined, KindParticipantLeft:
		return &ParticipantChanged{}
	case KindAttributesSet:
		return &AttributesSet{}
	case KindSeenMarked:
		return &SeenMarked{}
	case KindAssistantHandedOff:
		return &HandedOff{}
	case KindContactIdentified:
		return &ContactIdentified{}
	case KindContactUpdated:
		return &ContactUpdated{}
	case KindReplySaved:
		return &ReplySaved{}
	case KindReplyDeleted:
		return &ReplyDeleted{}
	}
	return nil
}

// Decode parses e.Data into the typed value of its kind (a pointer, as
// NewData returns). Empty data decodes as the zero value.
func Decode(e Event) (any, error) {
	if len(e.Data) > 0 {
		if d, ok := fastData(e.Kind, e.Data); ok {
			return d, nil
		}
	}
	d := NewData(e.Kind)
	if d == nil {
		return nil, reject(CodeInvalid, "unknown event kind %q", e.Kind)
	}
	if len(e.Data) == 0 || string(e.Data) == "null" {
		return d, nil
	}
	if err := json.Unmarshal(e.Data, d); err != nil {
		return nil, reject(CodeInvalid, "%s: bad data: %v", e.Kind, err)
	}
	return d, nil
}

// MustData marshals v for Event.Data. It panics only for values that cannot
// be marshalled, which the data types above never are.
func MustData(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("conv: marshal %T: %v", v, err))
	}
	return b
}
