package store

import (
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/threadline/threadline/backend/conv"
)

// Rebuild derives everything again from the canonical log and the outbox:
// it drops the conversation rows and timeline items, replays the log through
// the same rules incremental writes use, and rebases the outbox. The memdb
// write transaction (the writer lock) is held throughout, so readers see the
// old state until the new one is complete. An interrupted Rebuild runs again
// when the store opens.
func (s *Store) Rebuild() error {
	leave, err := s.enter()
	if err != nil {
		return err
	}
	defer leave()
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	m, err := txn.First(tableMeta, indexID, "m")
	if err != nil {
		return err
	}
	meta := *m.(*Meta)
	meta.Gen++
	mv := metaValue{Epoch: meta.Epoch, Seq: meta.Seq, Mid: meta.Mid, Gen: meta.Gen, Me: s.me.ID}

	mv.Flags = flagRebuilding
	if err := s.db.Update(func(btx *badger.Txn) error { return btx.Set(metaKey, encodeMeta(mv)) }); err != nil {
		return fmt.Errorf("store: rebuild: %w", err)
	}
	s.removeSnapshot()
	if err := s.db.DropPrefix([]byte{prefixTimeline}, []byte{prefixConv}); err != nil {
		return fmt.Errorf("store: rebuild: %w", err)
	}
	for _, t := range []string{tableConvs, tableInbox, tableUnread, tableSnoozed, tableContact} {
		if _, err := txn.DeleteAll(t, indexID+"_prefix", ""); err != nil {
			return err
		}
	}
	meta.TotalUnread = 0
	if err := txn.Insert(tableMeta, &meta); err != nil {
		return err
	}
	if err := txn.Insert(tableCounts, &counts{m: map[countKey]tally{}}); err != nil {
		return err
	}

	// Replay the log in chunks, each one Badger transaction.
	var chunk []conv.Event
	flush := func() error {
		err := s.db.Update(func(btx *badger.Txn) error {
			w, err := s.newWriter(txn, btx)
			if err != nil {
				return err
			}
			for _, e := range chunk {
				if err := w.canonical(e, false); err != nil {
					return err
				}
			}
			return w.finish(false)
		})
		chunk = chunk[:0]
		return err
	}
	var ferr error
	err = s.scanLog(0, func(e conv.Event) bool {
		chunk = append(chunk, e)
		if len(chunk) == maxChunk {
			ferr = flush()
		}
		return ferr == nil
	})
	if err = errors.Join(err, ferr); err != nil {
		return fmt.Errorf("store: rebuild: %w", err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("store: rebuild: %w", err)
	}

	// Rebase every conversation with outbox records, and say it is done.
	err = s.db.Update(func(btx *badger.Txn) error {
		w, err := s.newWriter(txn, btx)
		if err != nil {
			return err
		}
		it, err := txn.Get(tableOutbox, indexID+"_prefix", "")
		if err != nil {
			return err
		}
		for o := it.Next(); o != nil; o = it.Next() {
			if err := w.touch(o.(*entry).pending().Event.Conv); err != nil {
				return err
			}
		}
		return w.finish(true) // rewrites the meta without the flag
	})
	if err != nil {
		return fmt.Errorf("store: rebuild: %w", err)
	}
	txn.Commit()
	return nil
}
