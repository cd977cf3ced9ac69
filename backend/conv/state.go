package conv

import (
	"maps"
	"slices"
)

// Thread is a labelled run of a conversation's timeline (Crisp's threads,
// LiveChat's chats-and-threads). At most one is active at a time.
type Thread struct {
	ID         string `json:"id"`
	Topic      string `json:"topic"`
	StartedSeq uint64 `json:"startedSeq"`
	StartedAt  int64  `json:"startedAt"`
}

// Conversation is the state the reducer derives from a conversation's events.
// Values handed out by Apply and Replay are never modified afterwards: the
// reducer copies before it changes anything, so a state may be shared (as
// go-memdb shares the objects it stores).
type Conversation struct {
	ID      string      `json:"id"`
	Contact Participant `json:"contact"`
	// ContactEmail is the contact's email, as its website gave it for a
	// verified contact (contact.updated); empty when unknown.
	ContactEmail string      `json:"contactEmail,omitempty"`
	Channel      string      `json:"channel,omitempty"`
	Subject      string      `json:"subject,omitempty"`
	CreatedBy    Participant `json:"createdBy"`
	CreatedAt    int64       `json:"createdAt"`
	CreatedSeq   uint64      `json:"createdSeq"`

	Status       Status         `json:"status"`
	SnoozedUntil int64          `json:"snoozedUntil,omitempty"` // snoozed: when it wakes (Unix ms)
	Priority     Priority       `json:"priority"`
	Tags         []string       `json:"tags,omitempty"`         // normalized, sorted
	Assignee     *Participant   `json:"assignee,omitempty"`     // nil: unassigned
	Participants []Participant  `json:"participants,omitempty"` // joined team members, sorted by id
	Attributes   map[string]any `json:"attributes,omitempty"`

	AssistantID   string `json:"assistantId,omitempty"`
	AssistantMode bool   `json:"assistantMode,omitempty"`

	Thread  *Thread `json:"thread,omitempty"` // the active thread; nil when none
	Threads int     `json:"threads"`          // threads started so far

	// Seen holds each participant's seen mark (a seq), by participant id.
	Seen map[string]uint64 `json:"seen,omitempty"`

	LastSeq        uint64      `json:"lastSeq"`        // seq of the latest logged event
	LastItemSeq    uint64      `json:"lastItemSeq"`    // seq of the latest timeline item: seen marks clamp to it
	LastContactSeq uint64      `json:"lastContactSeq"` // seq of the contact's or visitor's latest message
	LastActivityAt int64       `json:"lastActivityAt"` // at of the latest message or note
	LastMessage    string      `json:"lastMessage,omitempty"`
	LastMessageBy  Participant `json:"lastMessageBy"`
	Messages       int         `json:"messages"` // public messages
	Notes          int         `json:"notes"`

	// Replies are the saved replies of the workspace's library, sorted by
	// id: set in the library's state only (ID LibraryID, see replies.go).
	Replies []Reply `json:"replies,omitempty"`
}

// Clone returns a deep copy of c (nil for nil).
func (c *Conversation) Clone() *Conversation {
	if c == nil {
		return nil
	}
	n := *c
	n.Tags = slices.Clone(c.Tags)
	n.Participants = slices.Clone(c.Participants)
	n.Attributes = maps.Clone(c.Attributes)
	n.Seen = maps.Clone(c.Seen)
	n.Replies = slices.Clone(c.Replies)
	if c.Assignee != nil {
		a := *c.Assignee
		n.Assignee = &a
	}
	if c.Thread != nil {
		t := *c.Thread
		n.Thread = &t
	}
	return &n
}

// RoleIn returns the role p holds among c's joined participants, or "".
func (c *Conversation) RoleIn(id string) Role {
	if c == nil {
		return ""
	}
	for _, p := range c.Participants {
		if p.ID == id {
			return p.Role
		}
	}
	return ""
}

// IsSupervisor reports whether id has joined c as a supervisor.
func (c *Conversation) IsSupervisor(id string) bool { return c.RoleIn(id) == RoleSupervisor }

// StatusAt is c's status as every device shows it at now (Unix ms): a
// snoozed conversation whose time has passed is open (rule 6). It is a view
// of the clock: no event is logged when a snooze ends.
func (c *Conversation) StatusAt(now int64) Status {
	if c.Status == StatusSnoozed && now >= c.SnoozedUntil {
		return StatusOpen
	}
	return c.Status
}

// SeenBy returns id's seen mark in c.
func (c *Conversation) SeenBy(id string) uint64 {
	if c == nil {
		return 0
	}
	return c.Seen[id]
}

// HasTag reports whether c carries tag t (already normalized).
func (c *Conversation) HasTag(t string) bool {
	_, ok := slices.BinarySearch(c.Tags, t)
	return ok
}
