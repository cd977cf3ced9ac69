package store

import (
	"sync"

	"github.com/threadline/threadline/backend/conv"
)

// State is where a local event stands; canonical items have StateCanonical.
type State uint8

// States of an item. An outbox record is pending, sent or failed.
const (
	StateCanonical State = iota // in the canonical log
	StatePending                // made here, not yet acknowledged
	StateSent                   // acknowledged with a seq; its canonical copy has not arrived yet
	StateFailed                 // rejected; kept with its error until retried or discarded
)

func (s State) String() string {
	switch s {
	case StateCanonical:
		return "canonical"
	case StatePending:
		return "pending"
	case StateSent:
		return "sent"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}

// Pending is one record of the outbox: a local event and its state.
type Pending struct {
	Event conv.Event
	State State       // StatePending, StateSent or StateFailed
	Seq   uint64      // StateSent: the seq the relay gave it
	Err   *conv.Error // StateFailed: why it was rejected
}

// Outcome is what the relay (or the local sequencer) answered for one pushed
// event: a seq (0: accepted but changed nothing), or an error. It mirrors
// sync/client.Outcome: the same type, conv.Outcome.
type Outcome = conv.Outcome

// Item is one entry of a conversation's timeline.
type Item struct {
	Event conv.Event
	State State       // StateCanonical for logged items
	Err   *conv.Error // StateFailed only
}

// Summary is what the inbox list sorts and filters a conversation on.
//
// A row's Sum is its view at the store's clock (Options.Now): a snoozed
// conversation whose time has passed shows as open (rule 6; Wake moves it
// when the clock passes its time). The summary of a canonical state, as
// stored, keeps the status the log gives.
type Summary struct {
	Status       conv.Status
	SnoozedUntil int64 // Unix ms: when a snoozed conversation wakes; 0 unless the log says snoozed
	Priority     conv.Priority
	Tags         []string // normalized, sorted; shared, never modified
	Assignee     string   // participant id; "" when unassigned
	// LastActivityAt is the at of the latest message, from either side (or
	// of the creation): what the team sorts by. A private note, a seen mark
	// or a lifecycle change does not move it (conv's LastActivityAt counts
	// notes too), so the store keeps it from the history (history).
	LastActivityAt int64
	// Bot: the conversation is in assistant mode, the bot's until handoff:
	// the Bot view's, out of the human views.
	Bot bool
	// NeedsHuman: the assistant handed the conversation off and no agent
	// has replied or taken it since (history).
	NeedsHuman bool
	// Library: the row is the workspace's library of saved replies
	// (conv.LibraryID), not a conversation: no view lists or counts it.
	Library bool
}

// history is what a summary takes from a conversation's past rather than
// from its state (conv keeps neither): the latest message's time, and
// whether a handoff still waits for a human.
type history struct {
	activity   int64
	needsHuman bool
}

func (s Summary) history() history {
	return history{activity: s.LastActivityAt, needsHuman: s.NeedsHuman}
}

// after returns h once e, a canonical or pending event that applied, is
// part of the history.
func (h history) after(e conv.Event) history {
	switch e.Kind {
	case conv.KindConversationCreated:
		return history{activity: e.At}
	case conv.KindMessageSent:
		h.activity = max(h.activity, e.At)
		if e.Actor.Role == conv.RoleAgent { // an agent replied: a human has it
			h.needsHuman = false
		}
	case conv.KindAssistantHandedOff:
		// Handed off by the bot: a human must pick it up. An agent taking
		// it over has picked it up.
		h.needsHuman = e.Actor.Role != conv.RoleAgent
	case conv.KindAssigneeChanged:
		if d, err := conv.Decode(e); err == nil {
			if a := d.(*conv.AssigneeChanged).Assignee; a != nil && a.Role == conv.RoleAgent {
				h.needsHuman = false // an agent took it
			}
		}
	}
	return h
}

func summaryOf(c *conv.Conversation, h history) Summary {
	s := Summary{Status: c.Status, Priority: c.Priority, Tags: c.Tags, LastActivityAt: h.activity, Bot: c.AssistantMode, NeedsHuman: h.needsHuman, Library: conv.IsLibrary(c.ID)}
	if c.Status == conv.StatusSnoozed {
		s.SnoozedUntil = c.SnoozedUntil
	}
	if c.Assignee != nil {
		s.Assignee = c.Assignee.ID
	}
	return s
}

// at returns s as it shows at now (Unix ms): snoozed until a time that has
// passed is open (conv.Conversation.StatusAt).
func (s Summary) at(now int64) Summary {
	if s.Status == conv.StatusSnoozed && now >= s.SnoozedUntil {
		s.Status = conv.StatusOpen
	}
	return s
}

// Asleep reports whether s is snoozed and not yet woken.
func (s Summary) Asleep() bool { return s.Status == conv.StatusSnoozed }

// HasTag reports whether the summary carries tag t (normalized).
func (s Summary) HasTag(t string) bool {
	for _, x := range s.Tags {
		if x == t {
			return true
		}
	}
	return false
}

// canonical is a row's canonical state: its encoding (as stored) and its
// summary are there from the start; the decoded conv.Conversation is made
// on first use. Opening a store of 100,000 conversations so decodes only
// the summaries; the states are decoded as the inbox shows them or a write
// touches them. A canonical is immutable once published.
type canonical struct {
	enc    string // encodeConversation's output
	sum    Summary
	once   sync.Once
	c      *conv.Conversation
	broken error
}

func newCanonical(c *conv.Conversation, h history) *canonical {
	k := &canonical{enc: string(encodeConversation(nil, c)), sum: summaryOf(c, h), c: c}
	k.once.Do(func() {})
	return k
}

func (k *canonical) get() *conv.Conversation {
	k.once.Do(func() {
		r := decoder{s: k.enc}
		k.c, k.broken = r.conversation()
	})
	return k.c
}

// Row is a conversation as the device sees it. Rows are shared by memdb and
// never modified once inserted: a write copies the row, changes the copy and
// inserts it.
type Row struct {
	ID string
	// Sum summarizes View: the inbox sorts and filters on it.
	Sum Summary
	// CanonUnread is the local participant's unread count against its
	// canonical seen mark; Unread is the count against the mark in View
	// (a pending seen.marked clears it at once). Both count canonical items
	// only: pending items are the local participant's own.
	CanonUnread int
	Unread      int
	// Overlay holds the items of pending, sent and failed events (and what
	// they derive), shown after the canonical ones, in mid order.
	Overlay []Item
	// Failed counts the failed events among Overlay's sources.
	Failed int
	// Placeholder: View shows a creation that failed or no longer applies;
	// the conversation does not exist yet.
	Placeholder bool

	canon *canonical         // nil: no canonical state yet
	view  *conv.Conversation // the optimistic view when it is not the canonical state
}

// Canon returns the state the canonical log gives (nil until the
// conversation's creation is logged). It is shared: never modify it.
func (r *Row) Canon() *conv.Conversation {
	if r.canon == nil {
		return nil
	}
	return r.canon.get()
}

// View returns the canonical state with the pending events re-applied (the
// optimistic view): what the UI shows. Nil: nothing to show. It is shared:
// never modify it.
func (r *Row) View() *conv.Conversation {
	if r.view != nil {
		return r.view
	}
	return r.Canon()
}

func (r *Row) hasView() bool { return r.view != nil || r.canon != nil }

// clone returns a shallow copy of r: the states are immutable and shared;
// Overlay is replaced wholesale, never appended to in place.
func (r *Row) clone() *Row {
	n := *r
	return &n
}
