package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
)

// Options configure a Store.
type Options struct {
	// Me is the local participant: unread counts are its own.
	Me conv.Participant
	// Schema holds the workspace's attribute definitions for rebasing
	// pending events with conv.Apply; nil leaves the check to the relay.
	Schema conv.Schema
	// Logger receives Badger's warnings and the store's; nil discards them.
	Logger *slog.Logger
	// InMemory keeps everything in memory (Badger's in-memory mode): for
	// fuzzing and throwaway stores. Nothing survives Close.
	InMemory bool
	// Now is the clock rows are shown at: a snoozed conversation whose
	// time has passed shows as open (Wake); default time.Now.
	Now func() time.Time
}

// Store is a device's durable state. Its methods are safe for concurrent
// use: writes are serialized by the memdb write transaction; reads never
// block writes.
type Store struct {
	dir    string // "" in memory: no snapshot file
	db     *badger.DB
	mdb    *memdb.MemDB
	me     conv.Participant
	schema conv.Schema
	log    *slog.Logger
	now    func() time.Time

	// indexed is closed once the conversation id table is built (the
	// second phase of opening); indexErr is its outcome.
	indexed chan struct{}
	// contacts: the contact table is built (the first ContactRows builds
	// it, so that opening decodes no conversation for it); writers keep it
	// from then on. Set and read inside memdb write transactions.
	contacts atomic.Bool
	indexErr error

	// life keeps Close from closing Badger under a read or write: they
	// hold it for reading (enter); Close takes it for writing.
	life   sync.RWMutex
	closed bool

	snapMu sync.Mutex     // one snapshot writer at a time
	bg     sync.WaitGroup // background snapshot; Close waits for it

	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by writes on a closed store.
var ErrClosed = errors.New("store: closed")

// ErrNewerStore: the store was written by a newer binary, in a layout this
// one does not know. Opening it refuses, and leaves it untouched.
var ErrNewerStore = errors.New("store: written by a newer version of Threadline; update to open it")

// Open opens (or creates) the store in dir and rebuilds the memdb indexes
// from Badger. Only conversation rows (their summaries, from the snapshot
// written at the last Close when it is current) and the outbox are loaded;
// timeline items stay on disk.
//
// Opening has two phases. Open returns after the first, which indexes the
// outbox and the newest rows of each status, among all and among the
// unread: the first inbox pages and TotalUnread answer at once. The
// second, in the background, indexes the rest of the inbox list and the
// conversations by id; reads by id, writes and the pages the first phase
// cannot answer wait for it.
func Open(dir string, opts Options) (*Store, error) {
	if opts.Me.ID == "" {
		return nil, errors.New("store: Options.Me is required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := badger.Open(badgerOptions(dir, opts.InMemory, log))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	mdb, err := memdb.NewMemDB(newSchema())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: memdb: %w", err)
	}
	if opts.InMemory {
		dir = ""
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Store{dir: dir, db: db, mdb: mdb, me: opts.Me, schema: opts.Schema, log: log, now: now, indexed: make(chan struct{})}
	rebuild, err := s.load()
	if err != nil {
		db.Close()
		return nil, err
	}
	if rebuild { // a Rebuild was interrupted: run it again
		if err := s.Rebuild(); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// badgerOptions are tuned for a desktop store: small memtables (Badger
// allocates them on the Go heap), synced writes (a local action is on disk
// before it returns), no conflict detection (the memdb write transaction
// already serializes writers).
func badgerOptions(dir string, inMemory bool, log *slog.Logger) badger.Options {
	o := badger.DefaultOptions(dir)
	if inMemory {
		o = badger.DefaultOptions("").WithInMemory(true)
	}
	return o.
		WithSyncWrites(!inMemory).
		WithLogger(badgerLogger{log}).
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithNumLevelZeroTables(4).
		WithNumLevelZeroTablesStall(12).
		WithBlockCacheSize(16 << 20).
		WithValueLogFileSize(64 << 20).
		WithNumCompactors(2).
		WithNumGoroutines(4).
		WithDetectConflicts(false).
		WithMetricsEnabled(false)
}

// Close writes the snapshot of the conversation rows if they changed since
// the last one, then closes Badger. Later calls return the first result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		<-s.indexed
		s.bg.Wait()
		s.life.Lock()
		defer s.life.Unlock()
		var err error
		if s.indexErr == nil {
			err = s.writeSnapshot()
		}
		s.closed = true
		s.closeErr = errors.Join(err, s.db.Close())
	})
	return s.closeErr
}

// Me returns the local participant.
func (s *Store) Me() conv.Participant { return s.me }

// clock reads the store's clock, in Unix ms.
func (s *Store) clock() int64 { return s.now().UnixMilli() }

// enter waits for the second phase of opening and holds Close off until
// leave is called. Every method that touches Badger enters first.
func (s *Store) enter() (leave func(), err error) {
	if err := s.ready(); err != nil {
		return nil, err
	}
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return nil, ErrClosed
	}
	return s.life.RUnlock, nil
}

// ready waits for the second phase of opening.
func (s *Store) ready() error {
	<-s.indexed
	return s.indexErr
}

// load fills memdb from Badger. It reports whether an interrupted Rebuild
// must run again.
func (s *Store) load() (rebuild bool, err error) {
	m, err := s.readMeta()
	if err != nil {
		return false, err
	}
	derive := false
	switch {
	case m.Format > storeFormat:
		return false, fmt.Errorf("store: format %d, this binary reads up to %d: %w", m.Format, storeFormat, ErrNewerStore)
	case m.Format < derivedFormat && m != (metaValue{}):
		// Derived by older rules (rule 8 before it was rewritten, the
		// activity with notes, no history in the rows): derive it all
		// again from the log, once. Rebuild stamps the format; until it
		// is done, an interrupted one is redone (flagRebuilding).
		derive = true
	case m.Format < storeFormat && m != (metaValue{}):
		// Written by an older binary: this one may now add its own layout,
		// so the store takes its format (an empty store takes it with its
		// first write).
		if err := s.db.Update(func(btx *badger.Txn) error { return btx.Set(metaKey, encodeMeta(m)) }); err != nil {
			return false, fmt.Errorf("store: stamp the store format: %w", err)
		}
		m.Format = storeFormat
	}
	if m.Flags&flagResetting != 0 { // a Reset was interrupted: finish it
		s.removeSnapshot()
		if err := s.db.DropPrefix([]byte{prefixLog}, []byte{prefixTimeline}, []byte{prefixConv}); err != nil {
			return false, fmt.Errorf("store: finish reset: %w", err)
		}
		m.Flags &^= flagResetting
		m.Seq = 0
		if err := s.db.Update(func(btx *badger.Txn) error { return btx.Set(metaKey, encodeMeta(m)) }); err != nil {
			return false, fmt.Errorf("store: finish reset: %w", err)
		}
	}
	var rows []*Row
	var outbox []*Pending
	var fromSnapshot bool
	now := s.clock()
	err = s.db.View(func(btx *badger.Txn) error {
		var err error
		if outbox, err = readOutbox(btx); err != nil {
			return err
		}
		if rows, fromSnapshot, err = s.readRows(btx, m.Gen); err != nil {
			return err
		}
		rows, err = s.rebaseLoaded(btx, rows, outbox, now)
		return err
	})
	if err != nil {
		return false, err
	}

	// Phase 1: the outbox, the meta, the counts, every unread entry, every
	// row asleep and the head of each scope's inbox list: enough for the
	// first page.
	entries := inboxEntries(rows, now)
	var unread, asleep []*entry
	total := 0
	cnt := &counts{m: map[countKey]tally{}}
	for _, e := range entries {
		r := e.row()
		if n := r.Unread; n > 0 {
			unread = append(unread, e)
			total += r.humanUnread()
		}
		if r.Sum.Asleep() {
			asleep = append(asleep, &entry{key: snoozedKey(r), obj: r})
		}
		cnt.add(r, 1)
	}
	slices.SortFunc(asleep, func(a, b *entry) int { return bytes.Compare(a.key, b.key) })
	head, rest := splitHeads(entries)
	unreadHead, unreadRest := splitHeads(unread)
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	if err := s.loadInboxTxn(txn, head, unreadHead, asleep, cnt, total, outbox, m); err != nil {
		return false, err
	}
	txn.Commit()

	// Phase 2, in the background: the rest of the inbox list, and the
	// conversations by id. Writers, reads by id and the pages phase 1
	// cannot answer wait for it (ready).
	txn2 := s.mdb.Txn(true)
	hold := holdIndexing
	go func() {
		defer close(s.indexed)
		defer txn2.Abort()
		if hold != nil {
			<-hold
		}
		for _, e := range rest {
			if err := txn2.Insert(tableInbox, e); err != nil {
				s.indexErr = fmt.Errorf("store: index inbox: %w", err)
				return
			}
		}
		for _, e := range unreadRest {
			if err := txn2.Insert(tableUnread, e); err != nil {
				s.indexErr = fmt.Errorf("store: index unread: %w", err)
				return
			}
		}
		if !slices.IsSortedFunc(rows, byID) {
			slices.SortFunc(rows, byID)
		}
		for _, r := range rows {
			if err := txn2.Insert(tableConvs, r); err != nil {
				s.indexErr = fmt.Errorf("store: index %s: %w", r.ID, err)
				return
			}
		}
		txn2.Commit()
		if !fromSnapshot && len(rows) > 0 {
			// The last run did not close cleanly: write the snapshot now,
			// so that the next open is fast even if this run does not
			// close cleanly either.
			s.bg.Go(func() {
				if err := s.writeSnapshot(); err != nil {
					s.log.Warn("store: snapshot", "err", err)
				}
			})
		}
	}()
	// Unread counts are the local participant's: a store opened for
	// another identity (a visitor who identified) derives them again.
	if m.Me != "" && m.Me != s.me.ID {
		s.log.Warn("store: opened for another identity; rebuilding", "was", m.Me, "now", s.me.ID)
		return true, nil
	}
	if derive {
		s.log.Warn("store: derived by an older version; rebuilding from the log", "format", m.Format)
		return true, nil
	}
	return m.Flags&flagRebuilding != 0, nil
}

// holdIndexing, when a test sets it, holds the second phase of opening
// until it is closed.
var holdIndexing chan struct{}

func byID(a, b *Row) int { return strings.Compare(a.ID, b.ID) }

func (s *Store) readMeta() (metaValue, error) {
	var m metaValue
	err := s.db.View(func(btx *badger.Txn) error {
		item, err := btx.Get(metaKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			m, err = decodeMeta(string(v))
			return err
		})
	})
	if err != nil {
		return metaValue{}, fmt.Errorf("store: read meta: %w", err)
	}
	return m, nil
}

func readOutbox(btx *badger.Txn) ([]*Pending, error) {
	var out []*Pending
	err := scan(btx, []byte{prefixPending}, func(_, v []byte) error {
		p, err := decodePending(string(v))
		if err != nil {
			return err
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: load outbox: %w", err)
	}
	return out, nil
}

// readRows reads every conversation row: from the snapshot file if it is
// current (gen), else from the 'c' table.
func (s *Store) readRows(btx *badger.Txn, gen uint64) ([]*Row, bool, error) {
	rows, err := s.readSnapshot(gen)
	if err != nil && !errors.Is(err, errNoSnapshot) {
		s.log.Warn("store: unusable snapshot; reading the rows", "err", err)
	}
	if err == nil {
		return rows, true, nil
	}
	rows = rows[:0]
	err = scan(btx, []byte{prefixConv}, func(_, v []byte) error {
		id, unread, k, err := decodeRow(string(v))
		if err != nil {
			return err
		}
		rows = append(rows, &Row{ID: id, Sum: k.sum, CanonUnread: unread, Unread: unread, canon: k})
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("store: load conversations: %w", err)
	}
	return rows, false, nil
}

// rebaseLoaded rebases the rows that have outbox records and adds a row for
// each conversation that exists only in the outbox.
func (s *Store) rebaseLoaded(btx *badger.Txn, rows []*Row, outbox []*Pending, now int64) ([]*Row, error) {
	if len(outbox) == 0 {
		return rows, nil
	}
	byConv := map[string][]*Pending{}
	for _, p := range outbox {
		byConv[p.Event.Conv] = append(byConv[p.Event.Conv], p)
	}
	for i, r := range rows {
		if recs, ok := byConv[r.ID]; ok {
			delete(byConv, r.ID)
			n := r.clone()
			if err := s.rebase(btx, n, recs, now); err != nil {
				return nil, err
			}
			rows[i] = n
		}
	}
	for id, recs := range byConv {
		r := &Row{ID: id}
		if err := s.rebase(btx, r, recs, now); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// headRows is how many rows of each scope's inbox list the first phase of
// opening indexes: the first pages of the default views.
const headRows = 1024

// inboxEntries returns the inbox entries of rows, in key order (the
// snapshot's order, but for rows that rebased elsewhere or woke), each
// row's summary at now: rows fresh from the disk, not shared yet, show
// the status they have at the store's clock.
func inboxEntries(rows []*Row, now int64) []*entry {
	out := make([]*entry, 0, len(rows))
	for _, r := range rows {
		if r.Sum.Asleep() {
			r.Sum = r.Sum.at(now)
		}
		if r.hasView() {
			out = append(out, &entry{key: inboxKey(r), obj: r})
		}
	}
	byKey := func(a, b *entry) int { return bytes.Compare(a.key, b.key) }
	if !slices.IsSortedFunc(out, byKey) {
		slices.SortFunc(out, byKey)
	}
	return out
}

// splitHeads splits sorted inbox entries into the first headRows of each
// scope and the rest.
func splitHeads(entries []*entry) (head, rest []*entry) {
	n := 0
	for i, e := range entries {
		if i > 0 && e.key[0] != entries[i-1].key[0] {
			n = 0
		}
		if n < headRows {
			head = append(head, e)
		} else {
			rest = append(rest, e)
		}
		n++
	}
	return head, rest
}

// indexedYet reports whether the second phase of opening is done.
func (s *Store) indexedYet() bool {
	select {
	case <-s.indexed:
		return true
	default:
		return false
	}
}

// loadInboxTxn inserts the outbox, the head entries of the inbox and
// unread tables and every entry of the snoozed one (in key order: sorted
// inserts keep go-memdb's radix tree writes cheap), the counts, and the
// meta with the total unread count.
func (s *Store) loadInboxTxn(txn *memdb.Txn, head, unreadHead, asleep []*entry, cnt *counts, total int, outbox []*Pending, m metaValue) error {
	for _, p := range outbox {
		if err := insertPending(txn, p); err != nil {
			return err
		}
	}
	for _, e := range head {
		if err := txn.Insert(tableInbox, e); err != nil {
			return err
		}
	}
	for _, e := range unreadHead {
		if err := txn.Insert(tableUnread, e); err != nil {
			return err
		}
	}
	for _, e := range asleep {
		if err := txn.Insert(tableSnoozed, e); err != nil {
			return err
		}
	}
	if err := txn.Insert(tableCounts, cnt); err != nil {
		return err
	}
	return txn.Insert(tableMeta, &Meta{Epoch: m.Epoch, Seq: m.Seq, Mid: m.Mid, Gen: m.Gen, TotalUnread: total})
}

// scan calls fn for every key under prefix, in order. The slices are valid
// only during the call.
func scan(btx *badger.Txn, prefix []byte, fn func(k, v []byte) error) error {
	it := btx.NewIterator(badger.IteratorOptions{Prefix: prefix, PrefetchValues: false})
	defer it.Close()
	for it.Seek(prefix); it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		if err := item.Value(func(v []byte) error { return fn(k, v) }); err != nil {
			return err
		}
	}
	return nil
}

func insertPending(txn *memdb.Txn, p *Pending) error {
	if err := txn.Insert(tablePending, p); err != nil {
		return fmt.Errorf("store: index outbox %s: %w", p.Event.ID, err)
	}
	return txn.Insert(tableOutbox, &entry{key: outboxKey(p.Event.Mid), obj: p})
}

func deletePending(txn *memdb.Txn, p *Pending) error {
	if err := txn.Delete(tablePending, p); err != nil {
		return fmt.Errorf("store: unindex outbox %s: %w", p.Event.ID, err)
	}
	return txn.Delete(tableOutbox, &entry{key: outboxKey(p.Event.Mid)})
}

type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any)   { b.l.Error(fmt.Sprintf("badger: "+f, a...)) }
func (b badgerLogger) Warningf(f string, a ...any) { b.l.Warn(fmt.Sprintf("badger: "+f, a...)) }
func (badgerLogger) Infof(string, ...any)          {}
func (badgerLogger) Debugf(string, ...any)         {}
