package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/relay"
)

// waitAsync runs mem.Wait(ctx, id) on a goroutine and hands its answer back.
type waitResult struct {
	out Outcome
	err error
}

func waitAsync(ctx context.Context, mem *Memory, id string) <-chan waitResult {
	ch := make(chan waitResult, 1)
	go func() {
		out, err := mem.Wait(ctx, id)
		ch <- waitResult{out, err}
	}()
	return ch
}

func expectBlocked(t *testing.T, what string, ch <-chan waitResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("Wait(%s) = %+v, %v before the relay answered", what, r.out, r.err)
	case <-time.After(20 * time.Millisecond):
	}
}

func expectAnswer(t *testing.T, what string, ch <-chan waitResult) waitResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("Wait(%s) still blocked after the relay answered", what)
	}
	return waitResult{}
}

func TestMemoryWaitOutcomes(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(ana, "dev-1")
	c, _ := m.Create(conv.Created{Contact: &contact})
	n, _ := m.Act(c.Conv, conv.KindNoteAdded, conv.Note{Text: "note"})
	a, _ := m.Act(c.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"plan": "gold"}})
	p, _ := m.Act(c.Conv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityHigh})
	s, _ := m.Act(c.Conv, conv.KindNoteAdded, conv.Note{Text: "second note"})

	wc, wn, wa, wp, ws := waitAsync(ctx, m, c.ID), waitAsync(ctx, m, n.ID), waitAsync(ctx, m, a.ID), waitAsync(ctx, m, p.ID), waitAsync(ctx, m, s.ID)
	expectBlocked(t, "pending creation", wc)

	// The relay logs the creation and the note, rejects the attribute, finds
	// the priority a no-op; the second note's canonical copy comes before its ack.
	canon := []conv.Event{c, n, s}
	for i := range canon {
		canon[i].Seq = uint64(i + 1)
	}
	if err := m.Acknowledged([]Outcome{{ID: c.ID, Seq: 1}, {ID: n.ID, Seq: 2},
		{ID: a.ID, Err: &conv.Error{Code: conv.CodeInvalidAttribute, Message: "no plan gold"}}, {ID: p.ID}}); err != nil {
		t.Fatal(err)
	}
	if r := expectAnswer(t, "creation", wc); r.err != nil || r.out.Seq != 1 {
		t.Errorf("Wait(logged creation) = %+v, %v; want seq 1, nil", r.out, r.err)
	}
	if r := expectAnswer(t, "note", wn); r.err != nil || r.out.Seq != 2 {
		t.Errorf("Wait(logged note) = %+v, %v; want seq 2, nil", r.out, r.err)
	}
	r := expectAnswer(t, "attribute", wa)
	if !errors.Is(r.err, conv.ErrInvalidAttribute) || r.out.Err == nil || r.out.Err.Code != conv.CodeInvalidAttribute {
		t.Errorf("Wait(rejected attribute) = %+v, %v; want invalid_attribute", r.out, r.err)
	}
	if r := expectAnswer(t, "priority", wp); r.err != nil || r.out.Seq != 0 || r.out.Err != nil {
		t.Errorf("Wait(no-op) = %+v, %v; want seq 0, nil", r.out, r.err)
	}
	expectBlocked(t, "unanswered note", ws)
	if err := m.ApplyCanonical("e1", canon, 3); err != nil {
		t.Fatal(err)
	}
	if r := expectAnswer(t, "note applied before its ack", ws); r.err != nil || r.out.Seq != 3 {
		t.Errorf("Wait(applied before its ack) = %+v, %v; want seq 3, nil", r.out, r.err)
	}

	// Answers stay available after the fact, also once the event has left
	// the outbox, and a failed event is kept for Retry or Discard.
	if out, err := m.Wait(ctx, s.ID); err != nil || out.Seq != 3 {
		t.Errorf("Wait(settled) = %+v, %v; want seq 3", out, err)
	}
	if out, err := m.Wait(ctx, p.ID); err != nil || out.Seq != 0 {
		t.Errorf("Wait(settled no-op) = %+v, %v; want seq 0", out, err)
	}
	if ob := m.Outbox(); len(ob) != 1 || ob[0].Event.ID != a.ID || ob[0].State != OutboxFailed {
		t.Errorf("outbox = %+v; want the failed event only", ob)
	}
	retry, err := m.Retry(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(ctx, a.ID); !errors.Is(err, conv.ErrInvalidAttribute) {
		t.Errorf("Wait(retried, so discarded) = %v; want its rejection still", err)
	}
	if _, err := m.Wait(ctx, c.ID); err != nil {
		t.Errorf("Wait(applied creation) = %v", err)
	}

	// Bad input: an id this Memory never made, a context that ends.
	if _, err := m.Wait(ctx, "no-such-event"); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("Wait(unknown id) = %v; want ErrUnknownEvent", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, err := m.Wait(short, retry.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait(pending, context ends) = %v; want the context's error", err)
	}
	if pend, _ := m.Pending(); len(pend) != 1 || pend[0].ID != retry.ID {
		t.Errorf("pending after a Wait gave up = %v; want the retry still there", pend)
	}

	// A log replaced before the canonical copy came: logged is pending again,
	// and Wait waits for the new log's answer.
	if err := m.Acknowledged([]Outcome{{ID: retry.ID, Seq: 4}}); err != nil {
		t.Fatal(err)
	}
	if out, err := m.Wait(ctx, retry.ID); err != nil || out.Seq != 4 {
		t.Errorf("Wait(logged retry) = %+v, %v; want seq 4", out, err)
	}
	if err := m.Reset("e2"); err != nil {
		t.Fatal(err)
	}
	wr := waitAsync(ctx, m, retry.ID)
	expectBlocked(t, "retry pending again after Reset", wr)
	if err := m.Acknowledged([]Outcome{{ID: retry.ID, Seq: 7}}); err != nil {
		t.Fatal(err)
	}
	if r := expectAnswer(t, "retry in the new log", wr); r.err != nil || r.out.Seq != 7 {
		t.Errorf("Wait(after Reset) = %+v, %v; want seq 7", r.out, r.err)
	}
}

func TestMemoryForgetsOldOutcomes(t *testing.T) {
	m := NewMemory(ana, "dev-1")
	c, _ := m.Create(conv.Created{Contact: &contact})
	var first string
	var acks []Outcome
	for i := range settledMax + 1 {
		e, err := m.Act(c.Conv, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.PriorityMedium})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = e.ID
		}
		acks = append(acks, Outcome{ID: e.ID}) // no-ops: they leave the outbox
	}
	if err := m.Acknowledged(acks); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(context.Background(), first); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("Wait(oldest of %d settled) = %v; want ErrUnknownEvent", settledMax+1, err)
	}
	if _, err := m.Wait(context.Background(), acks[len(acks)-1].ID); err != nil {
		t.Errorf("Wait(newest settled) = %v", err)
	}
	if len(m.settled) != settledMax || len(m.order) != settledMax {
		t.Errorf("remembers %d outcomes (%d ids); want %d", len(m.settled), len(m.order), settledMax)
	}
}

func TestMemoryNotifiesPending(t *testing.T) {
	m := NewMemory(ana, "dev-1")
	kicks := 0
	m.NotifyPending(func() { kicks++ })
	c, _ := m.Create(conv.Created{Contact: &contact})
	if _, err := m.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: " "}); err == nil {
		t.Fatal("Act(blank message) succeeded")
	}
	if _, err := m.Act(c.Conv, conv.KindMessageSent, conv.Message{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	if kicks != 2 {
		t.Errorf("kicks = %d; want 2 (one per queued event, none for a refused one)", kicks)
	}
}

// TestActPushesWithoutKick: against a real relay, an event is pushed as soon
// as it is made (no Kick), online or made offline, and Wait gives the
// relay's answer: logged, or rejected with the relay's code, the rejected
// event kept.
func TestActPushesWithoutKick(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "ana-laptop")
	h := start(t, r.url(), mem, agentAuth(anaToken), nil)
	waitState(t, h.c, StateOnline)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	created, err := mem.Create(conv.Created{Contact: &contact, Subject: "Domain renewal"})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := mem.Wait(ctx, created.ID); err != nil || out.Seq == 0 {
		t.Fatalf("Wait(created) = %+v, %v; want logged", out, err)
	}
	// Only the relay knows the workspace's attributes: this passes the
	// device's check and is rejected there.
	bad, err := mem.Act(created.Conv, conv.KindAttributesSet, conv.AttributesSet{Values: map[string]any{"seats": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Wait(ctx, bad.ID); !errors.Is(err, conv.ErrUnknownAttribute) {
		t.Errorf("Wait(undefined attribute) = %v; want unknown_attribute", err)
	}
	if ob := mem.Outbox(); len(ob) != 1 || ob[0].Event.ID != bad.ID || ob[0].State != OutboxFailed {
		t.Errorf("outbox = %+v; want the rejected event kept, failed", ob)
	}
	// Assistant ids are the relay's to check too.
	noBot, err := mem.Create(conv.Created{Contact: &contact, AssistantID: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Wait(ctx, noBot.ID); !errors.Is(err, conv.ErrInvalid) {
		t.Errorf("Wait(created with an unknown assistant) = %v; want invalid", err)
	}

	// Made before the Client runs (offline): pushed when it connects.
	later := NewMemory(bob, "bob-desktop")
	msg, err := later.Create(conv.Created{Contact: &contact, Subject: "Made offline"})
	if err != nil {
		t.Fatal(err)
	}
	w := waitAsync(ctx, later, msg.ID)
	expectBlocked(t, "made offline", w)
	start(t, r.url(), later, agentAuth(bobToken), nil)
	if res := expectAnswer(t, "made offline", w); res.err != nil || res.out.Seq == 0 {
		t.Errorf("Wait(made offline) = %+v, %v; want logged", res.out, res.err)
	}
}
