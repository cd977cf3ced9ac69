package inbox

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/store"
)

// LocalLog is the sequencer of a device with no relay. The app works fully
// offline with no relay configured: then this log, kept in the device's own
// store, is the canonical one, and LocalLog plays the relay's part in-process
// exactly as a relay would: it takes the outbox's pending events in mid
// order, runs conv.Apply against the canonical state with NextSeq (which
// validates them, numbers them and adds the derived events), and commits the
// logged events together with every event's outcome in one durable write
// (store.Commit): a logged event leaves the outbox as its canonical copy
// arrives, a no-op is dropped, a rejected one is kept as failed.
//
// With Options.Local every action is flushed before it returns, so it is
// canonical at once. The log's epoch is "local:<uuid>", made on first use.
// A store whose log came from a relay refuses a local log (ErrNotLocal) and
// vice versa (the relay's epoch differs: the sync client resets it), so a
// profile is either local or synced; moving a local profile onto a relay is
// an export, not a sync.
//
// Append logs events made elsewhere (the demo's contacts and teammates) as
// a relay would accept them from their devices.
type LocalLog struct {
	in *Inbox
	mu sync.Mutex
}

// ErrNotLocal is returned by a LocalLog over a store synced with a relay.
var ErrNotLocal = errors.New("inbox: the store's log is a relay's; it cannot be sequenced locally")

// LocalEpochPrefix starts the epoch of every local log.
const LocalEpochPrefix = "local:"

func newLocalLog(in *Inbox) *LocalLog { return &LocalLog{in: in} }

// NewLocalLog returns a sequencer for in's store (SeedDemo uses one on an
// inbox that is not in local mode, to fill a new store).
func NewLocalLog(in *Inbox) *LocalLog {
	if in.local != nil {
		return in.local
	}
	return newLocalLog(in)
}

// position returns the log's epoch (made if there is none) and head.
func (l *LocalLog) position() (string, uint64, error) {
	epoch, head := l.in.st.Cursor(nil)
	if epoch == "" {
		id, err := l.in.id()
		if err != nil {
			return "", 0, err
		}
		return LocalEpochPrefix + id, head, nil
	}
	if !strings.HasPrefix(epoch, LocalEpochPrefix) {
		return "", 0, ErrNotLocal
	}
	return epoch, head, nil
}

// canonical returns conversation id's canonical state: from states (this
// flush's), else from the store.
func (l *LocalLog) canonical(states map[string]*conv.Conversation, id string) *conv.Conversation {
	if c, ok := states[id]; ok {
		return c
	}
	if r := l.in.st.Row(id, nil); r != nil {
		return r.Canon()
	}
	return nil
}

// Flush sequences every pending event of the outbox and commits them with
// their outcomes in one durable write.
func (l *LocalLog) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	pend := l.in.st.Pending(nil)
	if len(pend) == 0 {
		return nil
	}
	epoch, head, err := l.position()
	if err != nil {
		return err
	}
	states := map[string]*conv.Conversation{}
	var logged []conv.Event
	outs := make([]store.Outcome, 0, len(pend))
	for _, e := range pend {
		next, evs, err := conv.Apply(l.canonical(states, e.Conv), e, conv.Env{Schema: l.in.schema, NextSeq: head + 1})
		var ce *conv.Error
		switch {
		case errors.As(err, &ce):
			outs = append(outs, store.Outcome{ID: e.ID, Err: ce})
		case err != nil:
			return err
		case len(evs) == 0:
			outs = append(outs, store.Outcome{ID: e.ID})
		default:
			states[e.Conv] = next
			head = evs[len(evs)-1].Seq
			logged = append(logged, evs...)
			outs = append(outs, store.Outcome{ID: e.ID, Seq: head})
		}
	}
	return l.in.st.Commit(epoch, logged, head, outs)
}

// Append logs events made elsewhere, in order, as a relay would: each is
// validated and derived with conv.Apply against the canonical state and
// given the next seqs (an event without a base gets the head as its base).
// If one is rejected, Append returns its error and logs
// nothing. It returns the logged events (derived ones included).
func (l *LocalLog) Append(events ...conv.Event) ([]conv.Event, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	epoch, head, err := l.position()
	if err != nil {
		return nil, err
	}
	states := map[string]*conv.Conversation{}
	var logged []conv.Event
	for _, e := range events {
		if e.Base == 0 {
			e.Base = head // its author had seen everything
		}
		next, evs, err := conv.Apply(l.canonical(states, e.Conv), e, conv.Env{Schema: l.in.schema, NextSeq: head + 1})
		if err != nil {
			return nil, fmt.Errorf("inbox: local log: %s %s: %w", e.Kind, e.ID, err)
		}
		if len(evs) == 0 {
			continue
		}
		states[e.Conv] = next
		head = evs[len(evs)-1].Seq
		logged = append(logged, evs...)
	}
	if len(logged) == 0 {
		return nil, nil
	}
	return logged, l.in.st.Commit(epoch, logged, head, nil)
}
