package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// fakeRelay is a small relay written for these tests: it speaks protocol v1
// (hello, welcome, backlog pages, caughtUp, live events, push and ack with
// mid memory, typing, error frames and close codes) over a real WebSocket on
// loopback, with knobs to inject failures the real relay does not make on
// demand: dropped connections, a replaced log, refused pushes, silence.
type fakeRelay struct {
	t         testing.TB
	srv       *httptest.Server
	workspace string
	schema    conv.Schema

	mu       sync.Mutex
	epoch    string
	log      []conv.Event
	convs    map[string]*conv.Conversation
	tokens   map[string]conv.Participant
	visitors map[string]conv.Participant // visitor token → visitor
	mids     map[string]*midMemory       // identity/device
	sessions map[*fakeSession]struct{}
	pushes   []int // events per push received

	hellos    atomic.Int64
	processed atomic.Int64 // events processed the first time
	resends   atomic.Int64 // events answered from mid memory
	silent    atomic.Bool  // new sessions go silent after caughtUp: no reads, no pongs
	dropAcks  atomic.Int32 // log the next pushes but drop the connection instead of answering
	refuse    atomic.Pointer[func([]conv.Event) *protocol.Error]
}

type midMemory struct {
	last    uint64
	results map[uint64]protocol.Result
}

type fakeSession struct {
	conn   *websocket.Conn
	who    conv.Participant
	device string
	out    chan []byte
	cancel context.CancelFunc
	once   sync.Once
}

func newFakeRelay(t testing.TB) *fakeRelay {
	r := &fakeRelay{
		t:         t,
		workspace: "acme",
		schema:    conv.Schema{}, // defines no attribute: every attributes.set is unknown_attribute
		epoch:     uuid.NewString(),
		convs:     map[string]*conv.Conversation{},
		tokens: map[string]conv.Participant{
			"ana-token": {ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"},
			"bob-token": {ID: "agent:bob", Role: conv.RoleAgent, Name: "Bob"},
			"faq-token": {ID: "ai:faq", Role: conv.RoleAssistant, Name: "FAQ"},
		},
		visitors: map[string]conv.Participant{},
		mids:     map[string]*midMemory{},
		sessions: map[*fakeSession]struct{}{},
	}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.close)
	return r
}

func (r *fakeRelay) url() string { return "ws" + strings.TrimPrefix(r.srv.URL, "http") }

func (r *fakeRelay) close() {
	r.dropAll()
	r.srv.Close()
}

// dropAll cuts every connection without a close frame, as a network does.
func (r *fakeRelay) dropAll() {
	r.mu.Lock()
	ss := make([]*fakeSession, 0, len(r.sessions))
	for s := range r.sessions {
		ss = append(ss, s)
	}
	r.mu.Unlock()
	for _, s := range ss {
		s.cancel()
		s.conn.CloseNow()
	}
}

// head returns the relay's epoch and log length.
func (r *fakeRelay) head() (string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.epoch, uint64(len(r.log))
}

func (r *fakeRelay) snapshot() ([]conv.Event, map[string]*conv.Conversation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	convs := make(map[string]*conv.Conversation, len(r.convs))
	for k, v := range r.convs {
		convs[k] = v
	}
	return append([]conv.Event(nil), r.log...), convs
}

// replaceLog gives the relay a new epoch whose log is the first keep events
// of the old one (a restore from a backup), and forgets mids; every
// connection is dropped.
func (r *fakeRelay) replaceLog(keep int) string {
	r.mu.Lock()
	r.epoch = uuid.NewString()
	r.log = append([]conv.Event(nil), r.log[:keep]...)
	r.convs = map[string]*conv.Conversation{}
	for _, e := range r.log {
		c, err := conv.Replay(r.convs[e.Conv], e)
		if err != nil {
			r.t.Errorf("replay %d: %v", e.Seq, err)
		}
		r.convs[e.Conv] = c
	}
	r.mids = map[string]*midMemory{}
	epoch := r.epoch
	r.mu.Unlock()
	r.dropAll()
	return epoch
}

// logDirect appends events as if an agent had pushed them (the benchmark
// and backlog tests fill the log this way).
func (r *fakeRelay) logDirect(who conv.Participant, events ...conv.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	first := len(r.log)
	defer func() { r.fanOutLocked(r.log[first:], nil) }()
	for _, e := range events {
		e.Actor = who
		next, out, err := conv.Apply(r.convs[e.Conv], e, conv.Env{Schema: r.schema, NextSeq: uint64(len(r.log)) + 1})
		if err != nil {
			r.t.Fatalf("logDirect %s: %v", e.Kind, err)
		}
		r.convs[e.Conv] = next
		r.log = append(r.log, out...)
	}
}

func (r *fakeRelay) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != protocol.Path {
		http.NotFound(w, req)
		return
	}
	conn, err := websocket.Accept(w, req, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(protocol.MaxFrameBytes)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.hellos.Add(1)

	hctx, hcancel := context.WithTimeout(ctx, 5*time.Second)
	_, data, err := conn.Read(hctx)
	hcancel()
	if err != nil {
		conn.CloseNow()
		return
	}
	var h protocol.Hello
	if err := json.Unmarshal(data, &h); err != nil || h.Type != protocol.TypeHello {
		r.fatal(conn, protocol.CodeNotReady, "say hello first")
		return
	}
	var who conv.Participant
	var visitorToken string
	switch {
	case h.Protocol != protocol.Version:
		r.fatal(conn, protocol.CodeUnsupportedProtocol, "protocol 1 only")
		return
	case h.Workspace != r.workspace:
		r.fatal(conn, protocol.CodeUnknownWorkspace, "no such workspace")
		return
	}
	r.mu.Lock()
	switch h.Auth.Kind {
	case protocol.AuthAgent, protocol.AuthAssistant:
		who = r.tokens[h.Auth.Token]
	case protocol.AuthVisitor:
		if h.Auth.VisitorToken == "" {
			visitorToken = uuid.NewString()
			who = conv.Participant{ID: "visitor:" + uuid.NewString(), Role: conv.RoleVisitor}
			r.visitors[visitorToken] = who
		} else {
			who = r.visitors[h.Auth.VisitorToken]
		}
	}
	r.mu.Unlock()
	if who.ID == "" {
		r.fatal(conn, protocol.CodeUnauthorized, "bad credentials")
		return
	}

	s := &fakeSession{conn: conn, who: who, device: h.Device, out: make(chan []byte, 4096), cancel: cancel}
	// Register and snapshot the backlog in one step: what is logged after
	// this goes to s.out, after the backlog.
	r.mu.Lock()
	from := uint64(0)
	if h.Cursor.Epoch == r.epoch {
		from = min(h.Cursor.Seq, uint64(len(r.log)))
	}
	var backlog []conv.Event
	for _, e := range r.log[from:] {
		if e, ok := conv.ForViewer(who, r.convs[e.Conv], e); ok {
			backlog = append(backlog, e)
		}
	}
	head := uint64(len(r.log))
	epoch := r.epoch
	var lastMid uint64
	if mm := r.mids[who.ID+"/"+h.Device]; mm != nil {
		lastMid = mm.last
	}
	r.sessions[s] = struct{}{}
	r.mu.Unlock()
	// Decided before the welcome goes out: a test that turns silence off
	// once the client is online means the next connection.
	silent := r.silent.Load()
	defer func() {
		r.mu.Lock()
		delete(r.sessions, s)
		r.mu.Unlock()
	}()

	welcome := protocol.Welcome{Type: protocol.TypeWelcome, Identity: who, Epoch: epoch, Head: head,
		Backlog: uint64(len(backlog)), LastMid: lastMid, VisitorToken: visitorToken}
	go func() { // the writer: welcome, backlog pages, caughtUp, then live frames
		defer cancel()
		write := func(v any) bool {
			b, _ := json.Marshal(v)
			return r.writeRaw(ctx, conn, b)
		}
		if !write(welcome) {
			return
		}
		for len(backlog) > 0 {
			n := min(len(backlog), protocol.BacklogPage)
			if !write(protocol.Events{Type: protocol.TypeEvents, Events: backlog[:n]}) {
				return
			}
			backlog = backlog[n:]
		}
		if !write(protocol.CaughtUp{Type: protocol.TypeCaughtUp, Cursor: protocol.Cursor{Epoch: epoch, Seq: head}}) {
			return
		}
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-s.out:
				if !r.writeRaw(ctx, conn, b) {
					return
				}
			}
		}
	}()

	if silent { // a dead peer: never read again, so never answer a ping
		<-ctx.Done()
		conn.CloseNow()
		return
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return
		}
		var f struct {
			Type   string       `json:"type"`
			Events []conv.Event `json:"events"`
			Conv   string       `json:"conv"`
			On     bool         `json:"on"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			s.send(r, protocol.NewError(protocol.CodeBadFrame, "not JSON", false))
			continue
		}
		switch f.Type {
		case protocol.TypePush:
			r.push(s, f.Events, len(data))
		case protocol.TypeTyping:
			r.typing(s, f.Conv, f.On)
		default:
			s.send(r, protocol.NewError(protocol.CodeUnknownType, f.Type, false))
		}
	}
}

func (r *fakeRelay) writeRaw(ctx context.Context, conn *websocket.Conn, b []byte) bool {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return conn.Write(wctx, websocket.MessageText, b) == nil
}

func (r *fakeRelay) fatal(conn *websocket.Conn, code, msg string) {
	b, _ := json.Marshal(protocol.NewError(code, msg, true))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn.Write(ctx, websocket.MessageText, b)
	conn.Close(websocket.StatusCode(protocol.CloseCodeFor(code)), code)
}

// send queues a frame for s; a full queue closes s as a slow reader.
func (s *fakeSession) send(r *fakeRelay, v any) {
	b, _ := json.Marshal(v)
	select {
	case s.out <- b:
	default:
		s.once.Do(func() { go s.conn.Close(protocol.CloseSlowReader, "slow reader") })
	}
}

func (r *fakeRelay) push(s *fakeSession, events []conv.Event, size int) {
	if size > protocol.MaxFrameBytes {
		r.t.Errorf("push of %d bytes: over the frame limit", size)
	}
	if len(events) > protocol.MaxPushEvents {
		s.send(r, protocol.NewError(protocol.CodeTooMany, "too many events", false))
		return
	}
	if f := r.refuse.Load(); f != nil {
		if e := (*f)(events); e != nil {
			s.send(r, *e)
			return
		}
	}
	drop := false
	for {
		n := r.dropAcks.Load()
		if n <= 0 {
			break
		}
		if r.dropAcks.CompareAndSwap(n, n-1) {
			drop = true
			break
		}
	}

	r.mu.Lock()
	r.pushes = append(r.pushes, len(events))
	key := s.who.ID + "/" + s.device
	mm := r.mids[key]
	if mm == nil {
		mm = &midMemory{results: map[uint64]protocol.Result{}}
		r.mids[key] = mm
	}
	results := make([]protocol.Result, 0, len(events))
	first := len(r.log)
	for _, e := range events {
		e.Actor = s.who
		e.Device = s.device
		e.Seq, e.Cause = 0, ""
		if e.Mid <= mm.last {
			res, ok := mm.results[e.Mid]
			if !ok {
				res = protocol.Result{Error: &conv.Error{Code: conv.CodeInvalid, Message: "mid already used"}}
			}
			res.ID = e.ID
			results = append(results, res)
			r.resends.Add(1)
			continue
		}
		mm.last = e.Mid
		r.processed.Add(1)
		res := protocol.Result{ID: e.ID}
		next, out, err := conv.Apply(r.convs[e.Conv], e, conv.Env{Schema: r.schema, NextSeq: uint64(len(r.log)) + 1})
		switch {
		case err != nil:
			ce := &conv.Error{Code: conv.CodeOf(err), Message: err.Error()}
			res.Error = ce
		case len(out) > 0:
			r.convs[e.Conv] = next
			r.log = append(r.log, out...)
			res.Seq = out[len(out)-1].Seq
		}
		mm.results[e.Mid] = res
		results = append(results, res)
	}
	var skip *fakeSession
	if drop {
		skip = s
	}
	r.fanOutLocked(r.log[first:], skip)
	r.mu.Unlock()
	if drop {
		s.cancel()
		s.conn.CloseNow()
		return
	}
	s.send(r, protocol.Ack{Type: protocol.TypeAck, Results: results})
}

// fanOutLocked sends newly logged events to every session that may see
// them, but skip.
func (r *fakeRelay) fanOutLocked(logged []conv.Event, skip *fakeSession) {
	for o := range r.sessions {
		if o == skip {
			continue
		}
		var vis []conv.Event
		for _, e := range logged {
			if e, ok := conv.ForViewer(o.who, r.convs[e.Conv], e); ok {
				vis = append(vis, e)
			}
		}
		for len(vis) > 0 {
			n := min(len(vis), protocol.BacklogPage)
			o.send(r, protocol.Events{Type: protocol.TypeEvents, Events: vis[:n]})
			vis = vis[n:]
		}
	}
}

func (r *fakeRelay) typing(s *fakeSession, convID string, on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.convs[convID]
	if !conv.MayType(c, s.who) {
		return
	}
	who := s.who
	for o := range r.sessions {
		if o != s && conv.TypingVisible(o.who, c, who) {
			o.send(r, protocol.Typing{Type: protocol.TypeTyping, Conv: convID, Participant: &who, On: on})
		}
	}
}

// fill logs n events into r as ana would have: conversations of perConv
// events each (a creation, then messages, notes and lifecycle changes).
func fill(t testing.TB, r *fakeRelay, n, perConv int) {
	t.Helper()
	var batch []conv.Event
	mk := func(c string, k conv.Kind, d any) conv.Event {
		return conv.Event{ID: uuid.Must(uuid.NewV7()).String(), Conv: c, Kind: k, At: 1700000000000, Data: conv.MustData(d)}
	}
	var id string
	for i := 0; len(batch) < n; i++ {
		if i%perConv == 0 {
			id = uuid.Must(uuid.NewV7()).String()
			batch = append(batch, mk(id, conv.KindConversationCreated, conv.Created{Contact: &contact, Subject: fmt.Sprintf("conversation %d", i/perConv)}))
			continue
		}
		switch i % 7 {
		case 3:
			batch = append(batch, mk(id, conv.KindNoteAdded, conv.Note{Text: "internal note " + fmt.Sprint(i)}))
		case 5:
			batch = append(batch, mk(id, conv.KindPriorityChanged, conv.PriorityChanged{Priority: []conv.Priority{"low", "high"}[i%2]}))
		default:
			batch = append(batch, mk(id, conv.KindMessageSent, conv.Message{Text: fmt.Sprintf("message %d: hello, how can we help you today?", i)}))
		}
	}
	r.logDirect(ana, batch...)
}

// sameAsRelay checks that mem's canonical state is the relay's.
func sameAsRelay(t testing.TB, r *fakeRelay, mem *Memory) {
	t.Helper()
	log, convs := r.snapshot()
	epoch, seq, _ := mem.Cursor()
	if wantEpoch, head := r.head(); epoch != wantEpoch || seq != head {
		t.Errorf("cursor = (%s, %d); want (%s, %d)", epoch, seq, wantEpoch, head)
	}
	if mem.Len() != len(log) {
		t.Errorf("device holds %d events; relay logged %d", mem.Len(), len(log))
	}
	for id, want := range convs {
		got, ok := mem.Canonical(id)
		if !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("conversation %s:\n got %+v\nwant %+v", id, got, want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// Failure injection: what the real relay does not do on demand.

func TestReconnectResendsAndRelayAnswersFromMemory(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	// Both events wait in the outbox before the client runs, so that they go
	// in one push (a Memory pushes each event as it is made once online).
	r.dropAcks.Store(1) // the relay logs the next push, then the connection drops before its ack
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Lost ack"})
	msg, _ := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "hello?"})
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)

	waitFor(t, "the drop and a new connection", func() bool { return r.hellos.Load() >= 2 })
	waitFor(t, "the outbox to empty", func() bool { return len(mem.Outbox()) == 0 })
	_, head := r.head()
	waitFor(t, "the canonical copies", func() bool { _, s, _ := mem.Cursor(); return s == head })
	waitState(t, h.c, StateOnline)

	log, _ := r.snapshot()
	count := map[string]int{}
	for _, e := range log {
		count[e.ID]++
	}
	if count[created.ID] != 1 || count[msg.ID] != 1 {
		t.Errorf("logged %d × created and %d × message; want each once", count[created.ID], count[msg.ID])
	}
	if r.processed.Load() != 2 {
		t.Errorf("relay processed %d events; want 2", r.processed.Load())
	}
	// The resend may be answered after the backlog has already brought the
	// canonical copies: wait for it.
	waitFor(t, "the relay to answer the resend from memory", func() bool { return r.resends.Load() == 2 })
	if st := h.c.Status(); st.LastMid != 2 {
		t.Errorf("welcome lastMid = %d; want 2", st.LastMid)
	}
	if !strings.Contains(h.logs.String(), "resending events the relay already processed") {
		t.Errorf("the resend of processed events was not logged")
	}
	sameAsRelay(t, r, mem)
}

func TestEpochChangeResetsAndResyncs(t *testing.T) {
	r := newFakeRelay(t)
	fill(t, r, 200, 20)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), func(o *Options) {
		o.Backoff = Backoff{Min: 100 * time.Millisecond, Max: 200 * time.Millisecond}
	})
	waitState(t, h.c, StateOnline)
	oldEpoch, _ := r.head()

	// The relay's log is replaced by an older copy; meanwhile the device made
	// an event that is not pushed yet.
	r.refuse.Store(ptr(func([]conv.Event) *protocol.Error {
		e := protocol.NewError(protocol.CodeRateLimited, "slow down", false)
		return &e
	}))
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Made before the restore"})
	h.c.Kick()
	waitFor(t, "the push refused", func() bool { return strings.Contains(h.logs.String(), "relay refused a push") })
	r.refuse.Store(nil)
	newEpoch := r.replaceLog(150)

	waitFor(t, "the resync and the push", func() bool {
		e, s, _ := mem.Cursor()
		_, head := r.head()
		return e == newEpoch && s == head && len(mem.Outbox()) == 0 && h.c.State() == StateOnline
	})
	if newEpoch == oldEpoch {
		t.Fatal("epoch did not change")
	}
	sameAsRelay(t, r, mem)
	if mem.Len() != 151 {
		t.Errorf("device holds %d events; want the 150 kept and the pending one", mem.Len())
	}
	if _, ok := mem.Canonical(created.Conv); !ok {
		t.Errorf("the pending event was lost in the reset")
	}
	if !strings.Contains(h.logs.String(), "changed epoch") {
		t.Errorf("the epoch change was not logged")
	}
}

func TestRateLimitedPushWaitsAndRetries(t *testing.T) {
	r := newFakeRelay(t)
	refused := 0
	var mu sync.Mutex
	var refusedAt, retriedAt time.Time
	r.refuse.Store(ptr(func([]conv.Event) *protocol.Error {
		mu.Lock()
		defer mu.Unlock()
		if refused == 0 {
			refused++
			refusedAt = time.Now()
			e := protocol.NewError(protocol.CodeRateLimited, "slow down", false)
			return &e
		}
		if retriedAt.IsZero() {
			retriedAt = time.Now()
		}
		return nil
	}))
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)
	mem.Create(conv.Created{Contact: &contact})
	h.c.Kick()
	waitFor(t, "the event logged", func() bool { return len(mem.Outbox()) == 0 })
	mu.Lock()
	wait := retriedAt.Sub(refusedAt)
	mu.Unlock()
	if wait < time.Second {
		t.Errorf("retried %v after rate_limited; want at least 1 s", wait)
	}
	if r.processed.Load() != 1 || h.c.State() != StateOnline {
		t.Errorf("processed %d, state %s", r.processed.Load(), h.c.State())
	}
}

func TestTooManyHalvesThePush(t *testing.T) {
	r := newFakeRelay(t)
	r.refuse.Store(ptr(func(evs []conv.Event) *protocol.Error {
		if len(evs) > 10 {
			e := protocol.NewError(protocol.CodeTooMany, "at most 10 here", false)
			return &e
		}
		return nil
	}))
	mem := NewMemory(ana, uuid.NewString())
	created, _ := mem.Create(conv.Created{Contact: &contact})
	for i := range 39 {
		mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: fmt.Sprint("note ", i)})
	}
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitFor(t, "every event logged", func() bool { return len(mem.Outbox()) == 0 && h.c.State() == StateOnline })
	if r.processed.Load() != 40 {
		t.Errorf("relay processed %d; want 40", r.processed.Load())
	}
}

func TestHeartbeatDetectsDeadPeer(t *testing.T) {
	r := newFakeRelay(t)
	r.silent.Store(true)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), func(o *Options) {
		// Wide enough that a loaded CI machine running -race does not
		// take a slow pong for a dead peer.
		o.PingInterval = 50 * time.Millisecond
		o.IdleTimeout = 400 * time.Millisecond
	})
	waitState(t, h.c, StateOnline)
	r.silent.Store(false) // the next connection is healthy
	waitFor(t, "a reconnect", func() bool { return r.hellos.Load() >= 2 })
	waitState(t, h.c, StateOnline)
	dead := false
	for _, s := range h.states.list() {
		if s.State == StateOffline && strings.Contains(s.Error, ErrDeadConnection.Error()) {
			dead = true
		}
	}
	if !dead {
		t.Errorf("no offline status blamed a dead connection: %+v", h.states.list())
	}
	// A healthy but quiet relay answers pings and is not dropped.
	n := r.hellos.Load()
	time.Sleep(time.Second) // well past the idle timeout
	if r.hellos.Load() != n || h.c.State() != StateOnline {
		t.Errorf("a quiet, healthy connection was dropped")
	}
}
