package client

import (
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
// pending and logged events applied on top (a rebase on every read).
//
// A Memory forgets everything when the process ends, so give each one a
// fresh device id (the relay remembers mids per device: a new Memory under an
// old device id would make mids the relay already processed). Welcomed moves
// the mid counter past the relay's lastMid, which covers events made after
// the first welcome.
//
// A typical bot:
//
//	mem := client.NewMemory(conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}, uuid.NewString())
//	cl, _ := client.New(client.Options{URL: relayURL, Workspace: "acme", Device: mem.Device(),
//		Auth: protocol.Auth{Kind: protocol.AuthAssistant, Token: token}, Local: mem})
//	go cl.Run(ctx)
//	for ch := mem.Changed(); ; ch = mem.Changed() {
//		<-ch
//		// read mem.Conversations(), answer with mem.Act(id, conv.KindMessageSent, conv.Message{Text: "…"}),
//		cl.Kick()
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

	changed chan struct{}
}

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
}

type outboxItem = OutboxItem

var _ Local = (*Memory)(nil)
var _ WelcomeReceiver = (*Memory)(nil)

// NewMemory returns an empty Memory for a device that acts as me (the relay
// has the last word: Welcomed replaces me with the identity it names).
func NewMemory(me conv.Participant, device string) *Memory {
	return &Memory{
		me:        me,
		device:    device,
		now:       time.Now,
		convs:     map[string]*conv.Conversation{},
		timelines: map[string][]conv.Event{},
		byID:      map[string]*outboxItem{},
		views:     map[string]*conv.Conversation{},
		changed:   make(chan struct{}),
	}
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
// applied, an outcome recorded, an event made).
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
		tl := m.timelines[e.Conv]
		if len(tl) > 0 && e.Seq <= tl[len(tl)-1].Seq {
			continue // held already: conversations come in order, so it was sent twice
		}
		if next, err := conv.Replay(m.convs[e.Conv], e); err == nil {
			m.convs[e.Conv] = next
		} else {
			m.unapplied++ // the relay logged it; keep it, even if this state cannot use it
		}
		m.timelines[e.Conv] = append(m.timelines[e.Conv], e)
		m.events++
		if len(m.views) > 0 {
			delete(m.views, e.Conv)
		}
		if len(m.byID) > 0 {
			if it, ok := m.byID[e.ID]; ok {
				m.removeLocked(it)
				removed = true
			}
		}
	}
	m.seq = max(m.seq, upTo)
	if m.logged > 0 { // logged events at or below the cursor that never came back: not visible to us
		for _, it := range m.outbox {
			if it.State == OutboxLogged && it.Seq <= m.seq && m.byID[it.Event.ID] == it {
				m.removeLocked(it)
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

// removeLocked takes it out of the outbox's index; compactLocked then drops
// every removed item from the outbox in one pass.
func (m *Memory) removeLocked(it *outboxItem) {
	delete(m.views, it.Event.Conv)
	if it.State == OutboxLogged {
		m.logged--
	}
	delete(m.byID, it.Event.ID)
	m.removed = true
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
		case r.Seq == 0:
			m.removeLocked(it)
		case r.Seq <= m.seq: // applied already without our copy (not visible to us)
			m.removeLocked(it)
		default:
			it.State, it.Seq = OutboxLogged, r.Seq
			m.logged++
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
			it.State, it.Seq = OutboxPending, 0
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
		m.me = conv.Participant{ID: w.Identity.ID, Role: w.Identity.Role, Name: w.Identity.Name}
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
// with the reducer against the optimistic state, and queues it. Its id is a
// fresh UUIDv7, its mid the next one, at the clock, base the cursor's seq and
// actor this device's participant. A thread.started without a thread id gets
// a fresh one. A check that fails returns the reducer's *conv.Error and
// queues nothing. Call the Client's Kick after it to push at once.
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
	m.mu.Lock()
	defer m.mu.Unlock()
	e := conv.Event{
		ID:     id.String(),
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
		return conv.Event{}, err
	}
	m.views[convID] = next
	m.lastMid++
	it := &outboxItem{Event: e, State: OutboxPending}
	m.outbox = append(m.outbox, it)
	m.byID[e.ID] = it
	m.notifyLocked()
	return e, nil
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
	m.removeLocked(it)
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

// Len returns how many canonical events the store holds.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.events
}

// Conversation returns conversation id as this device sees it: canonical
// state with the outbox's pending and logged events on top. The value is
// shared: do not modify it.
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
// recently active first.
func (m *Memory) Conversations() []*conv.Conversation {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make(map[string]struct{}, len(m.convs))
	for id := range m.convs {
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
