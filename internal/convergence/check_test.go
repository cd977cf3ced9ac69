package convergence

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// relayLog is the relay's log as its store holds it (Badger, or a JetStream
// stream and bucket), read after the relays stopped, and what conv.Replay
// derives from it.
type relayLog struct {
	epoch  string
	head   uint64
	events []conv.Event // events[i] has seq i+1
	bySeq  map[uint64]conv.Event
	byID   map[string]uint64 // seq of each id
	convs  map[string][]conv.Event
	states map[string]*conv.Conversation // conv.Replay of each conversation's events
	log    eventlog.Log                  // open: for Result and Conversation

	// explain, when set, tells what the store itself holds for a mid's
	// answer (the JetStream bucket's key), for a failure's message.
	explain func(identity, device string, mid uint64) string
}

// readRelayLog reads the open log lg (a Badger opened on a stopped relay's
// dir, or a fresh JetStream log on the relays' cluster) and checks it: seqs
// 1…head with no gap, no id twice, every conversation replays, and the
// stored state of each conversation is what replaying its events gives. lg
// stays open for the checks that follow (Result, Conversation); the caller
// closes it.
func readRelayLog(t testing.TB, lg eventlog.Log) *relayLog {
	t.Helper()
	epoch, head, err := lg.Open(testWS)
	if err != nil {
		t.Fatal(err)
	}
	rl := &relayLog{epoch: epoch, head: head, log: lg, bySeq: map[uint64]conv.Event{},
		byID: map[string]uint64{}, convs: map[string][]conv.Event{}, states: map[string]*conv.Conversation{}}
	next := uint64(1)
	err = lg.Scan(testWS, 1, head, func(seq uint64, raw []byte) error {
		var e conv.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("seq %d: %w", seq, err)
		}
		if seq != next || e.Seq != seq {
			t.Errorf("relay log: seq %d (event says %d) where %d was due: a gap or a disorder", seq, e.Seq, next)
		}
		next = seq + 1
		if prev, dup := rl.byID[e.ID]; dup {
			t.Errorf("relay log: event %s (%s) logged twice, at seq %d and %d", e.ID, e.Kind, prev, seq)
		} else {
			rl.byID[e.ID] = seq
		}
		rl.events = append(rl.events, e)
		rl.bySeq[seq] = e
		rl.convs[e.Conv] = append(rl.convs[e.Conv], e)
		c, err := conv.Replay(rl.states[e.Conv], e)
		if err != nil {
			t.Errorf("relay log: seq %d (%s) does not replay: %v", seq, e.Kind, err)
		} else {
			rl.states[e.Conv] = c
		}
		return nil
	})
	if err != nil {
		t.Fatalf("scan the relay's log: %v", err)
	}
	if uint64(len(rl.events)) != head {
		t.Errorf("relay log: %d events; head is %d", len(rl.events), head)
	}
	for id, want := range rl.states {
		got, err := lg.Conversation(testWS, id)
		if err != nil {
			t.Fatal(err)
		}
		if !sameJSON(got, want) {
			t.Errorf("relay log: stored state of %s differs from replaying its events:\n stored %s\n replay %s", id, js(got), js(want))
		}
	}
	return rl
}

// visibleTo returns the events of the log viewer receives: all of them for
// the team; for a contact or visitor, those conv.Visible lets it see, judged
// on each conversation's final state, as conv.ForViewer gives them.
func (rl *relayLog) visibleTo(viewer conv.Participant) []conv.Event {
	if !viewer.IsEndUser() {
		return rl.events
	}
	var out []conv.Event
	for _, e := range rl.events {
		if e, ok := conv.ForViewer(viewer, rl.states[e.Conv], e); ok {
			out = append(out, e)
		}
	}
	return out
}

// checkDevice asserts that d's canonical state is the relay's, as d's
// identity may see it: the same cursor, the same events (ids, seqs, data),
// each conversation's state equal to conv.Replay of those events, its
// timeline items equal to those events that are timeline items, no
// conversation of its own, no item pending or sent, and unread counts that
// follow rule 8.
func checkDevice(t testing.TB, rl *relayLog, d *device) {
	t.Helper()
	me := d.identity()
	if e, s := d.cursor(); e != rl.epoch || s != rl.head {
		t.Errorf("%s: cursor (%s, %d); relay (%s, %d)", d.name, e, s, rl.epoch, rl.head)
	}
	want := rl.visibleTo(me)
	got := d.held()
	compareEvents(t, d.name+": canonical log", got, want)

	// Conversation by conversation.
	byConv := map[string][]conv.Event{}
	var order []string
	for _, e := range want {
		if _, ok := byConv[e.Conv]; !ok {
			order = append(order, e.Conv)
		}
		byConv[e.Conv] = append(byConv[e.Conv], e)
	}
	total := 0
	for _, id := range order {
		evs := byConv[id]
		var wantState *conv.Conversation
		for _, e := range evs {
			c, err := conv.Replay(wantState, e)
			if err != nil {
				t.Errorf("%s: conversation %s does not replay as %s sees it: %v", d.name, id, me.ID, err)
				break
			}
			wantState = c
		}
		var items []conv.Event
		for _, e := range evs {
			if conv.IsTimelineItem(e.Kind) {
				items = append(items, e)
			}
		}
		if d.in != nil {
			n := checkInboxConversation(t, d, id, wantState, items, rl.states[id], me)
			// The total (the window title's) leaves out the Bot view:
			// conversations in assistant mode, until handoff.
			if wantState == nil || !wantState.AssistantMode {
				total += n
			}
		} else {
			checkMemoryConversation(t, d, id, wantState, evs)
		}
	}

	// Nothing the relay does not have, nothing on its way.
	if n := d.unsettled(); n != 0 {
		t.Errorf("%s: %d outbox items still pending or sent", d.name, n)
	}
	if d.in != nil {
		seen := 0
		for cursor := ""; ; {
			p, err := d.in.InboxPage(inbox.Filter{}, inbox.ByActivity, cursor, 200, nil)
			if err != nil {
				t.Fatalf("%s: InboxPage: %v", d.name, err)
			}
			for _, r := range p.Rows {
				seen++
				row := d.in.Store().Row(r.ID, nil)
				if _, ok := byConv[r.ID]; !ok && row != nil && row.Canon() != nil {
					t.Errorf("%s: holds conversation %s, which the relay does not show %s", d.name, r.ID, me.ID)
				}
				if _, ok := byConv[r.ID]; !ok && r.Failed == 0 {
					t.Errorf("%s: inbox row %s with no canonical state and no failed event: %+v", d.name, r.ID, r)
				}
			}
			if p.Next == "" {
				break
			}
			cursor = p.Next
		}
		if seen < len(byConv) {
			t.Errorf("%s: the inbox lists %d conversations; the relay shows %d", d.name, seen, len(byConv))
		}
		if n, _ := d.in.TotalUnread(nil); n != total {
			t.Errorf("%s: TotalUnread = %d; want %d", d.name, n, total)
		}
	} else {
		for _, c := range d.mem.Conversations() {
			if _, ok := byConv[c.ID]; !ok {
				t.Errorf("%s: holds conversation %s, which the relay does not show %s", d.name, c.ID, me.ID)
			}
		}
	}
}

// checkInboxConversation checks one conversation of an inbox device and
// returns its expected unread count.
func checkInboxConversation(t testing.TB, d *device, id string, want *conv.Conversation, items []conv.Event, full *conv.Conversation, me conv.Participant) int {
	t.Helper()
	row := d.in.Store().Row(id, nil)
	if row == nil || row.Canon() == nil {
		t.Errorf("%s: conversation %s missing", d.name, id)
		return 0
	}
	if !sameJSON(row.Canon(), want) {
		t.Errorf("%s: conversation %s differs from the relay's:\n device %s\n relay  %s", d.name, id, js(row.Canon()), js(want))
	}
	view, r, err := d.in.Conversation(id, nil)
	if err != nil {
		t.Errorf("%s: Conversation(%s): %v", d.name, id, err)
	} else if r.Failed == 0 && !sameJSON(view, want) {
		t.Errorf("%s: the view of %s differs from the relay's with nothing pending:\n view  %s\n relay %s", d.name, id, js(view), js(want))
	}
	// The timeline: canonical items in log order, then only failed ones.
	tl := timelineAll(t, d.in, id)
	var canon []conv.Event
	for _, it := range tl {
		switch {
		case it.Seq > 0:
			canon = append(canon, conv.Event{ID: it.ID, Seq: it.Seq, Kind: it.Kind, Conv: id, Actor: it.Actor})
		case it.State != inbox.StateFailed:
			t.Errorf("%s: timeline of %s shows item %s (%s) %q with nothing pending", d.name, id, it.ID, it.Kind, it.State)
		}
	}
	if len(canon) != len(items) {
		t.Errorf("%s: timeline of %s has %d canonical items; the relay's log %d", d.name, id, len(canon), len(items))
	}
	for i := range min(len(canon), len(items)) {
		if canon[i].ID != items[i].ID || canon[i].Seq != items[i].Seq || canon[i].Kind != items[i].Kind {
			t.Errorf("%s: timeline of %s, item %d: %s %d %s; relay %s %d %s", d.name, id, i,
				canon[i].ID, canon[i].Seq, canon[i].Kind, items[i].ID, items[i].Seq, items[i].Kind)
			break
		}
	}
	// Rule 8 on the relay's full state (the contact's view omits notes and
	// the like, which it does not count anyway).
	wantUnread := 0
	for _, e := range items {
		if e.Seq > full.SeenBy(me.ID) && conv.CountsAsUnread(me, full, e) {
			wantUnread++
		}
	}
	if n, err := d.in.UnreadCount(id, nil); err != nil || n != wantUnread {
		t.Errorf("%s: UnreadCount(%s) = %d, %v; want %d", d.name, id, n, err, wantUnread)
	}
	return wantUnread
}

func checkMemoryConversation(t testing.TB, d *device, id string, want *conv.Conversation, evs []conv.Event) {
	t.Helper()
	c, ok := d.mem.Canonical(id)
	if !ok {
		t.Errorf("%s: conversation %s missing", d.name, id)
		return
	}
	if !sameJSON(c, want) {
		t.Errorf("%s: conversation %s differs from the relay's:\n device %s\n relay  %s", d.name, id, js(c), js(want))
	}
	if v, ok := d.mem.Conversation(id); !ok || !sameJSON(v, want) {
		t.Errorf("%s: the view of %s differs from the relay's with nothing pending:\n view  %s\n relay %s", d.name, id, js(v), js(want))
	}
}

// timelineAll pages through a conversation's whole timeline, oldest first.
func timelineAll(t testing.TB, in *inbox.Inbox, id string) []inbox.Item {
	t.Helper()
	var all []inbox.Item
	for cursor := ""; ; {
		p, err := in.Timeline(id, cursor, 100, nil)
		if err != nil {
			t.Fatalf("Timeline(%s, %q): %v", id, cursor, err)
		}
		all = append(p.Items, all...)
		if p.Older == "" {
			return all
		}
		cursor = p.Older
	}
}

// checkAccounted asserts that every event d made is accounted for: logged
// exactly once (with its id, mid, device and actor), or answered as a no-op
// or a rejection; that every ack with a seq names that event's place in the
// log; that a resend was answered as the first time; and that each
// rejection the device recorded is the one the relay stored for that mid.
func checkAccounted(t testing.TB, rl *relayLog, d *device) (logged, noops, rejected int) {
	t.Helper()
	me := d.identity()
	rec := d.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range rec.mismatch {
		t.Errorf("%s: a resend was answered differently: %s", d.name, m)
	}
	for id, e := range rec.made {
		who := me // the identity the event was made under (a visitor may have identified since)
		if e.Actor.ID != "" {
			who = e.Actor
		}
		seq, inLog := rl.byID[id]
		o, answered := rec.outcomes[id]
		switch {
		case inLog:
			logged++
			got := rl.bySeq[seq]
			// A visitor's event pushed after its device identified is the
			// contact's: the relay sets the actor from the session.
			if got.Mid != e.Mid || got.Device != d.id || (got.Actor.ID != who.ID && got.Actor.ID != me.ID) || got.Conv != e.Conv || got.Kind != e.Kind {
				t.Errorf("%s: event %s logged as mid %d device %s actor %s %s/%s; made as mid %d by %s %s/%s",
					d.name, id, got.Mid, got.Device, got.Actor.ID, got.Conv, got.Kind, e.Mid, who.ID, e.Conv, e.Kind)
			}
			if answered && (o.Err != nil || o.Seq != seq) {
				t.Errorf("%s: event %s is at seq %d but was answered %s", d.name, id, seq, outcomeString(o))
			}
		case !answered:
			t.Errorf("%s: event %s (%s, mid %d) was made but is neither logged nor answered: lost", d.name, id, e.Kind, e.Mid)
		case o.Err == nil && o.Seq > 0:
			t.Errorf("%s: event %s (%s) was acknowledged with seq %d but is not in the log (seq %d holds %s)",
				d.name, id, e.Kind, o.Seq, o.Seq, rl.bySeq[o.Seq].ID)
		case o.Err == nil:
			noops++
			checkStoredResult(t, rl, d, []conv.Participant{who, me}, e, o)
		default:
			rejected++
			checkStoredResult(t, rl, d, []conv.Participant{who, me}, e, o)
		}
	}
	return logged, noops, rejected
}

// checkStoredResult checks a no-op or a rejection the device recorded
// against the result the relay stored for the event's mid, under the first
// of the identities (the one it was made as, the one it was pushed as)
// with a result for that mid that names it.
func checkStoredResult(t testing.TB, rl *relayLog, d *device, ids []conv.Participant, e conv.Event, o client.Outcome) {
	t.Helper()
	var (
		r  protocol.Result
		ok bool
	)
	for _, id := range ids {
		res, found, err := rl.log.Result(testWS, id.ID, d.id, e.Mid)
		if err != nil {
			t.Fatal(err)
		}
		if found && (!ok || res.ID == e.ID) {
			r, ok = res, true
		}
	}
	if !ok {
		// Only the client's own verdict (an event too large for a frame)
		// never reaches the relay.
		if o.Err == nil || o.Err.Code != conv.CodeTooLarge {
			if rl.explain != nil {
				for _, id := range ids {
					t.Logf("%s: mid %d of %s: %s", d.name, e.Mid, id.ID, rl.explain(id.ID, d.id, e.Mid))
				}
			}
			t.Errorf("%s: event %s (%s in %s, mid %d) answered %s, but the relay has no result for its mid; the device's mids around it:\n%s",
				d.name, e.ID, e.Kind, e.Conv, e.Mid, outcomeString(o), midsAround(rl, d, e.Mid))
		}
		return
	}
	if r.ID != e.ID {
		t.Errorf("%s: the relay's result for mid %d names %s; the device made %s", d.name, e.Mid, r.ID, e.ID)
	}
	switch {
	case r.Error == nil && o.Err == nil && r.Seq == o.Seq:
	case r.Error != nil && o.Err != nil && r.Error.Code == o.Err.Code && r.Error.Message == o.Err.Message:
	default:
		t.Errorf("%s: event %s answered %s; the relay stored %s", d.name, e.ID, outcomeString(o), js(r))
	}
}

// midsAround describes the events d made with mids near mid: where each is
// in the log, and what the device was answered. rec.mu is held.
func midsAround(rl *relayLog, d *device, mid uint64) string {
	var b strings.Builder
	for _, e := range d.rec.made {
		if e.Mid+3 < mid || e.Mid > mid+3 {
			continue
		}
		fmt.Fprintf(&b, "  mid %d %s %s in %s:", e.Mid, e.ID, e.Kind, e.Conv)
		if seq, ok := rl.byID[e.ID]; ok {
			fmt.Fprintf(&b, " logged at seq %d;", seq)
		} else {
			b.WriteString(" not logged;")
		}
		if o, ok := d.rec.outcomes[e.ID]; ok {
			fmt.Fprintf(&b, " answered %s at %s\n", outcomeString(o), d.rec.at[e.ID].Format("15:04:05.000"))
		} else {
			b.WriteString(" not answered\n")
		}
	}
	return b.String()
}

// compareEvents checks that got and want hold the same events in the same
// order, field by field (data compared as JSON values).
func compareEvents(t testing.TB, what string, got, want []conv.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d events; want %d", what, len(got), len(want))
		gotIDs := map[string]bool{}
		for _, e := range got {
			gotIDs[e.ID] = true
		}
		wantIDs := map[string]bool{}
		for _, e := range want {
			wantIDs[e.ID] = true
			if !gotIDs[e.ID] {
				t.Errorf("%s: missing seq %d %s %s", what, e.Seq, e.Kind, e.ID)
			}
		}
		for _, e := range got {
			if !wantIDs[e.ID] {
				t.Errorf("%s: extra seq %d %s %s", what, e.Seq, e.Kind, e.ID)
			}
		}
		return
	}
	for i := range got {
		if !sameEvent(got[i], want[i]) {
			t.Errorf("%s: event %d differs:\n got  %s\n want %s", what, i, js(got[i]), js(want[i]))
			return
		}
	}
}

func sameEvent(a, b conv.Event) bool {
	return a.ID == b.ID && a.Seq == b.Seq && a.Conv == b.Conv && a.Kind == b.Kind &&
		a.Actor.ID == b.Actor.ID && a.Actor.Role == b.Actor.Role && a.Device == b.Device && a.Mid == b.Mid &&
		a.At == b.At && a.Base == b.Base && a.Cause == b.Cause && normJSON(a.Data) == normJSON(b.Data)
}

func normJSON(raw []byte) string {
	if len(raw) == 0 {
		return "null"
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "!" + string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	return string(b)
}

func sameJSON(a, b any) bool { return normJSON([]byte(js(a))) == normJSON([]byte(js(b))) }

// kinds lists events' kinds, for messages.
func kinds(evs []conv.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%s", e.Seq, e.Kind)
	}
	return b.String()
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
