package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Memory is a Local that keeps everything in memory: the store of the Go
// client SDK, for bots, tools and tests that run without the desktop app.
//
// It keeps the canonical events of each conversation with the state
// conv.Replay derives from them, and an outbox of the events made here (with
// Act and Create), each pending, logged (acknowledged with a seq, waiting for
// its canonical copy) or failed (rejected, kept until Retry or Discard). Its
// read methods show the optimistic view: canonical state with the outbox's
// pending and logged events applied on top (a rebase on every read). Wait
// tells what the relay answered for an event made here; a Client pushes new
// events as soon as they are made (Memory is a PendingNotifier).
//
// By default a Memory holds every conversation of what its identity may see
// (an agent's or assistant's: the whole workspace). With Keep (or KeepMine),
// it holds the events of the conversations that matter to it only, and of
// the others just their state: see Keep.
//
// A Memory forgets everything when the process ends, so give each one a
// fresh device id (the relay remembers mids per device: a new Memory under an
// old device id would make mids the relay already processed). Welcomed moves
// the mid counter past the relay's lastMid, which covers events made after
// the first welcome.
//
// A typical bot:
//
//	me := conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
//	mem := client.NewMemory(me, uuid.NewString(), client.KeepMine(me))
//	cl, _ := client.New(client.Options{URL: relayURL, Workspace: "acme", Device: mem.Device(),
//		Auth: protocol.Auth{Kind: protocol.AuthAssistant, Token: token}, Local: mem})
//	go cl.Run(ctx)
//	for ch := mem.Changed(); ; ch = mem.Changed() {
//		<-ch
//		// read mem.Conversations(), answer with
//		// ev, err := mem.Act(id, conv.KindMessageSent, conv.Message{Text: "…"}),
//		// and learn whether the relay took it with mem.Wait(ctx, ev.ID).
//	}
type Memory struct {
	mu      sync.Mutex
	me      conv.Participant
	device  string
	epoch   string
	seq     uint64
	lastMid uint64 // the last mid made here
	now     func() time.Time

	convs     map[string]*conv.Conversation // canonical state
	timelines map[string][]conv.Event       // canonical events, by conversation, in log order
	events    int                           // canonical events held
	unapplied int                           // canonical events conv.Replay refused (kept, state unchanged)

	outbox  []*outboxItem // in mid order
	byID    map[string]*outboxItem
	logged  int                           // outbox items acknowledged with a seq
	removed bool                          // items left byID but not yet the outbox (compactLocked)
	views   map[string]*conv.Conversation // optimistic states, by conversation; dropped when either side changes

	keep    func(*conv.Conversation) bool // nil: keep every conversation's events
	settled map[string]Outcome            // outcomes of events that left the outbox, for Wait
	order   []string                      // settled's ids, oldest first

	changed chan struct{}
	pushNow func() // the Client's Kick (NotifyPending)
}

// settledMax is how many outcomes of events that left the outbox (logged and
// applied, no-ops, discarded) a Memory remembers for Wait.
const settledMax = 4096

// OutboxState is where an event made on this device stands.
type OutboxState string

// Outbox states.
const (
	OutboxPending OutboxState = "pending" // not yet acknowledged: pushed at the next chance
	OutboxLogged  OutboxState = "logged"  // acknowledged with a seq; its canonical copy is on its way
	OutboxFailed  OutboxState = "failed"  // rejected by the relay: Retry or Discard it
)

// OutboxItem is one event made on this device that is not canonical yet.
type OutboxItem struct {
	Event conv.Event
	State OutboxState
	Seq   uint64      // logged: its seq
	Err   *conv.Error // failed: why

	done chan struct{} // closed when it stops being pending (Wait)
}

type outboxItem = OutboxItem

var (
	_ Local           = (*Memory)(nil)
	_ WelcomeReceiver = (*Memory)(nil)
	_ PendingNotifier = (*Memory)(nil)
)

// A MemoryOption configures a Memory (NewMemory).
type MemoryOption func(*Memory)

// Keep makes a Memory hold the events of only the conversations keep
// accepts, for a bot that must not hold a whole workspace.
//
// keep is called with a conversation's canonical state (never nil, never
// modified by keep) after each of its events, from the Client's goroutine,
// under the Memory's lock: it must be fast and must not call the Memory.
// While it returns true the Memory holds the conversation's events; when it
// returns false the Memory drops them. Of every conversation, kept or not,
// it holds the state (a conv.Conversation: a few hundred bytes, not its
// events), so a conversation that becomes relevant later (the bot is
// assigned, joins, is made its assistant) has its full state at once, and
// convergence does not depend on what keep says.
//
// Conversations lists the conversations kept (and those with events of this
// device's outbox); Conversation and Canonical answer for any conversation;
// Timeline holds the events since the conversation was last kept (from
// conversation.created when it was kept from the start), with the outbox's
// on top; Len counts the events held.
func Keep(keep func(c *conv.Conversation) bool) MemoryOption {
	return func(m *Memory) { m.keep = keep }
}

// KeepMine is Keep(IsMine(me, ·)): a Memory that holds the events of me's
// conversations only. For an assistant that is those in assistant mode with
// it (conversation.created's assistantId, or the workspace's
// defaultAssistant) and those it is assigned or has joined.
func KeepMine(me conv.Participant) MemoryOption {
	return Keep(func(c *conv.Conversation) bool { return IsMine(me, c) })
}

// IsMine reports whether conversation c is me's: me is its contact, its
// creator, its assignee or a joined participant, or me is the assistant c is
// in assistant mode with (c.AssistantID names an assistant by its config id,
// "faq" for "ai:faq").
func IsMine(me conv.Participant, c *conv.Conversation) bool {
	switch {
	case c == nil || me.ID == "":
		return false
	case c.Contact.ID == me.ID, c.CreatedBy.ID == me.ID:
		return true
	case c.Assignee != nil && c.Assignee.ID == me.ID:
		return true
	case c.AssistantMode && c.AssistantID != "" &&
		(me.ID == conv.AssistantPrefix+c.AssistantID || me.ID == c.AssistantID):
		return true
	}
	return slices.ContainsFunc(c.Participants, func(p conv.Participant) bool { return p.ID == me.ID })
}

// NewMemory returns an empty Memory for a device that acts as me (the relay
// has the last word: Welcomed replaces me with the identity it names).
func NewMemory(me conv.Participant, device string, opts ...MemoryOption) *Memory {
	m := &Memory{
		me:        me,
		device:    device,
		now:       time.Now,
		convs:     map[string]*conv.Conversation{},
		timelines: map[string][]conv.Event{},
		byID:      map[string]*outboxItem{},
		views:     map[string]*conv.Conversation{},
		settled:   map[string]Outcome{},
		changed:   make(chan struct{}),
	}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	return m
}

// NotifyPending implements PendingNotifier: f (the Client's Kick) is called
// after each event Act, Create or Retry queues. A Memory serves one Client:
// the last one registered.
func (m *Memory) NotifyPending(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pushNow = f
}

// Me returns who this device acts as.
func (m *Memory) Me() conv.Participant {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.me
}

// Device returns the device id events made here carry.
func (m *Memory) Device() string { return m.device }

// Changed returns a channel closed at the next change (canonical events
// applied, an outcome recorded, an event made, the welcome naming who this
// device is: a visitor learns its id from it).
func (m *Memory) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Memory) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Cursor implements Local.
func (m *Memory) Cursor() (string, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch, m.seq, nil
}

// Pending implements Local: the pending outbox events, in mid order.
func (m *Memory) Pending() ([]conv.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []conv.Event
	for _, it := range m.outbox {
		if it.State == OutboxPending {
			out = append(out, it.Event)
		}
	}
	return out, nil
}

// ApplyCanonical implements Local.
func (m *Memory) ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch != "" && epoch != m.epoch {
		return fmt.Errorf("client: memory: events of epoch %s on a store of epoch %s (Reset first)", epoch, m.epoch)
	}
	m.epoch = epoch
	removed := false
	for _, e := range events {
		c, tl := m.convs[e.Conv], m.timelines[e.Conv]
		if (len(tl) > 0 && e.Seq <= tl[len(tl)-1].Seq) || (c != nil && e.Seq <= c.LastSeq) {
			continue // held already: conversations come in order, so it was sent twice
		}
		if next, err := conv.Replay(c, e); err == nil {
			m.convs[e.Conv], c = next, next
		} else {
			m.unapplied++ // the relay logged it; keep it, even if this state cannot use it
		}
		if m.keep == nil || (c != nil && m.keep(c)) {
			m.timelines[e.Conv] = append(tl, e)
			m.events++
		} else if tl != nil { // no longer kept: its events go, its state stays
			m.events -= len(tl)
			delete(m.timelines, e.Conv)
		}
		if len(m.views) > 0 {
			delete(m.views, e.Conv)
		}
		if len(m.byID) > 0 {
			if it, ok := m.byID[e.ID]; ok {
				m.removeLocked(it, Outcome{ID: e.ID, Seq: e.Seq})
				removed = true
			}
		}
	}
	m.seq = max(m.seq, upTo)
	if m.logged > 0 { // logged events at or below the cursor that never came back: not visible to us
		for _, it := range m.outbox {
			if it.State == OutboxLogged && it.Seq <= m.seq && m.byID[it.Event.ID] == it {
				m.removeLocked(it, Outcome{ID: it.Event.ID, Seq: it.Seq})
				removed = true
			}
		}
	}
	m.compactLocked()
	if len(events) > 0 || removed {
		m.notifyLocked()
	}
	return nil
}

// removeLocked takes it out of the outbox's index, remembering its outcome
// for Wait; compactLocked then drops every removed item from the outbox in
// one pass.
func (m *Memory) removeLocked(it *outboxItem, o Outcome) {
	delete(m.views, it.Event.Conv)
	if it.State == OutboxLogged {
		m.logged--
	}
	delete(m.byID, it.Event.ID)
	m.removed = true
	resolved(it)
	m.settled[o.ID] = o
	m.order = append(m.order, o.ID)
	if len(m.order) > settledMax {
		delete(m.settled, m.order[0])
		m.order = m.order[1:]
	}
}

// resolved wakes those who Wait for it: it is no longer pending.
func resolved(it *outboxItem) {
	if it.done != nil {
		close(it.done)
		it.done = nil
	}
}

func (m *Memory) compactLocked() {
	if m.removed {
		m.outbox = slices.DeleteFunc(m.outbox, func(o *outboxItem) bool { return m.byID[o.Event.ID] != o })
		m.removed = false
	}
}

// Acknowledged implements Local.
func (m *Memory) Acknowledged(results []Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range results {
		it, ok := m.byID[r.ID]
		if !ok || it.State != OutboxPending {
			continue // its canonical copy came first
		}
		switch {
		case r.Err != nil:
			it.State, it.Err = OutboxFailed, r.Err
			delete(m.views, it.Event.Conv)
			resolved(it)
		case r.Seq == 0:
			m.removeLocked(it, Outcome{ID: r.ID})
		case r.Seq <= m.seq: // applied already without our copy (not visible to us)
			m.removeLocked(it, Outcome{ID: r.ID, Seq: r.Seq})
		default:
			it.State, it.Seq = OutboxLogged, r.Seq
			m.logged++
			resolved(it)
		}
	}
	m.compactLocked()
	m.notifyLocked()
	return nil
}

// Reset implements Local: canonical state goes, the outbox stays, and logged
// events become pending again.
func (m *Memory) Reset(epoch string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch, m.seq = epoch, 0
	m.convs = map[string]*conv.Conversation{}
	m.timelines = map[string][]conv.Event{}
	m.events, m.unapplied = 0, 0
	m.views = map[string]*conv.Conversation{}
	for _, it := range m.outbox {
		if it.State == OutboxLogged {
			it.State, it.Seq, it.done = OutboxPending, 0, make(chan struct{})
		}
	}
	m.logged = 0
	m.notifyLocked()
	return nil
}

// Welcomed implements WelcomeReceiver: it takes the relay's word for who
// this device is, and makes new mids above the relay's lastMid.
func (m *Memory) Welcomed(w protocol.Welcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.Identity.ID != "" {
		me := conv.Participant{ID: w.Identity.ID, Role: w.Identity.Role, Name: w.Identity.Name}
		if me != m.me {
			m.me = me
			m.notifyLocked()
		}
	}
	m.lastMid = max(m.lastMid, w.LastMid)
	return nil
}

// Create makes a conversation.created event for a new conversation (its id
// a fresh UUIDv7) and queues it. A contact or visitor leaves data.Contact
// nil (it is itself); an agent or assistant names the contact.
func (m *Memory) Create(data conv.Created) (conv.Event, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return conv.Event{}, err
	}
	return m.Act(id.String(), conv.KindConversationCreated, data)
}

// Act makes an event of kind in conversation convID with data (a value of
// the kind's data type, as conv.NewData names it, or raw JSON), checks it
// with the reducer against the optimistic state, and queues it: the Client
// pushes it at once when it is connected, at the next connection otherwise.
// Its id is a fresh UUIDv7, its mid the next one, at the clock, base the
// cursor's seq and actor this device's participant. A thread.started without
// a thread id gets a fresh one. A check that fails returns the reducer's
// *conv.Error and queues nothing. Wait(ctx, e.ID) tells what the relay made
// of it.
func (m *Memory) Act(convID string, kind conv.Kind, data any) (conv.Event, error) {
	switch d := data.(type) {
	case conv.ThreadStarted:
		if d.Thread == "" {
			d.Thread = uuid.Must(uuid.NewV7()).String()
		}
		data = d
	case *conv.ThreadStarted:
		if d != nil && d.Thread == "" {
			n := *d
			n.Thread = uuid.Must(uuid.NewV7()).String()
			data = n
		}
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return conv.Event{}, fmt.Errorf("client: encode %s data: %w", kind, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return conv.Event{}, err
	}
	e, push, err := m.act(id.String(), convID, kind, raw)
	if err != nil {
		return conv.Event{}, err
	}
	if push != nil {
		push()
	}
	return e, nil
}

// act queues the event and returns the Client's Kick, to call once the lock
// is released.
func (m *Memory) act(id, convID string, kind conv.Kind, raw json.RawMessage) (conv.Event, func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := conv.Event{
		ID:     id,
		Conv:   convID,
		Kind:   kind,
		Actor:  m.me,
		Device: m.device,
		Mid:    m.lastMid + 1,
		At:     m.now().UnixMilli(),
		Base:   m.seq,
		Data:   raw,
	}
	next, _, err := conv.Apply(m.viewLocked(convID), e, conv.Env{})
	if err != nil {
		return conv.Event{}, nil, err
	}
	m.views[convID] = next
	m.lastMid++
	it := &outboxItem{Event: e, State: OutboxPending, done: make(chan struct{})}
	m.outbox = append(m.outbox, it)
	m.byID[e.ID] = it
	m.notifyLocked()
	return e, m.pushNow, nil
}

// ErrUnknownEvent is returned by Wait for an id this Memory did not make, or
// whose outcome it no longer remembers (it keeps the last 4096 of the events
// that left its outbox).
var ErrUnknownEvent = errors.New("client: no event of this device's outbox, or its outcome is forgotten")

// Wait blocks until the relay has answered for event id, made here (Act,
// Create, Retry), or until ctx is done, and returns its outcome: logged
// (Outcome.Seq > 0; the optimistic view shows it already, its canonical copy
// may still be on its way), accepted as changing nothing (Seq 0), or
// rejected (Outcome.Err). The error is nil for the first two; for a
// rejection it is the relay's *conv.Error (errors.Is(err, conv.ErrStale)),
// and the event stays in the outbox as failed, for Retry or Discard. While
// the device is offline Wait keeps waiting: the event is pushed at the next
// connection. It returns ctx.Err() when ctx ends first, and ErrUnknownEvent
// for an id it cannot answer for.
func (m *Memory) Wait(ctx context.Context, id string) (Outcome, error) {
	for {
		m.mu.Lock()
		it, ok := m.byID[id]
		if !ok {
			o, ok := m.settled[id]
			m.mu.Unlock()
			switch {
			case !ok:
				return Outcome{ID: id}, fmt.Errorf("%w: %q", ErrUnknownEvent, id)
			case o.Err != nil:
				return o, o.Err
			}
			return o, nil
		}
		o, done, state := Outcome{ID: id, Seq: it.Seq, Err: it.Err}, it.done, it.State
		m.mu.Unlock()
		switch state {
		case OutboxLogged:
			return o, nil
		case OutboxFailed:
			return o, o.Err
		}
		select {
		case <-ctx.Done():
			return Outcome{ID: id}, ctx.Err()
		case <-done:
		}
	}
}

// ErrNotFailed is returned by Retry and Discard for an event that is not a
// failed one of the outbox.
var ErrNotFailed = errors.New("client: no such failed event")

// Retry makes a failed event again, as a new event (new id, mid, base and
// time: the relay answers a resent mid as it did the first time), and drops
// the failed one.
func (m *Memory) Retry(id string) (conv.Event, error) {
	m.mu.Lock()
	it, ok := m.byID[id]
	if !ok || it.State != OutboxFailed {
		m.mu.Unlock()
		return conv.Event{}, ErrNotFailed
	}
	e := it.Event
	m.mu.Unlock()
	n, err := m.Act(e.Conv, e.Kind, e.Data)
	if err != nil {
		return conv.Event{}, err
	}
	return n, m.Discard(id)
}

// Discard drops a failed event.
func (m *Memory) Discard(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.byID[id]
	if !ok || it.State != OutboxFailed {
		return ErrNotFailed
	}
	m.removeLocked(it, Outcome{ID: id, Err: it.Err})
	m.compactLocked()
	m.notifyLocked()
	return nil
}

// Outbox returns the events made here that are not canonical yet, in mid
// order.
func (m *Memory) Outbox() []OutboxItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]OutboxItem, len(m.outbox))
	for i, it := range m.outbox {
		out[i] = *it
	}
	return out
}

// Len returns how many canonical events the store holds (with Keep: those
// of the conversations kept).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events
}

// Conversation returns conversation id as this device sees it: canonical
// state with the outbox's pending and logged events on top, whether Keep
// keeps it or not. The value is shared: do not modify it.
func (m *Memory) Conversation(id string) (*conv.Conversation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.viewLocked(id)
	return c, c != nil
}

// Canonical returns conversation id as the relay's log has it, without the
// outbox.
func (m *Memory) Canonical(id string) (*conv.Conversation, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.convs[id]
	return c, ok
}

// Conversations returns every conversation as Conversation does, the most
// recently active first: those kept (all, without Keep) and those with
// events in the outbox.
func (m *Memory) Conversations() []*conv.Conversation {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Every conversation with a state has its events held unless Keep
	// dropped it: the timelines name those to list.
	ids := make(map[string]struct{}, len(m.timelines))
	for id := range m.timelines {
		ids[id] = struct{}{}
	}
	for _, it := range m.outbox {
		ids[it.Event.Conv] = struct{}{}
	}
	out := make([]*conv.Conversation, 0, len(ids))
	for id := range ids {
		if c := m.viewLocked(id); c != nil {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *conv.Conversation) int {
		if a.LastActivityAt != b.LastActivityAt {
			if a.LastActivityAt > b.LastActivityAt {
				return -1
			}
			return 1
		}
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out
}

// Timeline returns conversation id's events as this device sees them: the
// canonical ones in log order, then the outbox's pending and logged ones as
// the reducer makes them (with their derived events), seq 0.
func (m *Memory) Timeline(id string) []conv.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.timelines[id])
	c := m.convs[id]
	for _, it := range m.outbox {
		if it.Event.Conv != id || it.State == OutboxFailed {
			continue
		}
		next, evs, err := conv.Apply(c, it.Event, conv.Env{})
		if err != nil {
			continue
		}
		c = next
		out = append(out, evs...)
	}
	return out
}

// viewLocked rebases the outbox's live events of conversation id on its
// canonical state. Events the reducer now refuses (the log moved under
// them) are left out of the view; the relay will say what becomes of them.
func (m *Memory) viewLocked(id string) *conv.Conversation {
	if c, ok := m.views[id]; ok {
		return c
	}
	c := m.convs[id]
	for _, it := range m.outbox {
		if it.Event.Conv != id || it.State == OutboxFailed {
			continue
		}
		if next, _, err := conv.Apply(c, it.Event, conv.Env{}); err == nil {
			c = next
		}
	}
	if c != nil {
		m.views[id] = c
	}
	return c
}
