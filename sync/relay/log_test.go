package relay

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func TestDerivedEventsComeRightBeforeTheirCause(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	cid := newConvID()
	c := zoe.ev(conv.KindConversationCreated, cid, created(""))
	m1 := zoe.ev(conv.KindMessageSent, cid, msg("first"))
	zoe.mustLog(c, m1)
	a1 := ana.ev(conv.KindMessageSent, cid, msg("answer"))
	ts := ana.ev(conv.KindThreadStarted, cid, conv.ThreadStarted{Thread: newConvID(), Topic: "refund"})
	res := ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved})
	res.Base = 3
	ana.mustLog(a1, ts, res)
	m2 := zoe.ev(conv.KindMessageSent, cid, msg("one more thing"))
	zoe.mustLog(m2)

	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	want := []struct {
		kind  conv.Kind
		id    string
		cause string
	}{
		{conv.KindConversationCreated, c.ID, ""},
		{conv.KindThreadStarted, conv.DerivedID(m1.ID, 0), m1.ID}, // rule 2
		{conv.KindMessageSent, m1.ID, ""},
		{conv.KindMessageSent, a1.ID, ""},
		{conv.KindThreadEnded, conv.DerivedID(ts.ID, 0), ts.ID}, // rule 3
		{conv.KindThreadStarted, ts.ID, ""},
		{conv.KindThreadEnded, conv.DerivedID(res.ID, 0), res.ID}, // rule 5
		{conv.KindStatusChanged, res.ID, ""},
		{conv.KindStatusChanged, conv.DerivedID(m2.ID, 0), m2.ID}, // rule 6
		{conv.KindThreadStarted, conv.DerivedID(m2.ID, 1), m2.ID},
		{conv.KindMessageSent, m2.ID, ""},
	}
	if len(all) != len(want) {
		t.Fatalf("log = %s", kinds(all))
	}
	for i, w := range want {
		e := all[i]
		if e.Kind != w.kind || e.ID != w.id || e.Cause != w.cause {
			t.Errorf("seq %d = %s %s (cause %q); want %s %s (cause %q)", e.Seq, e.Kind, e.ID, e.Cause, w.kind, w.id, w.cause)
		}
		if w.cause != "" && e.Actor != conv.System {
			t.Errorf("seq %d: derived event's actor %+v", e.Seq, e.Actor)
		}
	}
	var open conv.StatusChanged
	json.Unmarshal(all[8].Data, &open)
	var msgData conv.Message
	json.Unmarshal(all[10].Data, &msgData)
	if open.Status != conv.StatusOpen || msgData.Thread != conv.DerivedID(m2.ID, 1) {
		t.Errorf("reopen %+v, message thread %q", open, msgData.Thread)
	}
	// Resolving again changes nothing: seq 0, nothing logged.
	again := ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved})
	again.Base = 11
	ana.mustLog(again) // resolves the reopened conversation
	noop := ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved})
	noop.Base = 13
	got, _ := ana.push(noop)
	if got[0].Seq != 0 || got[0].Error != nil {
		t.Errorf("resolving a resolved conversation: %+v; want seq 0", got[0])
	}
}

func TestEpochMismatchSendsEverything(t *testing.T) {
	r := newTestRelay(t)
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	ana.mustLog(ana.ev(conv.KindConversationCreated, cid, created("contact:zoe")), ana.ev(conv.KindMessageSent, cid, msg("hi")))
	for _, cur := range []protocol.Cursor{
		{Epoch: "0123456789abcdef0123456789abcdef", Seq: 2},
		{Epoch: "another-log", Seq: 99},
	} {
		s := connect(t, r.url, agentAuth(tokBen), cur)
		if s.welcome.Backlog != 3 || len(s.backlog) != 3 || s.backlog[0].Seq != 1 || s.caughtUp.Seq != 3 {
			t.Errorf("cursor %+v: backlog %d, got %d events, caughtUp %+v; want all 3 from seq 1", cur, s.welcome.Backlog, len(s.backlog), s.caughtUp)
		}
		z := connect(t, r.url, contactAuth("zoe"), cur)
		if len(z.backlog) != 3 {
			t.Errorf("contact, cursor %+v: got %d events; want 3", cur, len(z.backlog))
		}
	}
	// The right epoch resumes.
	s := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{Epoch: r.srv.Epoch(testWS), Seq: 2})
	if s.welcome.Backlog != 1 || len(s.backlog) != 1 || s.backlog[0].Seq != 3 {
		t.Errorf("same epoch from 2: backlog %d, events %s", s.welcome.Backlog, kinds(s.backlog))
	}
}

// fill logs n events (conversations with messages) through a session with
// no rate limit, returning the session.
func fill(t testing.TB, r *testRelay, n int) {
	t.Helper()
	c := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{Epoch: r.srv.Epoch(testWS), Seq: r.head()}, "filler")
	for n > 0 {
		var evs []conv.Event
		for len(evs) < min(n, protocol.MaxPushEvents) {
			evs = append(evs, c.ev(conv.KindConversationCreated, newConvID(), created("contact:zoe")))
		}
		c.mustLog(evs...)
		n -= len(evs)
	}
	c.c.Close(websocket.StatusNormalClosure, "")
}

func TestBacklogPagesAndCaughtUp(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })
	fill(t, r, 1234)
	c := dial(t, r.url)
	c.send(hello(testWS, "new", protocol.Cursor{}, agentAuth(tokBen)))
	w := decode[protocol.Welcome](t, c.nextOf(protocol.TypeWelcome))
	if w.Head != 1234 || w.Backlog != 1234 {
		t.Fatalf("welcome %+v", w)
	}
	var pages []int
	var next uint64 = 1
	for {
		f := c.next()
		if f.Type == protocol.TypeCaughtUp {
			cu := decode[protocol.CaughtUp](t, f)
			if cu.Cursor != (protocol.Cursor{Epoch: w.Epoch, Seq: 1234}) {
				t.Errorf("caughtUp %+v", cu.Cursor)
			}
			break
		}
		evs := decode[protocol.Events](t, f).Events
		if len(f.Raw) > protocol.MaxFrameBytes {
			t.Errorf("page of %d bytes", len(f.Raw))
		}
		for _, e := range evs {
			if e.Seq != next {
				t.Fatalf("got seq %d; want %d", e.Seq, next)
			}
			next++
		}
		pages = append(pages, len(evs))
	}
	if !slices.Equal(pages, []int{500, 500, 234}) {
		t.Errorf("pages %v; want 500, 500, 234", pages)
	}
	// Big events make smaller pages, each under the frame limit.
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{Epoch: w.Epoch, Seq: 1234})
	cid := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, cid, created("")))
	for range 4 {
		var evs []conv.Event
		for range 20 {
			evs = append(evs, zoe.ev(conv.KindMessageSent, cid, msg(string(make([]byte, 0))+fmt.Sprintf("%032000d", 7))))
		}
		zoe.mustLog(evs...)
	}
	s := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{Epoch: w.Epoch, Seq: 1234})
	if len(s.backlog) != 82 {
		t.Errorf("got %d big events; want 82", len(s.backlog))
	}
	// Zoe's new device: her conversation (82 events) plus the 1234
	// conversations the filler created for her.
	z := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{}, "zoe-2")
	if len(z.backlog) != 1234+82 || z.welcome.Backlog != 1234+82 {
		t.Errorf("contact backlog %d (welcome %d); want %d", len(z.backlog), z.welcome.Backlog, 1234+82)
	}
}

func TestLiveFanOut(t *testing.T) {
	r := newTestRelay(t)
	var team []*tsession
	for range 3 {
		team = append(team, connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}))
	}
	team = append(team, connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{}))
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	cid := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, cid, created("")), zoe.ev(conv.KindMessageSent, cid, msg("anyone?")))
	team[0].mustLog(team[0].ev(conv.KindMessageSent, cid, msg("yes")))
	for i, s := range append(team, zoe) {
		var got []conv.Event
		waitFor(5*time.Second, func() bool { got = s.received(); return len(got) >= 4 })
		if k := kinds(got); k != "conversation.created thread.started message.sent message.sent" {
			t.Errorf("session %d got %s", i, k)
		}
	}
}

func TestSlowReaderIsDisconnected(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst, o.queueDepth = 1e6, 1e6, 16 })
	ctx := t.Context()
	// The slow one: welcomed, then never reads.
	slow, _, err := websocket.Dial(ctx, r.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.CloseNow()
	slow.SetReadLimit(4 << 20)
	if err := slow.Write(ctx, websocket.MessageText, mustJSON(hello(testWS, "slow", protocol.Cursor{}, agentAuth(tokBen)))); err != nil {
		t.Fatal(err)
	}
	fast := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	pusher := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "pusher")
	cid := newConvID()
	pusher.mustLog(pusher.ev(conv.KindConversationCreated, cid, created("contact:zoe")))
	text := fmt.Sprintf("%030000d", 1)
	pushed := 1
	for r.srv.m.slowDisconnects.Load() == 0 {
		var evs []conv.Event
		for range 10 {
			evs = append(evs, pusher.ev(conv.KindNoteAdded, cid, conv.Note{Text: text}))
		}
		pusher.mustLog(evs...)
		pushed += 10
		if pushed > 20000 {
			t.Fatal("no slow-reader disconnect after 20000 events")
		}
	}
	// The fast reader got everything.
	got := fast.received()
	if err := waitFor(10*time.Second, func() bool { got = fast.received(); return len(got) >= pushed }); err != nil {
		t.Fatalf("fast reader got %d of %d events", len(got), pushed)
	}
	checkGapFree(t, got)
	// The slow one reads what was sent, then the 4008 close.
	for {
		_, _, err := slow.Read(ctx)
		if err != nil {
			if c := websocket.CloseStatus(err); c != protocol.CloseSlowReader {
				t.Fatalf("slow reader: %v; want close %d", err, protocol.CloseSlowReader)
			}
			break
		}
	}
	// It resumes from its cursor and misses nothing.
	again := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{}, "slow")
	if len(again.backlog) != pushed {
		t.Errorf("slow reader's resume: %d events; want %d", len(again.backlog), pushed)
	}
}

func TestTyping(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.TypingTTL = 150 * time.Millisecond })
	ana := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	ben := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	zoe := connect(t, r.url, contactAuth("zoe"), protocol.Cursor{})
	max := connect(t, r.url, contactAuth("max"), protocol.Cursor{})
	cid := newConvID()
	zoe.mustLog(zoe.ev(conv.KindConversationCreated, cid, created("")))
	ana.events(1)
	ben.events(1)
	typing := func(c *tsession, on bool) { c.send(protocol.Typing{Type: protocol.TypeTyping, Conv: cid, On: on}) }
	expect := func(c *tsession, who string, on bool) {
		t.Helper()
		ty := decode[protocol.Typing](t, c.nextOf(protocol.TypeTyping))
		if ty.Conv != cid || ty.Participant == nil || ty.Participant.ID != who || ty.On != on {
			t.Errorf("typing = %+v; want %s on=%v", ty, who, on)
		}
	}
	typing(zoe, true)
	expect(ana, "contact:zoe", true)
	expect(ben, "contact:zoe", true)
	typing(zoe, false)
	expect(ana, "contact:zoe", false)
	expect(ben, "contact:zoe", false)
	typing(ana, true)
	expect(zoe, "agent:ana", true)
	expect(ben, "agent:ana", true)
	// Not renewed: it lapses.
	expect(zoe, "agent:ana", false)
	expect(ben, "agent:ana", false)
	// Max sees nothing of Zoe's conversation, and may not type in it.
	typing(max, true)
	ana.quiet(50 * time.Millisecond)
	max.quiet(50 * time.Millisecond)
	if typ := max.received(); len(typ) != 0 {
		t.Errorf("max received %s", kinds(typ))
	}
	// A supervisor's typing stays with the team (and so does its lapse,
	// which may come within the wait on a slow machine).
	ana.mustLog(ana.ev(conv.KindParticipantJoined, cid, conv.ParticipantChanged{Participant: conv.Participant{ID: "agent:ben", Role: conv.RoleSupervisor}}))
	ben.events(1)
	typing(ben, true)
	expect(ana, "agent:ben", true)
	zoe.quiet(50 * time.Millisecond)
	// Typing is never stored.
	if r.head() != 2 {
		t.Errorf("head = %d", r.head())
	}
}

func TestRestartKeepsEpochAndSeqs(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })
	fill(t, r, 150)
	epoch := r.srv.Epoch(testWS)
	r.restart()
	if e := r.srv.Epoch(testWS); e != epoch {
		t.Fatalf("epoch %q after restart; want %q", e, epoch)
	}
	if h := r.head(); h != 150 {
		t.Fatalf("head %d after restart; want 150", h)
	}
	fill(t, r, 50)
	r.restart()
	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	if len(all) != 200 {
		t.Fatalf("%d events; want 200", len(all))
	}
}

// TestGracefulShutdownLosesNothing pushes from several clients while the
// relay shuts down: every acknowledged event is in the reopened log, once.
func TestGracefulShutdownLosesNothing(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })
	var mu sync.Mutex
	acked := map[string]uint64{}
	var wg sync.WaitGroup
	closes := make(chan websocket.StatusCode, 8)
	for i := range 8 {
		s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, fmt.Sprintf("storm-%d", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cid := newConvID()
			first := true
			for {
				var evs []conv.Event
				if first {
					evs = append(evs, s.ev(conv.KindConversationCreated, cid, created("contact:zoe")))
					first = false
				}
				for len(evs) < 50 {
					evs = append(evs, s.ev(conv.KindNoteAdded, cid, conv.Note{Text: "storm"}))
				}
				if err := s.c.Write(t.Context(), websocket.MessageText, mustJSON(protocol.Push{Type: protocol.TypePush, Events: evs})); err != nil {
					closes <- s.closed()
					return
				}
				for {
					var f frame
					select {
					case f = <-s.frames:
					case <-s.done:
						closes <- websocket.CloseStatus(s.err)
						return
					}
					if f.Type != protocol.TypeAck {
						continue
					}
					a := decode[protocol.Ack](t, f)
					mu.Lock()
					for _, res := range a.Results {
						if res.Error != nil {
							t.Errorf("rejected: %+v", res)
						}
						acked[res.ID] = res.Seq
					}
					mu.Unlock()
					break
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	r.stop()
	wg.Wait()
	close(closes)
	for c := range closes {
		if c != protocol.CloseShuttingDown {
			t.Errorf("client closed with %d; want %d", c, protocol.CloseShuttingDown)
		}
	}
	r.start()
	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	bySeq := map[uint64]string{}
	for _, e := range all {
		bySeq[e.Seq] = e.ID
	}
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged")
	}
	for id, seq := range acked {
		if bySeq[seq] != id {
			t.Fatalf("acknowledged %s at seq %d; the log has %q there", id, seq, bySeq[seq])
		}
	}
	t.Logf("%d acknowledged, %d logged", len(acked), len(all))
}
