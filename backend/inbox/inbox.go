// Package inbox holds the use cases the UI and sync need: it turns a user's
// action into an event, applies it optimistically, persists it in the
// device's store, hands it to sync, and answers the UI's queries (the inbox
// list, a conversation's timeline, unread counts, seen marks).
//
// An Inbox works for one local identity on one device. Every action builds
// an event (a fresh UUIDv7 id, the next mid, the device's clock, the
// canonical head as base, the local participant as actor), runs conv.Apply
// against the optimistic view — a rejection returns its *conv.Error at once
// and stores nothing — and stores it as pending, durably, before it returns.
//
// *Inbox has the method set of sync/client.Local (Cursor, Pending,
// ApplyCanonical, Acknowledged, Reset), so the sync client can drive it
// without this package importing sync. Without a relay, a LocalLog plays the
// relay's part on the device (see LocalLog and Options.Local).
package inbox

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/store"
)

// Options configure an Inbox.
type Options struct {
	// Me is the local identity: the actor of every action, whose unread
	// counts the queries give.
	Me conv.Participant
	// Device names this device (the events' device field).
	Device string
	// Schema holds the workspace's attribute definitions; nil leaves the
	// check to the relay.
	Schema conv.Schema
	// Now is the clock of the events' at field (display only), and the
	// one the inbox is shown at: a snoozed conversation whose time has
	// passed shows as open (Wake). Default time.Now.
	Now func() time.Time
	// NewID makes event, conversation and thread ids; default uuid.NewV7.
	NewID func() (uuid.UUID, error)
	// Logger; nil discards.
	Logger *slog.Logger
	// Local runs the inbox with no relay: every action is sequenced by the
	// inbox's LocalLog and is canonical when the call returns.
	Local bool
}

// Inbox is one identity's inbox on one device. Its methods are safe for
// concurrent use.
type Inbox struct {
	st     *store.Store
	me     conv.Participant
	device string
	schema conv.Schema
	now    func() time.Time
	newID  func() (uuid.UUID, error)
	log    *slog.Logger
	local  *LocalLog // nil unless Options.Local
	owns   bool      // Close closes st
}

// Open opens (or creates) the store in dir and an Inbox over it.
func Open(dir string, opts Options) (*Inbox, error) {
	st, err := store.Open(dir, store.Options{Me: opts.Me, Schema: opts.Schema, Logger: opts.Logger, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	in, err := New(st, opts)
	if err != nil {
		st.Close()
		return nil, err
	}
	in.owns = true
	return in, nil
}

// New makes an Inbox over an open store; opts.Me must be the store's.
// Closing the Inbox leaves the store open.
func New(st *store.Store, opts Options) (*Inbox, error) {
	if opts.Me != st.Me() {
		return nil, fmt.Errorf("inbox: identity %s on a store of %s", opts.Me.ID, st.Me().ID)
	}
	if opts.Device == "" {
		return nil, errors.New("inbox: Options.Device is required")
	}
	in := &Inbox{st: st, me: opts.Me, device: opts.Device, schema: opts.Schema, now: opts.Now, newID: opts.NewID, log: opts.Logger}
	if in.now == nil {
		in.now = time.Now
	}
	if in.newID == nil {
		in.newID = uuid.NewV7
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	if opts.Local {
		in.local = newLocalLog(in)
	}
	return in, nil
}

// Close closes the store if Open opened it.
func (in *Inbox) Close() error {
	if in.owns {
		return in.st.Close()
	}
	return nil
}

// Me returns the local identity.
func (in *Inbox) Me() conv.Participant { return in.me }

// Device returns the device id.
func (in *Inbox) Device() string { return in.device }

// Store returns the store the inbox works on.
func (in *Inbox) Store() *store.Store { return in.st }

// LocalLog returns the in-process sequencer of an inbox in local mode
// (Options.Local), or nil.
func (in *Inbox) LocalLog() *LocalLog { return in.local }

func (in *Inbox) id() (string, error) {
	u, err := in.newID()
	if err != nil {
		return "", fmt.Errorf("inbox: make an id: %w", err)
	}
	return u.String(), nil
}

// draft makes an event of kind k with data in conversation c (mid and base
// are the store's to set).
func (in *Inbox) draft(c string, k conv.Kind, data any) (conv.Event, error) {
	id, err := in.id()
	if err != nil {
		return conv.Event{}, err
	}
	return conv.Event{ID: id, Conv: c, Kind: k, Actor: in.me, Device: in.device, At: in.now().UnixMilli(), Data: conv.MustData(data)}, nil
}

// act stores drafts as pending (all or nothing) and, in local mode,
// sequences them at once. It returns the stored events.
func (in *Inbox) act(drafts ...conv.Event) ([]conv.Event, error) {
	stored, err := in.st.AddLocal(drafts)
	if err != nil {
		return nil, err
	}
	if in.local != nil && len(stored) > 0 {
		if err := in.local.Flush(); err != nil {
			// The events are durable in the outbox; the next flush logs them.
			return stored, fmt.Errorf("inbox: local log: %w", err)
		}
	}
	return stored, nil
}

// act1 is act for one draft: it returns the stored event, or a zero Event
// when the action changes nothing.
func (in *Inbox) act1(c string, k conv.Kind, data any) (conv.Event, error) {
	d, err := in.draft(c, k, data)
	if err != nil {
		return conv.Event{}, err
	}
	stored, err := in.act(d)
	if len(stored) == 0 {
		return conv.Event{}, err
	}
	return stored[0], err
}
