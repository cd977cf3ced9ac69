package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

var (
	ana     = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}
	bob     = conv.Participant{ID: "agent:bob", Role: conv.RoleAgent, Name: "Bob"}
	contact = conv.Participant{ID: "contact:42", Role: conv.RoleContact}
)

// testLogger logs to t when -v, and keeps the text for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	c      *Client
	mem    *Memory
	logs   *logBuf
	states *stateLog
	typing chan protocol.Typing
	runErr chan error
}

type stateLog struct {
	mu  sync.Mutex
	all []Status
}

func (s *stateLog) add(st Status) {
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
}

func (s *stateLog) list() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.all...)
}

// start runs a Client for mem against url until the test ends.
func start(t testing.TB, url string, mem *Memory, auth protocol.Auth, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{mem: mem, logs: &logBuf{}, states: &stateLog{}, typing: make(chan protocol.Typing, 16), runErr: make(chan error, 1)}
	var w io.Writer = h.logs
	opts := Options{
		URL:       url,
		Workspace: "acme",
		Device:    mem.Device(),
		Auth:      auth,
		Local:     mem,
		Logger:    slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnState:   h.states.add,
		OnTyping:  func(tp protocol.Typing) { h.typing <- tp },
		Backoff:   Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.runErr <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		c.Close()
		if t.Failed() {
			t.Logf("client log:\n%s", h.logs.String())
		}
	})
	return h
}

func agentAuth(token string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthAgent, Token: token}
}

// waitFor polls cond until it holds, failing the test after 30 s (generous:
// the race detector and a busy machine slow everything down).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitState(t testing.TB, c *Client, want State) {
	t.Helper()
	waitFor(t, "state "+string(want), func() bool { return c.State() == want })
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

func TestFirstSyncBacklogAndCaughtUp(t *testing.T) {
	r := newFakeRelay(t)
	fill(t, r, 1234, 40)
	_, head := r.head()

	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)

	st := h.c.Status()
	if st.Backlog != head || st.Received != head {
		t.Errorf("progress = %d/%d; want %d/%d", st.Received, st.Backlog, head, head)
	}
	if st.Identity.ID != ana.ID || st.Seq != head {
		t.Errorf("status = %+v; want identity %s at seq %d", st, ana.ID, head)
	}
	sameAsRelay(t, r, mem)

	// Progress only grows, and the backlog it counts toward is the welcome's.
	waitFor(t, "the online status delivered", func() bool {
		l := h.states.list()
		return len(l) > 0 && l[len(l)-1].State == StateOnline
	})
	var last uint64
	for _, s := range h.states.list() {
		if s.State == StateSyncing && s.Backlog != head {
			t.Errorf("syncing status with backlog %d; want %d", s.Backlog, head)
		}
		if s.Received < last && s.State != StateConnecting {
			t.Errorf("progress went back from %d to %d", last, s.Received)
		}
		last = s.Received
	}

	// Live: events logged after caughtUp arrive too.
	fill(t, r, 10, 5)
	_, head = r.head()
	waitFor(t, "live events", func() bool { _, s, _ := mem.Cursor(); return s == head })
	sameAsRelay(t, r, mem)
}

func TestResumeFromCursor(t *testing.T) {
	r := newFakeRelay(t)
	fill(t, r, 300, 30)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)
	h.c.Close()
	_, before := r.head()

	fill(t, r, 120, 30)
	_, head := r.head()
	h2 := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h2.c, StateOnline)
	if st := h2.c.Status(); st.Backlog != head-before {
		t.Errorf("second sync's backlog = %d; want the %d events past the cursor", st.Backlog, head-before)
	}
	if _, s, _ := mem.Cursor(); s != head {
		t.Errorf("cursor = %d; want %d", s, head)
	}
	sameAsRelay(t, r, mem)
}

func TestPushAndAck(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)

	created, err := mem.Create(conv.Created{Contact: &contact, Subject: "Domain renewal"})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Your domain renews tomorrow."})
	if err != nil {
		t.Fatal(err)
	}
	// The relay rejects what the device cannot know is wrong: this workspace
	// defines no attribute.
	attr, err := mem.Act(created.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	// A no-op: priority is medium already.
	noop, err := mem.Act(created.Conv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityMedium})
	if err == nil {
		t.Logf("no-op accepted locally: %s", noop.ID)
	}
	note, err := mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: "VIP"})
	if err != nil {
		t.Fatal(err)
	}
	if got := []uint64{created.Mid, msg.Mid, attr.Mid}; !reflect.DeepEqual(got, []uint64{1, 2, 3}) {
		t.Errorf("mids = %v; want 1, 2, 3", got)
	}
	h.c.Kick()

	waitFor(t, "the outbox to settle", func() bool {
		ob := mem.Outbox()
		return len(ob) == 1 && ob[0].State == OutboxFailed
	})
	ob := mem.Outbox()
	if ob[0].Event.ID != attr.ID || ob[0].Err == nil || ob[0].Err.Code != conv.CodeUnknownAttribute {
		t.Errorf("failed outbox item = %+v; want %s rejected as unknown_attribute", ob[0], attr.ID)
	}
	if p, _ := mem.Pending(); len(p) != 0 {
		t.Errorf("Pending() = %d events; want none (the failed one waits for the user)", len(p))
	}
	_, head := r.head()
	waitFor(t, "the canonical copies", func() bool { _, s, _ := mem.Cursor(); return s == head })
	sameAsRelay(t, r, mem)

	c, _ := mem.Canonical(created.Conv)
	if c.Messages != 1 || c.Notes != 1 || c.Thread == nil {
		t.Errorf("conversation = %+v; want one message in an active thread, one note", c)
	}
	tl := mem.Timeline(created.Conv)
	kinds := make([]conv.Kind, len(tl))
	for i, e := range tl {
		kinds[i] = e.Kind
	}
	want := []conv.Kind{conv.KindConversationCreated, conv.KindThreadStarted, conv.KindMessageSent, conv.KindNoteAdded}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("timeline = %v; want %v", kinds, want)
	}
	if tl[2].ID != msg.ID || tl[3].ID != note.ID {
		t.Errorf("canonical ids differ from the device's")
	}

	// Retry makes a new event; discarding leaves nothing behind.
	if err := mem.Discard(attr.ID); err != nil {
		t.Fatal(err)
	}
	if len(mem.Outbox()) != 0 {
		t.Errorf("outbox not empty after discard")
	}
	if r.resends.Load() != 0 {
		t.Errorf("relay answered %d resends; want none", r.resends.Load())
	}
}

func TestPushesRespectLimits(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	created, _ := mem.Create(conv.Created{Contact: &contact})
	big := strings.Repeat("x", conv.MaxTextBytes-100)
	for range 70 { // 70 near-limit notes: about 2.3 MiB, so at least three pushes
		if _, err := mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: big}); err != nil {
			t.Fatal(err)
		}
	}
	for range 180 {
		if _, err := mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: "small"}); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitFor(t, "every event logged", func() bool { return len(mem.Outbox()) == 0 && h.c.State() == StateOnline })
	_, head := r.head()
	waitFor(t, "the canonical copies", func() bool { _, s, _ := mem.Cursor(); return s == head })
	sameAsRelay(t, r, mem)

	r.mu.Lock()
	pushes := append([]int(nil), r.pushes...)
	r.mu.Unlock()
	total := 0
	for _, n := range pushes {
		if n > protocol.MaxPushEvents {
			t.Errorf("a push of %d events; at most %d", n, protocol.MaxPushEvents)
		}
		total += n
	}
	if total != 251 || len(pushes) < 4 {
		t.Errorf("pushes = %v (%d events); want 251 events in at least 4 pushes", pushes, total)
	}
	if r.processed.Load() != 251 || r.resends.Load() != 0 {
		t.Errorf("relay processed %d and answered %d resends; want 251 and 0", r.processed.Load(), r.resends.Load())
	}
}

func TestReconnectResendsAndRelayAnswersFromMemory(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)

	r.dropAcks.Store(1) // the relay logs the next push, then the connection drops before its ack
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Lost ack"})
	msg, _ := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "hello?"})
	h.c.Kick()

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

func TestPendingMadeOfflineIsPushedOnReconnect(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), func(o *Options) {
		o.Backoff = Backoff{Min: 200 * time.Millisecond, Max: 400 * time.Millisecond}
	})
	waitState(t, h.c, StateOnline)
	r.dropAll()
	waitFor(t, "offline", func() bool { return h.c.State() != StateOnline })
	if err := h.c.Typing("x", true); err == nil && h.c.State() == StateOffline {
		t.Errorf("Typing while offline = nil; want ErrOffline")
	}
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Made offline"})
	h.c.Kick()
	waitFor(t, "the event logged", func() bool { return len(mem.Outbox()) == 0 })
	if c, ok := mem.Canonical(created.Conv); !ok || c.Subject != "Made offline" {
		t.Errorf("conversation made offline = %+v, %v", c, ok)
	}
	st := h.states.list()
	sawOffline := false
	for _, s := range st {
		if s.State == StateOffline && s.Error != "" {
			sawOffline = true
		}
	}
	if !sawOffline {
		t.Errorf("no offline status with the error was delivered: %+v", st)
	}
}

func TestTerminalCloseFails(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("wrong-token"), func(o *Options) {
		o.Backoff = Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
	})
	var err error
	select {
	case err = <-h.runErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after a terminal close")
	}
	var se *SessionError
	if !errors.As(err, &se) || !se.Terminal() || se.Code != protocol.CodeUnauthorized || se.CloseCode != protocol.CloseUnauthorized {
		t.Fatalf("Run() = %v; want a terminal unauthorized session error closed with 4501", err)
	}
	st := h.c.Status()
	if st.State != StateFailed || st.Code != protocol.CodeUnauthorized || st.CloseCode != protocol.CloseUnauthorized {
		t.Errorf("status = %+v; want failed, unauthorized, 4501", st)
	}
	time.Sleep(50 * time.Millisecond) // ten times the backoff cap: a retry loop would show
	if n := r.hellos.Load(); n != 1 {
		t.Errorf("relay saw %d connections; want 1 (no retry after a terminal close)", n)
	}
}

func TestRetryableCloseReconnects(t *testing.T) {
	r := newFakeRelay(t)
	r.workspace = "other" // 4502 is terminal too; use a drop with 4010 instead
	r.workspace = "acme"
	mem := NewMemory(ana, uuid.NewString())
	h := start(t, r.url(), mem, agentAuth("ana-token"), nil)
	waitState(t, h.c, StateOnline)
	r.mu.Lock()
	for s := range r.sessions {
		go s.conn.Close(protocol.CloseShuttingDown, "relay shutting down")
	}
	r.mu.Unlock()
	waitFor(t, "a reconnect", func() bool { return r.hellos.Load() >= 2 && h.c.State() == StateOnline })
	found := false
	for _, s := range h.states.list() {
		if s.State == StateOffline && s.CloseCode == protocol.CloseShuttingDown {
			found = true
		}
	}
	if !found {
		t.Errorf("no offline status carried close code 4010: %+v", h.states.list())
	}
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

func ptr[T any](v T) *T { return &v }

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
		o.PingInterval = 20 * time.Millisecond
		o.IdleTimeout = 150 * time.Millisecond
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
	time.Sleep(400 * time.Millisecond)
	if r.hellos.Load() != n || h.c.State() != StateOnline {
		t.Errorf("a quiet, healthy connection was dropped")
	}
}

func TestTypingRoundTrip(t *testing.T) {
	r := newFakeRelay(t)
	fill(t, r, 3, 3)
	log, _ := r.snapshot()
	convID := log[0].Conv

	a := start(t, r.url(), NewMemory(ana, uuid.NewString()), agentAuth("ana-token"), nil)
	b := start(t, r.url(), NewMemory(bob, uuid.NewString()), agentAuth("bob-token"), nil)
	waitState(t, a.c, StateOnline)
	waitState(t, b.c, StateOnline)

	for _, on := range []bool{true, false} {
		if err := a.c.Typing(convID, on); err != nil {
			t.Fatal(err)
		}
		select {
		case tp := <-b.typing:
			if tp.Conv != convID || tp.Participant == nil || tp.Participant.ID != ana.ID || tp.On != on {
				t.Errorf("bob saw %+v; want ana typing=%v in %s", tp, on, convID)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("bob never saw ana typing=%v", on)
		}
	}
	select {
	case tp := <-a.typing:
		t.Errorf("ana saw her own typing: %+v", tp)
	default:
	}
}

func TestVisitorTokenIsKeptAndReused(t *testing.T) {
	r := newFakeRelay(t)
	mem := NewMemory(conv.Participant{Role: conv.RoleVisitor}, uuid.NewString())
	h := start(t, r.url(), mem, protocol.Auth{Kind: protocol.AuthVisitor}, nil)
	waitState(t, h.c, StateOnline)
	tok := h.c.VisitorToken()
	me := h.c.Identity()
	if tok == "" || me.Role != conv.RoleVisitor || mem.Me().ID != me.ID {
		t.Fatalf("visitor token %q, identity %+v, memory's me %+v", tok, me, mem.Me())
	}
	if _, err := mem.Create(conv.Created{Subject: "Where is my order?"}); err != nil {
		t.Fatal(err)
	}
	h.c.Kick()
	waitFor(t, "the conversation logged", func() bool { return len(mem.Outbox()) == 0 })
	r.dropAll()
	waitFor(t, "a reconnect", func() bool { return r.hellos.Load() >= 2 && h.c.State() == StateOnline })
	if got := h.c.Identity(); got.ID != me.ID {
		t.Errorf("after reconnect the visitor is %s; want %s (token reused)", got.ID, me.ID)
	}
}

func TestRunAfterCloseAndOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New(empty options) = nil error")
	}
	mem := NewMemory(ana, "d")
	c, err := New(Options{URL: "ws://127.0.0.1:1", Workspace: "acme", Device: "d", Auth: agentAuth("x"), Local: mem})
	if err != nil {
		t.Fatal(err)
	}
	if c.url != "ws://127.0.0.1:1"+protocol.Path {
		t.Errorf("url = %s; want the sync path appended", c.url)
	}
	c.Close()
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v; want ErrClosed", err)
	}
}
