package store

import (
	"encoding/binary"
	"fmt"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
)

// memdb tables. Each has a single "id" index over bytes the store builds, so
// that opening can insert the 100,000 rows of a big store in key order (a
// go-memdb insert costs about a microsecond per index entry; sorted inserts
// keep that cost flat, and few entries per row keep opening under its
// budget). Secondary orders live in their own tables of entries.
const (
	tableConvs   = "convs"   // *Row by conversation id
	tableInbox   = "inbox"   // *entry by inboxKey: every row with a View
	tableUnread  = "unread"  // *entry by inboxKey: rows with Unread > 0
	tableSnoozed = "snoozed" // *entry by snoozedKey: rows asleep (snoozed, their time not passed), soonest to wake first
	tableContact = "contact" // *entry by contactKey: every row with a View, by its contact
	tablePending = "pending" // *Pending by event id
	tableOutbox  = "outbox"  // *entry by mid[8]: the same records in mid order
	tableMeta    = "meta"    // *Meta, one object
	tableCounts  = "counts"  // *counts, one object
)

const indexID = "id"

// entry is an object of an index table: its key and what it points to.
type entry struct {
	key []byte
	obj any
}

func (e *entry) row() *Row         { return e.obj.(*Row) }
func (e *entry) pending() *Pending { return e.obj.(*Pending) }

// Meta is the device's position and counters, as memdb holds them.
type Meta struct {
	Epoch       string
	Seq         uint64 // the canonical cursor
	Mid         uint64 // the last mid given to a local event
	Gen         uint64 // bumped by every write that changes a conversation row
	TotalUnread int    // sum of every row's Unread, but those in the Bot view (humanUnread)
}

// bytesIndex indexes an object by the bytes key returns. Queries pass a
// []byte (or a string) as the one argument.
type bytesIndex struct{ key func(obj any) []byte }

func (x bytesIndex) FromObject(obj any) (bool, []byte, error) {
	k := x.key(obj)
	return k != nil, k, nil
}

func (bytesIndex) FromArgs(args ...any) ([]byte, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("store: one index argument, got %d", len(args))
	}
	switch a := args[0].(type) {
	case []byte:
		return a, nil
	case string:
		return []byte(a), nil
	}
	return nil, fmt.Errorf("store: index argument %T", args[0])
}

func (x bytesIndex) PrefixFromArgs(args ...any) ([]byte, error) { return x.FromArgs(args...) }

func table(name string, key func(obj any) []byte) *memdb.TableSchema {
	return &memdb.TableSchema{
		Name: name,
		Indexes: map[string]*memdb.IndexSchema{
			indexID: {Name: indexID, Unique: true, Indexer: bytesIndex{key: key}},
		},
	}
}

func entryKey(obj any) []byte { return obj.(*entry).key }

func newSchema() *memdb.DBSchema {
	return &memdb.DBSchema{Tables: map[string]*memdb.TableSchema{
		tableConvs:   table(tableConvs, func(o any) []byte { return []byte(o.(*Row).ID) }),
		tableInbox:   table(tableInbox, entryKey),
		tableUnread:  table(tableUnread, entryKey),
		tablePending: table(tablePending, func(o any) []byte { return []byte(o.(*Pending).Event.ID) }),
		tableOutbox:  table(tableOutbox, entryKey),
		tableSnoozed: table(tableSnoozed, entryKey),
		tableContact: table(tableContact, entryKey),
		tableMeta:    table(tableMeta, func(any) []byte { return []byte{'m'} }),
		tableCounts:  table(tableCounts, func(any) []byte { return []byte{'n'} }),
	}}
}

// Scope bytes: the first byte of every inbox key, so that a view's rows
// are a prefix. A scope is a status, and for open conversations the lane:
// the team's, or the bot's (in assistant mode: out of the human views
// until handoff). A snoozed conversation whose time has passed is in the
// open scope of its lane (Summary.at).
const (
	scopeOpen     byte = 'o'
	scopeBot      byte = 'b' // open, in assistant mode
	scopeSnoozed  byte = 's' // asleep
	scopeResolved byte = 'r'
	scopeOther    byte = 'x'
	// scopeLibrary holds the workspace's library of saved replies
	// (conv.LibraryID): a row like a conversation's, so that it is kept,
	// rebased and rebuilt as one, but in no scope a query reads, so that no
	// view lists or counts it. Read it by id (Store.Row).
	scopeLibrary byte = 'w'
)

// allScopes lists every scope a query reads (the library's is none of them).
var allScopes = []byte{scopeOpen, scopeBot, scopeSnoozed, scopeResolved, scopeOther}

func scopeOf(s Summary) byte {
	if s.Library {
		return scopeLibrary
	}
	switch s.Status {
	case conv.StatusOpen:
		if s.Bot {
			return scopeBot
		}
		return scopeOpen
	case conv.StatusSnoozed:
		return scopeSnoozed
	case conv.StatusResolved:
		return scopeResolved
	}
	return scopeOther
}

// inboxKey orders rows newest activity first within a scope:
//
//	scope[1] ^lastActivityAt[8] id
//
// (the activity is inverted so that ascending iteration is newest first).
func inboxKey(r *Row) []byte { return inboxKeyOf(r.ID, r.Sum) }

func inboxKeyOf(id string, s Summary) []byte {
	k := make([]byte, 0, 9+len(id))
	k = append(k, scopeOf(s))
	k = binary.BigEndian.AppendUint64(k, ^uint64(max(s.LastActivityAt, 0)))
	return append(k, id...)
}

// snoozedKey orders the rows asleep soonest to wake first, in the shape of
// an inbox key (so that Page can list them, ByWake):
//
//	's' until[8] id
func snoozedKey(r *Row) []byte {
	k := make([]byte, 0, 9+len(r.ID))
	k = append(k, scopeSnoozed)
	k = binary.BigEndian.AppendUint64(k, uint64(max(r.Sum.SnoozedUntil, 0)))
	return append(k, r.ID...)
}

// countKey names a group of rows the counts table counts.
type countKey struct {
	scope    byte
	bot      bool
	assignee string
}

// tally counts the conversations of a group, and those with something
// unread.
type tally struct{ total, unread int }

// counts holds how many rows each group has: the views' numbers, without
// a scan. It is shared once inserted: a write copies it first (writer.count).
type counts struct{ m map[countKey]tally }

func (c *counts) add(r *Row, d int) {
	k := countKey{scope: scopeOf(r.Sum), bot: r.Sum.Bot, assignee: r.Sum.Assignee}
	t := c.m[k]
	t.total += d
	if r.Unread > 0 {
		t.unread += d
	}
	if t == (tally{}) {
		delete(c.m, k)
	} else {
		c.m[k] = t
	}
}

func outboxKey(mid uint64) []byte { return binary.BigEndian.AppendUint64(nil, mid) }

// contactKey groups rows by their contact (nil: the row has no contact):
//
//	contactID 0x00 id
func contactKey(r *Row) []byte {
	v := r.View()
	if v == nil || v.Contact.ID == "" {
		return nil
	}
	k := make([]byte, 0, len(v.Contact.ID)+1+len(r.ID))
	k = append(k, v.Contact.ID...)
	k = append(k, 0)
	return append(k, r.ID...)
}
