package client

import (
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// State is where a Client stands with its relay.
type State string

// States. A Client starts offline, goes connecting → syncing (receiving its
// backlog) → online (caught up, live), and back to offline when the
// connection ends, until it reconnects. Failed is terminal: the relay refused
// the session for good (a 4500–4999 close: bad credentials, unknown
// workspace, unsupported protocol); the Client does not retry.
const (
	StateOffline    State = "offline"
	StateConnecting State = "connecting"
	StateSyncing    State = "syncing"
	StateOnline     State = "online"
	StateFailed     State = "failed"
)

// Status is a snapshot of a Client's state, for a status line and a progress
// bar. It marshals to JSON as the frontend wants it.
type Status struct {
	State State `json:"state"`

	// Error says why the last connection ended or could not start (offline),
	// or why the relay refused the session (failed); empty when all is well.
	Error string `json:"error,omitempty"`
	// Code is the relay's error code, when it sent one ("unauthorized").
	Code string `json:"code,omitempty"`
	// CloseCode is the WebSocket close code of the last connection, when the
	// relay closed it with one (4501).
	CloseCode int `json:"closeCode,omitempty"`
	// Attempt counts the failed connection attempts since the last good one.
	Attempt int `json:"attempt,omitempty"`
	// RetryAt is when the next attempt starts (offline only).
	RetryAt time.Time `json:"retryAt,omitzero"`

	// Received and Backlog tell how far the backlog is (syncing): Received
	// of the Backlog events the welcome announced have been applied.
	Received uint64 `json:"received"`
	Backlog  uint64 `json:"backlog"`

	// Identity is who the relay says this device speaks for (from the last
	// welcome); Epoch and Seq the cursor applied so far.
	Identity conv.Participant `json:"identity"`
	Epoch    string           `json:"epoch,omitempty"`
	Seq      uint64           `json:"seq"`
	// VisitorToken is the token the relay issued to this visitor device; the
	// caller persists it and passes it in Auth.VisitorToken next time.
	VisitorToken string `json:"visitorToken,omitempty"`
	// LastMid is the highest mid the relay had processed for this device at
	// the last welcome.
	LastMid uint64 `json:"lastMid,omitempty"`
	// Pushing counts the events of the push in flight.
	Pushing int `json:"pushing,omitempty"`
}

// notifier holds the Client's status and hands changes and typing frames to
// the caller's callbacks on a goroutine of its own, so a slow callback never
// holds up the connection. Status changes coalesce: a callback always sees
// the latest status, and may skip intermediate ones (progress ticks).
type notifier struct {
	mu      sync.Mutex
	st      Status
	version uint64
	changed chan struct{} // closed at the next change
	wake    chan struct{} // cap 1: something to deliver
	typing  []protocol.Typing
	dropped int
}

const maxQueuedTyping = 64

func newNotifier() *notifier {
	return &notifier{
		st:      Status{State: StateOffline},
		changed: make(chan struct{}),
		wake:    make(chan struct{}, 1),
	}
}

func (n *notifier) status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.st
}

func (n *notifier) watch() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// update changes the status with f and wakes the delivery goroutine.
func (n *notifier) update(f func(*Status)) {
	n.mu.Lock()
	f(&n.st)
	n.version++
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
	n.poke()
}

func (n *notifier) pushTyping(t protocol.Typing) {
	n.mu.Lock()
	if len(n.typing) >= maxQueuedTyping { // typing is ephemeral: keep the newest
		n.typing = n.typing[1:]
		n.dropped++
	}
	n.typing = append(n.typing, t)
	n.mu.Unlock()
	n.poke()
}

func (n *notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// deliver runs the callbacks until done is closed, then delivers what is
// left once and returns.
func (n *notifier) deliver(done <-chan struct{}, onState func(Status), onTyping func(protocol.Typing)) {
	var seen uint64
	flush := func() {
		n.mu.Lock()
		st, v := n.st, n.version
		typing := n.typing
		n.typing = nil
		n.mu.Unlock()
		if v != seen {
			seen = v
			if onState != nil {
				onState(st)
			}
		}
		if onTyping != nil {
			for _, t := range typing {
				onTyping(t)
			}
		}
	}
	for {
		select {
		case <-n.wake:
			flush()
		case <-done:
			flush()
			return
		}
	}
}
