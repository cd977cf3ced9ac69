package eventlog

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/sync/protocol"
)

func connectJS(t *testing.T, url string) *JetStream {
	t.Helper()
	l, err := Connect(JetStreamOptions{URLs: url, Replicas: 1, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// openTwo connects two logs to the server at url, as two relays, each with
// workspace acme open.
func openTwo(t *testing.T, url string) (a, b *JetStream) {
	t.Helper()
	a, b = connectJS(t, url), connectJS(t, url)
	for _, l := range []*JetStream{a, b} {
		if _, _, err := l.Open("acme"); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

// following hands what other writers append to acme on the returned channel.
func following(t *testing.T, l *JetStream) <-chan []Record {
	t.Helper()
	got := make(chan []Record, 64)
	if err := l.Follow("acme", func(r []Record) bool { got <- r; return true }); err != nil {
		t.Fatal(err)
	}
	return got
}

// writer makes batches the way the relay's sequencer does: conv.Apply on
// the states so far, seqs from head+1.
type writer struct {
	t      *testing.T
	head   uint64
	states map[string]*conv.Conversation
}

func newWriter(t *testing.T, head uint64) *writer {
	return &writer{t: t, head: head, states: map[string]*conv.Conversation{}}
}

var agent = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}

func (w *writer) batch(evs ...conv.Event) *Batch {
	w.t.Helper()
	b := &Batch{Head: w.head}
	touched := map[string]bool{}
	for _, e := range evs {
		next, out, err := conv.Apply(w.states[e.Conv], e, conv.Env{NextSeq: w.head + 1})
		if err != nil {
			w.t.Fatalf("Apply(%s): %v", e.Kind, err)
		}
		for i := range out {
			b.Events = append(b.Events, Record{Event: out[i], JSON: protocol.AppendEvent(nil, &out[i])})
		}
		w.head += uint64(len(out))
		w.states[e.Conv] = next
		touched[e.Conv] = true
		if e.Mid > 0 {
			b.Results = append(b.Results, MidResult{Identity: e.Actor.ID, Device: e.Device, Mid: e.Mid, Result: protocol.Result{ID: e.ID, Seq: w.head}})
		}
	}
	for id := range touched {
		b.States = append(b.States, w.states[id])
	}
	return b
}

func ev(id, convID string, mid uint64, k conv.Kind, data any) conv.Event {
	return conv.Event{ID: id, Conv: convID, Kind: k, Actor: agent, Device: "d1", Mid: mid, Data: conv.MustData(data)}
}

func created(id, convID string, mid uint64) conv.Event {
	return ev(id, convID, mid, conv.KindConversationCreated, conv.Created{Contact: &conv.Participant{ID: "contact:c1", Role: conv.RoleContact}, Subject: "s"})
}

func message(id, convID string, mid uint64, text string) conv.Event {
	return ev(id, convID, mid, conv.KindMessageSent, conv.Message{Text: text})
}

func TestJetStreamLogIsRebuiltByAnotherRelay(t *testing.T) {
	srv := natstest.Start(t)
	a := connectJS(t, srv.URL())
	epoch, head, err := a.Open("acme")
	if err != nil || epoch == "" || head != 0 {
		t.Fatalf("Open = %q, %d, %v", epoch, head, err)
	}
	w := newWriter(t, 0)
	b := w.batch(created("e1", "c1", 1), message("e2", "c1", 2, "hello"), created("e3", "c2", 3))
	var vh [32]byte
	vh[3] = 9
	b.Visitors = []VisitorToken{{Hash: vh, ID: "visitor:v1"}}
	b.Aliases = []Alias{{Contact: "contact:c1", Device: "d2", Visitor: "visitor:v1"}}
	b.Results = append(b.Results, MidResult{Identity: agent.ID, Device: "d1", Mid: 4, Result: protocol.Result{ID: "e4", Error: &conv.Error{Code: conv.CodeStale, Message: "old"}}})
	durable := false
	b.Durable = func() { durable = true }
	if err := a.Append("acme", b); err != nil {
		t.Fatal(err)
	}
	if !durable {
		t.Error("Append returned without calling Durable")
	}
	// An answer that logs nothing, alone.
	if err := a.Append("acme", &Batch{Head: w.head, Results: []MidResult{{Identity: agent.ID, Device: "d1", Mid: 5, Result: protocol.Result{ID: "e5"}}}}); err != nil {
		t.Fatal(err)
	}
	want := w.head

	// A second relay rebuilds everything from the stream and the bucket.
	bl := connectJS(t, srv.URL())
	e2, h2, err := bl.Open("acme")
	if err != nil || e2 != epoch || h2 != want {
		t.Fatalf("second relay: Open = %q, %d, %v; want %q, %d", e2, h2, err, epoch, want)
	}
	for _, l := range []*JetStream{a, bl} {
		for id, st := range w.states {
			got, err := l.Conversation("acme", id)
			if err != nil || !reflect.DeepEqual(got, st) {
				t.Errorf("Conversation(%s) = %+v, %v\nwant %+v", id, got, err, st)
			}
		}
		var seqs []uint64
		if err := l.Scan("acme", 1, want, func(s uint64, raw []byte) error { seqs = append(seqs, s); return nil }); err != nil || len(seqs) != int(want) {
			t.Errorf("Scan = %v, %v", seqs, err)
		}
		if s, _ := l.ConversationSeqs("acme", "c2", 0, want); len(s) != 1 || s[0] != want {
			t.Errorf("ConversationSeqs(c2) = %v", s)
		}
		if o, _ := l.Owned("acme", "contact:c1"); len(o) != 2 {
			t.Errorf("Owned = %v", o)
		}
		if m, _ := l.LastMid("acme", agent.ID, "d1"); m != 5 {
			t.Errorf("LastMid = %d; want 5", m)
		}
		if r, ok, err := l.Result("acme", agent.ID, "d1", 2); !ok || err != nil || r.ID != "e2" || r.Seq == 0 {
			t.Errorf("Result(mid 2) = %+v %v %v", r, ok, err)
		}
		if r, ok, _ := l.Result("acme", agent.ID, "d1", 4); !ok || r.Error == nil || r.Error.Code != conv.CodeStale {
			t.Errorf("Result(mid 4) = %+v %v", r, ok)
		}
		if r, ok, _ := l.Result("acme", agent.ID, "d1", 5); !ok || r.Error != nil || r.Seq != 0 || r.ID != "e5" {
			t.Errorf("Result(mid 5) = %+v %v", r, ok)
		}
		if v, ok, _ := l.Visitor("acme", vh); !ok || v.ID != "visitor:v1" {
			t.Errorf("Visitor = %+v %v", v, ok)
		}
		if v, err := l.Alias("acme", "contact:c1", "d2"); err != nil || v != "visitor:v1" {
			t.Errorf("Alias = %q, %v; want visitor:v1", v, err)
		}
		if v, err := l.Alias("acme", "contact:c1", "d1"); err != nil || v != "" {
			t.Errorf("Alias(another device) = %q, %v; want none", v, err)
		}
		cs, more, _ := l.Conversations("acme", ConversationQuery{Limit: 1})
		if len(cs) != 1 || !more || cs[0].ID != "c1" {
			t.Errorf("Conversations(limit 1) = %v more %v", cs, more)
		}
	}
	if err := a.SaveWebhookCursor("acme", "https://x", WebhookCursor{Done: 3}); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := bl.WebhookCursor("acme", "https://x"); !ok || err != nil || c.Done != 3 {
		t.Errorf("WebhookCursor = %+v %v %v", c, ok, err)
	}
}

func TestJetStreamRaceIsRefusedWholeAndFollowed(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openTwo(t, srv.URL())
	got := following(t, b)
	wa, wb := newWriter(t, 0), newWriter(t, 0)
	if err := a.Append("acme", wa.batch(created("a1", "ca", 1), message("a2", "ca", 2, "from a"))); err != nil {
		t.Fatal(err)
	}
	// b validated on head 0 too. Either its index already holds a's
	// events or the stream refuses: never a partial batch.
	err := b.Append("acme", wb.batch(created("b1", "cb", 1)))
	var behind *BehindError
	if !errors.As(err, &behind) {
		t.Fatalf("b's Append on a moved head = %v; want a BehindError", err)
	}
	var followed []Record
	for len(followed) < 3 {
		select {
		case r := <-got:
			followed = append(followed, r...)
		case <-time.After(5 * time.Second):
			t.Fatalf("b followed %d events; want a's 3", len(followed))
		}
	}
	for i, r := range followed {
		if r.Event.Seq != uint64(i+1) {
			t.Errorf("followed[%d].Seq = %d", i, r.Event.Seq)
		}
	}
	if c, _ := b.Conversation("acme", "cb"); c != nil {
		t.Errorf("the refused batch's conversation exists: %+v", c)
	}
	// Validated again on the new head, it goes in.
	wb = newWriter(t, 3)
	if err := b.Append("acme", wb.batch(created("b1", "cb", 1))); err != nil {
		t.Fatal(err)
	}
	if h, _ := b.Conversation("acme", "cb"); h == nil || h.LastSeq != 4 {
		t.Errorf("cb after the retry = %+v", h)
	}
}

func TestJetStreamRefusesAStreamWithOtherSettings(t *testing.T) {
	srv := natstest.Start(t)
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	l := connectJS(t, srv.URL())
	cfg := l.streamConfig("acme")
	cfg.MaxAge = time.Hour
	if _, err := js.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	_, _, err = l.Open("acme")
	if err == nil || !strings.Contains(err.Error(), "max_age") {
		t.Fatalf("Open on a stream with max_age 1h = %v; want an error naming max_age", err)
	}
}

func TestJetStreamUnreachable(t *testing.T) {
	_, err := Connect(JetStreamOptions{URLs: "nats://127.0.0.1:1", Replicas: 1, Timeout: time.Second})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("Connect to nothing = %v; want an error naming the address", err)
	}
}

func TestStreamNames(t *testing.T) {
	for ws, want := range map[string]string{"acme": "TL_acme", "a.b c": "TL_x" + fmt.Sprintf("%x", "a.b c")} {
		if got := StreamName(ws); got != want {
			t.Errorf("StreamName(%q) = %q; want %q", ws, got, want)
		}
	}
}

func TestMigrateKeepsEpochAndSeqs(t *testing.T) {
	from, err := OpenBadger(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer from.Close()
	epoch, _, err := from.Open("acme")
	if err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, 0)
	for i := range 1200 { // more than one atomic batch
		c := fmt.Sprintf("c%d", i%7)
		var e conv.Event
		if w.states[c] == nil {
			e = created(fmt.Sprintf("e%d", i), c, uint64(i+1))
		} else {
			e = message(fmt.Sprintf("e%d", i), c, uint64(i+1), "hi")
		}
		if err := from.Append("acme", w.batch(e)); err != nil {
			t.Fatal(err)
		}
	}
	var vh [32]byte
	vh[0] = 1
	rejected := MidResult{Identity: agent.ID, Device: "d1", Mid: 5000, Result: protocol.Result{ID: "x", Error: &conv.Error{Code: conv.CodeForbidden, Message: "no"}}}
	alias := Alias{Contact: "contact:c1", Device: "d9", Visitor: "visitor:v"}
	if err := from.Append("acme", &Batch{Results: []MidResult{rejected}, Visitors: []VisitorToken{{Hash: vh, ID: "visitor:v"}}, Aliases: []Alias{alias}}); err != nil {
		t.Fatal(err)
	}
	if err := from.SaveWebhookCursor("acme", "hook1", WebhookCursor{Done: 17}); err != nil {
		t.Fatal(err)
	}

	srv := natstest.Start(t)
	to := connectJS(t, srv.URL())
	moved, err := Migrate(from, to, "acme", []string{"hook1"})
	if err != nil || moved != w.head {
		t.Fatalf("Migrate = %d, %v; want %d", moved, err, w.head)
	}
	if again, err := Migrate(from, to, "acme", nil); err != nil || again != 0 {
		t.Fatalf("Migrate again = %d, %v; want 0, nil", again, err)
	}

	// A relay starting on JetStream serves the same log.
	js := connectJS(t, srv.URL())
	e2, head, err := js.Open("acme")
	if err != nil || e2 != epoch || head != w.head {
		t.Fatalf("Open on JetStream = %q, %d, %v; want %q, %d", e2, head, err, epoch, w.head)
	}
	var a, b [][]byte
	from.Scan("acme", 1, head, func(_ uint64, raw []byte) error { a = append(a, raw); return nil })
	js.Scan("acme", 1, head, func(_ uint64, raw []byte) error { b = append(b, raw); return nil })
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("events differ after the move: %d vs %d", len(a), len(b))
	}
	for id := range w.states {
		x, _ := from.Conversation("acme", id)
		y, _ := js.Conversation("acme", id)
		if !reflect.DeepEqual(x, y) {
			t.Errorf("state of %s differs:\n%+v\n%+v", id, x, y)
		}
	}
	if r, ok, _ := js.Result("acme", agent.ID, "d1", 5000); !ok || r.Error == nil || r.Error.Code != conv.CodeForbidden {
		t.Errorf("the rejected mid's answer = %+v %v", r, ok)
	}
	if r, ok, _ := js.Result("acme", agent.ID, "d1", 3); !ok || r.ID != "e2" {
		t.Errorf("mid 3's answer = %+v %v", r, ok)
	}
	if m, _ := js.LastMid("acme", agent.ID, "d1"); m != 5000 {
		t.Errorf("LastMid = %d", m)
	}
	if v, ok, _ := js.Visitor("acme", vh); !ok || v.ID != "visitor:v" {
		t.Errorf("visitor = %+v %v", v, ok)
	}
	if v, err := js.Alias("acme", alias.Contact, alias.Device); err != nil || v != alias.Visitor {
		t.Errorf("alias = %q, %v; want %s", v, err, alias.Visitor)
	}
	if c, ok, _ := js.WebhookCursor("acme", "hook1"); !ok || c.Done != 17 {
		t.Errorf("webhook cursor = %+v %v", c, ok)
	}
}

// TestJetStreamJoinsFromASnapshot: a relay that indexed enough events
// leaves a snapshot of its index; a relay opening the workspace later starts
// from it and reads only what came after, and ends with the same index. A
// snapshot that is not of this log is ignored.
func TestJetStreamJoinsFromASnapshot(t *testing.T) {
	srv := natstest.Start(t)
	a, err := Connect(JetStreamOptions{URLs: srv.URL(), Replicas: 1, snapshotEvery: 500})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, _, err := a.Open("acme"); err != nil {
		t.Fatal(err)
	}
	w := newWriter(t, 0)
	for i := range 1300 {
		c := fmt.Sprintf("c%d", i%13)
		var e conv.Event
		if w.states[c] == nil {
			e = created(fmt.Sprintf("e%d", i), c, uint64(i+1))
		} else {
			e = message(fmt.Sprintf("e%d", i), c, uint64(i+1), "hi")
		}
		if err := a.Append("acme", w.batch(e)); err != nil {
			t.Fatal(err)
		}
	}
	// The snapshot at 1,000 (or later) is written in the background.
	var snapped uint64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		s, _ := a.space("acme")
		s.idx.mu.Lock()
		snapped = s.idx.snapped
		s.idx.mu.Unlock()
		if snapped >= 1000 {
			break
		}
	}
	if snapped < 1000 {
		t.Fatalf("snapshot at %d; want one at 1,000 or more", snapped)
	}
	b := connectJS(t, srv.URL())
	_, head, err := b.Open("acme")
	if err != nil || head != w.head {
		t.Fatalf("Open = %d, %v; want %d", head, err, w.head)
	}
	sb, _ := b.space("acme")
	sa, _ := a.space("acme")
	sa.idx.mu.Lock()
	sb.idx.mu.Lock()
	if sb.idx.joinedAt < 1000 {
		t.Errorf("the second relay did not start from the snapshot (joined at %d)", sb.idx.joinedAt)
	}
	for _, f := range []struct {
		name string
		a, b any
	}{{"states", sa.idx.states, sb.idx.states}, {"seqs", sa.idx.seqs, sb.idx.seqs}, {"owners", sa.idx.owners, sb.idx.owners},
		{"mids", sa.idx.mids, sb.idx.mids}, {"logged", sa.idx.logged, sb.idx.logged}} {
		if !reflect.DeepEqual(f.a, f.b) {
			t.Errorf("%s differ after joining from the snapshot", f.name)
		}
	}
	ca, _ := sa.idx.conversations(ConversationQuery{Limit: 100})
	cb, _ := sb.idx.conversations(ConversationQuery{Limit: 100})
	if !reflect.DeepEqual(ca, cb) {
		t.Errorf("Conversations differ: %d vs %d", len(ca), len(cb))
	}
	sb.idx.mu.Unlock()
	sa.idx.mu.Unlock()

	// A snapshot naming another event at its head is not used.
	os, err := sa.snapshotStore(t.Context(), false)
	if err != nil || os == nil {
		t.Fatal(err)
	}
	sn, states := sa.idx.takeSnapshot()
	if err := sa.writeSnapshot(sn, states, []byte(`{"id":"not-this-log"}`)); err != nil {
		t.Fatal(err)
	}
	c := connectJS(t, srv.URL())
	if _, head, err := c.Open("acme"); err != nil || head != w.head {
		t.Fatalf("Open with a foreign snapshot = %d, %v", head, err)
	}
	sc, _ := c.space("acme")
	if got, _ := c.Conversation("acme", "c3"); !reflect.DeepEqual(got, w.states["c3"]) {
		t.Errorf("state after ignoring the snapshot = %+v", got)
	}
	sc.idx.mu.Lock()
	defer sc.idx.mu.Unlock()
	if sc.idx.joinedAt != 0 {
		t.Errorf("the foreign snapshot was used (joined at %d)", sc.idx.joinedAt)
	}
}

// A relay follows the log across a restart of the only NATS server: what
// another relay appends once the server is back reaches it as soon as its
// connection is back, not when its consumer's heartbeats have been missed
// long enough (R1 soak seed 1021: one relay served head 105 for 4 s after
// it had reconnected, and answered a resent event from that stale state).
// It used to wait out nats.go's backoff between attempts to recreate its
// consumer (1, 2, 4, 8, 10 s), while the server came back without JetStream.
func TestJetStreamFollowsAcrossANATSRestart(t *testing.T) {
	srv, a, b, got, wa := followedOnce(t)

	// nats.go's own attempts to re-create the consumer come 1, 3, 7 and
	// 15 s after the first failed: JetStream is back 7.5 s after.
	restartWithoutJetStreamFirst(t, srv, outage, a, b)
	appendOnceUp(t, a, wa.batch(message("a2", "ca", 2, "after the restart")))
	// Bounded by well less than nats.go's next attempt would take (7 s).
	waitFollowed(t, got, 2, 4*time.Second)
}

// followedOnce starts a server and two logs on it, b following acme, and
// has b follow a's first event (conversation ca): wa writes a's next.
func followedOnce(t *testing.T) (srv *natstest.Server, a, b *JetStream, got <-chan []Record, wa *writer) {
	t.Helper()
	srv = natstest.Start(t)
	a, b = openTwo(t, srv.URL())
	got = following(t, b)
	wa = newWriter(t, 0)
	if err := a.Append("acme", wa.batch(created("a1", "ca", 1))); err != nil {
		t.Fatal(err)
	}
	waitFollowed(t, got, 1, 5*time.Second)
	return srv, a, b, got, wa
}

// outage is how long restartWithoutJetStreamFirst serves without JetStream
// in the tests of following across an outage.
const outage = 7500 * time.Millisecond

// restartWithoutJetStreamFirst stops srv, serves its port without
// JetStream for d, as a restarted server does while it recovers its streams
// (a client's JetStream requests fail meanwhile), then starts srv again and
// waits until every log's connection is back.
func restartWithoutJetStreamFirst(t *testing.T, srv *natstest.Server, d time.Duration, logs ...*JetStream) {
	t.Helper()
	srv.Shutdown()
	port, _ := strconv.Atoi(srv.URL()[strings.LastIndex(srv.URL(), ":")+1:])
	plain, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	plain.Start()
	if !plain.ReadyForConnections(5 * time.Second) {
		t.Fatal("the server without JetStream did not start")
	}
	time.Sleep(d)
	plain.Shutdown()
	plain.WaitForShutdown()
	srv.Restart()
	for _, l := range logs {
		for !l.nc.IsConnected() {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// The bucket's watcher too: an answer another relay saved (a push that
// logged no event) after such an outage is known here soon after.
func TestJetStreamWatchesTheBucketAcrossANATSRestart(t *testing.T) {
	srv := natstest.Start(t)
	a, b := openTwo(t, srv.URL())
	restartWithoutJetStreamFirst(t, srv, outage, a, b)
	appendOnceUp(t, a, &Batch{Results: []MidResult{{Identity: "agent:ana", Device: "d1", Mid: 7, Result: protocol.Result{ID: "e7"}}}})
	s, err := b.space("acme")
	if err != nil {
		t.Fatal(err)
	}
	k := answerKey{deviceKey{"agent:ana", "d1"}, 7}
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		s.idx.mu.Lock()
		_, ok := s.idx.answers[k]
		s.idx.mu.Unlock()
		if ok {
			return
		}
		if time.Since(start) > 4*time.Second { // nats.go's watcher took 16 s
			t.Fatal("b's index does not have a's answer 4 s after a saved it")
		}
	}
}

// appendOnceUp appends b to acme, trying again while JetStream does not
// take it yet (it may still be starting).
func appendOnceUp(t *testing.T, l *JetStream, b *Batch) {
	t.Helper()
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		err := l.Append("acme", b)
		if err == nil {
			return
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("Append after the restart: %v", err)
		}
	}
}

// waitFollowed waits until got has handed over events up to seq want.
func waitFollowed(t *testing.T, got <-chan []Record, want uint64, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case rs := <-got:
			if rs[len(rs)-1].Event.Seq >= want {
				return
			}
		case <-deadline:
			t.Fatalf("did not follow the other writer's events up to seq %d within %v", want, within)
		}
	}
}

// A consumer that delivers nothing while the stream moves on (nats.go sees
// nothing wrong: its heartbeats come) is replaced: the relay follows the
// other writer's events two or three seconds later, not never.
func TestJetStreamReplacesAConsumerThatDeliversNothing(t *testing.T) {
	_, a, b, got, wa := followedOnce(t)

	b.wedgeNext.Store(true) // b's next Next, waiting now or after one more event
	start := time.Now()
	for i := uint64(2); i <= 5; i++ {
		if err := a.Append("acme", wa.batch(message(fmt.Sprintf("a%d", i), "ca", i, "while b's consumer is wedged"))); err != nil {
			t.Fatal(err)
		}
	}
	waitFollowed(t, got, 5, 6*time.Second)
	if b.wedgeNext.Load() {
		t.Fatal("the consumer never reached the wedged Next: the test tested nothing")
	}
	t.Logf("followed again after %v", time.Since(start).Round(time.Millisecond))
}

// An answer that logged no event is found in the bucket when the index does
// not have it but knows later mids of the device (its watcher lost the
// entry: seen once in a convergence run), and is indexed from then on.
func TestJetStreamResultAsksTheBucketForAMissingAnswer(t *testing.T) {
	_, a, b, got, wa := followedOnce(t) // mid 1 of agent:ana on d1
	noop := MidResult{Identity: agent.ID, Device: "d1", Mid: 2, Result: protocol.Result{ID: "e2"}}
	if err := a.Append("acme", &Batch{Head: wa.head, Results: []MidResult{noop}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Append("acme", wa.batch(message("a3", "ca", 3, "after the no-op"))); err != nil {
		t.Fatal(err)
	}
	waitFollowed(t, got, 2, 5*time.Second)
	s, err := b.space("acme")
	if err != nil {
		t.Fatal(err)
	}
	k := answerKey{deviceKey{agent.ID, "d1"}, 2}
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		s.idx.mu.Lock()
		_, ok := s.idx.answers[k]
		if ok {
			delete(s.idx.answers, k) // as if the watcher had never delivered it
		}
		s.idx.mu.Unlock()
		if ok {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("b's watcher did not deliver a's answer")
		}
	}
	if r, ok, err := b.Result("acme", agent.ID, "d1", 2); err != nil || !ok || r.ID != "e2" || r.Seq != 0 {
		t.Fatalf("Result(mid 2) = %+v %v %v; want the no-op e2 from the bucket", r, ok, err)
	}
	s.idx.mu.Lock()
	_, indexed := s.idx.answers[k]
	s.idx.mu.Unlock()
	if !indexed {
		t.Error("the answer read from the bucket was not indexed")
	}
	if r, ok, err := b.Result("acme", agent.ID, "d1", 4); err != nil || ok {
		t.Errorf("Result(mid 4, never processed) = %+v %v %v; want none", r, ok, err)
	}
}
