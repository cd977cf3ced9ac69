package inbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/threadline/threadline/backend/conv"
)

// Work made while local-only goes up to the relay on the first connect: a
// local inbox's log holds every event its user made (with this device's id
// and a mid), next to what the demo logged for its contacts and teammates
// (device "demo", no mid). LocalWork picks the user's own conversations —
// those created on this device — with the user's events in them; Carry adds
// them to a synced inbox as pending events of its identity, so the sync
// client pushes them like anything made offline. The local inbox itself is
// left as it was (the app keeps it aside, to go back to).

// LocalWork is what a local-only inbox holds that its user made.
type LocalWork struct {
	// Events are the user's events in the conversations created on this
	// device, in the order they were made; seen marks are left out (their
	// seqs name the local log's items, which mean nothing to a relay).
	Events []conv.Event `json:"-"`
	// Conversations are the ids of those conversations, in creation order.
	Conversations []string `json:"-"`
	// Replies are the saved replies the user made on this device (first
	// saved here, not deleted since), each as the last reply.saved that
	// made it what it is, in the order they were made. The library is no
	// conversation: it is not in Conversations nor Total.
	Replies []conv.Event `json:"-"`
	// Total counts every conversation of the inbox, the user's included.
	Total int `json:"total"`
}

// Others counts the conversations that stay behind: the demo's, or any not
// created on this device.
func (w LocalWork) Others() int { return w.Total - len(w.Conversations) }

// LocalWork reads the local log (and the outbox, for what a failed flush
// left pending) for the user's own conversations. It answers ErrNotLocal
// for a store synced with a relay: its work is already the relay's.
func (in *Inbox) LocalWork() (LocalWork, error) {
	epoch, _ := in.st.Cursor(nil)
	if epoch != "" && !strings.HasPrefix(epoch, LocalEpochPrefix) {
		return LocalWork{}, ErrNotLocal
	}
	var w LocalWork
	all := map[string]bool{}
	mine := map[string]bool{}
	lib := replyWork{first: map[string]bool{}, last: map[string]conv.Event{}}
	add := func(e conv.Event) {
		if conv.IsLibrary(e.Conv) {
			lib.add(e, in.madeHere(e))
			return
		}
		if !all[e.Conv] {
			all[e.Conv] = true
			w.Total++
		}
		if !in.madeHere(e) {
			return
		}
		if e.Kind == conv.KindConversationCreated && !mine[e.Conv] {
			mine[e.Conv] = true
			w.Conversations = append(w.Conversations, e.Conv)
		}
		if mine[e.Conv] && e.Kind != conv.KindSeenMarked {
			w.Events = append(w.Events, e)
		}
	}
	if err := in.st.Log(0, func(e conv.Event) bool { add(e); return true }); err != nil {
		return LocalWork{}, fmt.Errorf("inbox: read the local log: %w", err)
	}
	for _, e := range in.st.Pending(nil) {
		add(e)
	}
	w.Replies = lib.events()
	return w, nil
}

// replyWork gathers the saved replies first saved on this device from a
// local log, as LocalWork reads it.
type replyWork struct {
	order []string              // reply ids, as first saved
	first map[string]bool       // reply id → first saved here
	last  map[string]conv.Event // reply id → its last event made here
}

func (r *replyWork) add(e conv.Event, here bool) {
	d, err := conv.Decode(e)
	if err != nil {
		return
	}
	var id string
	switch d := d.(type) {
	case *conv.ReplySaved:
		id = d.Reply.ID
		if _, seen := r.first[id]; !seen {
			r.first[id] = here
			r.order = append(r.order, id)
		}
	case *conv.ReplyDeleted:
		id = d.ID
	}
	if here {
		r.last[id] = e
	}
}

func (r *replyWork) events() []conv.Event {
	var out []conv.Event
	for _, id := range r.order {
		if e, ok := r.last[id]; ok && r.first[id] && e.Kind == conv.KindReplySaved {
			out = append(out, e)
		}
	}
	return out
}

// madeHere reports whether e is an event the local user made on this
// device (not a derived one, not the demo's).
func (in *Inbox) madeHere(e conv.Event) bool {
	return e.Device == in.device && e.Mid > 0 && e.Cause == "" && e.Actor.ID == in.me.ID
}

// Carry adds the user's local work to this (synced) inbox as pending
// events of its identity, to be pushed at the next sync: each keeps its
// id, conversation, device, time and data; its actor, and any mention of
// the local user in its data (an assignee, a participant), become the
// inbox's identity. lastMid is the highest mid the relay has processed for
// this device: the carried events are numbered after it, so none is taken
// for a resend. Attribute values the inbox's schema (the workspace's, when
// known) does not take are left out. A conversation the inbox holds already
// (carried before) is skipped. Each conversation goes in as one batch; one that no longer
// applies goes in event by event, and an event refused even alone is left
// out (it stays in the local inbox). Carry returns the ids of the
// conversations added.
func (in *Inbox) Carry(w LocalWork, lastMid uint64) ([]string, error) {
	if err := in.st.AdvanceMid(lastMid); err != nil {
		return nil, err
	}
	byConv := map[string][]conv.Event{}
	for _, e := range w.Events {
		e, keep, err := in.adopt(e)
		if err != nil {
			return nil, err
		}
		if keep {
			byConv[e.Conv] = append(byConv[e.Conv], e)
		}
	}
	var added []string
	for _, id := range w.Conversations {
		if r := in.st.Row(id, nil); r != nil && !r.Placeholder {
			continue
		}
		evs := byConv[id]
		if len(evs) == 0 {
			continue
		}
		_, err := in.st.AddLocal(evs)
		var ce *conv.Error
		if errors.As(err, &ce) {
			kept := 0
			for _, e := range evs {
				if _, err := in.st.AddLocal([]conv.Event{e}); errors.As(err, &ce) {
					in.log.Warn("inbox: a local event does not apply on the relay's inbox; left in the local inbox",
						"conv", id, "event", e.ID, "kind", e.Kind, "err", ce)
					continue
				} else if err != nil {
					return added, err
				}
				kept++
			}
			if kept == 0 {
				continue
			}
		} else if err != nil {
			return added, err
		}
		added = append(added, id)
	}
	// The saved replies, each on its own: one the team's library already
	// holds (carried before) is skipped, one it refuses (a shortcut a
	// teammate took) is left in the local inbox.
	var lib *conv.Conversation
	if r := in.st.Row(conv.LibraryID, nil); r != nil {
		lib = r.View()
	}
	for _, e := range w.Replies {
		d, err := conv.Decode(e)
		if err != nil {
			return added, fmt.Errorf("inbox: carry %s %s: %w", e.Kind, e.ID, err)
		}
		if _, ok := lib.Reply(d.(*conv.ReplySaved).Reply.ID); ok {
			continue
		}
		e, _, err = in.adopt(e)
		if err != nil {
			return added, err
		}
		var ce *conv.Error
		if _, err := in.st.AddLocal([]conv.Event{e}); errors.As(err, &ce) {
			in.log.Warn("inbox: a saved reply does not apply on the relay's library; left in the local inbox", "event", e.ID, "err", ce)
		} else if err != nil {
			return added, err
		}
	}
	return added, nil
}

// adopt rewrites a local event as this inbox's identity made it. With a
// schema (the workspace's attribute definitions), attribute values the
// workspace does not define, or not of its type, are left out (they stay in
// the local inbox), so the conversation still goes up; keep is false for an
// attributes.set left with nothing to set.
func (in *Inbox) adopt(e conv.Event) (_ conv.Event, keep bool, err error) {
	local := e.Actor.ID
	e.Actor, e.Device, e.Seq, e.Mid, e.Base = in.me, in.device, 0, 0, 0
	me := func(p *conv.Participant) bool {
		if p != nil && p.ID == local {
			*p = in.me
			return true
		}
		return false
	}
	fit := func(values map[string]any, allowClear bool) (map[string]any, bool) {
		if in.schema == nil || len(values) == 0 {
			return values, false
		}
		kept := map[string]any{}
		for k, v := range values {
			if conv.CheckAttributes(in.schema, map[string]any{k: v}, allowClear) == nil {
				kept[k] = v
			} else {
				in.log.Warn("inbox: an attribute the workspace does not define is left in the local inbox", "conv", e.Conv, "key", k)
			}
		}
		return kept, len(kept) != len(values)
	}
	var changed bool
	d, err := conv.Decode(e)
	if err != nil {
		return e, false, fmt.Errorf("inbox: carry %s %s: %w", e.Kind, e.ID, err)
	}
	switch d := d.(type) {
	case *conv.Created:
		d.Attributes, changed = fit(d.Attributes, false)
		if len(d.Attributes) == 0 {
			d.Attributes = nil
		}
	case *conv.AttributesSet:
		d.Values, changed = fit(d.Values, true)
		if len(d.Values) == 0 {
			return e, false, nil
		}
	case *conv.AssigneeChanged:
		changed = me(d.Assignee)
	case *conv.ParticipantChanged:
		changed = me(&d.Participant)
	case *conv.HandedOff:
		changed = me(d.To)
	}
	if changed {
		e.Data = conv.MustData(d)
	}
	return e, true, nil
}
