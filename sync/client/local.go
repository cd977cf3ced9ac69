// Package client is the device side of sync: it connects to a relay, says
// hello with its cursor, pushes the outbox in mid order, applies canonical
// events, and reconnects with capped, jittered backoff.
package client

import "github.com/threadline/threadline/backend/conv"

// Local is the device's durable state as sync sees it. The desktop app
// satisfies it with backend/inbox; any other store that keeps the same
// promises will do (a bot keeps one in memory).
type Local interface {
	// Cursor is the canonical position the device has applied: the log's
	// epoch ("" before the first sync) and the last seq.
	Cursor() (epoch string, seq uint64, err error)
	// Pending returns the events not yet acknowledged, in mid order.
	Pending() ([]conv.Event, error)
	// ApplyCanonical stores canonical events (seq ascending), moves the
	// cursor to (epoch, upTo) — upTo may be past the last event, since a
	// device does not see every event of its workspace — and rebases the
	// pending events on top. It is durable when it returns. A pending event
	// whose id comes back canonical is no longer pending.
	ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error
	// Acknowledged records pushed events' outcomes, in push order: seq > 0
	// logged (its canonical copy arrives or has arrived as an event), seq 0
	// accepted but changed nothing (drop it), or err set: rejected, kept as
	// failed with its error until the user retries or discards it.
	Acknowledged(results []Outcome) error
	// Reset drops all canonical state because the relay's log changed epoch;
	// pending events stay and are pushed again.
	Reset(epoch string) error
}

// Outcome is what the relay answered for one pushed event.
type Outcome struct {
	ID  string
	Seq uint64
	Err *conv.Error // nil unless rejected
}
