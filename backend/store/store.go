package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"

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
}

// Store is a device's durable state. Its methods are safe for concurrent
// use: writes are serialized by the memdb write transaction; reads never
// block writes.
type Store struct {
	db     *badger.DB
	mdb    *memdb.MemDB
	me     conv.Participant
	schema conv.Schema
	log    *slog.Logger

	// indexed is closed once the conversation id table is built (the
	// second phase of opening); indexErr is its outcome.
	indexed  chan struct{}
	indexErr error

	closeOnce sync.Once
	closeErr  error
}

// ErrClosed is returned by writes on a closed store.
var ErrClosed = errors.New("store: closed")

// Open opens (or creates) the store in dir and rebuilds the memdb indexes
// from Badger. Only conversation rows (their summaries, from the snapshot
// written at the last Close when it is current) and the outbox are loaded;
// timeline items stay on disk.
//
// Opening has two phases. Open returns after the first, which indexes the
// outbox, the unread conversations and the newest rows of each status: the
// first inbox page, the unread ones and TotalUnread answer at once. The
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
	s := &Store{db: db, mdb: mdb, me: opts.Me, schema: opts.Schema, log: log, indexed: make(chan struct{})}
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
		var err error
		if s.indexErr == nil {
			err = s.writeSnapshot()
		}
		s.closeErr = errors.Join(err, s.db.Close())
	})
	return s.closeErr
}

// Me returns the local participant.
func (s *Store) Me() conv.Participant { return s.me }

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
	if m.Flags&flagResetting != 0 { // a Reset was interrupted: finish it
		if err := s.db.DropPrefix([]byte{prefixLog}, []byte{prefixTimeline}, []byte{prefixConv}, []byte{prefixSnapshot}); err != nil {
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
	err = s.db.View(func(btx *badger.Txn) error {
		var err error
		if outbox, err = readOutbox(btx); err != nil {
			return err
		}
		if rows, err = s.readRows(btx, m.Gen); err != nil {
			return err
		}
		rows, err = s.rebaseLoaded(btx, rows, outbox)
		return err
	})
	if err != nil {
		return false, err
	}

	// Phase 1: the outbox, the meta, every unread entry and the head of
	// each status's inbox list: enough for the first page.
	entries := inboxEntries(rows)
	head, rest := splitHeads(entries)
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	if err := s.loadInboxTxn(txn, head, entries, outbox, m); err != nil {
		return false, err
	}
	txn.Commit()

	// Phase 2, in the background: the rest of the inbox list, and the
	// conversations by id. Writers, reads by id and the pages phase 1
	// cannot answer wait for it (ready).
	txn2 := s.mdb.Txn(true)
	go func() {
		defer close(s.indexed)
		defer txn2.Abort()
		for _, e := range rest {
			if err := txn2.Insert(tableInbox, e); err != nil {
				s.indexErr = fmt.Errorf("store: index inbox: %w", err)
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
	}()
	// Unread counts are the local participant's: a store opened for
	// another identity (a visitor who identified) derives them again.
	if m.Me != "" && m.Me != s.me.ID {
		s.log.Warn("store: opened for another identity; rebuilding", "was", m.Me, "now", s.me.ID)
		return true, nil
	}
	return m.Flags&flagRebuilding != 0, nil
}

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

// readRows reads every conversation row: from the snapshot if it is
// current (gen), else from the 'c' table.
func (s *Store) readRows(btx *badger.Txn, gen uint64) ([]*Row, error) {
	rows, ok, err := readSnapshot(btx, gen)
	if err != nil {
		s.log.Warn("store: unreadable snapshot; reading the rows", "err", err)
	}
	if ok && err == nil {
		return rows, nil
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
		return nil, fmt.Errorf("store: load conversations: %w", err)
	}
	return rows, nil
}

// readSnapshot reads the snapshot's rows, decoding its chunks on every
// core. ok is false when there is no current snapshot.
func readSnapshot(btx *badger.Txn, gen uint64) (rows []*Row, ok bool, err error) {
	item, err := btx.Get(snapHeaderKey)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var h snapHeader
	if err := item.Value(func(v []byte) error {
		h, err = decodeSnapHeader(string(v))
		return err
	}); err != nil {
		return nil, false, err
	}
	if h.Gen != gen {
		return nil, false, nil
	}
	chunks := make([]string, 0, h.Chunks)
	err = scan(btx, []byte{prefixSnapshot, 0x00}, func(_, v []byte) error {
		if len(chunks) < int(h.Chunks) {
			chunks = append(chunks, string(v))
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if len(chunks) != int(h.Chunks) {
		return nil, false, fmt.Errorf("store: snapshot has %d chunks of %d: %w", len(chunks), h.Chunks, errCorrupt)
	}
	parts := make([][]*Row, len(chunks))
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), 8, len(chunks))
	next := make(chan int, len(chunks))
	for i := range chunks {
		next <- i
	}
	close(next)
	for range workers {
		wg.Go(func() {
			for i := range next {
				vals, err := decodeSnapChunk(chunks[i], h.Gen)
				if err != nil {
					errs[i] = err
					continue
				}
				part := make([]*Row, len(vals))
				for j, v := range vals {
					id, unread, k, err := decodeRow(v)
					if err != nil {
						errs[i] = err
						break
					}
					part[j] = &Row{ID: id, Sum: k.sum, CanonUnread: unread, Unread: unread, canon: k}
				}
				parts[i] = part
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, false, err
	}
	rows = make([]*Row, 0, h.Rows)
	for _, p := range parts {
		rows = append(rows, p...)
	}
	return rows, true, nil
}

// rebaseLoaded rebases the rows that have outbox records and adds a row for
// each conversation that exists only in the outbox.
func (s *Store) rebaseLoaded(btx *badger.Txn, rows []*Row, outbox []*Pending) ([]*Row, error) {
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
			if err := s.rebase(btx, n, recs); err != nil {
				return nil, err
			}
			rows[i] = n
		}
	}
	for id, recs := range byConv {
		r := &Row{ID: id}
		if err := s.rebase(btx, r, recs); err != nil {
			return nil, err
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// headRows is how many rows of each status's inbox list the first phase of
// opening indexes: the first pages of the default views.
const headRows = 1024

// inboxEntries returns the inbox entries of rows, in key order (the
// snapshot's order, but for rows that rebased elsewhere).
func inboxEntries(rows []*Row) []*entry {
	out := make([]*entry, 0, len(rows))
	for _, r := range rows {
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
// status and the rest.
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

// loadInboxTxn inserts the outbox, the head inbox entries (in key order:
// sorted inserts keep go-memdb's radix tree writes cheap), the unread
// entries of all and the meta with the total unread count.
func (s *Store) loadInboxTxn(txn *memdb.Txn, head, all []*entry, outbox []*Pending, m metaValue) error {
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
	total := 0
	for _, e := range all {
		if n := e.row().Unread; n > 0 {
			if err := txn.Insert(tableUnread, e); err != nil {
				return err
			}
			total += n
		}
	}
	return txn.Insert(tableMeta, &Meta{Epoch: m.Epoch, Seq: m.Seq, Mid: m.Mid, Gen: m.Gen, TotalUnread: total})
}

// snapChunkRows is how many rows a snapshot chunk holds (about 350 KB).
const snapChunkRows = 1024

// writeSnapshot writes every conversation row, in inbox order, into a few
// large values, unless the current snapshot is up to date. It holds the
// writer lock meanwhile. The chunks go through a WriteBatch (they are too
// big for one transaction); the header, written last and synced, makes
// them valid.
func (s *Store) writeSnapshot() error {
	txn := s.mdb.Txn(true) // the writer lock: no row changes meanwhile
	defer txn.Abort()
	m, err := txn.First(tableMeta, indexID, "m")
	if err != nil {
		return err
	}
	gen := m.(*Meta).Gen
	var have snapHeader
	var present bool
	err = s.db.View(func(btx *badger.Txn) error {
		item, err := btx.Get(snapHeaderKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		present = true
		return item.Value(func(v []byte) error {
			have, err = decodeSnapHeader(string(v))
			return err
		})
	})
	if err == nil && present && have.Gen == gen {
		return nil
	}
	type kv struct {
		key []byte
		val []byte
	}
	var all []kv
	it, err := txn.Get(tableConvs, indexID+"_prefix", "")
	if err != nil {
		return err
	}
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*Row)
		if r.canon == nil {
			continue
		}
		all = append(all, kv{inboxKeyOf(r.ID, r.canon.sum), encodeRow(r.CanonUnread, r.canon)})
	}
	slices.SortFunc(all, func(a, b kv) int { return bytes.Compare(a.key, b.key) })

	// Invalidate the old snapshot first, so that a crash midway leaves none.
	if err := s.db.Update(func(btx *badger.Txn) error { return btx.Delete(snapHeaderKey) }); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	var chunks uint32
	for lo := 0; lo < len(all); lo += snapChunkRows {
		hi := min(lo+snapChunkRows, len(all))
		w := encoder{b: make([]byte, 0, 400*(hi-lo))}
		w.byte1(codecVersion)
		w.uvarint(gen)
		w.count(hi-lo, false)
		for _, x := range all[lo:hi] {
			w.bytes(x.val)
		}
		if err := wb.Set(snapChunkKey(chunks), w.b); err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
		chunks++
	}
	for i := chunks; i < have.Chunks; i++ { // chunks of a bigger old snapshot
		if err := wb.Delete(snapChunkKey(i)); err != nil {
			return fmt.Errorf("store: snapshot: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	h := snapHeader{Gen: gen, Chunks: chunks, Rows: uint64(len(all))}
	if err := s.db.Update(func(btx *badger.Txn) error { return btx.Set(snapHeaderKey, encodeSnapHeader(h)) }); err != nil {
		return fmt.Errorf("store: snapshot: %w", err)
	}
	return nil
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
