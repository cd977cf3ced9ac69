package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/bounded"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// The writer's first stage (see workspace): the sequencer drains requests
// into groups, validates each event with conv.Apply on top of the groups
// still in flight, and assigns seqs.

// sequence is the sequencer goroutine. It starts a group with the first
// waiting request and validates everything else queued into it; then, while
// the committer is still busy with the group before, it keeps validating
// requests that arrive into the same group (up to the group limits), so a
// request never waits for two commits when one will do.
func (w *workspace) sequence() {
	defer close(w.commits)
	closed := false
	for {
		if max(w.badGen.Load(), w.staleGen.Load()) >= w.gen {
			// A commit failed, or another relay moved the head: wait for
			// the groups in flight to be refused or queued again, then start
			// again from what is committed.
			b := &group{barrier: make(chan struct{})}
			w.commits <- b
			<-b.barrier
			w.gen++
			// The committed head, as the committer left it at the barrier:
			// on a shared log it may follow another relay's events right
			// after, and a group validated on the head read here is then
			// refused as behind and validated again.
			w.seqHead = b.next
			w.mids = bounded.NewMap[devKey, uint64](midCacheSize)
		}
		r := w.nextRetry()
		if r == nil && closed {
			if w.idleAtClose() {
				return
			}
			// Groups in flight may still be queued again.
			select {
			case <-w.wake:
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		if r == nil {
			select {
			case q, ok := <-w.queue:
				if !ok {
					closed = true
					continue
				}
				r = q
			case <-w.wake:
				continue
			}
		}
		g := w.newGroup()
		if !g.add(r) {
			continue
		}
	drain:
		for !g.full() {
			if r := w.nextRetry(); r != nil {
				if !g.add(r) {
					break drain
				}
				continue
			}
			if closed {
				break
			}
			select {
			case r, ok := <-w.queue:
				if !ok {
					closed = true
					break drain
				}
				if !g.add(r) {
					break drain
				}
			default:
				break drain
			}
		}
		if g.failed {
			continue
		}
		w.flightMu.Lock()
		w.inflight = append(w.inflight, g)
		w.flightMu.Unlock()
	handOver:
		for {
			g.seal()
			if g.full() || closed {
				w.commits <- g
				break
			}
			select {
			case w.commits <- g:
				break handOver
			case r, ok := <-w.queue:
				if !ok {
					closed = true
				} else if !g.add(r) {
					break handOver
				}
			}
		}
		if g.failed {
			w.land(g)
			continue
		}
		for k, m := range g.mids {
			w.mids.Put(k, m)
		}
		w.seqHead = g.next - 1
		w.groupHint = len(g.batch.Events)
	}
}

// nextRetry takes the oldest request queued again, or returns nil.
func (w *workspace) nextRetry() *request {
	w.flightMu.Lock()
	defer w.flightMu.Unlock()
	if len(w.retry) == 0 {
		return nil
	}
	r := w.retry[0]
	w.retry = w.retry[1:]
	return r
}

// idleAtClose reports, once the queue is closed, whether the sequencer is
// done: nothing waits to be validated again and no group in flight can
// queue anything. From then on requeue refuses.
func (w *workspace) idleAtClose() bool {
	w.flightMu.Lock()
	defer w.flightMu.Unlock()
	w.seqExited = len(w.retry) == 0 && len(w.inflight) == 0
	return w.seqExited
}

// group is one commit: its requests, its batch, and the overlay of state it
// builds on top of the groups before it.
type group struct {
	w       *workspace
	gen     uint64
	reqs    []*request
	batch   eventlog.Batch
	next    uint64 // seq the next logged event takes
	states  map[string]*conv.Conversation
	mids    map[devKey]uint64
	results map[midKeyT]protocol.Result
	owners  map[string][]eventlog.Ownership // by participant, in order
	moved   []movedConv                     // conversations identified in this group
	prev    []*group                        // the groups in flight when this one began, newest first
	events  int                             // pushed events, for the group limits
	bytes   int                             // their frames' size
	failed  bool                            // refused on a log read failure

	published bool // counted, fanned out and, if pushes only, answered (commit.go)

	barrier chan struct{} // a barrier, not a group: closed when reached, with next the committed head
}

type midKeyT struct {
	devKey
	mid uint64
}

type movedConv struct {
	conv    string
	contact conv.Participant
	seq     uint64
}

func (w *workspace) newGroup() *group {
	g := &group{
		w:       w,
		gen:     w.gen,
		batch:   eventlog.Batch{Head: w.seqHead},
		next:    w.seqHead + 1,
		states:  map[string]*conv.Conversation{},
		mids:    map[devKey]uint64{},
		results: map[midKeyT]protocol.Result{},
		owners:  map[string][]eventlog.Ownership{},
		// Groups only land (leave the flight) after publishing their states,
		// so a snapshot taken now stays right for the whole validation.
		prev: w.flying(),
	}
	// The batch it is validated on top of, if that one is still in flight
	// (groups that write nothing are not the log's to know).
	for _, f := range g.prev {
		if f.writes() {
			g.batch.After = &f.batch
			break
		}
	}
	return g
}

// writes reports whether g has anything for the log.
func (g *group) writes() bool {
	b := &g.batch
	return len(b.Events) > 0 || len(b.Results) > 0 || len(b.Visitors) > 0
}

// full reports whether g has reached the group limits.
func (g *group) full() bool {
	return g.events >= g.w.maxEvents || len(g.batch.Events) >= g.w.maxEvents || g.bytes >= maxGroupBytes
}

// add validates r into g. On a log read failure it refuses every request of
// the group (none is committed), marks g failed and returns false.
func (g *group) add(r *request) bool {
	g.reqs = append(g.reqs, r)
	g.events += len(r.events)
	g.bytes += r.size
	var err error
	switch r.kind {
	case reqPush:
		r.results = make([]protocol.Result, len(r.events))
		if r.once {
			var retry bool
			if retry, err = g.retried(r); retry || err != nil {
				break
			}
		}
		// Conversations whose creation this push had rejected: the push's
		// later events in them are rejected too (a first message must not
		// land in a conversation that another already holds under that id).
		var uncreated map[string]*conv.Error
		for i := range r.events {
			e := &r.events[i]
			if r.results[i], err = g.push(r, *e, uncreated[e.Conv]); err != nil {
				break
			}
			if e.Kind == conv.KindConversationCreated && r.results[i].Error != nil {
				if uncreated == nil {
					uncreated = map[string]*conv.Error{}
				}
				if _, ok := uncreated[e.Conv]; !ok {
					uncreated[e.Conv] = r.results[i].Error
				}
			}
		}
	case reqVisitor:
		g.batch.Visitors = append(g.batch.Visitors, r.visitor)
	case reqProfile:
		err = g.profile(r.contact, r.profile)
	case reqIdentify:
		r.identified, err = g.identify(r.visitorID, r.contact)
		if r.visitor.Contact != r.contact.ID {
			// Seq: the lowest cursor a device can hold only once it has
			// caught up as the contact. Every cursor the visitor's devices
			// hold is at or below the head before the identification; the
			// contact's catch-up ends at or above the last contact.identified
			// (above that head), or, when nothing moved, once the workspace
			// has logged anything more.
			seq := g.next
			if len(r.identified) > 0 {
				seq = g.next - 1
			}
			g.batch.Visitors = append(g.batch.Visitors, eventlog.VisitorToken{Hash: r.visitor.Hash, ID: r.visitorID, Contact: r.contact.ID, Seq: seq})
		}
		if r.alias != "" {
			g.batch.Aliases = append(g.batch.Aliases, eventlog.Alias{Contact: r.contact.ID, Device: r.device, Visitor: r.alias})
		}
	}
	if err == nil {
		return true
	}
	g.w.srv.lg.Error("log read failed; the group is refused", "workspace", g.w.id, "err", err)
	g.failed = true
	for _, r := range g.reqs {
		r.results, r.identified, r.err = nil, nil, err
		close(r.done)
	}
	return false
}

// seal lists the group's conversation states in its batch.
func (g *group) seal() {
	g.batch.States = g.batch.States[:0]
	for _, c := range g.states {
		g.batch.States = append(g.batch.States, c)
	}
}

// push validates one pushed event and, when it changes something, adds it
// (after its derived events) to the group. The error is a log failure; a
// rejected event is a result. uncreated, when not nil, is why the same
// push's conversation.created for e's conversation was rejected: e is
// rejected too (unless it is a resend, answered as the first time), as
// conflict when the creation was, else as no_such_conversation.
func (g *group) push(r *request, e conv.Event, uncreated *conv.Error) (protocol.Result, error) {
	w := g.w
	who, alias, device := r.who, r.alias, r.device
	reject := func(code conv.Code, msg string) protocol.Result {
		w.srv.m.reject(string(code))
		return protocol.Result{ID: e.ID, Error: &conv.Error{Code: code, Message: msg}}
	}
	if e.Device == "" {
		e.Device = device
	}
	if e.Device != device {
		return reject(conv.CodeInvalid, "an event's device must be the session's device"), nil
	}
	dk := devKey{who.ID, device}
	mk := midKeyT{dk, e.Mid}
	// A contact's session that showed its visitor token shares the mids
	// this device used as that visitor: a pending event made before the
	// identification and resent now is still recognized.
	keys := []devKey{dk}
	if alias != "" {
		keys = append(keys, devKey{alias, device})
	}
	var highest uint64
	if e.Mid > 0 { // an event without a mid is processed, but cannot be recognized if resent
		for _, k := range keys {
			h, err := g.highestMid(k)
			if err != nil {
				return protocol.Result{}, err
			}
			highest = max(highest, h)
		}
	}
	if e.Mid > 0 && e.Mid <= highest {
		// A resend: answer as the first time. (A mid below the highest that
		// was never processed, a gap the device filled late, is processed.)
		for _, k := range keys {
			if r, ok, err := g.result(midKeyT{k, e.Mid}); err != nil || ok {
				return r, err
			}
		}
	}

	e.Actor = conv.Participant{ID: who.ID, Role: who.Role} // never trusted from the client
	e.Seq, e.Cause = 0, ""
	if r.atHead {
		e.Base = g.next - 1
	}
	var (
		next    *conv.Conversation
		out     []conv.Event
		aerr    error
		fileIDs []string // the stored files e names (files.go)
	)
	if uncreated != nil {
		// conflict: the id is another conversation's, which this event must
		// not touch. Any other rejection left no conversation: as before,
		// no_such_conversation (DESIGN §5's codes stay what devices know).
		code := conv.CodeNoSuchConversation
		if uncreated.Code == conv.CodeConflict {
			code = conv.CodeConflict
		}
		aerr = &conv.Error{Code: code, Message: fmt.Sprintf(
			"conversation %s was not created (its conversation.created in this push was rejected: %s)", e.Conv, uncreated.Message)}
	} else {
		c, err := g.state(e.Conv)
		if err != nil {
			return protocol.Result{}, err
		}
		if r.asContact {
			aerr = actAsContact(&e, c, who)
		}
		if aerr == nil {
			next, out, aerr = conv.Apply(c, e, w.env(g.next))
		}
		if aerr == nil && len(out) > 0 {
			// Files: stored, the pusher's to name; sized and typed by the relay.
			if fileIDs, aerr, err = w.srv.files.attach(w, r, &out[len(out)-1]); err != nil {
				return protocol.Result{}, err
			}
		}
	}
	var res protocol.Result
	switch {
	case aerr != nil:
		ce := &conv.Error{Code: conv.CodeOf(aerr), Message: aerr.Error()}
		var cerr *conv.Error
		if errors.As(aerr, &cerr) {
			ce.Message = cerr.Message
		}
		w.srv.m.reject(string(ce.Code))
		res = protocol.Result{ID: e.ID, Error: ce}
	case len(out) == 0:
		res = protocol.Result{ID: e.ID}
	default:
		g.log(out, next)
		if err := w.srv.files.named(w, fileIDs, out[len(out)-1]); err != nil {
			return protocol.Result{}, err
		}
		res = protocol.Result{ID: e.ID, Seq: out[len(out)-1].Seq}
		if e.Kind == conv.KindConversationCreated {
			// A conversation for a contact the relay has heard of starts
			// with its profile.
			if p, ok := w.profiles.Get(next.Contact.ID); ok {
				g.logProfile(next, p)
			}
		}
	}
	if e.Mid > 0 {
		g.results[mk] = res
		g.mids[dk] = max(g.mids[dk], e.Mid)
		g.batch.Results = append(g.batch.Results, eventlog.MidResult{Identity: who.ID, Device: device, Mid: e.Mid, Result: res})
	}
	return res, nil
}

// log adds Apply's output to the batch and the overlay. The events' JSON is
// encoded by the committer.
func (g *group) log(out []conv.Event, next *conv.Conversation) {
	if g.batch.Events == nil {
		// Sized like the group before: one event at a time when the load is
		// light (a fixed 256 records, 50 KB a group, had the garbage
		// collector run every second at 1,000 events/s), thousands under a
		// storm, without growing event by event.
		g.batch.Events = make([]eventlog.Record, 0, max(g.w.groupHint, len(out)))
	}
	for _, e := range out {
		g.batch.Events = append(g.batch.Events, eventlog.Record{Event: e})
		switch e.Kind {
		case conv.KindConversationCreated:
			g.own(eventlog.Ownership{Participant: next.Contact.ID, Conv: e.Conv, Since: e.Seq})
		case conv.KindContactIdentified:
			var d conv.ContactIdentified
			_ = json.Unmarshal(e.Data, &d)
			g.own(eventlog.Ownership{Participant: d.Visitor.ID, Conv: e.Conv, Remove: true})
			g.own(eventlog.Ownership{Participant: d.Contact.ID, Conv: e.Conv, Since: e.Seq})
			g.moved = append(g.moved, movedConv{conv: e.Conv, contact: d.Contact, seq: e.Seq})
		}
	}
	g.next = out[len(out)-1].Seq + 1
	g.states[next.ID] = next
}

func (g *group) own(o eventlog.Ownership) {
	g.batch.Owners = append(g.batch.Owners, o)
	g.owners[o.Participant] = append(g.owners[o.Participant], o)
}

// state returns conversation id as of everything validated before.
func (g *group) state(id string) (*conv.Conversation, error) {
	if c, ok := g.states[id]; ok {
		return c, nil
	}
	for _, f := range g.prev {
		if c, ok := f.states[id]; ok {
			return c, nil
		}
	}
	w := g.w
	w.mu.RLock()
	c, ok := w.states.Get(id)
	w.mu.RUnlock()
	if ok {
		return c, nil
	}
	// Not in flight and not cached: the log's state is the latest.
	c, err := w.srv.log.Conversation(w.id, id)
	if err != nil {
		return nil, err
	}
	if c != nil {
		w.mu.Lock()
		w.states.Put(id, c)
		w.mu.Unlock()
	}
	return c, nil
}

func (g *group) highestMid(dk devKey) (uint64, error) {
	h := g.mids[dk]
	for _, f := range g.prev { // in case the cache dropped it meanwhile
		h = max(h, f.mids[dk])
	}
	if m, ok := g.w.mids.Get(dk); ok {
		return max(h, m), nil
	}
	m, err := g.w.srv.log.LastMid(g.w.id, dk.identity, dk.device)
	if err != nil {
		return 0, err
	}
	g.w.mids.Put(dk, m)
	return max(h, m), nil
}

// result finds the answer already given to a mid.
func (g *group) result(mk midKeyT) (protocol.Result, bool, error) {
	if r, ok := g.results[mk]; ok {
		return r, true, nil
	}
	for _, f := range g.prev {
		if r, ok := f.results[mk]; ok {
			return r, true, nil
		}
	}
	return g.w.srv.log.Result(g.w.id, mk.identity, mk.device, mk.mid)
}

// owned lists participant's conversations as of everything validated before.
func (g *group) owned(participant string) ([]string, error) {
	os, err := g.w.srv.log.Owned(g.w.id, participant)
	if err != nil {
		return nil, err
	}
	var convs []string
	for _, o := range os {
		convs = append(convs, o.Conv)
	}
	fs := slices.Clone(g.prev)
	slices.Reverse(fs) // oldest first
	for _, f := range append(fs, g) {
		for _, o := range f.owners[participant] {
			if o.Remove {
				convs = slices.DeleteFunc(convs, func(c string) bool { return c == o.Conv })
			} else if !slices.Contains(convs, o.Conv) {
				convs = append(convs, o.Conv)
			}
		}
	}
	return convs, nil
}

// identifyNS names contact.identified events: their ids are derived from
// the conversation and the contact, so identifying twice names one event.
var identifyNS = uuid.MustParse("0b6f3f1e-8a0c-4c43-9d7e-2f4a1e5c7b90")

// identify logs contact.identified for each of the visitor's conversations.
func (g *group) identify(visitorID string, contact conv.Participant) ([]string, error) {
	convs, err := g.owned(visitorID)
	if err != nil {
		return nil, err
	}
	slices.Sort(convs)
	visitor := conv.Participant{ID: visitorID, Role: conv.RoleVisitor}
	contact = conv.Participant{ID: contact.ID, Role: conv.RoleContact}
	var moved []string
	for _, id := range convs {
		c, err := g.state(id)
		if err != nil {
			return nil, err
		}
		e := conv.Event{
			ID:    uuid.NewSHA1(identifyNS, []byte(id+"\x00"+contact.ID)).String(),
			Conv:  id,
			Kind:  conv.KindContactIdentified,
			Actor: conv.System,
			At:    time.Now().UnixMilli(),
			Base:  g.next - 1,
			Data:  conv.MustData(conv.ContactIdentified{Visitor: visitor, Contact: contact}),
		}
		next, out, aerr := conv.Apply(c, e, g.w.env(g.next))
		if aerr != nil {
			g.w.srv.lg.Warn("identify: conversation not moved", "workspace", g.w.id, "conv", id, "err", aerr)
			continue
		}
		if len(out) > 0 {
			g.log(out, next)
			moved = append(moved, id)
		}
	}
	return moved, nil
}
