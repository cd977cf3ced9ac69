package relay

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// The hub: what live sessions get as groups are published (fan-out with
// visibility, a moved conversation's history), the published and
// acknowledged heads catch-ups read up to, and typing.

// fanOut makes a durable group visible to live sessions: caches the new
// states and queues the events for every live session that may see them.
// It never blocks on a session, and reads the log only before it takes the
// hub's lock. Catch-up reads reach the events once
// readable advances the published head.
func (w *workspace) fanOut(g *group) {
	// The log is read before the hub is locked: a conversation that just
	// moved to a contact brings its history (identification is rare).
	var hists map[string][]eventlog.Record
	if len(g.moved) > 0 && len(g.batch.Events) > 0 {
		hists = map[string][]eventlog.Record{}
		first := g.batch.Events[0].Event.Seq
		for _, m := range g.moved {
			hist, err := w.history(g.states[m.conv], first-1)
			if err != nil {
				w.srv.lg.Error("identify: read history", "workspace", w.id, "conv", m.conv, "err", err)
				continue
			}
			hists[m.conv] = hist
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.broken = nil
	for id, c := range g.states {
		w.states.Put(id, c)
	}
	evs := g.batch.Events
	if len(evs) == 0 {
		return
	}
	w.fanned = evs[len(evs)-1].Event.Seq
	if w.unread == nil {
		w.unread = make(chan struct{})
	}
	if len(w.team) > 0 {
		raws := make([][]byte, len(evs))
		for i := range evs {
			raws[i] = evs[i].JSON
		}
		frames := eventsFrames(raws)
		for s := range w.team {
			s.sendAll(frames)
		}
	}
	if len(w.users) == 0 {
		return
	}
	// Contacts and visitors: each gets the events of its own conversations
	// it may see, judged on the conversation's current state.
	per := map[string][]eventlog.Record{}
	for _, r := range evs {
		c := g.states[r.Event.Conv] // every conversation the group changed
		if c == nil {
			c = w.stateLocked(r.Event.Conv)
		}
		if c == nil || w.users[c.Contact.ID] == nil {
			continue
		}
		if conv.Visible(c.Contact, c, r.Event) {
			r.JSON = forUser(c.Contact, &r.Event, r.JSON)
			per[c.Contact.ID] = append(per[c.Contact.ID], r)
		}
	}
	// A conversation that just moved to a contact brings its history to the
	// contact's live sessions (ascending within the conversation).
	for _, m := range g.moved {
		if w.users[m.contact.ID] != nil {
			per[m.contact.ID] = append(per[m.contact.ID], hists[m.conv]...)
		}
	}
	for pid, recs := range per {
		slices.SortFunc(recs, func(a, b eventlog.Record) int { return cmpU64(a.Event.Seq, b.Event.Seq) })
		raws := make([][]byte, len(recs))
		for i := range recs {
			raws[i] = recs[i].JSON
		}
		frames := eventsFrames(raws)
		for s := range w.users[pid] {
			s.sendAll(frames)
		}
	}
}

// readable advances the published head to what was fanned out: a commit
// has made it readable from the log. After a failed commit it advances too,
// so that catch-ups find the gap and send their sessions away.
func (w *workspace) readable() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pub = w.fanned
	if w.unread != nil {
		close(w.unread)
		w.unread = nil
	}
	select {
	case w.pubPoke <- struct{}{}:
	default:
	}
}

// history reads conversation c's events up to seq upTo that its contact may
// see (c: its state now).
func (w *workspace) history(c *conv.Conversation, upTo uint64) ([]eventlog.Record, error) {
	if c == nil {
		return nil, fmt.Errorf("relay: a moved conversation has no state")
	}
	id := c.ID
	seqs, err := w.srv.log.ConversationSeqs(w.id, id, 0, upTo)
	if err != nil || len(seqs) == 0 {
		return nil, err
	}
	raws, err := w.srv.log.Events(w.id, seqs)
	if err != nil {
		return nil, err
	}
	var out []eventlog.Record
	for _, raw := range raws {
		var e conv.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return nil, fmt.Errorf("relay: decode stored event: %w", err)
		}
		if conv.Visible(c.Contact, c, e) {
			out = append(out, eventlog.Record{Event: e, JSON: forUser(c.Contact, &e, raw)})
		}
	}
	return out, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stateLocked returns conversation id's current state; mu is held.
func (w *workspace) stateLocked(id string) *conv.Conversation {
	if c, ok := w.states.Get(id); ok {
		return c
	}
	c, err := w.srv.log.Conversation(w.id, id)
	if err != nil {
		w.srv.lg.Error("read conversation", "workspace", w.id, "conv", id, "err", err)
		return nil
	}
	return c
}

// state returns conversation id's current state, from any goroutine.
func (w *workspace) state(id string) (*conv.Conversation, error) {
	w.mu.RLock()
	c, ok := w.states.Get(id)
	w.mu.RUnlock()
	if ok {
		return c, nil
	}
	return w.srv.log.Conversation(w.id, id)
}

// published returns the published head.
func (w *workspace) published() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.pub
}

// acknowledged returns the fanned-out head: the highest seq answered to a
// pusher, at or above the published head.
func (w *workspace) acknowledged() uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.fanned
}

// goLive adds s to the hub if it has caught up with the published head,
// queueing its caughtUp frame in the same critical section so that no live
// event can come before it. When events past that head were already fanned
// out, s cannot go live yet nor read them: it should wait on the channel
// returned, closed once they are readable.
func (w *workspace) goLive(s *session, pos uint64) (unread <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pos != w.pub {
		return nil
	}
	if w.fanned != w.pub {
		return w.unread
	}
	if s.who.IsTeam() {
		w.team[s] = struct{}{}
	} else {
		m := w.users[s.who.ID]
		if m == nil {
			m = map[*session]struct{}{}
			w.users[s.who.ID] = m
		}
		m[s] = struct{}{}
	}
	s.live(protocol.CaughtUpFrame(protocol.Cursor{Epoch: w.epoch, Seq: pos}))
	return nil
}

func (w *workspace) leave(s *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.team, s)
	if m := w.users[s.who.ID]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(w.users, s.who.ID)
		}
	}
}

// relayTyping shows who typing (or not) in conversation c to the live
// sessions that may see it, and lapses it after protocol.TypingTTL unless
// renewed.
func (w *workspace) relayTyping(c *conv.Conversation, who conv.Participant, on bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	k := typingKey{c.ID, who.ID}
	t := w.typing[k]
	switch {
	case on && t != nil:
		t.Reset(w.srv.opts.TypingTTL)
	case on:
		w.typing[k] = time.AfterFunc(w.srv.opts.TypingTTL, func() { w.lapseTyping(k, c.ID, who) })
	case t != nil:
		t.Stop()
		delete(w.typing, k)
	default:
		return // not typing, nothing to stop
	}
	w.typingLocked(c, who, on)
}

func (w *workspace) lapseTyping(k typingKey, convID string, who conv.Participant) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.typing[k]; !ok {
		return
	}
	delete(w.typing, k)
	if c := w.stateLocked(convID); c != nil {
		w.typingLocked(c, who, false)
	}
}

func (w *workspace) typingLocked(c *conv.Conversation, who conv.Participant, on bool) {
	p := conv.Participant{ID: who.ID, Role: who.Role}
	f := protocol.TypingFrame(protocol.Typing{Conv: c.ID, Participant: &p, On: on})
	for s := range w.team {
		if conv.TypingVisible(s.who, c, who) {
			s.send(f)
		}
	}
	for s := range w.users[c.Contact.ID] {
		if conv.TypingVisible(s.who, c, who) {
			s.send(f)
		}
	}
}
