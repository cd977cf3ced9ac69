package store

import (
	"fmt"
	"log/slog"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/threadline/threadline/backend/conv"
)

// This file holds the derivation rules: how a canonical event changes a
// conversation's canonical state and unread count (canonStep), how pending
// events make the optimistic view (rebase), and how unread items are
// counted (rule 8). Incremental writes, Open, Rebuild and Generate all go
// through these functions, so what they build is the same.

// items is where canonStep puts timeline items and counts unread ones: a
// Badger transaction, or the generator's batch. An item is its key and an
// empty value: the event itself is the log's (keys.go).
type items interface {
	put(k []byte, e conv.Event) error
	countUnread(c *conv.Conversation, mark uint64) (int, error)
}

// txnItems keeps items in a Badger transaction.
type txnItems struct {
	me  conv.Participant
	btx *badger.Txn
}

func (t txnItems) put(k []byte, _ conv.Event) error { return t.btx.Set(k, nil) }
func (t txnItems) countUnread(c *conv.Conversation, mark uint64) (int, error) {
	return countUnread(t.btx, t.me, c, mark)
}

// canonStep applies the canonical event e to c (nil: no state yet), whose
// unread count for me is unread, putting e's timeline item to its. It
// returns the next state and count, and whether e changed anything: an event
// that does not apply (its conversation is unknown here) is logged but
// changes nothing. The caller logs e.
func canonStep(me conv.Participant, log *slog.Logger, its items, c *conv.Conversation, unread int, e conv.Event) (*conv.Conversation, int, bool, error) {
	next, err := conv.Replay(c, e)
	if err != nil || next == nil {
		log.Warn("store: canonical event does not apply", "seq", e.Seq, "id", e.ID, "conv", e.Conv, "kind", e.Kind, "err", err)
		return c, unread, false, nil
	}
	if conv.IsTimelineItem(e.Kind) {
		k, err := itemKey(e.Conv, e.Seq)
		if err != nil {
			return c, unread, false, err
		}
		if err := its.put(k, e); err != nil {
			return c, unread, false, fmt.Errorf("store: put item %d: %w", e.Seq, err)
		}
	}
	mark := next.SeenBy(me.ID)
	switch {
	case e.Kind == conv.KindConversationCreated:
		unread = 0
	case recounts(me, e):
		n, err := its.countUnread(next, mark)
		if err != nil {
			return c, unread, false, err
		}
		unread = n
	case e.Seq > mark && conv.CountsAsUnread(me, next, e):
		unread++
	}
	return next, unread, true, nil
}

// recounts reports whether e may change which items count as unread for the
// local participant, so that counting one more is not enough: its own seen
// mark moved, or (for a contact or visitor, who does not see everything)
// what it may see changed.
func recounts(me conv.Participant, e conv.Event) bool {
	switch e.Kind {
	case conv.KindSeenMarked:
		return e.Actor.ID == me.ID
	case conv.KindParticipantJoined, conv.KindParticipantLeft, conv.KindContactIdentified:
		return me.IsEndUser()
	}
	return false
}

// countUnread counts c's timeline items above mark that count as unread for
// me (rule 8), reading the items from btx (which sees the writes of its own
// transaction).
func countUnread(btx *badger.Txn, me conv.Participant, c *conv.Conversation, mark uint64) (int, error) {
	prefix, err := itemPrefix(c.ID)
	if err != nil {
		return 0, err
	}
	start, _ := itemKey(c.ID, mark+1)
	it := btx.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	n := 0
	for it.Seek(start); it.Valid(); it.Next() {
		e, err := itemEvent(btx, it.Item())
		if err != nil {
			return 0, fmt.Errorf("store: read item of %s: %w", c.ID, err)
		}
		if conv.CountsAsUnread(me, c, e) {
			n++
		}
	}
	return n, nil
}

// itemEvent returns the event of a timeline item: the log's entry at the
// item's seq, or (in a store written before items pointed at the log) the
// event the item holds.
func itemEvent(btx *badger.Txn, item *badger.Item) (conv.Event, error) {
	var e conv.Event
	var held bool
	err := item.Value(func(v []byte) error {
		if len(v) == 0 {
			return nil
		}
		held = true
		var err error
		e, err = decodeEvent(string(v))
		return err
	})
	if err != nil || held {
		return e, err
	}
	seq := seqOfItemKey(item.Key())
	logged, err := btx.Get(logKey(seq))
	if err != nil {
		return conv.Event{}, fmt.Errorf("store: the log entry of item %d: %w", seq, err)
	}
	err = logged.Value(func(v []byte) error {
		var err error
		e, err = decodeEvent(string(v))
		return err
	})
	return e, err
}

// rebase recomputes r's optimistic view from its canonical state and its
// outbox records recs (in mid order): pending and sent events are
// re-applied with conv.Apply and show as items with their state; one that no
// longer applies changes nothing but stays visible (the relay decides);
// failed events show with their error and change nothing.
func (s *Store) rebase(btx *badger.Txn, r *Row, recs []*Pending) error {
	canon := r.Canon()
	view := canon
	r.Overlay, r.Failed, r.Placeholder = nil, 0, false
	var created *conv.Event
	for _, p := range recs {
		if p.Event.Kind == conv.KindConversationCreated && created == nil {
			created = &p.Event
		}
		if p.State == StateFailed {
			r.Failed++
			if conv.IsTimelineItem(p.Event.Kind) {
				r.Overlay = append(r.Overlay, Item{Event: p.Event, State: StateFailed, Err: p.Err})
			}
			continue
		}
		next, evs, err := conv.Apply(view, p.Event, conv.Env{Schema: s.schema})
		if err != nil || len(evs) == 0 {
			if conv.IsTimelineItem(p.Event.Kind) {
				r.Overlay = append(r.Overlay, Item{Event: p.Event, State: p.State})
			}
			continue
		}
		view = next
		for _, e := range evs {
			if conv.IsTimelineItem(e.Kind) {
				r.Overlay = append(r.Overlay, Item{Event: e, State: p.State})
			}
		}
	}
	if view == nil && created != nil {
		// Its creation failed or no longer applies: show what was typed
		// anyway, so that it can be retried or discarded.
		if v, err := conv.Replay(nil, *created); err == nil {
			view, r.Placeholder = v, true
		}
	}
	r.view = nil
	switch {
	case view == nil:
		r.Sum = Summary{}
	case view == canon:
		r.Sum = r.canon.sum
	default:
		r.view = view
		r.Sum = summaryOf(view)
	}
	switch {
	case canon == nil:
		r.Unread = 0
	case view.SeenBy(s.me.ID) == canon.SeenBy(s.me.ID):
		r.Unread = r.CanonUnread
	default:
		n, err := countUnread(btx, s.me, canon, view.SeenBy(s.me.ID))
		if err != nil {
			return err
		}
		r.Unread = n
	}
	return nil
}
