package convergence

import (
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// quitAfterFirstApply passes the first ApplyCanonical on only in part (the
// first half of its events, with the cursor at the last of them) and then
// fails it and every later one, as an app that quits in the middle of a
// catch-up: what was applied is durable, nothing after it is.
type quitAfterFirstApply struct {
	client.Local
	mu      sync.Mutex
	applied bool
}

func (q *quitAfterFirstApply) ApplyCanonical(epoch string, evs []conv.Event, upTo uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.applied || len(evs) < 2 {
		return errCrash
	}
	q.applied = true
	half := evs[:len(evs)/2]
	if err := q.Local.ApplyCanonical(epoch, half, half[len(half)-1].Seq); err != nil {
		return err
	}
	return errCrash
}

func (q *quitAfterFirstApply) Welcomed(w protocol.Welcome) error {
	return q.Local.(client.WelcomeReceiver).Welcomed(w)
}

// TestQuitMidCatchUpResumes: the app quits while a new device catches up a
// backlog (sync stopped, then the inbox closed, in the order the app shuts
// down) and starts again: the inbox reopens at the cursor it had made
// durable, the next session asks only for what comes after it, and the
// device ends equal to the relay.
func TestQuitMidCatchUpResumes(t *testing.T) {
	r := startRelay(t, relay.Options{RatePerSecond: 1e9, RateBurst: 1e9})
	fillRelay(t, r, 2000, 40, 2)
	epoch, head := r.head()

	d := newInboxDevice(t, r, "ben-new-laptop", ben, agentAuth(tokBen), nil)
	q := &quitAfterFirstApply{}
	d.wrap = func(l client.Local) client.Local { q.Local = l; return q }
	d.start()
	waitFor(t, 30*time.Second, "part of the backlog applied", func() bool { _, s := d.cursor(); return s > 0 })
	d.stop()
	_, mid := d.cursor()
	if err := d.in.Close(); err != nil {
		t.Fatal(err)
	}
	d.open()
	if e, s := d.cursor(); e != epoch || s != mid || mid == 0 || mid >= head {
		t.Fatalf("reopened at (%s, %d); closed at (%s, %d) of %d", e, s, epoch, mid, head)
	}

	d.wrap = nil
	var (
		mu      sync.Mutex
		backlog uint64
	)
	d.tune = func(o *client.Options) {
		o.OnState = func(st client.Status) {
			mu.Lock()
			defer mu.Unlock()
			if st.Backlog > 0 && backlog == 0 {
				backlog = st.Backlog
			}
		}
	}
	d.start()
	d.waitSettled(t)
	d.stop()
	mu.Lock()
	t.Logf("quit at seq %d of %d; resumed with a backlog of %d", mid, head, backlog)
	if backlog != head-mid {
		t.Errorf("the second session's backlog = %d; want %d (from the durable cursor %d to the head %d)", backlog, head-mid, mid, head)
	}
	mu.Unlock()
	rl := r.readLog()
	checkDevice(t, rl, d)
}
