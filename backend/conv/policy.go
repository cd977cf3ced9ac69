package conv

// Who may do what (rule 12) and who may see what (rule 13). The relay asks
// these functions before it logs or delivers anything, and the device asks
// the same ones before it shows anything, so both always agree.

// Authorize reports whether e's actor may make e in c (nil c: c does not
// exist yet). It checks roles and ownership only; Apply checks the data.
func Authorize(c *Conversation, e Event) error {
	a := e.Actor
	if e.Kind == KindContactIdentified || e.Kind == KindContactUpdated {
		if a.Role != RoleSystem {
			return reject(CodeForbidden, "%s is made by the relay only", e.Kind)
		}
		return nil
	}
	switch a.Role {
	case RoleSystem:
		switch e.Kind {
		case KindThreadStarted, KindThreadEnded, KindStatusChanged:
			return nil
		}
		return reject(CodeForbidden, "the system does not make %s", e.Kind)
	case RoleContact, RoleVisitor:
		switch e.Kind {
		case KindConversationCreated, KindMessageSent, KindThreadStarted, KindThreadEnded, KindSeenMarked:
		default:
			return reject(CodeForbidden, "a %s may not make %s", a.Role, e.Kind)
		}
		if c != nil && c.Contact.ID != a.ID {
			return reject(CodeForbidden, "conversation %s is not yours", c.ID)
		}
		return nil
	case RoleAgent, RoleSupervisor:
		if a.Role == RoleSupervisor || c.IsSupervisor(a.ID) {
			return supervise(e.Kind)
		}
		return nil
	case RoleAssistant:
		switch e.Kind {
		case KindAssigneeChanged, KindParticipantJoined, KindParticipantLeft, KindReplySaved, KindReplyDeleted:
			return reject(CodeForbidden, "an assistant may not make %s", e.Kind)
		}
		return nil
	}
	return reject(CodeForbidden, "unknown role %q", a.Role)
}

// supervise checks what a supervisor may do in a conversation it
// supervises (rule 12, LiveChat's supervise): join, leave, mark seen and add
// notes; reading needs no event. Everything else is forbidden.
func supervise(k Kind) error {
	switch k {
	case KindParticipantJoined, KindParticipantLeft, KindSeenMarked, KindNoteAdded:
		return nil
	case KindMessageSent:
		return reject(CodeForbidden, "a supervisor may not send public messages; leave supervision or add a note")
	}
	return reject(CodeForbidden, "a supervisor may join, leave, mark seen and add notes, not make %s; join as an agent first", k)
}

// CanSee reports whether viewer may see conversation c at all: the team sees
// every conversation of its workspace; a contact or visitor only its own.
func CanSee(viewer Participant, c *Conversation) bool {
	if c == nil {
		return false
	}
	if IsLibrary(c.ID) { // the saved replies are the team's only
		return viewer.IsTeam() || viewer.Role == RoleSupervisor || viewer.Role == RoleSystem
	}
	switch viewer.Role {
	case RoleAgent, RoleAssistant, RoleSupervisor, RoleSystem:
		return true
	case RoleContact, RoleVisitor:
		return c.Contact.ID == viewer.ID
	}
	return false
}

// Visible reports whether viewer may receive e, an event of c. Pass c's
// current state: a visitor's history moves with it once it is identified.
// Contacts and visitors never receive notes, tags, priority, attributes,
// supervisor participation or the team's saved replies (rule 13).
func Visible(viewer Participant, c *Conversation, e Event) bool {
	if !CanSee(viewer, c) {
		return false
	}
	if !viewer.IsEndUser() {
		return true
	}
	switch e.Kind {
	case KindNoteAdded, KindTagsChanged, KindPriorityChanged, KindAttributesSet, KindContactUpdated, KindReplySaved, KindReplyDeleted:
		// A contact's profile is for the team: the contact knows its name.
		return false
	case KindParticipantJoined, KindParticipantLeft:
		d, err := Decode(e)
		if err != nil {
			return false
		}
		return d.(*ParticipantChanged).Participant.Role != RoleSupervisor
	}
	// A supervisor's seen marks are supervisor participation. Judged by the
	// role the event records (Apply writes the role held at the time), never
	// by today's state: joining as a supervisor later must not hide, after
	// the fact, what the contact has already been shown.
	if e.Kind == KindSeenMarked && e.Actor.Role == RoleSupervisor {
		return false
	}
	return true
}

// Redact returns e as viewer may receive it once Visible allows it: without
// the fields rule 13 keeps from contacts and visitors inside events they may
// see (a conversation.created the team made for a contact reaches it
// without its priority, tags and attributes). The bool reports whether
// anything was taken out; when it is false, e is returned as it is.
func Redact(viewer Participant, e Event) (Event, bool) {
	if !viewer.IsEndUser() || e.Kind != KindConversationCreated {
		return e, false
	}
	d, err := Decode(e)
	if err != nil {
		return e, false
	}
	n := *d.(*Created)
	if n.Priority == "" && len(n.Tags) == 0 && len(n.Attributes) == 0 {
		return e, false
	}
	n.Priority, n.Tags, n.Attributes = "", nil, nil
	e.Data = MustData(&n)
	return e, true
}

// ForViewer returns e as viewer receives it, and whether viewer receives it
// at all: Visible, then Redact. (The relay, which sends events as the log
// holds their JSON, asks the two apart, and re-encodes only what Redact
// changed.)
func ForViewer(viewer Participant, c *Conversation, e Event) (Event, bool) {
	if !Visible(viewer, c, e) {
		return e, false
	}
	e, _ = Redact(viewer, e)
	return e, true
}

// MayType reports whether p may show typing in c: whoever may see it.
func MayType(c *Conversation, p Participant) bool {
	return CanSee(p, c)
}

// TypingVisible reports whether viewer may see who typing in c.
func TypingVisible(viewer Participant, c *Conversation, who Participant) bool {
	if !CanSee(viewer, c) || viewer.ID == who.ID {
		return false
	}
	if viewer.IsEndUser() && (who.Role == RoleSupervisor || c.IsSupervisor(who.ID)) {
		return false
	}
	return true
}

// CountsAsUnread reports whether e adds to viewer's unread count in c (rule
// 8): a message viewer may see, made by the other side. For the team (agents,
// assistants, supervisors), the contact's or visitor's messages; for a
// contact or visitor, the team's. Teammates' replies and notes, a bot's
// answers and lifecycle events never make a conversation unread for the
// team. (Notes that mention viewer would count too; there are no mentions
// yet.)
func CountsAsUnread(viewer Participant, c *Conversation, e Event) bool {
	if e.Kind != KindMessageSent || !Visible(viewer, c, e) {
		return false
	}
	if viewer.IsEndUser() {
		return !e.Actor.IsEndUser() && e.Actor.Role != RoleSystem
	}
	return e.Actor.IsEndUser()
}

// IsTimelineItem reports whether events of kind k show in a timeline.
// Seen marks and identification are state, not items.
func IsTimelineItem(k Kind) bool {
	switch k {
	case KindSeenMarked, KindContactIdentified, KindContactUpdated, KindReplySaved, KindReplyDeleted:
		return false
	}
	return Known(k)
}
