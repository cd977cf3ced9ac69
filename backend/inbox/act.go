package inbox

import (
	"fmt"
	"time"

	"github.com/threadline/threadline/backend/conv"
)

// The actions. Each builds an event, validates it with conv.Apply against
// the optimistic view and stores it as pending, durably, before it returns.
// A rejection returns the *conv.Error (match it with errors.Is and the conv
// sentinels) and stores nothing. An action that would change nothing
// (resolving a resolved conversation, marking seen what is seen) stores
// nothing and returns a zero Event and no error.

// CreateOptions are the optional parts of a new conversation.
type CreateOptions struct {
	Channel    string
	Priority   conv.Priority // default medium
	Tags       []string
	Attributes map[string]any
	// Assignee, when set, is assigned in the same action (an
	// assignee.changed right after the creation).
	Assignee *conv.Participant
}

// CreateConversation starts a conversation with contact (a contact or a
// visitor) and, if text is not empty, sends its first message: one action,
// two events (conversation.created then message.sent), stored together or
// not at all, as Kustomer's createConversation({message}); with an
// Assignee, a third (assignee.changed). It returns the new conversation's
// id.
func (in *Inbox) CreateConversation(contact conv.Participant, subject, text string, opts CreateOptions) (string, error) {
	cid, err := in.id()
	if err != nil {
		return "", err
	}
	data := conv.Created{Subject: subject, Channel: opts.Channel, Priority: opts.Priority, Tags: opts.Tags, Attributes: opts.Attributes}
	if !in.me.IsEndUser() {
		c := contact
		data.Contact = &c
	}
	created, err := in.draft(cid, conv.KindConversationCreated, data)
	if err != nil {
		return "", err
	}
	drafts := []conv.Event{created}
	if text != "" {
		m, err := in.draft(cid, conv.KindMessageSent, conv.Message{Text: text})
		if err != nil {
			return "", err
		}
		drafts = append(drafts, m)
	}
	if opts.Assignee != nil {
		a := *opts.Assignee
		d, err := in.draft(cid, conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &a})
		if err != nil {
			return "", err
		}
		drafts = append(drafts, d)
	}
	if _, err := in.act(drafts...); err != nil {
		return cid, err
	}
	return cid, nil
}

// Send sends a public message.
func (in *Inbox) Send(convID, text string) (conv.Event, error) {
	return in.act1(convID, conv.KindMessageSent, conv.Message{Text: text})
}

// SendAttachments sends a message with attachments (text may be empty).
func (in *Inbox) SendAttachments(convID, text string, atts []conv.Attachment) (conv.Event, error) {
	return in.act1(convID, conv.KindMessageSent, conv.Message{Text: text, Attachments: atts})
}

// AddNote adds a private internal note.
func (in *Inbox) AddNote(convID, text string) (conv.Event, error) {
	return in.act1(convID, conv.KindNoteAdded, conv.Note{Text: text})
}

// AddNoteAttachments adds a private note with attachments (text may be empty).
func (in *Inbox) AddNoteAttachments(convID, text string, atts []conv.Attachment) (conv.Event, error) {
	return in.act1(convID, conv.KindNoteAdded, conv.Note{Text: text, Attachments: atts})
}

// StartThread starts a thread with topic (ending the active one, if any).
func (in *Inbox) StartThread(convID, topic string) (conv.Event, error) {
	tid, err := in.id()
	if err != nil {
		return conv.Event{}, err
	}
	return in.act1(convID, conv.KindThreadStarted, conv.ThreadStarted{Thread: tid, Topic: topic})
}

// EndThread ends the active thread; a non-empty topic must be its topic.
func (in *Inbox) EndThread(convID, topic string) (conv.Event, error) {
	return in.act1(convID, conv.KindThreadEnded, conv.ThreadEnded{Topic: topic})
}

// Resolve resolves the conversation (ending its thread). It is rejected as
// stale when a message from the contact arrived after what this device had
// seen.
func (in *Inbox) Resolve(convID string) (conv.Event, error) {
	return in.act1(convID, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved})
}

// Reopen reopens a resolved conversation, or wakes a snoozed one now.
func (in *Inbox) Reopen(convID string) (conv.Event, error) {
	return in.act1(convID, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusOpen})
}

// Snooze snoozes the conversation until a time: it leaves the open views
// for the snoozed one, and comes back when the time passes or the contact
// writes (rule 6). Snoozing it again moves the time.
func (in *Inbox) Snooze(convID string, until time.Time) (conv.Event, error) {
	return in.act1(convID, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: until.UnixMilli()})
}

// TakeOver hands a conversation in assistant mode over from the bot to
// the local participant, who is assigned it (assistant.handed_off).
func (in *Inbox) TakeOver(convID string) (conv.Event, error) {
	me := in.me
	me.Name = ""
	return in.act1(convID, conv.KindAssistantHandedOff, conv.HandedOff{To: &me})
}

// ActOnEach makes one event of kind k with data in each conversation of
// ids (a bulk action: resolve, assign, tag or snooze several at once), in
// one durable write. Each conversation stands alone: errs holds, at the
// index of its id, why one was refused (a *conv.Error), and the others are
// stored all the same; one that the action would not change stores
// nothing and is no error. err is for the store itself.
func (in *Inbox) ActOnEach(ids []string, k conv.Kind, data any) (errs []error, err error) {
	drafts := make([]conv.Event, 0, len(ids))
	for _, id := range ids {
		d, err := in.draft(id, k, data)
		if err != nil {
			return nil, err
		}
		drafts = append(drafts, d)
	}
	stored, errs, err := in.st.AddLocalEach(drafts)
	if err != nil {
		return nil, err
	}
	if in.local != nil && len(stored) > 0 {
		if err := in.local.Flush(); err != nil {
			return errs, fmt.Errorf("inbox: local log: %w", err)
		}
	}
	return errs, nil
}

// SetPriority sets the priority.
func (in *Inbox) SetPriority(convID string, p conv.Priority) (conv.Event, error) {
	return in.act1(convID, conv.KindPriorityChanged, conv.PriorityChanged{Priority: p})
}

// ChangeTags adds and removes tags.
func (in *Inbox) ChangeTags(convID string, add, remove []string) (conv.Event, error) {
	return in.act1(convID, conv.KindTagsChanged, conv.TagsChanged{Add: add, Remove: remove})
}

// Assign assigns the conversation to p (an agent or assistant); nil
// unassigns it.
func (in *Inbox) Assign(convID string, p *conv.Participant) (conv.Event, error) {
	return in.act1(convID, conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: p})
}

// Join makes the local participant join the conversation with role (agent,
// assistant or supervisor).
func (in *Inbox) Join(convID string, role conv.Role) (conv.Event, error) {
	return in.act1(convID, conv.KindParticipantJoined, conv.ParticipantChanged{Participant: conv.Participant{ID: in.me.ID, Role: role}})
}

// Leave makes the local participant leave the conversation.
func (in *Inbox) Leave(convID string) (conv.Event, error) {
	role := in.me.Role
	if r := in.st.Row(convID, nil); r != nil && r.View() != nil {
		if held := r.View().RoleIn(in.me.ID); held != "" {
			role = held
		}
	}
	return in.act1(convID, conv.KindParticipantLeft, conv.ParticipantChanged{Participant: conv.Participant{ID: in.me.ID, Role: role}})
}

// SetAttributes sets custom attributes; a nil value clears one.
func (in *Inbox) SetAttributes(convID string, values map[string]any) (conv.Event, error) {
	return in.act1(convID, conv.KindAttributesSet, conv.AttributesSet{Values: values})
}

// MarkSeen marks the conversation seen up to its latest canonical event
// (the reducer clamps the mark to the latest timeline item). Marking what
// is already seen changes nothing.
func (in *Inbox) MarkSeen(convID string) (conv.Event, error) {
	r := in.st.Row(convID, nil)
	if r == nil || r.Canon() == nil {
		return conv.Event{}, nil // nothing canonical to have seen yet
	}
	return in.act1(convID, conv.KindSeenMarked, conv.SeenMarked{UpTo: r.Canon().LastSeq})
}

// Retry makes a fresh event from a failed one — a new id and mid, the same
// kind, conversation and data, the current time and canonical head — and
// stores it as pending in place of the failed one. (Resending the failed
// event itself would only fetch the same rejection: the relay answers a
// processed mid as it did the first time.) A local rejection returns the
// *conv.Error and leaves the failed event as it was; a retry that would now
// change nothing drops the failed event and returns a zero Event.
func (in *Inbox) Retry(eventID string) (conv.Event, error) {
	newID, err := in.id()
	if err != nil {
		return conv.Event{}, err
	}
	e, err := in.st.Retry(eventID, newID, in.now().UnixMilli())
	if err != nil {
		return conv.Event{}, err
	}
	if in.local != nil && e.ID != "" {
		if err := in.local.Flush(); err != nil {
			return e, err
		}
	}
	return e, nil
}

// Discard drops a failed event for good.
func (in *Inbox) Discard(eventID string) error { return in.st.Discard(eventID) }
