package relay

import (
	"testing"
	"time"

	"github.com/threadline/threadline/sync/eventlog"
)

// A group refused as behind is validated again once the relay has taken in
// what the other relay logged. When the log could not say how far it is
// (its read failed), the first group refused waits only for the stream to
// be past the head it was validated on: it had waited for "anything more",
// 10 s when the other relay's events had arrived already (R1 soak seed
// 1022 logged want=0 every 10 s). The groups after it in the same
// generation expected heads never logged, and wait for nothing.
func TestCatchUpTo(t *testing.T) {
	for _, c := range []struct {
		name  string
		be    eventlog.BehindError
		first bool
		want  uint64
	}{
		{"the log said its last seq", eventlog.BehindError{Expected: 10, Last: 14}, true, 14},
		{"the log said it, later group", eventlog.BehindError{Expected: 12, Last: 14}, false, 14},
		{"unknown, first refused", eventlog.BehindError{Expected: 10}, true, 11},
		{"unknown, later group", eventlog.BehindError{Expected: 12}, false, 0},
	} {
		if got := catchUpTo(&c.be, c.first); got != c.want {
			t.Errorf("%s: catchUpTo(%+v, %v) = %d, want %d", c.name, c.be, c.first, got, c.want)
		}
	}
}

// catchUp returns at once when the head is already where it must be: the
// other relay's events arrived before the refusal did.
func TestCatchUpReturnsWhenTheHeadIsThere(t *testing.T) {
	w := &workspace{head: 14, foreign: make(chan []eventlog.Record)}
	done := make(chan struct{})
	go func() { w.catchUp(catchUpTo(&eventlog.BehindError{Expected: 10}, true)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second): // it used to wait 10 s, then log
		t.Fatal("catchUp waited for events the head is past")
	}
}
