package client

import (
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Local is the device's durable state as sync sees it. The desktop app
// satisfies it with backend/inbox; any other store that keeps the same
// promises will do (a bot keeps one in memory: see Memory).
//
// The Client calls these methods from one goroutine at a time, never
// concurrently with each other; the device's own goroutines (the UI making
// events) may call into the same store concurrently, so an implementation
// guards its state. A method that returns an error ends the current
// connection (nothing is lost: the Client reconnects and resumes from
// Cursor), so errors are for real failures (a full disk), not for business
// outcomes.
type Local interface {
	// Cursor is the canonical position the device has applied: the log's
	// epoch ("" before the first sync) and the last seq. The Client reads it
	// before every hello and trusts it as the truth: it is the only place the
	// position lives.
	Cursor() (epoch string, seq uint64, err error)
	// Pending returns the events still to push, in mid order (ascending):
	// those never sent and those sent but not acknowledged. It must not
	// return events the relay already rejected (they wait, failed, for the
	// user) nor those acknowledged with a seq (they wait for their canonical
	// copy; they may also be dropped from the outbox at once). The Client
	// tolerates a Local that does: it skips every id whose outcome it has
	// received during its lifetime. Every event carries its id, conv, kind,
	// device (the Client's Options.Device: the relay rejects any other), mid
	// (> 0, never reused for another event), at, base and data; actor may
	// be left for the relay, which sets it from the session anyway.
	//
	// An event the user retries after a rejection is a new event with a new
	// id and a new mid: the relay answers a resent mid as it did the first
	// time, so resending the same one would fail the same way.
	Pending() ([]conv.Event, error)
	// ApplyCanonical stores canonical events and moves the cursor to
	// (epoch, upTo) — upTo may be past the last event, since a device does
	// not see every event of its workspace — and rebases the pending events
	// on top. It is durable when it returns: the next Cursor must say
	// (epoch, upTo). A pending event whose id comes back canonical is no
	// longer pending. events may be empty (a caughtUp only moves the cursor).
	//
	// Events come in the relay's order: seqs strictly ascending within one
	// call, and ascending within each conversation across calls. They are
	// usually above the cursor, but not always: when a conversation becomes
	// a contact's (a visitor identified, a conversation created for it), the
	// relay sends that conversation's history to the contact's devices, and
	// its seqs lie below the cursor of a device that was already in sync.
	// So Local keeps every event it does not hold yet, wherever its seq
	// falls, and ignores one it holds already (same id, or a seq at or below
	// the last one it holds of that conversation): after a reconnect the
	// relay may send an event twice.
	ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error
	// Acknowledged records pushed events' outcomes, in push order: seq > 0
	// logged (its canonical copy arrives or has arrived as an event), seq 0
	// accepted but changed nothing (drop it), or err set: rejected, kept as
	// failed with its error until the user retries or discards it. An outcome
	// may name an event that is no longer pending (its canonical copy came
	// first): ignore it.
	Acknowledged(results []Outcome) error
	// Reset drops all canonical state because the relay's log changed epoch,
	// and sets the cursor to (epoch, 0); pending events stay and are pushed
	// again (acknowledged ones whose canonical copy had not arrived yet become
	// pending again: the new log may not hold them).
	Reset(epoch string) error
}

// Outcome is what the relay answered for one pushed event.
type Outcome = conv.Outcome

// WelcomeReceiver is implemented by a Local that wants to know what the
// relay said in its welcome: who this device speaks for (a visitor learns its
// id here), its visitor token, and the highest mid the relay has processed
// for this device. The Client calls Welcomed after any Reset and before
// applying the session's first events.
type WelcomeReceiver interface {
	Welcomed(w protocol.Welcome) error
}

// PendingNotifier is implemented by a Local that says when it has new events
// to push. New registers the Client's Kick with it, and the Local calls it
// (Kick never blocks) after each event it queues, so that the event is
// pushed without the caller kicking the Client. Memory is one.
type PendingNotifier interface {
	NotifyPending(kick func())
}
