package store

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
)

// Reads take a memdb.WatchSet (nil: no watching): the channels they add fire
// when what the read returned may have changed, so a view can block with
// ws.WatchCtx until then instead of polling.

// Cursor returns the canonical position: the log's epoch ("" before the
// first sync) and the last seq applied.
func (s *Store) Cursor(ws memdb.WatchSet) (epoch string, seq uint64) {
	m := s.meta(ws)
	return m.Epoch, m.Seq
}

// humanUnread is what r adds to TotalUnread: its unread count, unless it
// is in the Bot view (assistant mode), which keeps it out of the human
// views until handoff, the window title's total included.
func (r *Row) humanUnread() int {
	if r.Sum.Bot {
		return 0
	}
	return r.Unread
}

// TotalUnread returns the local participant's unread count over the
// conversations of the human views (not the Bot view's).
func (s *Store) TotalUnread(ws memdb.WatchSet) int { return s.meta(ws).TotalUnread }

// Row returns conversation id's row, or nil if the device has none.
func (s *Store) Row(id string, ws memdb.WatchSet) *Row {
	if s.ready() != nil {
		return nil
	}
	ch, o, err := s.mdb.Txn(false).FirstWatch(tableConvs, indexID, id)
	if err != nil {
		return nil
	}
	ws.Add(ch)
	if o == nil {
		return nil
	}
	return o.(*Row)
}

// Outbox returns every outbox record (pending, sent, failed) in mid order.
func (s *Store) Outbox(ws memdb.WatchSet) []*Pending {
	it, err := s.mdb.Txn(false).Get(tableOutbox, indexID+"_prefix", "")
	if err != nil {
		return nil
	}
	ws.Add(it.WatchCh())
	var out []*Pending
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(*entry).pending())
	}
	return out
}

// Pending returns the events waiting to be pushed (state pending), in mid
// order.
func (s *Store) Pending(ws memdb.WatchSet) []conv.Event {
	var out []conv.Event
	for _, p := range s.Outbox(ws) {
		if p.State == StatePending {
			out = append(out, p.Event)
		}
	}
	return out
}

// Log calls fn for every canonical event with a seq above after, in order,
// until fn returns false.
func (s *Store) Log(after uint64, fn func(conv.Event) bool) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.scanLog(after, fn)
}

func (s *Store) scanLog(after uint64, fn func(conv.Event) bool) error {
	return s.db.View(func(btx *badger.Txn) error {
		prefix := []byte{prefixLog}
		it := btx.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Seek(logKey(after + 1)); it.Valid(); it.Next() {
			var e conv.Event
			err := it.Item().Value(func(v []byte) error {
				var err error
				e, err = decodeEvent(string(v))
				return err
			})
			if err != nil {
				return fmt.Errorf("store: read log %d: %w", seqOfLogKey(it.Item().Key()), err)
			}
			if !fn(e) {
				return nil
			}
		}
		return nil
	})
}

// Timeline returns up to limit canonical items of conversation id, oldest
// first, that come before seq before (0: the newest ones), and older, the
// cursor for the page before them (0: none). The newest page (before == 0)
// ends with the row's overlay: every pending, sent and failed item.
func (s *Store) Timeline(id string, before uint64, limit int, ws memdb.WatchSet) (items []Item, older uint64, err error) {
	r := s.Row(id, ws)
	if r == nil {
		return nil, 0, nil
	}
	leave, err := s.enter()
	if err != nil {
		return nil, 0, err
	}
	defer leave()
	if limit <= 0 {
		limit = 50
	}
	err = s.db.View(func(btx *badger.Txn) error {
		return scanItems(btx, id, before, func(seq uint64, held []byte) (bool, error) {
			if len(items) == limit {
				older = items[len(items)-1].Event.Seq
				return false, nil
			}
			e, err := itemEvent(btx, seq, held)
			if err != nil {
				return false, fmt.Errorf("store: read item of %s: %w", id, err)
			}
			items = append(items, Item{Event: e})
			return true, nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
	if before == 0 {
		// The row is memdb's snapshot, the items Badger's: a write that
		// lands between the two reads (Badger commits first) shows an event
		// both canonical and still in the overlay. It is canonical.
		held := make(map[string]bool, len(items))
		for _, it := range items {
			held[it.Event.ID] = true
		}
		for _, it := range r.Overlay {
			if !held[it.Event.ID] {
				items = append(items, it)
			}
		}
	}
	return items, older, nil
}

// Sort orders an inbox page.
type Sort uint8

// Sorts.
const (
	ByActivity Sort = iota // latest activity first
	ByPriority             // urgent first, then latest activity
	ByWake                 // the snoozed conversations, soonest to wake first
)

// Lane selects conversations by who has them: the team, or the bot (in
// assistant mode, until handoff).
type Lane uint8

// Lanes.
const (
	AnyLane   Lane = iota
	HumanLane      // not in assistant mode
	BotLane        // in assistant mode
)

// Query selects and orders an inbox page.
type Query struct {
	Status     conv.Status   // "": any; open includes snoozed conversations whose time has passed
	Lane       Lane          // AnyLane: both
	Priority   conv.Priority // "": any
	Tag        string        // "": any
	Assignee   string        // "": any; "none": unassigned; else a participant id
	UnreadOnly bool
	Sort       Sort   // ByWake lists the snoozed conversations, whatever Status says
	Cursor     string // "" for the first page; else a Page's next cursor
	Limit      int    // default 50
}

// ErrBadCursor is returned for a cursor Page did not make.
var ErrBadCursor = errors.New("store: bad inbox cursor")

// Unassigned is the Assignee filter for conversations nobody is assigned to.
const Unassigned = "none"

// scopes returns the scopes of the inbox table q reads: a status, and for
// open conversations its lane.
func (q *Query) scopes() []byte {
	if q.Sort == ByWake {
		return scopesSnoozed
	}
	switch q.Status {
	case "":
		switch q.Lane {
		case HumanLane:
			return scopesHuman
		case BotLane:
			return scopesBot
		}
		return allScopes
	case conv.StatusOpen:
		switch q.Lane {
		case HumanLane:
			return scopesOpen
		case BotLane:
			return scopesBotOpen
		}
		return scopesAnyOpen
	case conv.StatusSnoozed:
		return scopesSnoozed
	case conv.StatusResolved:
		return scopesResolved
	}
	return scopesOther
}

// The scopes of the queries (shared: never modified).
var (
	scopesOpen     = []byte{scopeOpen}
	scopesBotOpen  = []byte{scopeBot}
	scopesAnyOpen  = []byte{scopeOpen, scopeBot}
	scopesSnoozed  = []byte{scopeSnoozed}
	scopesResolved = []byte{scopeResolved}
	scopesOther    = []byte{scopeOther}
	scopesHuman    = []byte{scopeOpen, scopeSnoozed, scopeResolved, scopeOther}
	scopesBot      = []byte{scopeBot, scopeSnoozed, scopeResolved, scopeOther}
)

// filters reports whether q selects among the rows of its scopes in tbl
// (at priority rank), so that match must look at each row; the first page
// of a view (a scope, in its order) takes every row.
func (q *Query) filters(tbl string, tag string, rank int) bool {
	lane := q.Lane != AnyLane && !(q.Status == conv.StatusOpen && q.Sort != ByWake) // the open scopes are a lane's
	return rank != -2 || tag != "" || q.Assignee != "" || lane || (q.UnreadOnly && tbl != tableUnread)
}

// match reports whether row summary v, at priority rank (-2: any), is
// what q's filters select (its scopes aside).
func (q *Query) match(r *Row, tag string, rank int) bool {
	v := &r.Sum
	switch {
	case rank != -2 && v.Priority.Rank() != rank && !(rank == -1 && v.Priority.Rank() < 0):
		return false
	case tag != "" && !v.HasTag(tag):
		return false
	case q.Assignee == Unassigned && v.Assignee != "":
		return false
	case q.Assignee != "" && q.Assignee != Unassigned && v.Assignee != q.Assignee:
		return false
	case q.Lane == HumanLane && v.Bot, q.Lane == BotLane && !v.Bot:
		return false
	case q.UnreadOnly && r.Unread == 0: // (the unread table holds only those; the snoozed one does not)
		return false
	}
	return true
}

// Page returns the rows q selects, in its order, and the cursor of the next
// page ("" when there is none). The inbox table keeps rows by scope (a
// status, and for open ones the lane), then newest activity; a status
// filter is a prefix, the other filters are checked row by row, and the
// priority order runs one pass per priority, urgent first. ByWake reads
// the snoozed table instead, in the order they wake.
func (s *Store) Page(q Query, ws memdb.WatchSet) ([]*Row, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	tbl := tableInbox
	switch {
	case q.Sort == ByWake:
		tbl = tableSnoozed
	case q.UnreadOnly:
		tbl = tableUnread
	}
	scopes := q.scopes()
	tag := strings.ToLower(strings.TrimSpace(q.Tag))
	// Until opening is done, only the first page of a scope (among all,
	// or among the unread) can be answered, and the snoozed table's.
	if !s.indexedYet() && (q.Cursor != "" || q.Sort == ByPriority || tag != "" || q.Assignee != "" || q.Priority != "" || limit >= headRows) {
		if err := s.ready(); err != nil {
			return nil, "", err
		}
	}
	ranks := []int{-2} // -2: any priority
	if q.Sort == ByPriority {
		ranks = []int{3, 2, 1, 0, -1}
	}
	if q.Priority != "" {
		ranks = []int{q.Priority.Rank()}
	}
	// resume: the rank and key (without its status byte) of the last row
	// returned.
	startRank, rest, err := decodeCursor(q.Cursor, q.Sort)
	if err != nil {
		return nil, "", err
	}

	txn := s.mdb.Txn(false)
	if ws != nil {
		var watch []byte
		if len(scopes) == 1 {
			watch = scopes
		}
		it, err := txn.Get(tbl, indexID+"_prefix", watch)
		if err != nil {
			return nil, "", err
		}
		ws.Add(it.WatchCh())
	}

	var rows []*Row
	var lastRank int
	var lastKey []byte
	resuming := q.Cursor != ""
	for _, rank := range ranks {
		if resuming && rankBefore(rank, startRank) {
			continue
		}
		from := []byte(nil)
		if resuming && rank == startRank {
			from = rest
		}
		m, err := newMerge(txn, tbl, scopes, from)
		if err != nil {
			return nil, "", err
		}
		filtered := q.filters(tbl, tag, rank)
		for e := m.next(); e != nil; e = m.next() {
			if from != nil && bytes.Equal(e.key[1:], from) {
				continue // the last row of the previous page
			}
			r := e.row()
			if filtered && !q.match(r, tag, rank) {
				continue
			}
			if len(rows) == limit {
				return rows, encodeCursor(q.Sort, lastRank, lastKey), nil
			}
			rows = append(rows, r)
			lastRank, lastKey = rank, e.key[1:]
		}
	}
	return rows, "", nil
}

// rankBefore reports whether rank comes before start in the priority order
// (urgent 3 first, unknown -1 last).
func rankBefore(rank, start int) bool { return rank > start }

// merge iterates an inbox table over several status prefixes at once, in
// the order of the key after the status byte (newest activity, then id).
type merge struct {
	its   []memdb.ResultIterator
	heads []*entry
	stat  []byte
}

func newMerge(txn *memdb.Txn, tbl string, scopes, from []byte) (*merge, error) {
	m := &merge{stat: scopes}
	for _, sb := range scopes {
		start := append([]byte{sb}, from...)
		it, err := txn.LowerBound(tbl, indexID, start)
		if err != nil {
			return nil, err
		}
		m.its = append(m.its, it)
		m.heads = append(m.heads, nil)
		m.advance(len(m.its) - 1)
	}
	return m, nil
}

func (m *merge) advance(i int) {
	m.heads[i] = nil
	if o := m.its[i].Next(); o != nil {
		if e := o.(*entry); e.key[0] == m.stat[i] {
			m.heads[i] = e
		}
	}
}

func (m *merge) next() *entry {
	best := -1
	for i, h := range m.heads {
		if h != nil && (best < 0 || bytes.Compare(h.key[1:], m.heads[best].key[1:]) < 0) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	e := m.heads[best]
	m.advance(best)
	return e
}

// A cursor is base64url of: 'c', the sort, the rank + 2, and the last key
// without its status byte.
func encodeCursor(sort Sort, rank int, key []byte) string {
	b := append([]byte{'c', byte(sort), byte(rank + 2)}, key...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(c string, sort Sort) (int, []byte, error) {
	if c == "" {
		return 0, nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 3+8 || b[0] != 'c' || Sort(b[1]) != sort || b[2] > 5 {
		return 0, nil, ErrBadCursor
	}
	return int(b[2]) - 2, b[3:], nil
}

// Count says how many conversations q selects (its cursor, limit and sort
// aside, but for ByWake, which selects the snoozed ones) and how many of
// them have something unread. Without a tag or priority filter it reads
// the counts the store keeps; with one it scans q's scopes.
func (s *Store) Count(q Query, ws memdb.WatchSet) (total, unread int, err error) {
	tag := strings.ToLower(strings.TrimSpace(q.Tag))
	scopes := q.scopes()
	txn := s.mdb.Txn(false)
	if tag == "" && q.Priority == "" {
		ch, o, err := txn.FirstWatch(tableCounts, indexID, "n")
		if err != nil {
			return 0, 0, err
		}
		ws.Add(ch)
		if o == nil {
			return 0, 0, nil
		}
		for k, t := range o.(*counts).m {
			if !slices.Contains(scopes, k.scope) ||
				q.Lane == HumanLane && k.bot || q.Lane == BotLane && !k.bot ||
				q.Assignee == Unassigned && k.assignee != "" ||
				q.Assignee != "" && q.Assignee != Unassigned && k.assignee != q.Assignee {
				continue
			}
			total += t.total
			unread += t.unread
		}
		if q.UnreadOnly {
			total = unread
		}
		return total, unread, nil
	}
	if err := s.ready(); err != nil {
		return 0, 0, err
	}
	tbl := tableInbox
	if q.UnreadOnly {
		tbl = tableUnread
	}
	rank := -2
	if q.Priority != "" {
		rank = q.Priority.Rank()
	}
	for _, sc := range scopes {
		it, err := txn.Get(tbl, indexID+"_prefix", []byte{sc})
		if err != nil {
			return 0, 0, err
		}
		ws.Add(it.WatchCh())
		for o := it.Next(); o != nil; o = it.Next() {
			r := o.(*entry).row()
			if q.match(r, tag, rank) {
				total++
				if r.Unread > 0 {
					unread++
				}
			}
		}
	}
	return total, unread, nil
}

// ContactRows returns the rows of contact contactID's conversations (by
// conversation id), from the contact index: no scan of the inbox.
func (s *Store) ContactRows(contactID string, ws memdb.WatchSet) ([]*Row, error) {
	if contactID == "" {
		return nil, nil
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	if !s.contacts.Load() {
		if err := s.buildContacts(); err != nil {
			return nil, err
		}
	}
	it, err := s.mdb.Txn(false).Get(tableContact, indexID+"_prefix", contactID+"\x00")
	if err != nil {
		return nil, err
	}
	ws.Add(it.WatchCh())
	var out []*Row
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(*entry).row())
	}
	return out, nil
}

// buildContacts builds the contact table from every row, once: a memdb
// write transaction, so no writer runs meanwhile, and the flag is set
// before it commits, so every writer after it keeps the table.
func (s *Store) buildContacts() error {
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	if s.contacts.Load() {
		return nil
	}
	it, err := txn.Get(tableConvs, indexID+"_prefix", "")
	if err != nil {
		return err
	}
	var es []*entry
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*Row)
		if !r.hasView() {
			continue
		}
		if ck := contactKey(r); ck != nil {
			es = append(es, &entry{key: ck, obj: r})
		}
	}
	slices.SortFunc(es, func(a, b *entry) int { return bytes.Compare(a.key, b.key) })
	for _, e := range es {
		if err := txn.Insert(tableContact, e); err != nil {
			return fmt.Errorf("store: index contacts: %w", err)
		}
	}
	s.contacts.Store(true)
	txn.Commit()
	return nil
}
