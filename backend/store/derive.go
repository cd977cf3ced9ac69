package store

import (
	"bytes"
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
// write (writer), or the generator's batch. Items are written as runs
// (keys.go): the items a write adds to a conversation become one entry.
type items interface {
	item(e conv.Event) error
	countUnread(c *conv.Conversation, mark uint64) (int, error)
}

// canonStep applies the canonical event e to c (nil: no state yet), whose
// history is h and whose unread count for me is unread, putting e's
// timeline item to its. It returns the next state, history and count, and
// whether e changed anything: an event that does not apply (its
// conversation is unknown here) is logged but changes nothing. The caller
// logs e.
func canonStep(me conv.Participant, log *slog.Logger, its items, c *conv.Conversation, h history, unread int, e conv.Event) (*conv.Conversation, history, int, bool, error) {
	next, err := conv.Replay(c, e)
	if err != nil || next == nil {
		log.Warn("store: canonical event does not apply", "seq", e.Seq, "id", e.ID, "conv", e.Conv, "kind", e.Kind, "err", err)
		return c, h, unread, false, nil
	}
	if conv.IsTimelineItem(e.Kind) {
		if err := its.item(e); err != nil {
			return c, h, unread, false, fmt.Errorf("store: put item %d: %w", e.Seq, err)
		}
	}
	mark := next.SeenBy(me.ID)
	switch {
	case e.Kind == conv.KindConversationCreated:
		unread = 0
	case recounts(me, e):
		n, err := its.countUnread(next, mark)
		if err != nil {
			return c, h, unread, false, err
		}
		unread = n
	case e.Seq > mark && conv.CountsAsUnread(me, next, e):
		unread++
	}
	return next, h.after(e), unread, true, nil
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
	case conv.KindContactUpdated:
		// A contact's name and email: neither who may see what nor any
		// seen mark moves.
		return false
	}
	return false
}

// countUnread counts c's timeline items above mark that count as unread for
// me (rule 8): the stored ones, scanned in scan, and those of pending (items
// of c not written yet); their events are read from btx (which sees the
// writes of its own transaction). scan is btx, or a read transaction when
// btx holds no timeline writes: an iterator over a write transaction sorts
// all of its pending writes, thousands in a catch-up page.
func countUnread(btx, scan *badger.Txn, me conv.Participant, c *conv.Conversation, mark uint64, pending []uint64) (int, error) {
	n := 0
	counts := func(seq uint64, held []byte) error {
		e, err := itemEvent(btx, seq, held)
		if err != nil {
			return fmt.Errorf("store: read item of %s: %w", c.ID, err)
		}
		if conv.CountsAsUnread(me, c, e) {
			n++
		}
		return nil
	}
	err := scanItems(scan, c.ID, 0, func(seq uint64, held []byte) (bool, error) {
		if seq <= mark {
			return false, nil
		}
		return true, counts(seq, held)
	})
	if err != nil {
		return 0, err
	}
	for _, seq := range pending {
		if seq > mark {
			if err := counts(seq, nil); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// scanItems calls fn for conversation id's timeline items below seq before
// (0: all), newest first, until fn returns false. held is the item's own
// copy of its event in a store written before items pointed at the log
// (valid during the call only), else nil.
func scanItems(btx *badger.Txn, id string, before uint64, fn func(seq uint64, held []byte) (bool, error)) error {
	prefix, err := itemPrefix(id)
	if err != nil {
		return err
	}
	var seek []byte
	if before == 0 {
		seek = append(bytes.Clone(prefix), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	} else {
		seek, _ = itemKey(id, before-1)
	}
	it := btx.NewIterator(badger.IteratorOptions{Prefix: prefix, Reverse: true, PrefetchValues: false})
	defer it.Close()
	var seqs []uint64
	for it.Seek(seek); it.Valid(); it.Next() {
		item := it.Item()
		first := seqOfItemKey(item.Key())
		more := true
		err := item.Value(func(v []byte) error {
			var held []byte
			var err error
			if seqs, held, err = itemRun(seqs[:0], first, v); err != nil {
				return err
			}
			for i := len(seqs) - 1; i >= 0 && more; i-- {
				if before != 0 && seqs[i] >= before {
					continue
				}
				if more, err = fn(seqs[i], held); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: read items of %s: %w", id, err)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// itemEvent returns the event of the timeline item at seq: the log's entry,
// or the item's own copy (held) in a store written before items pointed at
// the log.
func itemEvent(btx *badger.Txn, seq uint64, held []byte) (conv.Event, error) {
	if held != nil {
		return decodeEvent(string(held))
	}
	logged, err := btx.Get(logKey(seq))
	if err != nil {
		return conv.Event{}, fmt.Errorf("store: the log entry of item %d: %w", seq, err)
	}
	var e conv.Event
	err = logged.Value(func(v []byte) error {
		var err error
		e, err = decodeEvent(string(v))
		return err
	})
	return e, err
}

// rebase recomputes r's optimistic view, and its summary at now (Unix ms),
// from its canonical state and its outbox records recs (in mid order): pending and sent events are
// re-applied with conv.Apply and show as items with their state; one that no
// longer applies changes nothing but stays visible (the relay decides);
// failed events show with their error and change nothing.
func (s *Store) rebase(btx *badger.Txn, r *Row, recs []*Pending, now int64) error {
	canon := r.Canon()
	view := canon
	var h history
	if r.canon != nil {
		h = r.canon.sum.history()
	}
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
			h = h.after(e)
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
			h = history{}.after(*created)
		}
	}
	r.view = nil
	switch {
	case view == nil:
		r.Sum = Summary{}
	case view == canon:
		r.Sum = r.canon.sum.at(now)
	default:
		r.view = view
		r.Sum = summaryOf(view, h).at(now)
	}
	switch {
	case canon == nil:
		r.Unread = 0
	case view.SeenBy(s.me.ID) == canon.SeenBy(s.me.ID):
		r.Unread = r.CanonUnread
	default:
		n, err := countUnread(btx, btx, s.me, canon, view.SeenBy(s.me.ID), nil)
		if err != nil {
			return err
		}
		r.Unread = n
	}
	return nil
}
