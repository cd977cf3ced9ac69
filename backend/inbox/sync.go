package inbox

import (
	"fmt"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/store"
)

// The sync hooks: the method set of sync/client.Local.

// Outcome is what the relay answered for one pushed event: its seq (0:
// accepted but changed nothing) or its error.
//
// sync/client.Local declares its own Outcome struct with the same fields;
// until both name one type (conv would be its home: the relay answers with
// it too), the app adapts []client.Outcome to []Outcome in one line.
type Outcome = store.Outcome

// Cursor returns the canonical position: the log's epoch ("" before the
// first sync) and the last seq applied.
func (in *Inbox) Cursor() (epoch string, seq uint64, err error) {
	epoch, seq = in.st.Cursor(nil)
	return epoch, seq, nil
}

// Pending returns the events still to push, in mid order: never the failed
// ones (they wait for the user) nor those acknowledged with a seq (they wait
// for their canonical copy).
func (in *Inbox) Pending() ([]conv.Event, error) { return in.st.Pending(nil), nil }

// ApplyCanonical stores canonical events (conv.Replay: derived events arrive
// as events of their own), drops the pending events whose ids arrived,
// moves the cursor to (epoch, upTo) and rebases: the optimistic view is the
// canonical state with the remaining pending events re-applied with
// conv.Apply. A pending event that no longer applies stays pending and
// visible: the relay decides. Durable when it returns.
func (in *Inbox) ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error {
	return in.st.ApplyCanonical(epoch, events, upTo)
}

// Acknowledged records pushed events' outcomes: seq > 0 marks the event
// sent until its canonical copy arrives; seq 0 drops it (it changed
// nothing, and the view drops it too); an error marks it failed: it stays
// visible with its code and message until Retry or Discard. Nothing the user
// typed is dropped silently (a rejected seen mark, which nobody typed, is).
func (in *Inbox) Acknowledged(results []Outcome) error { return in.st.Acknowledged(results) }

// Reset drops all canonical state because the relay's log changed epoch;
// pending events stay (sent ones become pending again) and are pushed again.
func (in *Inbox) Reset(epoch string) error { return in.st.Reset(epoch) }

// Welcomed takes what the relay said in its welcome: the identity it knows
// this device as (it must be the inbox's) and the highest mid it processed
// for this device, which the next local mid must pass.
func (in *Inbox) Welcomed(identity conv.Participant, lastMid uint64) error {
	if identity.ID != "" && identity.ID != in.me.ID {
		return fmt.Errorf("inbox: the relay knows this device as %s, the inbox is %s's", identity.ID, in.me.ID)
	}
	return in.st.AdvanceMid(lastMid)
}
