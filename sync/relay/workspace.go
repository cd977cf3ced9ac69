package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/bounded"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// A workspace is one hosted team: its configuration, the writer that
// orders its events (group commit), and the hub that fans logged events out
// to its live sessions.
//
// The writer is two goroutines in a pipeline. The sequencer drains the
// request queue into a group, validates it with conv.Apply and assigns its
// seqs, on top of the groups still in flight; the committer writes each
// group in one Log.Append (one fsync), publishes it and answers its
// requests. While one group is being written the next one is validated.
// If an Append fails, that group and every group validated on top of it
// are refused (their sessions reconnect and resend) and the sequencer
// starts again from the committed state.
type workspace struct {
	srv   *Server
	id    string
	set   atomic.Pointer[settings] // the config's part a reload may change
	epoch string

	// Requests queue up here. qmu guards stopped against sends on a closed
	// queue.
	queue   chan *request
	qmu     sync.RWMutex
	stopped bool
	commits chan *group   // sequencer → committer, unbuffered
	done    chan struct{} // closed when the committer has exited

	// Sequencer-owned.
	seqHead   uint64                        // the last seq assigned (committed or in flight)
	gen       uint64                        // bumped after a failed commit
	mids      *bounded.Map[devKey, uint64]  // highest processed mid per device, in flight included
	groupHint int                           // events the last group logged: the next batch's first capacity
	profiles  *bounded.Map[string, profile] // the latest profile a hello gave, per contact or visitor

	flightMu sync.Mutex
	inflight []*group // validated, not yet published; oldest first

	badGen atomic.Uint64 // generation of the last failed commit

	// Committer-owned.
	head uint64 // committed head

	// The hub. mu guards everything below; the committer holds it to
	// publish a group, sessions to go live and to relay typing.
	mu     sync.RWMutex
	pub    uint64                                   // published head: readable from the log and fanned out
	fanned uint64                                   // fanned-out head: pub, or above it while a durable group is not yet readable
	unread chan struct{}                            // while fanned > pub: closed when pub reaches it
	states *bounded.Map[string, *conv.Conversation] // committed conversation states
	team   map[*session]struct{}                    // live agent and assistant sessions
	users  map[string]map[*session]struct{}         // live contact and visitor sessions by participant id
	typing map[typingKey]*time.Timer
	broken error // the last log failure; cleared by the next successful commit

	// pubPoke is poked, never blocking, whenever pub advances; the
	// webhooks' watcher drains it (see webhook.go).
	pubPoke chan struct{}
}

// env is what conv.Apply needs of the workspace; next is the seq the first
// resulting event takes.
func (w *workspace) env(next uint64) conv.Env { return w.settings().env(next) }

// settings returns the workspace's current settings.
func (w *workspace) settings() *settings { return w.set.Load() }

type devKey struct{ identity, device string }

type typingKey struct{ conv, participant string }

// Group limits keep one commit inside one Badger transaction.
const (
	maxGroupEvents = 4000
	maxGroupBytes  = 4 << 20
	stateCacheSize = 100_000
	midCacheSize   = 100_000
)

func newWorkspace(srv *Server, cfg WorkspaceConfig) (*workspace, error) {
	epoch, head, err := srv.log.Open(cfg.ID)
	if err != nil {
		return nil, err
	}
	w := &workspace{
		srv:      srv,
		id:       cfg.ID,
		epoch:    epoch,
		queue:    make(chan *request, 1024),
		commits:  make(chan *group),
		done:     make(chan struct{}),
		seqHead:  head,
		gen:      1,
		mids:     bounded.NewMap[devKey, uint64](midCacheSize),
		profiles: bounded.NewMap[string, profile](midCacheSize),
		head:     head,
		pub:      head,
		fanned:   head,
		states:   bounded.NewMap[string, *conv.Conversation](stateCacheSize),
		team:     map[*session]struct{}{},
		users:    map[string]map[*session]struct{}{},
		typing:   map[typingKey]*time.Timer{},
		pubPoke:  make(chan struct{}, 1),
	}
	w.set.Store(newSettings(cfg))
	go w.sequence()
	go w.commitLoop()
	return w, nil
}

// request is work for the writer: a push, a new visitor, or identifying a
// visitor as a contact. The writer fills the answer and closes done.
type request struct {
	kind reqKind

	who    conv.Participant // push: the session's identity
	alias  string           // push: the visitor a contact's session proved it was, or ""
	device string
	events []conv.Event

	visitor eventlog.VisitorToken // newVisitor; identify: the visitor's token record

	visitorID string           // identify: the visitor…
	contact   conv.Participant // …becomes this contact; profile: whose it is

	profile profile // profile: what the hello said of contact

	// push from the HTTP API (api_write.go): the writer's narrow paths for
	// an API key, and for nothing else.
	asContact bool // its message.sent events are the conversation's contact's (DESIGN §9)
	atHead    bool // its events' base is the head they are validated on
	once      bool // Idempotency-Key: once its first mid is processed, every event is answered as the first time

	size int // estimated bytes, for group limits

	// Answers.
	results    []protocol.Result
	identified []string // identify: the conversations that moved
	err        error
	done       chan struct{}
}

type reqKind uint8

const (
	reqPush reqKind = iota
	reqVisitor
	reqIdentify
	reqProfile
)

var (
	errStopped   = errors.New("relay: shutting down")
	errAbandoned = errors.New("relay: an earlier commit failed")
)

// submit hands r to the writer and waits for its answer.
func (w *workspace) submit(r *request) error {
	r.done = make(chan struct{})
	w.qmu.RLock()
	if w.stopped {
		w.qmu.RUnlock()
		return errStopped
	}
	w.queue <- r
	w.qmu.RUnlock()
	<-r.done
	return r.err
}

// stop lets the writer finish what is queued, then waits for it to exit.
func (w *workspace) stop() {
	w.qmu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.queue)
	}
	w.qmu.Unlock()
	<-w.done
	w.mu.Lock()
	for k, t := range w.typing {
		t.Stop()
		delete(w.typing, k)
	}
	w.mu.Unlock()
}

// sequence is the sequencer goroutine. It starts a group with the first
// waiting request and validates everything else queued into it; then, while
// the committer is still busy with the group before, it keeps validating
// requests that arrive into the same group (up to the group limits), so a
// request never waits for two commits when one will do.
func (w *workspace) sequence() {
	defer close(w.commits)
	for r := range w.queue {
		if w.badGen.Load() >= w.gen {
			// A commit failed: wait for the groups in flight to be refused,
			// then start again from what is committed.
			b := &group{barrier: make(chan struct{})}
			w.commits <- b
			<-b.barrier
			w.gen++
			w.seqHead = w.head // the committer is idle: nothing races
			w.mids = bounded.NewMap[devKey, uint64](midCacheSize)
		}
		g := w.newGroup()
		if !g.add(r) {
			continue
		}
		closed := false
	drain:
		for !g.full() {
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
		if closed {
			return
		}
	}
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

	barrier chan struct{} // a barrier, not a group: closed when reached
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
	return &group{
		w:       w,
		gen:     w.gen,
		next:    w.seqHead + 1,
		states:  map[string]*conv.Conversation{},
		mids:    map[devKey]uint64{},
		results: map[midKeyT]protocol.Result{},
		owners:  map[string][]eventlog.Ownership{},
		// Groups only land (leave the flight) after publishing their states,
		// so a snapshot taken now stays right for the whole validation.
		prev: w.flying(),
	}
}

// full reports whether g has reached the group limits.
func (g *group) full() bool { return g.events >= maxGroupEvents || g.bytes >= maxGroupBytes }

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

// commitLoop is the committer goroutine.
func (w *workspace) commitLoop() {
	defer close(w.done)
	for g := range w.commits {
		if g.barrier != nil {
			close(g.barrier)
			continue
		}
		w.commit(g)
	}
}

func (w *workspace) commit(g *group) {
	b := &g.batch
	var err error
	early := false // answered and fanned out from b.Durable
	switch {
	case g.gen <= w.badGen.Load():
		err = errAbandoned
	case len(b.Events) > 0 || len(b.Results) > 0 || len(b.Visitors) > 0:
		// One buffer holds every event's JSON: sized from the data, it
		// is allocated once rather than grown event by event.
		size := 0
		for i := range b.Events {
			size += len(b.Events[i].Event.Data) + eventOverhead
		}
		buf := make([]byte, 0, size)
		for i := range b.Events {
			start := len(buf)
			buf = protocol.AppendEvent(buf, &b.Events[i].Event)
			b.Events[i].JSON = buf[start:len(buf):len(buf)]
		}
		// A group of pushes is answered and fanned out as soon as it is
		// durable: the log may take a while longer to make it readable
		// (Badger's commit after the journal's sync), and only catch-up
		// reads need that. Hellos (visitor tokens, identification) go
		// on to read what they wrote, so their groups wait for Append.
		if g.pushesOnly() {
			b.Durable = func() {
				early = true
				w.logged(g)
				w.fanOut(g) // first: a pushing device gets its events before its ack
				answer(g, nil)
				// Let the goroutines just readied write the fan-out and
				// the acknowledgements before Badger's commit takes this
				// thread: otherwise they wait for an idle CPU to wake
				// and take them (40 µs here, on the latency's path).
				runtime.Gosched()
			}
		}
		w.srv.cpu.Busy()
		t0 := time.Now()
		err = w.srv.log.Append(w.id, b)
		w.srv.m.commitTime.observe(time.Since(t0))
		switch {
		case err != nil && early:
			// Durable, answered and fanned out, but not readable: the log
			// takes no more writes until a restart recovers the group.
			w.srv.lg.Error("log failed after a group was durable; restart the relay",
				"workspace", w.id, "events", len(b.Events), "err", err)
		case err != nil:
			w.badGen.Store(g.gen)
			w.srv.lg.Error("log append failed; the group is refused and its sessions will resend",
				"workspace", w.id, "events", len(b.Events), "err", err)
		}
		if err != nil {
			w.mu.Lock()
			w.broken = err
			w.mu.Unlock()
		}
	}
	if err != nil && !early {
		w.land(g)
		answer(g, err)
		return
	}
	if n := len(b.Events); n > 0 {
		w.head = b.Events[n-1].Event.Seq
	}
	if !early {
		w.logged(g)
		w.fanOut(g)
	}
	// Catch-up reads may go up to head now (or, after a failure, find the
	// gap and send their sessions away to reconnect).
	w.readable()
	w.land(g)
	if !early {
		answer(g, nil)
	}
}

// logged counts g's commit in the metrics: before any answer, so that a
// device that has its ack finds its events counted.
func (w *workspace) logged(g *group) {
	w.srv.m.eventsLogged.Add(uint64(len(g.batch.Events)))
	w.srv.m.groupCommits.Add(1)
}

// pushesOnly reports whether every request of g is a push.
func (g *group) pushesOnly() bool {
	for _, r := range g.reqs {
		if r.kind != reqPush {
			return false
		}
	}
	return true
}

// answer ends g's requests, with err or with their results.
func answer(g *group, err error) {
	for _, r := range g.reqs {
		if err != nil {
			r.results, r.identified, r.err = nil, nil, err
		}
		close(r.done)
	}
}

// land removes g from the groups in flight (after publish has cached its
// states, so a lookup always finds them in one place or the other).
func (w *workspace) land(g *group) {
	w.flightMu.Lock()
	w.inflight = slices.DeleteFunc(w.inflight, func(x *group) bool { return x == g })
	w.flightMu.Unlock()
}

// flying returns the groups in flight, newest first.
func (w *workspace) flying() []*group {
	w.flightMu.Lock()
	defer w.flightMu.Unlock()
	fs := slices.Clone(w.inflight)
	slices.Reverse(fs)
	return fs
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

// fanOut makes a durable group visible to live sessions: caches the new
// states and queues the events for every live session that may see them.
// It never blocks on a session. Catch-up reads reach the events once
// readable advances the published head.
func (w *workspace) fanOut(g *group) {
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
		c := w.stateLocked(r.Event.Conv)
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
	first := evs[0].Event.Seq
	for _, m := range g.moved {
		if w.users[m.contact.ID] == nil {
			continue
		}
		hist, err := w.history(m.conv, first-1)
		if err != nil {
			w.srv.lg.Error("identify: read history", "workspace", w.id, "conv", m.conv, "err", err)
			continue
		}
		per[m.contact.ID] = append(per[m.contact.ID], hist...)
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

// history reads conversation id's events up to seq upTo that its contact may
// see. Called with mu held.
func (w *workspace) history(id string, upTo uint64) ([]eventlog.Record, error) {
	c := w.stateLocked(id)
	if c == nil {
		return nil, fmt.Errorf("relay: conversation %s has no state", id)
	}
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
