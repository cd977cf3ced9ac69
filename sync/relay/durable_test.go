package relay

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// heldLog holds a write, once held is set, in the window between its
// journal sync (Batch.Durable) and Badger's commit: durable, not readable.
type heldLog struct {
	*eventlog.Badger
	held    atomic.Bool
	reached chan struct{} // a held write is in the window
	release chan struct{} // lets it go on
}

func (l *heldLog) Append(ws string, b *eventlog.Batch) error {
	if d := b.Durable; d != nil && l.held.CompareAndSwap(true, false) {
		b.Durable = func() {
			d()
			l.reached <- struct{}{}
			<-l.release
		}
	}
	return l.Badger.Append(ws, b)
}

// A group of pushes is acknowledged and fanned out once durable. A device
// catching up meanwhile cannot read it yet: it goes live only once the
// group is readable, and gets its events once, from the backlog.
func TestDurableGroupIsAnsweredBeforeItIsReadable(t *testing.T) {
	hl := &heldLog{reached: make(chan struct{}), release: make(chan struct{})}
	r := newWrappedRelay(t, func(bl *eventlog.Badger) eventlog.Log { hl.Badger = bl; return hl })
	released := false
	t.Cleanup(func() { // before the relay's shutdown, which waits for the held write
		if !released {
			close(hl.release)
		}
	})

	live := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "live")
	pusher := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, "pusher")
	cid := newConvID()
	// Created, and a first message (which starts a thread): 3 events.
	pusher.mustLog(pusher.ev(conv.KindConversationCreated, cid, created("contact:zoe")),
		pusher.ev(conv.KindMessageSent, cid, msg("hi")))
	before := live.events(3)
	head := r.head()
	if last := before[len(before)-1].Seq; last != head || head != 3 {
		t.Fatalf("live got up to seq %d; head %d", last, head)
	}

	hl.held.Store(true)
	m := pusher.ev(conv.KindMessageSent, cid, msg("are you there?"))
	pusher.send(protocol.Push{Type: protocol.TypePush, Events: []conv.Event{m}})
	select {
	case <-hl.reached:
	case <-time.After(waitFrame):
		t.Fatal("the push never became durable")
	}
	// In the window: answered and fanned out…
	ack := decode[protocol.Ack](t, pusher.nextOf(protocol.TypeAck, protocol.TypeEvents))
	if len(ack.Results) != 1 || ack.Results[0].Error != nil || ack.Results[0].Seq == 0 {
		t.Fatalf("ack %+v", ack.Results)
	}
	seq := ack.Results[0].Seq
	got := live.events(1)
	if got[0].ID != m.ID || got[0].Seq != seq {
		t.Fatalf("live got %+v; want %s at seq %d", got[0], m.ID, seq)
	}
	// …but not readable: the published head stays, and a device catching
	// up from it waits rather than going live past the events. The
	// acknowledged head is the ack's.
	if h := r.srv.workspaces[testWS].published(); h != head {
		t.Fatalf("published head %d while the group is not readable; want %d", h, head)
	}
	if h := r.head(); h != seq {
		t.Fatalf("head %d while the group is not readable; want the acknowledged %d", h, seq)
	}
	late := dial(t, r.url)
	late.device = "late"
	late.send(hello(testWS, late.device, protocol.Cursor{Epoch: live.welcome.Epoch, Seq: head}, agentAuth(tokAna)))
	if f := late.next(); f.Type != protocol.TypeWelcome {
		t.Fatalf("hello: %s", trunc(f.Raw))
	}
	late.quiet(150 * time.Millisecond)

	close(hl.release)
	released = true
	evs := late.events(1)
	if len(evs) != 1 || evs[0].ID != m.ID || evs[0].Seq != seq {
		t.Fatalf("late device got %+v; want %s at seq %d", evs, m.ID, seq)
	}
	cu := decode[protocol.CaughtUp](t, late.nextOf(protocol.TypeCaughtUp))
	if cu.Cursor.Seq != seq {
		t.Fatalf("caught up at %d; want %d", cu.Cursor.Seq, seq)
	}
	if h := r.head(); h != seq {
		t.Fatalf("head %d; want %d", h, seq)
	}
	// Live from there: the next event comes once, live.
	m2 := pusher.ev(conv.KindMessageSent, cid, msg("hello?"))
	pusher.mustLog(m2)
	if evs := late.events(1); evs[0].ID != m2.ID {
		t.Fatalf("late device got %s live; want %s", evs[0].ID, m2.ID)
	}
	late.quiet(100 * time.Millisecond)
}
