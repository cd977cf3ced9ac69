package store

import (
	"encoding/binary"
	"time"

	memdb "github.com/hashicorp/go-memdb"
)

// A snoozed conversation wakes when its time passes (rule 6): every device
// shows it as open from then on, and no event is logged. The store keeps
// the rows asleep in the snoozed table, soonest first; Wake moves those
// whose time has passed to the open scope of their lane, in memdb only
// (what Badger holds is the log's status; opening shows it at the clock
// again), and NextWake says when the next one is due, so that a timer can
// call Wake then instead of polling.

// NextWake returns when the next snoozed conversation wakes, and false
// when none is asleep. ws fires when that may have changed.
func (s *Store) NextWake(ws memdb.WatchSet) (time.Time, bool) {
	it, err := s.mdb.Txn(false).Get(tableSnoozed, indexID+"_prefix", "")
	if err != nil {
		return time.Time{}, false
	}
	ws.Add(it.WatchCh())
	o := it.Next()
	if o == nil {
		return time.Time{}, false
	}
	k := o.(*entry).key
	return time.UnixMilli(int64(binary.BigEndian.Uint64(k[1:9]))), true
}

// Wake shows every snoozed conversation whose time has passed at the
// store's clock as open, and returns how many woke. Readers watching the
// rows, the inbox pages and the counts are woken.
func (s *Store) Wake() (int, error) {
	leave, err := s.enter()
	if err != nil {
		return 0, err
	}
	defer leave()
	txn := s.mdb.Txn(true)
	defer txn.Abort()
	w, err := s.newWriter(txn, nil)
	if err != nil {
		return 0, err
	}
	it, err := txn.Get(tableSnoozed, indexID+"_prefix", "")
	if err != nil {
		return 0, err
	}
	var due []*Row
	for o := it.Next(); o != nil; o = it.Next() {
		r := o.(*entry).row()
		if r.Sum.SnoozedUntil > w.now {
			break
		}
		due = append(due, r)
	}
	for _, r := range due {
		n := r.clone()
		n.Sum = n.Sum.at(w.now)
		if err := w.putRow(n); err != nil {
			return 0, err
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	if err := w.saveMeta(); err != nil {
		return 0, err
	}
	txn.Commit()
	return len(due), nil
}
