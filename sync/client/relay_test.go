package client

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// The main tests run against the real relay (relayrun's, on Badger in a
// temp dir) on loopback, through a relaytest.FaultProxy that can cut
// connections or make them go silent, to inject the failures a network makes.

const (
	anaToken     = relaytest.TokAna
	bobToken     = "bob-token-0123456789"
	faqToken     = relaytest.TokFAQ
	testWorkspce = relaytest.Workspace
)

// testConfig is relaytest's standard workspace with bob for ben (bob is
// client_test.go's second agent, the fake relay's too) and plan as its only
// attribute: the tests count on seats being undefined.
func testConfig() *relay.Config {
	return relayrun.Config(func(w *relay.WorkspaceConfig) {
		w.Agents = []relay.Member{w.Agents[0], {ID: "bob", Name: "Bob", Token: bobToken}}
		w.Attributes = w.Attributes[:1]
	})
}

// realRelay is a real relay behind a proxy. restart replaces it with a fresh
// one (a new log: a new epoch) behind the same address.
type realRelay struct {
	t     testing.TB
	proxy *relaytest.FaultProxy
	opts  relay.Options

	mu  sync.Mutex
	cur *relayrun.Relay
}

func newRealRelay(t testing.TB, opts relay.Options) *realRelay {
	t.Helper()
	r := &realRelay{t: t, opts: opts}
	r.start()
	r.proxy = relaytest.NewFaultProxy(t, r.addr)
	return r
}

func (r *realRelay) start() {
	r.t.Helper()
	cur := relayrun.Start(r.t, relayrun.WithConfig(testConfig()), relayrun.WithOptions(r.opts))
	r.mu.Lock()
	r.cur = cur
	r.mu.Unlock()
}

// restart replaces the relay with one on a new, empty log.
func (r *realRelay) restart() {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	cur.Stop()
	r.start()
	r.proxy.Cut()
}

func (r *realRelay) addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Addr()
}

func (r *realRelay) url() string { return r.proxy.URL() }

func (r *realRelay) head() (string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cur.Server.Epoch(testWorkspce), r.cur.Server.Head(testWorkspce)
}

// filler is a client that pushes events into a real relay, as an assistant
// (tests fill the log this way: through the protocol, like everyone).
func fillReal(t testing.TB, r *realRelay, n, perConv int) {
	t.Helper()
	mem := NewMemory(conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}, uuid.NewString())
	c, err := New(Options{URL: r.url(), Workspace: testWorkspce, Device: mem.Device(),
		Auth: protocol.Auth{Kind: protocol.AuthAssistant, Token: faqToken}, Local: mem,
		Logger: slog.New(slog.DiscardHandler), PushRate: 1e9, PushBurst: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const chunk = 5000
	var convID string
	for made := 0; made < n; {
		for i := 0; i < chunk && made < n; i, made = i+1, made+1 {
			var err error
			switch {
			case made%perConv == 0:
				var e conv.Event
				e, err = mem.Create(conv.Created{Contact: &contact, Subject: "conversation " + itoa(made/perConv)})
				convID = e.Conv
			case made%7 == 3:
				_, err = mem.Act(convID, conv.KindNoteAdded, conv.Note{Text: "internal note " + itoa(made)})
			case made%7 == 5:
				_, err = mem.Act(convID, conv.KindPriorityChanged, conv.PriorityChanged{Priority: []conv.Priority{"low", "high"}[made%2]})
			default:
				_, err = mem.Act(convID, conv.KindMessageSent, conv.Message{Text: "message " + itoa(made) + ": hello, how can we help you today?"})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		c.Kick()
		deadline := time.Now().Add(2 * time.Minute)
		for len(mem.Outbox()) > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("filler stuck: %d events in its outbox; status %+v", len(mem.Outbox()), c.Status())
			}
			time.Sleep(time.Millisecond)
		}
		for _, it := range mem.Outbox() {
			if it.State == OutboxFailed {
				t.Fatalf("filler event rejected: %v", it.Err)
			}
		}
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// sameAsRealRelay checks mem against the relay's head and, conversation by
// conversation, against what a fresh agent device would rebuild.
func caughtUpTo(t testing.TB, r *realRelay, mem *Memory) {
	t.Helper()
	waitFor(t, "the device at the relay's head", func() bool {
		epoch, head := r.head()
		e, s, _ := mem.Cursor()
		return e == epoch && s == head
	})
}

func TestFirstSyncBacklogAndCaughtUp(t *testing.T) {
	r := newRealRelay(t, relay.Options{RatePerSecond: 1e6, RateBurst: 1e6})
	fillReal(t, r, 1500, 40)
	_, head := r.head()
	slow := slowEventsFrames.Load()
	defer func() {
		if n := slowEventsFrames.Load() - slow; n > 0 {
			t.Errorf("%d of the relay's events frames missed the fast decoding path", n)
		}
	}()

	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)
	st := h.c.Status()
	if st.Backlog != head || st.Received != head || st.Seq != head {
		t.Errorf("status = %+v; want %d/%d received, at seq %d", st, head, head, head)
	}
	if mem.Len() != int(head) {
		t.Errorf("device holds %d events; relay logged %d", mem.Len(), head)
	}
	// Progress only grows, toward the welcome's backlog.
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

	// A second device of the filler's making agrees conversation by conversation.
	other := NewMemory(bob, "bob-desktop")
	h2 := start(t, r.url(), other, agentAuth(bobToken), nil)
	waitState(t, h2.c, StateOnline)
	sameMemories(t, mem, other)

	// Live events arrive after caughtUp.
	fillReal(t, r, 30, 10)
	caughtUpTo(t, r, mem)
	caughtUpTo(t, r, other)
	sameMemories(t, mem, other)
}

// sameMemories checks that two devices hold the same canonical state.
func sameMemories(t testing.TB, a, b *Memory) {
	t.Helper()
	ea, sa, _ := a.Cursor()
	eb, sb, _ := b.Cursor()
	if ea != eb || sa != sb || a.Len() != b.Len() {
		t.Fatalf("cursors (%s, %d, %d events) and (%s, %d, %d events) differ", ea, sa, a.Len(), eb, sb, b.Len())
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	for id, ca := range a.convs {
		if cb := b.convs[id]; !sameConv(ca, cb) {
			t.Errorf("conversation %s:\n %+v\n %+v", id, ca, cb)
		}
	}
}

func sameConv(a, b *conv.Conversation) bool {
	ja, jb := conv.MustData(a), conv.MustData(b)
	return string(ja) == string(jb)
}

func TestPushAckAndRejection(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)

	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Domain renewal"})
	msg, _ := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Your domain renews tomorrow."})
	bad, _ := mem.Act(created.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "platinum"}})
	good, _ := mem.Act(created.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "pro"}})
	// A no-op (priority is medium already): acknowledged with seq 0, dropped.
	if _, err := mem.Act(created.Conv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityMedium}); err != nil {
		t.Fatal(err)
	}
	if got := []uint64{created.Mid, msg.Mid, bad.Mid, good.Mid}; got[0] != 1 || got[3] != 4 {
		t.Errorf("mids = %v; want 1…4", got)
	}
	h.c.Kick()

	waitFor(t, "the outbox to settle", func() bool {
		ob := mem.Outbox()
		return len(ob) == 1 && ob[0].State == OutboxFailed
	})
	if ob := mem.Outbox(); ob[0].Event.ID != bad.ID || ob[0].Err.Code != conv.CodeInvalidAttribute {
		t.Errorf("failed item = %+v; want %s rejected as invalid_attribute", ob[0], bad.ID)
	}
	caughtUpTo(t, r, mem)
	c, _ := mem.Canonical(created.Conv)
	if c.Messages != 1 || c.Attributes["plan"] != "pro" {
		t.Errorf("conversation = %+v", c)
	}
	tl := mem.Timeline(created.Conv)
	if len(tl) != 4 || tl[1].Kind != conv.KindThreadStarted || tl[2].ID != msg.ID || tl[3].ID != good.ID {
		t.Errorf("timeline = %v", kindsOf(tl))
	}
	if p, _ := mem.Pending(); len(p) != 0 {
		t.Errorf("pending = %d; want 0", len(p))
	}
}

func kindsOf(evs []conv.Event) []conv.Kind {
	out := make([]conv.Kind, len(evs))
	for i, e := range evs {
		out[i] = e.Kind
	}
	return out
}

func TestLostAckIsResentAndAnsweredFromMemory(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), func(o *Options) {
		o.PingInterval = 50 * time.Millisecond
		o.IdleTimeout = 400 * time.Millisecond
	})
	waitState(t, h.c, StateOnline)

	// The conversation is logged first (Create pushes at once: made
	// together with the message, it could go alone and the message after
	// the reconnect).
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Lost ack"})
	waitFor(t, "the creation logged", func() bool { return len(mem.Outbox()) == 0 })
	// The route dies downstream: the push reaches the relay, which logs it,
	// but its ack (and the pongs) never come back. The heartbeat notices,
	// the client reconnects and resends; the relay answers from memory.
	r.proxy.Hush()
	msg, _ := mem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "hello?"})
	h.c.Kick()
	waitFor(t, "the relay to log the push", func() bool { _, head := r.head(); return head == 3 })
	if p, _ := mem.Pending(); len(p) != 1 {
		t.Fatalf("pending = %d before the reconnect; want the message", len(p))
	}

	waitFor(t, "a reconnect", func() bool { return r.proxy.Conns() >= 2 })
	waitFor(t, "the outbox to empty", func() bool { return len(mem.Outbox()) == 0 })
	caughtUpTo(t, r, mem)
	waitState(t, h.c, StateOnline)

	if _, head := r.head(); head != 3 {
		t.Errorf("relay head = %d; want 3 (created, thread.started, message: logged once)", head)
	}
	if mem.Len() != 3 {
		t.Errorf("device holds %d events; want 3", mem.Len())
	}
	tl := mem.Timeline(created.Conv)
	if len(tl) != 3 || tl[0].ID != created.ID || tl[2].ID != msg.ID {
		t.Errorf("timeline = %v", kindsOf(tl))
	}
	if st := h.c.Status(); st.LastMid != 2 {
		t.Errorf("welcome lastMid = %d; want 2", st.LastMid)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, ErrDeadConnection.Error()) && !strings.Contains(logs, "no frame or pong") {
		t.Errorf("the dead connection was not detected by the heartbeat:\n%s", logs)
	}
	if !strings.Contains(logs, "resending events the relay already processed") {
		t.Errorf("the resend was not logged")
	}
}

func TestReconnectAfterCutKeepsPending(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), func(o *Options) {
		o.Backoff = Backoff{Min: 200 * time.Millisecond, Max: time.Second}
	})
	waitState(t, h.c, StateOnline)
	r.proxy.Cut()
	waitFor(t, "offline", func() bool { return h.c.State() != StateOnline })
	if err := h.c.Typing("x", true); err != ErrOffline && h.c.State() == StateOffline {
		t.Errorf("Typing while offline = %v; want ErrOffline", err)
	}
	created, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Made offline"})
	h.c.Kick()
	waitFor(t, "the event logged", func() bool { return len(mem.Outbox()) == 0 })
	caughtUpTo(t, r, mem)
	if c, ok := mem.Canonical(created.Conv); !ok || c.Subject != "Made offline" {
		t.Errorf("conversation = %+v, %v", c, ok)
	}
}

func TestShutdownCloseReconnects(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)
	epoch, _ := r.head()

	// The relay restarts on a new log: 4010, then a welcome in another epoch.
	mem.Create(conv.Created{Contact: &contact, Subject: "Before"})
	h.c.Kick()
	waitFor(t, "logged", func() bool { return len(mem.Outbox()) == 0 })
	caughtUpTo(t, r, mem)
	h.c.Close()

	r.restart()
	after, _ := mem.Create(conv.Created{Contact: &contact, Subject: "Made while away"})
	h2 := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitFor(t, "the resync and the push", func() bool { return len(mem.Outbox()) == 0 && h2.c.State() == StateOnline })
	caughtUpTo(t, r, mem)
	newEpoch, head := r.head()
	if newEpoch == epoch {
		t.Fatal("the relay kept its epoch on a new log")
	}
	if mem.Len() != int(head) || head != 1 {
		t.Errorf("device holds %d events, relay %d; want the one pushed after the reset", mem.Len(), head)
	}
	if _, ok := mem.Canonical(after.Conv); !ok {
		t.Errorf("the pending event was lost in the reset")
	}
	if !strings.Contains(h2.logs.String(), "changed epoch") {
		t.Errorf("the epoch change was not logged")
	}
}

func TestShutdownIsRetryable(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)
	r.restart()
	waitFor(t, "a reconnect to the new relay", func() bool {
		e, _ := r.head()
		return h.c.State() == StateOnline && h.c.Status().Epoch == e
	})
	found := false
	for _, s := range h.states.list() {
		if s.State == StateOffline && s.CloseCode == protocol.CloseShuttingDown {
			found = true
		}
	}
	if !found {
		t.Errorf("no offline status with close code 4010: %+v", h.states.list())
	}
}

func TestUnauthorizedIsTerminal(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	h := start(t, r.url(), NewMemory(ana, "d"), agentAuth("not-a-token-0123456789"), func(o *Options) {
		o.Backoff = Backoff{Min: time.Millisecond, Max: 5 * time.Millisecond}
	})
	var err error
	select {
	case err = <-h.runErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	st := h.c.Status()
	if st.State != StateFailed || st.Code != protocol.CodeUnauthorized || st.CloseCode != protocol.CloseUnauthorized {
		t.Errorf("status = %+v (Run: %v); want failed, unauthorized, 4501", st, err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := r.proxy.Conns(); n != 1 {
		t.Errorf("%d connections; want 1", n)
	}
	// An unknown workspace is terminal too.
	h2 := start(t, r.url(), NewMemory(ana, "d"), agentAuth(anaToken), func(o *Options) { o.Workspace = "nope" })
	select {
	case <-h2.runErr:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if st := h2.c.Status(); st.State != StateFailed || st.CloseCode != protocol.CloseUnknownWorkspace {
		t.Errorf("status = %+v; want failed with 4502", st)
	}
}

func TestTypingRoundTrip(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	a := start(t, r.url(), NewMemory(ana, "a"), agentAuth(anaToken), nil)
	b := start(t, r.url(), NewMemory(bob, "b"), agentAuth(bobToken), nil)
	waitState(t, a.c, StateOnline)
	waitState(t, b.c, StateOnline)
	created, _ := a.mem.Create(conv.Created{Contact: &contact, Subject: "Typing"})
	a.c.Kick()
	waitFor(t, "bob to see the conversation", func() bool { _, ok := b.mem.Canonical(created.Conv); return ok })

	for _, on := range []bool{true, false} {
		if err := a.c.Typing(created.Conv, on); err != nil {
			t.Fatal(err)
		}
		select {
		case tp := <-b.typing:
			if tp.Conv != created.Conv || tp.Participant == nil || tp.Participant.ID != ana.ID || tp.On != on {
				t.Errorf("bob saw %+v; want ana typing=%v", tp, on)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("bob never saw ana typing=%v", on)
		}
	}
}

// A visitor's conversation follows it when it identifies: the contact's
// other device, already in sync, gets the history below its cursor.
func TestIdentifiedVisitorsHistoryReachesTheContactsOtherDevice(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	agent := start(t, r.url(), NewMemory(ana, "ana"), agentAuth(anaToken), nil)
	waitState(t, agent.c, StateOnline)

	// The contact's phone, identified, in sync.
	me := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	phone := start(t, r.url(), NewMemory(me, "phone"), relaytest.ContactAuth("42"), nil)
	waitState(t, phone.c, StateOnline)

	// The same person on a laptop, anonymous: a visitor starts a conversation.
	laptopMem := NewMemory(conv.Participant{Role: conv.RoleVisitor}, "laptop")
	laptop := start(t, r.url(), laptopMem, protocol.Auth{Kind: protocol.AuthVisitor}, nil)
	waitState(t, laptop.c, StateOnline)
	created, err := laptopMem.Create(conv.Created{Subject: "Where is my order?"})
	if err != nil {
		t.Fatal(err)
	}
	laptopMem.Act(created.Conv, conv.KindMessageSent, conv.Message{Text: "Order 1234 has not arrived."})
	laptop.c.Kick()
	waitFor(t, "the visitor's events logged", func() bool { return len(laptopMem.Outbox()) == 0 })
	// Other conversations move the workspace on, so the phone's cursor is past the visitor's events.
	agentConv, _ := agent.mem.Create(conv.Created{Contact: &contact, Subject: "unrelated"})
	agent.c.Kick()
	waitFor(t, "the agent's event logged", func() bool { return len(agent.mem.Outbox()) == 0 })
	_ = agentConv
	waitFor(t, "the phone's cursor to move", func() bool { _, s, _ := phone.mem.Cursor(); _, head := r.head(); return s == head })
	if _, ok := phone.mem.Canonical(created.Conv); ok {
		t.Fatal("the phone saw a visitor's conversation")
	}

	// The laptop identifies as the contact.
	tok := laptop.c.VisitorToken()
	laptop.c.Close()
	laptop2 := start(t, r.url(), laptopMem, protocol.Auth{Kind: protocol.AuthContact, ContactID: "42", Hash: relaytest.ContactHash("42"), VisitorToken: tok}, nil)
	waitState(t, laptop2.c, StateOnline)

	waitFor(t, "the history on the phone", func() bool {
		c, ok := phone.mem.Canonical(created.Conv)
		return ok && c.Contact.ID == me.ID && c.Messages == 1
	})
	tl := phone.mem.Timeline(created.Conv)
	if len(tl) < 4 || tl[0].Kind != conv.KindConversationCreated || tl[len(tl)-1].Kind != conv.KindContactIdentified {
		t.Errorf("phone's timeline = %v; want the history then contact.identified", kindsOf(tl))
	}
	if phone.c.State() != StateOnline || r.proxy.Conns() != 4 {
		t.Errorf("phone %s, %d connections; want online, no reconnect", phone.c.State(), r.proxy.Conns())
	}
}

// A store that forgot its mids under a reused device id: the relay answers
// the reused mids with other events' outcomes; those events fail (no resend
// loop) and a retry, under a mid past the welcome's lastMid, goes through.
func TestReusedDeviceIDFailsInsteadOfLooping(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	first := NewMemory(ana, "shared-device")
	h := start(t, r.url(), first, agentAuth(anaToken), nil)
	created, _ := first.Create(conv.Created{Contact: &contact, Subject: "First"})
	first.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: "one"})
	h.c.Kick()
	waitFor(t, "logged", func() bool { return len(first.Outbox()) == 0 })
	h.c.Close()

	second := NewMemory(ana, "shared-device")
	again, _ := second.Create(conv.Created{Contact: &contact, Subject: "Second"}) // mid 1, already used
	h2 := start(t, r.url(), second, agentAuth(anaToken), nil)
	waitFor(t, "the reused mid to fail", func() bool {
		ob := second.Outbox()
		return len(ob) == 1 && ob[0].State == OutboxFailed
	})
	if ob := second.Outbox(); ob[0].Event.ID != again.ID || ob[0].Err.Code != conv.CodeConflict {
		t.Errorf("outbox = %+v; want the reused mid failed as conflict", ob)
	}
	retry, err := second.Retry(again.ID)
	if err != nil {
		t.Fatal(err)
	}
	if retry.Mid != 3 {
		t.Errorf("retry mid = %d; want 3 (past the relay's lastMid 2)", retry.Mid)
	}
	h2.c.Kick()
	waitFor(t, "the retry logged", func() bool { _, ok := second.Canonical(retry.Conv); return ok && len(second.Outbox()) == 0 })
}

func TestResumeFromCursor(t *testing.T) {
	r := newRealRelay(t, relay.Options{RatePerSecond: 1e6, RateBurst: 1e6})
	fillReal(t, r, 300, 30)
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)
	h.c.Close()
	_, before := r.head()

	fillReal(t, r, 120, 30)
	_, head := r.head()
	h2 := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h2.c, StateOnline)
	if st := h2.c.Status(); st.Backlog != head-before || st.Received != head-before {
		t.Errorf("second sync: %d/%d; want the %d events past the cursor", st.Received, st.Backlog, head-before)
	}
	caughtUpTo(t, r, mem)
	if mem.Len() != int(head) {
		t.Errorf("device holds %d events; want %d", mem.Len(), head)
	}
}

// Pushes stay under the event and frame limits and the rate limit: the
// relay (default limits) never refuses one nor closes the connection.
func TestPushesRespectLimits(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	created, _ := mem.Create(conv.Created{Contact: &contact})
	big := strings.Repeat("x", conv.MaxTextBytes-100)
	for range 70 { // 70 near-limit notes: about 2.3 MiB, so at least three pushes
		if _, err := mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: big}); err != nil {
			t.Fatal(err)
		}
	}
	for range 180 { // with the rest, over the burst: paced at the relay's rate
		if _, err := mem.Act(created.Conv, conv.KindNoteAdded, conv.Note{Text: "small"}); err != nil {
			t.Fatal(err)
		}
	}
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitFor(t, "every event logged", func() bool { return len(mem.Outbox()) == 0 && h.c.State() == StateOnline })
	caughtUpTo(t, r, mem)
	if _, head := r.head(); head != 251 {
		t.Errorf("relay logged %d events; want 251", head)
	}
	if n := r.proxy.Conns(); n != 1 {
		t.Errorf("%d connections; want 1 (no limit broken, no close)", n)
	}
	if logs := h.logs.String(); strings.Contains(logs, "refused a push") {
		t.Errorf("the relay refused a push:\n%s", logs)
	}
}

func TestVisitorTokenIsKeptAndReused(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(conv.Participant{Role: conv.RoleVisitor}, "widget")
	h := start(t, r.url(), mem, protocol.Auth{Kind: protocol.AuthVisitor}, nil)
	waitState(t, h.c, StateOnline)
	tok, me := h.c.VisitorToken(), h.c.Identity()
	if tok == "" || me.Role != conv.RoleVisitor || mem.Me().ID != me.ID || h.c.Status().VisitorToken != tok {
		t.Fatalf("visitor token %q, identity %+v, memory's me %+v", tok, me, mem.Me())
	}
	created, err := mem.Create(conv.Created{Subject: "Where is my order?"})
	if err != nil {
		t.Fatal(err)
	}
	h.c.Kick()
	waitFor(t, "the conversation logged", func() bool { return len(mem.Outbox()) == 0 })
	r.proxy.Cut()
	waitFor(t, "a reconnect", func() bool { return r.proxy.Conns() >= 2 && h.c.State() == StateOnline })
	if got := h.c.Identity(); got.ID != me.ID {
		t.Errorf("after reconnect the visitor is %s; want %s (token reused)", got.ID, me.ID)
	}
	if c, ok := mem.Canonical(created.Conv); !ok || c.Contact.ID != me.ID {
		t.Errorf("the visitor's conversation = %+v, %v", c, ok)
	}
}
