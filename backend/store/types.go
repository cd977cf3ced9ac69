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
type Summary struct {
	Status         conv.Status
	Priority       conv.Priority
	Tags           []string // normalized, sorted; shared, never modified
	Assignee       string   // participant id; "" when unassigned
	LastActivityAt int64
}

func summaryOf(c *conv.Conversation) Summary {
	s := Summary{Status: c.Status, Priority: c.Priority, Tags: c.Tags, LastActivityAt: c.LastActivityAt}
	if c.Assignee != nil {
		s.Assignee = c.Assignee.ID
	}
	return s
}

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

func newCanonical(c *conv.Conversation) *canonical {
	k := &canonical{enc: string(encodeConversation(nil, c)), sum: summaryOf(c), c: c}
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
