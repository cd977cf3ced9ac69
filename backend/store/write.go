package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	badger "github.com/dgraph-io/badger/v4"
	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
)

// Errors of the store's writes.
var (
	ErrEpoch     = errors.New("store: another epoch")
	ErrNotFound  = errors.New("store: no such event in the outbox")
	ErrNotFailed = errors.New("store: the event has not failed")
)

// maxChunk bounds the canonical events one Badger transaction of Rebuild
// takes (a transaction has a size limit). Commit sizes its chunks by bytes
// (chunkLen).
const maxChunk = 512

// writer is the working state of one write: the memdb write transaction,
// the Badger transaction, and copies of what it changes.
type writer struct {
	s     *Store
	txn   *memdb.Txn
	btx   *badger.Txn
	meta  Meta
	rows  map[string]*work
	order []string // touched ids, in first-touch order
	// noOutbox: the outbox was empty when the canonical events began, so
	// none of them answers a record (canonical only removes records).
	noOutbox bool
	// now is the store's clock when the write began (Unix ms): rows show
	// their summary at it (Summary.at).
	now int64
	// cnt is the counts table's object, copied on the first change (nil
	// until then); old is the one memdb holds.
	cnt, oldCnt *counts
}

// work is a touched conversation: a copy of its row, its decoded canonical
// state, and whether that changed.
type work struct {
	row   *Row
	canon *conv.Conversation
	hist  history // the canonical state's (Summary.history)
	dirty bool
	// items are the seqs of the timeline items this write adds, written
	// as one run at the end (writeItems); above, when it is not 0, is the
	// conversation's LastItemSeq at first touch: no stored item is above it.
	items []uint64
	above uint64
}

// write is the one shape of a store write (CONVENTIONS): a memdb write
// transaction, fn's work through a writer inside one Badger transaction, and
// the memdb commit only once Badger has the data. fn returning errNothing
// aborts both and is no error. The caller holds enter().
func (s *Store) write(fn func(w *writer) error) error {
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	err := s.db.Update(func(btx *badger.Txn) error {
		w, err := s.newWriter(txn, btx)
		if err != nil {
			return err
		}
		return fn(w)
	})
	if errors.Is(err, errNothing) {
		return nil
	}
	if err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func (s *Store) newWriter(txn *memdb.Txn, btx *badger.Txn) (*writer, error) {
	m, err := txn.First(tableMeta, indexID, "m")
	if err != nil {
		return nil, err
	}
	c, err := txn.First(tableCounts, indexID, "n")
	if err != nil {
		return nil, err
	}
	w := &writer{s: s, txn: txn, btx: btx, meta: *m.(*Meta), rows: map[string]*work{}, now: s.clock()}
	if c != nil {
		w.oldCnt = c.(*counts)
	}
	return w, nil
}

// count returns the counts this write changes, copying memdb's first.
func (w *writer) count() *counts {
	if w.cnt == nil {
		w.cnt = &counts{m: map[countKey]tally{}}
		if w.oldCnt != nil {
			for k, v := range w.oldCnt.m {
				w.cnt.m[k] = v
			}
		}
	}
	return w.cnt
}

// saveCounts puts the counts this write changed into memdb.
func (w *writer) saveCounts() error {
	if w.cnt == nil {
		return nil
	}
	if err := w.txn.Insert(tableCounts, w.cnt); err != nil {
		return err
	}
	w.oldCnt, w.cnt = w.cnt, nil
	return nil
}

// work returns conversation id's working copy, copying its row from memdb
// on first touch (memdb's object is never changed).
func (w *writer) work(id string) (*work, error) {
	if wk, ok := w.rows[id]; ok {
		return wk, nil
	}
	wk := &work{}
	o, err := w.txn.First(tableConvs, indexID, id)
	if err != nil {
		return nil, err
	}
	if o != nil {
		wk.row = o.(*Row).clone()
		wk.canon = wk.row.Canon()
		if wk.canon != nil {
			wk.above = wk.canon.LastItemSeq
			wk.hist = wk.row.canon.sum.history()
		}
	} else {
		wk.row = &Row{ID: id}
	}
	w.rows[id] = wk
	w.order = append(w.order, id)
	return wk, nil
}

// touch marks conversation id for a rebase at the end of the write.
func (w *writer) touch(id string) error {
	_, err := w.work(id)
	return err
}

// canonical applies one canonical event: log it (unless relog is false, as
// in Rebuild), apply it to its conversation, and drop the outbox record it
// answers. An event the store holds already is skipped: the relay may send
// one twice after a reconnect.
func (w *writer) canonical(e conv.Event, relog bool) error {
	if e.Conv == "" || len(e.Conv) > 255 {
		w.s.log.Warn("store: canonical event without a usable conversation id", "seq", e.Seq, "id", e.ID)
		return w.logEvent(e, relog)
	}
	wk, err := w.work(e.Conv)
	if err != nil {
		return err
	}
	if relog {
		if wk.canon != nil && e.Seq <= wk.canon.LastSeq {
			return nil // held already: at or below the last seq of its conversation
		}
		if e.Seq <= w.meta.Seq { // below the cursor: new history, or a duplicate?
			if _, err := w.btx.Get(logKey(e.Seq)); err == nil {
				return nil
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
	}
	if err := w.logEvent(e, relog); err != nil {
		return err
	}
	next, h, unread, changed, err := canonStep(w.s.me, w.s.log, w, wk.canon, wk.hist, wk.row.CanonUnread, e)
	if err != nil {
		return err
	}
	if changed {
		wk.canon, wk.hist, wk.row.CanonUnread, wk.dirty = next, h, unread, true
	}
	if w.noOutbox {
		return nil
	}
	if o, err := w.txn.First(tablePending, indexID, e.ID); err != nil {
		return err
	} else if o != nil {
		if err := w.removePending(o.(*Pending)); err != nil {
			return err
		}
	}
	return nil
}

// item adds canonical event e, applied to its conversation, to its
// timeline (items).
func (w *writer) item(e conv.Event) error {
	wk, err := w.work(e.Conv)
	if err != nil {
		return err
	}
	wk.items = append(wk.items, e.Seq)
	return nil
}

// countUnread counts c's unread items above mark, those this write adds
// included (items). Until finish writes them, the write holds no timeline
// writes, so the stored items are scanned in a read transaction (the
// store's writes are serialized: it sees what btx sees).
func (w *writer) countUnread(c *conv.Conversation, mark uint64) (int, error) {
	var pending []uint64
	if wk, ok := w.rows[c.ID]; ok {
		pending = wk.items
	}
	rtx := w.s.db.NewTransaction(false)
	defer rtx.Discard()
	return countUnread(w.btx, rtx, w.s.me, c, mark, pending)
}

// writeItems writes the timeline items this write adds, one run for each
// conversation. Runs of a conversation never overlap (keys.go): items
// above every stored one make a run of their own. That is every canonical
// write (a conversation has no stored items before its canonical state
// exists, and canonical skips an event at or below its conversation's
// last seq); items among stored ones would be merged with the runs they
// overlap.
func (w *writer) writeItems() error {
	var merge []string
	for _, id := range w.order {
		wk := w.rows[id]
		if len(wk.items) == 0 {
			continue
		}
		if !slices.IsSorted(wk.items) {
			slices.Sort(wk.items)
			wk.items = slices.Compact(wk.items)
		}
		if wk.items[0] <= wk.above {
			merge = append(merge, id)
			continue
		}
		if err := w.putRun(id, wk.items); err != nil {
			return err
		}
		wk.items = nil
	}
	if len(merge) == 0 {
		return nil
	}
	// One iterator for all: each one in a write transaction sorts its
	// pending writes.
	type overlap struct {
		seqs []uint64
		gone [][]byte
	}
	found := make([]overlap, len(merge))
	it := w.btx.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixTimeline}, Reverse: true})
	for i, id := range merge {
		items := w.rows[id].items
		prefix, err := itemPrefix(id)
		if err != nil {
			it.Close()
			return err
		}
		seek, _ := itemKey(id, items[len(items)-1])
		var run []uint64
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			item := it.Item()
			err := item.Value(func(v []byte) error {
				var err error
				run, _, err = itemRun(run[:0], seqOfItemKey(item.Key()), v)
				return err
			})
			if err != nil {
				it.Close()
				return err
			}
			if run[len(run)-1] < items[0] {
				break // below the new items, and so are the runs after it
			}
			found[i].seqs = append(found[i].seqs, run...)
			found[i].gone = append(found[i].gone, item.KeyCopy(nil))
		}
	}
	it.Close()
	for i, id := range merge {
		wk := w.rows[id]
		for _, k := range found[i].gone {
			if err := w.btx.Delete(k); err != nil {
				return fmt.Errorf("store: merge items of %s: %w", id, err)
			}
		}
		seqs := append(found[i].seqs, wk.items...)
		slices.Sort(seqs)
		if err := w.putRun(id, slices.Compact(seqs)); err != nil {
			return err
		}
		wk.items = nil
	}
	return nil
}

// putRun writes conversation id's run of items at seqs (ascending).
func (w *writer) putRun(id string, seqs []uint64) error {
	k, err := itemKey(id, seqs[0])
	if err != nil {
		return err
	}
	if err := w.btx.Set(k, appendRun(nil, seqs)); err != nil {
		return fmt.Errorf("store: put items of %s: %w", id, err)
	}
	return nil
}

// logEvent logs e unless relog is false.
func (w *writer) logEvent(e conv.Event, relog bool) error {
	if !relog {
		return nil
	}
	// One allocation for the key and the value.
	b := make([]byte, 9, 9+eventLen(e))
	b[0] = prefixLog
	binary.BigEndian.PutUint64(b[1:], e.Seq)
	if err := w.btx.Set(b[:9:9], encodeEvent(b[9:], e)); err != nil {
		return fmt.Errorf("store: log %d: %w", e.Seq, err)
	}
	return nil
}

func (w *writer) putPending(p *Pending) error {
	if err := w.btx.Set(pendingKey(p.Event.Mid), encodePending(p)); err != nil {
		return fmt.Errorf("store: put outbox %d: %w", p.Event.Mid, err)
	}
	if err := insertPending(w.txn, p); err != nil {
		return err
	}
	return w.touch(p.Event.Conv)
}

func (w *writer) removePending(p *Pending) error {
	if err := w.btx.Delete(pendingKey(p.Event.Mid)); err != nil {
		return fmt.Errorf("store: delete outbox %d: %w", p.Event.Mid, err)
	}
	if err := deletePending(w.txn, p); err != nil {
		return err
	}
	return w.touch(p.Event.Conv)
}

// outbox returns the records of the outbox (as this write has left it) of
// the touched conversations, in mid order.
func (w *writer) outbox() (map[string][]*Pending, error) {
	it, err := w.txn.Get(tableOutbox, indexID+"_prefix", "")
	if err != nil {
		return nil, err
	}
	out := map[string][]*Pending{}
	for o := it.Next(); o != nil; o = it.Next() {
		p := o.(*entry).pending()
		if _, ok := w.rows[p.Event.Conv]; ok {
			out[p.Event.Conv] = append(out[p.Event.Conv], p)
		}
	}
	return out, nil
}

// finish persists the canonical states that changed, rebases every touched
// row, updates memdb's rows and index entries, and writes the meta if it
// changed (always when a row's canonical state did: its gen moves).
func (w *writer) finish(metaChanged bool) error {
	if err := w.writeItems(); err != nil {
		return err
	}
	if len(w.rows) > 0 {
		recs, err := w.outbox()
		if err != nil {
			return err
		}
		for _, id := range w.order {
			wk := w.rows[id]
			r := wk.row
			if wk.dirty {
				metaChanged = true
				if wk.canon != nil {
					r.canon = newCanonical(wk.canon, wk.hist)
					err = w.btx.Set(convKey(id), encodeRow(r.CanonUnread, r.canon))
				} else {
					r.canon = nil
					err = w.btx.Delete(convKey(id))
				}
				if err != nil {
					return fmt.Errorf("store: put conversation %s: %w", id, err)
				}
			}
			if err := w.s.rebase(w.btx, r, recs[id], w.now); err != nil {
				return err
			}
			if err := w.putRow(r); err != nil {
				return err
			}
		}
		for _, wk := range w.rows {
			if wk.dirty {
				w.meta.Gen++
				break
			}
		}
	}
	if metaChanged {
		mv := metaValue{Epoch: w.meta.Epoch, Seq: w.meta.Seq, Mid: w.meta.Mid, Gen: w.meta.Gen, Me: w.s.me.ID}
		if err := w.btx.Set(metaKey, encodeMeta(mv)); err != nil {
			return fmt.Errorf("store: put meta: %w", err)
		}
	}
	return w.saveMeta()
}

// saveMeta puts the meta (and the counts) this write changed into memdb.
func (w *writer) saveMeta() error {
	if err := w.saveCounts(); err != nil {
		return err
	}
	if old, err := w.txn.First(tableMeta, indexID, "m"); err == nil && old != nil && *old.(*Meta) == w.meta {
		return nil // unchanged: do not wake those who watch it
	}
	m := w.meta
	return w.txn.Insert(tableMeta, &m)
}

// putRow replaces r's row and index entries in memdb, and counts it.
func (w *writer) putRow(r *Row) error {
	o, err := w.txn.First(tableConvs, indexID, r.ID)
	if err != nil {
		return err
	}
	gone := r.canon == nil && !r.hasView() && len(r.Overlay) == 0
	if o != nil {
		old := o.(*Row)
		if err := w.unindex(old); err != nil {
			return err
		}
		if gone {
			return w.txn.Delete(tableConvs, old)
		}
	} else if gone {
		return nil
	}
	if err := w.txn.Insert(tableConvs, r); err != nil {
		return err
	}
	return w.index(r)
}

// index inserts r's entries in the inbox tables and counts it.
func (w *writer) index(r *Row) error {
	if !r.hasView() {
		return nil
	}
	k := inboxKey(r)
	e := &entry{key: k, obj: r}
	if err := w.txn.Insert(tableInbox, e); err != nil {
		return err
	}
	if r.Unread > 0 {
		if err := w.txn.Insert(tableUnread, e); err != nil {
			return err
		}
		w.meta.TotalUnread += r.humanUnread()
	}
	if r.Sum.Asleep() {
		if err := w.txn.Insert(tableSnoozed, &entry{key: snoozedKey(r), obj: r}); err != nil {
			return err
		}
	}
	if w.s.contacts.Load() {
		if ck := contactKey(r); ck != nil {
			if err := w.txn.Insert(tableContact, &entry{key: ck, obj: r}); err != nil {
				return err
			}
		}
	}
	w.count().add(r, 1)
	return nil
}

// unindex deletes r's entries from the inbox tables and uncounts it.
func (w *writer) unindex(r *Row) error {
	if !r.hasView() {
		return nil
	}
	k := inboxKey(r)
	if err := w.txn.Delete(tableInbox, &entry{key: k}); err != nil {
		return fmt.Errorf("store: unindex %s: %w", r.ID, err)
	}
	if r.Unread > 0 {
		if err := w.txn.Delete(tableUnread, &entry{key: k}); err != nil {
			return fmt.Errorf("store: unindex unread %s: %w", r.ID, err)
		}
		w.meta.TotalUnread -= r.humanUnread()
	}
	if r.Sum.Asleep() {
		if err := w.txn.Delete(tableSnoozed, &entry{key: snoozedKey(r)}); err != nil {
			return fmt.Errorf("store: unindex snoozed %s: %w", r.ID, err)
		}
	}
	if w.s.contacts.Load() {
		if ck := contactKey(r); ck != nil {
			if err := w.txn.Delete(tableContact, &entry{key: ck}); err != nil && !errors.Is(err, memdb.ErrNotFound) {
				return fmt.Errorf("store: unindex contact %s: %w", r.ID, err)
			}
		}
	}
	w.count().add(r, -1)
	return nil
}

// AddLocal stores events made on this device as pending, in order: it gives
// each the next mid and the cursor seq as base, validates it with conv.Apply
// against the optimistic view (the previous drafts included), and rebases.
// If any draft is rejected, it returns that *conv.Error and stores nothing.
// A draft that would change nothing is skipped. It returns the stored
// events; they are on disk when it returns.
func (s *Store) AddLocal(drafts []conv.Event) ([]conv.Event, error) {
	leave, err := s.enter()
	if err != nil {
		return nil, err
	}
	defer leave()
	var stored []conv.Event
	err = s.write(func(w *writer) error {
		var err error
		stored, err = w.addLocal(drafts)
		return err
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// AddLocalEach is AddLocal for drafts that stand alone (one action on each
// of several conversations, at most one draft a conversation: each is
// validated against its conversation's view before this write): the drafts that apply are stored, in one
// durable write, and each rejected one leaves its *conv.Error in errs (at
// its index) and stores nothing of its own. It returns the stored events.
func (s *Store) AddLocalEach(drafts []conv.Event) (stored []conv.Event, errs []error, err error) {
	leave, err := s.enter()
	if err != nil {
		return nil, nil, err
	}
	defer leave()
	errs = make([]error, len(drafts))
	err = s.write(func(w *writer) error {
		stored = stored[:0]
		for i, d := range drafts {
			e, err := w.addLocal1(d)
			var ce *conv.Error
			switch {
			case errors.As(err, &ce):
				errs[i] = ce
			case err != nil:
				return err
			case e != nil:
				stored = append(stored, *e)
			}
		}
		if len(stored) == 0 {
			return errNothing
		}
		return w.finish(true)
	})
	if err != nil {
		return nil, nil, err
	}
	return stored, errs, nil
}

// addLocal1 validates draft d against its conversation's optimistic view
// (as it was before this write) and stores it as pending; it returns nil for a
// draft that would change nothing.
func (w *writer) addLocal1(d conv.Event) (*conv.Event, error) {
	var view *conv.Conversation
	if o, err := w.txn.First(tableConvs, indexID, d.Conv); err != nil {
		return nil, err
	} else if o != nil && !o.(*Row).Placeholder {
		view = o.(*Row).View()
	}
	if o, err := w.txn.First(tablePending, indexID, d.ID); err != nil {
		return nil, err
	} else if o != nil {
		return nil, &conv.Error{Code: conv.CodeConflict, Message: fmt.Sprintf("event %s is already in the outbox", d.ID)}
	}
	d.Seq, d.Base, d.Mid = 0, w.meta.Seq, w.meta.Mid+1
	_, evs, err := conv.Apply(view, d, conv.Env{Schema: w.s.schema})
	if err != nil || len(evs) == 0 {
		return nil, err
	}
	w.meta.Mid++
	if err := w.putPending(&Pending{Event: d, State: StatePending}); err != nil {
		return nil, err
	}
	return &d, nil
}

func (w *writer) addLocal(drafts []conv.Event) ([]conv.Event, error) {
	s := w.s
	views := map[string]*conv.Conversation{}
	var stored []conv.Event
	for _, d := range drafts {
		view, ok := views[d.Conv]
		if !ok {
			if o, err := w.txn.First(tableConvs, indexID, d.Conv); err != nil {
				return nil, err
			} else if o != nil && !o.(*Row).Placeholder {
				view = o.(*Row).View()
			}
		}
		// An id already in the outbox would leave its two orders (by id,
		// by mid) out of step: the second event is refused.
		if o, err := w.txn.First(tablePending, indexID, d.ID); err != nil {
			return nil, err
		} else if o != nil {
			return nil, &conv.Error{Code: conv.CodeConflict, Message: fmt.Sprintf("event %s is already in the outbox", d.ID)}
		}
		d.Seq = 0
		d.Base = w.meta.Seq
		d.Mid = w.meta.Mid + 1
		next, evs, err := conv.Apply(view, d, conv.Env{Schema: s.schema})
		if err != nil {
			return nil, err
		}
		if len(evs) == 0 {
			continue
		}
		views[d.Conv] = next
		w.meta.Mid++
		if err := w.putPending(&Pending{Event: d, State: StatePending}); err != nil {
			return nil, err
		}
		stored = append(stored, d)
	}
	if len(stored) == 0 {
		return nil, nil
	}
	return stored, w.finish(true)
}

// ApplyCanonical stores canonical events, moves the cursor to (epoch, upTo)
// — or to the highest event's seq if that is higher —, drops the outbox
// records whose events came back canonical, and rebases. Events come in log
// order; one the store holds already (a seq at or below the last one of its
// conversation, or a seq already in the log) is skipped, and one below the
// cursor that it does not hold (a conversation's history sent when it
// becomes visible to this device) is kept. Events of another epoch than the
// stored one are refused (ErrEpoch): Reset first. It is durable when it
// returns; a batch too long for one Badger transaction is written in
// chunks, each durable with its cursor.
func (s *Store) ApplyCanonical(epoch string, events []conv.Event, upTo uint64) error {
	return s.Commit(epoch, events, upTo, nil)
}

// Acknowledged records pushed events' outcomes: seq > 0 marks the event sent
// (or drops it if the cursor is already past that seq: its canonical copy
// has been applied or is not coming), seq 0 drops it, an error marks it
// failed. A rejected seen.marked is dropped: there is nothing to retry. An
// outcome for an id not in the outbox is ignored.
func (s *Store) Acknowledged(outcomes []Outcome) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.write(func(w *writer) error {
		if err := w.acknowledgedTxn(outcomes); err != nil {
			return err
		}
		return w.finish(false)
	})
}

func (w *writer) acknowledgedTxn(outcomes []Outcome) error {
	for _, o := range outcomes {
		obj, err := w.txn.First(tablePending, indexID, o.ID)
		if err != nil {
			return err
		}
		if obj == nil {
			continue
		}
		p := obj.(*Pending)
		switch conv.Settle(p.Event.Kind, o, w.meta.Seq) {
		case conv.SettleDrop:
			err = w.removePending(p)
		case conv.SettleFailed:
			e := *o.Err
			err = w.putPending(&Pending{Event: p.Event, State: StateFailed, Err: &e})
		default:
			err = w.putPending(&Pending{Event: p.Event, State: StateSent, Seq: o.Seq})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Commit is ApplyCanonical and Acknowledged in one durable write: the local
// sequencer (no relay) logs events and answers its outbox at once.
func (s *Store) Commit(epoch string, events []conv.Event, upTo uint64, outcomes []Outcome) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	limit := len(events) // the most events a chunk may take: lowered when one is too big
	for {
		n := s.chunkLen(events, limit)
		last := n == len(events)
		chunk := events[:n]
		to := upTo
		if !last {
			to = chunk[len(chunk)-1].Seq
		}
		var outs []Outcome
		if last {
			outs = outcomes
		}
		err := s.commitChunk(epoch, chunk, to, outs)
		if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
			// Nothing of this chunk was written (the Badger transaction
			// and the memdb one were discarded): try half of it.
			limit = n / 2
			continue
		}
		if err != nil {
			return err
		}
		if last {
			return nil
		}
		events = events[n:]
	}
}

// chunkLen is how many of events (at most limit, at least one) the next
// chunk of Commit takes: as many as fit in one Badger transaction, so that
// a catch-up page is usually one synced commit. Each event is written once,
// as its log entry, plus at most a run of timeline items of its own (one
// per conversation and write: counted here as one per item), and each
// conversation's row once; sizes are counted as Badger counts them (key,
// value, and 12 bytes an entry; a row as a typical one), and a quarter of
// the transaction is left for larger rows, the outbox and the meta. A chunk that is too big anyway fails with
// badger.ErrTxnTooBig before anything is written, and Commit retries it
// halved.
func (s *Store) chunkLen(events []conv.Event, limit int) int {
	const (
		overhead = 12  // Badger's per entry: metas and the key's version
		row      = 512 // a conversation row, typically (convKey, encodeRow)
	)
	budget := s.db.MaxBatchSize() * 3 / 4
	count := s.db.MaxBatchCount() * 3 / 4
	n := 0
	var size, entries int64
	convs := map[string]bool{}
	for n < len(events) && n < limit {
		e := &events[n]
		sz := int64(1+8+eventLen(*e)) + overhead // logKey, the event
		ents := int64(1)
		if conv.IsTimelineItem(e.Kind) {
			sz += int64(2+len(e.Conv)+8+binary.MaxVarintLen64) + overhead // itemKey, its seq in a run
			ents++
		}
		if !convs[e.Conv] {
			sz += int64(1+len(e.Conv)+row) + overhead
			ents++
		}
		if n > 0 && (size+sz > budget || entries+ents > count) {
			break
		}
		size += sz
		entries += ents
		convs[e.Conv] = true
		n++
	}
	return max(n, min(len(events), 1))
}

func (s *Store) commitChunk(epoch string, events []conv.Event, upTo uint64, outcomes []Outcome) error {
	return s.write(func(w *writer) error { return w.commit(epoch, events, upTo, outcomes) })
}

func (w *writer) commit(epoch string, events []conv.Event, upTo uint64, outcomes []Outcome) error {
	if cur := w.meta.Epoch; cur != "" && cur != epoch {
		return fmt.Errorf("%w: events of epoch %q on a store of epoch %q (Reset first)", ErrEpoch, epoch, cur)
	}
	before := w.meta
	if w.meta.Epoch == "" {
		w.meta.Epoch = epoch
	}
	first, err := w.txn.First(tableOutbox, indexID+"_prefix", "")
	if err != nil {
		return err
	}
	w.noOutbox = first == nil
	for _, e := range events {
		if err := w.canonical(e, true); err != nil {
			return err
		}
		w.meta.Seq = max(w.meta.Seq, e.Seq)
	}
	w.noOutbox = false
	w.meta.Seq = max(w.meta.Seq, upTo)
	if err := w.acknowledgedTxn(outcomes); err != nil {
		return err
	}
	// Sent events whose seq the cursor has passed without their copy
	// arriving are logged but not for this device: drop them.
	if w.meta.Seq > before.Seq {
		it, err := w.txn.Get(tableOutbox, indexID+"_prefix", "")
		if err != nil {
			return err
		}
		var gone []*Pending
		for o := it.Next(); o != nil; o = it.Next() {
			if p := o.(*entry).pending(); p.State == StateSent && p.Seq <= w.meta.Seq {
				gone = append(gone, p)
			}
		}
		for _, p := range gone {
			if err := w.removePending(p); err != nil {
				return err
			}
		}
	}
	return w.finish(w.meta.Epoch != before.Epoch || w.meta.Seq != before.Seq)
}

// Retry makes a fresh event from a failed one — the same kind, conversation
// and data, with the new id newID, the next mid, the cursor as base and at as
// its time — validates it against the optimistic view and stores it as
// pending in place of the failed one, in one durable write. A rejection
// returns the *conv.Error and changes nothing; a retry that would now change
// nothing just drops the failed event (and returns a zero Event).
func (s *Store) Retry(id, newID string, at int64) (conv.Event, error) {
	leave, err := s.enter()
	if err != nil {
		return conv.Event{}, err
	}
	defer leave()
	var out conv.Event
	err = s.write(func(w *writer) error {
		var err error
		out, err = w.retry(id, newID, at)
		return err
	})
	if err != nil {
		return conv.Event{}, err
	}
	return out, nil
}

func (w *writer) retry(id, newID string, at int64) (conv.Event, error) {
	s := w.s
	obj, err := w.txn.First(tablePending, indexID, id)
	if err != nil {
		return conv.Event{}, err
	}
	if obj == nil {
		return conv.Event{}, ErrNotFound
	}
	p := obj.(*Pending)
	if p.State != StateFailed {
		return conv.Event{}, ErrNotFailed
	}
	var view *conv.Conversation
	if o, err := w.txn.First(tableConvs, indexID, p.Event.Conv); err != nil {
		return conv.Event{}, err
	} else if o != nil && !o.(*Row).Placeholder {
		view = o.(*Row).View()
	}
	e := p.Event
	e.ID, e.At, e.Seq, e.Base, e.Mid = newID, at, 0, w.meta.Seq, w.meta.Mid+1
	_, evs, err := conv.Apply(view, e, conv.Env{Schema: s.schema})
	if err != nil {
		return conv.Event{}, err
	}
	if err := w.removePending(p); err != nil {
		return conv.Event{}, err
	}
	if len(evs) > 0 {
		w.meta.Mid++
		if err := w.putPending(&Pending{Event: e, State: StatePending}); err != nil {
			return conv.Event{}, err
		}
	} else {
		e = conv.Event{}
	}
	return e, w.finish(true)
}

// Discard drops a failed event for good.
func (s *Store) Discard(id string) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.write(func(w *writer) error {
		obj, err := w.txn.First(tablePending, indexID, id)
		if err != nil {
			return err
		}
		if obj == nil {
			return ErrNotFound
		}
		if obj.(*Pending).State != StateFailed {
			return ErrNotFailed
		}
		if err := w.removePending(obj.(*Pending)); err != nil {
			return err
		}
		return w.finish(false)
	})
}

// Reset drops all canonical state (the log, the timeline items, the
// conversation rows) because the relay's log changed epoch, and moves the
// cursor to (epoch, 0). The outbox stays: sent events go back to pending, to
// be pushed again; failed ones stay failed. An interrupted Reset is finished
// when the store opens.
func (s *Store) Reset(epoch string) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	if err := s.resetTxn(txn, epoch); err != nil {
		return err
	}
	txn.Commit()
	return nil
}

func (s *Store) resetTxn(txn *memdb.Txn, epoch string) error {
	m, err := txn.First(tableMeta, indexID, "m")
	if err != nil {
		return err
	}
	meta := *m.(*Meta)
	it, err := txn.Get(tableOutbox, indexID+"_prefix", "")
	if err != nil {
		return err
	}
	var recs []*Pending
	for o := it.Next(); o != nil; o = it.Next() {
		recs = append(recs, o.(*entry).pending())
	}
	// 1. Say a reset is under way, with the new cursor and the outbox.
	mark := metaValue{Epoch: epoch, Seq: 0, Mid: meta.Mid, Gen: meta.Gen + 1, Flags: flagResetting, Me: s.me.ID}
	err = s.db.Update(func(btx *badger.Txn) error {
		for _, p := range recs {
			if p.State == StateSent {
				q := &Pending{Event: p.Event, State: StatePending}
				if err := btx.Set(pendingKey(q.Event.Mid), encodePending(q)); err != nil {
					return err
				}
			}
		}
		return btx.Set(metaKey, encodeMeta(mark))
	})
	if err != nil {
		return fmt.Errorf("store: reset: %w", err)
	}
	// 2. Drop the canonical tables (the writer lock is held: nothing
	// writes meanwhile).
	s.removeSnapshot()
	if err := s.db.DropPrefix([]byte{prefixLog}, []byte{prefixTimeline}, []byte{prefixConv}); err != nil {
		return fmt.Errorf("store: reset: %w", err)
	}
	// 3. Done; rebuild memdb from the outbox alone.
	mark.Flags = 0
	return s.db.Update(func(btx *badger.Txn) error {
		if err := btx.Set(metaKey, encodeMeta(mark)); err != nil {
			return err
		}
		for _, t := range []string{tableConvs, tableInbox, tableUnread, tableSnoozed, tableContact, tablePending, tableOutbox} {
			if _, err := txn.DeleteAll(t, indexID+"_prefix", ""); err != nil {
				return err
			}
		}
		w := &writer{s: s, txn: txn, btx: btx, meta: Meta{Epoch: epoch, Mid: meta.Mid, Gen: mark.Gen}, rows: map[string]*work{}, now: s.clock()}
		w.cnt = &counts{m: map[countKey]tally{}} // every row is gone
		for _, p := range recs {
			q := p
			if p.State == StateSent {
				q = &Pending{Event: p.Event, State: StatePending}
			}
			if err := insertPending(txn, q); err != nil {
				return err
			}
			if err := w.touch(q.Event.Conv); err != nil {
				return err
			}
		}
		return w.finish(false)
	})
}

// meta returns the current meta, adding its watch channel to ws.
func (s *Store) meta(ws memdb.WatchSet) *Meta {
	txn := s.mdb.Txn(false)
	ch, m, err := txn.FirstWatch(tableMeta, indexID, "m")
	if err != nil || m == nil {
		return &Meta{}
	}
	ws.Add(ch)
	return m.(*Meta)
}

// AdvanceMid moves the mid counter to at least lastMid, so that the next
// local event's mid is above every mid the relay has processed for this
// device (a store recreated under an old device id would reuse them).
func (s *Store) AdvanceMid(lastMid uint64) error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	return s.write(func(w *writer) error {
		if w.meta.Mid >= lastMid {
			return errNothing
		}
		w.meta.Mid = lastMid
		return w.finish(true)
	})
}

// errNothing aborts a write that has nothing to do.
var errNothing = errors.New("store: nothing to write")
