package eventlog

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"

	"github.com/threadline/threadline/backend/conv"
)

// The changed index ('c' keys, see keys.go) lists a workspace's
// conversations by the seq of their latest event: one key per conversation,
// moved on each commit that changes it. Log.Conversations reads it to
// answer "what changed since this cursor" in pages, without scanning the
// log. It is derived from the states, so Open rebuilds it when it is absent
// (a log written before it existed).

// changedFormat is the index's format, kept at changedFormatKey.
const changedFormat = 1

// indexChanged moves each conversation of states (their new states, not yet
// written) to its new latest seq. Called before the states are written: on a
// cache miss the old position is read from the stored state.
func indexChanged(w *logWriter, ws string, states []*conv.Conversation) error {
	for _, c := range states {
		sk := string(stateKey(ws, c.ID))
		old, err := w.lastSeq(sk)
		if err != nil {
			return fmt.Errorf("eventlog: changed index of %s: %w", c.ID, err)
		}
		if old == c.LastSeq {
			continue
		}
		if old > 0 {
			if err := w.delete(changedKey(ws, old, c.ID)); err != nil {
				return fmt.Errorf("eventlog: changed index of %s: %w", c.ID, err)
			}
		}
		if err := w.set(changedKey(ws, c.LastSeq, c.ID), []byte{}); err != nil {
			return fmt.Errorf("eventlog: changed index of %s: %w", c.ID, err)
		}
		w.lasts[sk] = c.LastSeq
	}
	return nil
}

// lastSeq returns the latest seq of the conversation stored at state key
// sk as this write left it: written earlier in it, cached, or stored (0 for
// a new conversation).
func (w *logWriter) lastSeq(sk string) (uint64, error) {
	if s, ok := w.lasts[sk]; ok {
		return s, nil
	}
	if s, ok := w.l.lasts.Get(sk); ok {
		return s, nil
	}
	item, err := w.txn.Get([]byte(sk))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var st struct {
		LastSeq uint64 `json:"lastSeq"`
	}
	if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &st) }); err != nil {
		return 0, err
	}
	return st.LastSeq, nil
}

// rebuildChunk is how many index writes one rebuild transaction makes.
const rebuildChunk = 10_000

// ensureChangedIndex builds ws's changed index from its states unless its
// format key says it is there: any index keys present are dropped first,
// then every state puts its conversation at its latest seq, then the format
// key is written. An interrupted rebuild is done again at the next Open.
func (l *Badger) ensureChangedIndex(ws string) error {
	var have bool
	err := l.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(changedFormatKey(ws))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		have = err == nil
		return err
	})
	if err != nil || have {
		return err
	}
	type op struct {
		key []byte
		del bool
	}
	var ops []op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		err := l.update(func(w *logWriter) error {
			for _, o := range ops {
				var err error
				if o.del {
					err = w.delete(o.key)
				} else {
					err = w.set(o.key, []byte{})
				}
				if err != nil {
					return err
				}
			}
			return nil
		}, nil)
		ops = ops[:0]
		return err
	}
	scan := func(prefix []byte, fn func(k, v []byte) error, values bool) error {
		return l.db.View(func(txn *badger.Txn) error {
			opts := badger.DefaultIteratorOptions
			opts.Prefix = prefix
			opts.PrefetchValues = values
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
				item := it.Item()
				k := item.KeyCopy(nil)
				var v []byte
				if values {
					var err error
					if v, err = item.ValueCopy(nil); err != nil {
						return err
					}
				}
				if err := fn(k, v); err != nil {
					return err
				}
				if len(ops) >= rebuildChunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	n := 0
	err = scan(changedPrefix(ws), func(k, _ []byte) error {
		ops = append(ops, op{key: k, del: true})
		return nil
	}, false)
	if err == nil {
		err = flush()
	}
	if err == nil {
		sp := newKey(tState, ws)
		err = scan(sp, func(k, v []byte) error {
			var st struct {
				LastSeq uint64 `json:"lastSeq"`
			}
			if err := json.Unmarshal(v, &st); err != nil {
				return fmt.Errorf("state %q: %w", k, err)
			}
			ops = append(ops, op{key: changedKey(ws, st.LastSeq, lastStr(k, sp))})
			n++
			return nil
		}, true)
	}
	if err == nil {
		err = flush()
	}
	if err == nil {
		err = l.update(func(w *logWriter) error { return w.set(changedFormatKey(ws), []byte{changedFormat}) }, nil)
	}
	if err != nil {
		return fmt.Errorf("eventlog: rebuild the changed index of %s: %w", ws, err)
	}
	if n > 0 {
		l.log.Info("rebuilt the changed index", "workspace", ws, "conversations", n)
	}
	return nil
}

// Conversations implements Log, in one read transaction.
func (l *Badger) Conversations(ws string, q ConversationQuery) ([]*conv.Conversation, bool, error) {
	limit := max(q.Limit, 1)
	if len(q.Owner) > 255 {
		return nil, false, nil
	}
	var out []*conv.Conversation
	err := l.db.View(func(txn *badger.Txn) error {
		get := func(id string) (*conv.Conversation, error) {
			item, err := txn.Get(stateKey(ws, id))
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			c := new(conv.Conversation)
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, c) }); err != nil {
				return nil, fmt.Errorf("eventlog: conversation %s: %w", id, err)
			}
			return c, nil
		}
		keep := func(c *conv.Conversation) bool {
			if c == nil || c.LastSeq <= q.After {
				return false
			}
			st := c.Status
			if q.Now != 0 {
				st = c.StatusAt(q.Now)
			}
			return q.Status == "" || st == q.Status
		}
		if q.Owner != "" {
			// A contact has few conversations: read them all, then order.
			p := ownerPrefix(ws, q.Owner)
			opts := badger.DefaultIteratorOptions
			opts.Prefix = p
			opts.PrefetchValues = false
			it := txn.NewIterator(opts)
			defer it.Close()
			for it.Rewind(); it.ValidForPrefix(p); it.Next() {
				c, err := get(lastStr(it.Item().Key(), p))
				if err != nil {
					return err
				}
				if keep(c) {
					out = append(out, c)
				}
			}
			slices.SortFunc(out, func(a, b *conv.Conversation) int { return cmp.Compare(a.LastSeq, b.LastSeq) })
			return nil
		}
		p := changedPrefix(ws)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		opts.PrefetchValues = false
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(newKey(tChanged, ws).u64(q.After + 1)); it.ValidForPrefix(p) && len(out) <= limit; it.Next() {
			k := it.Item().Key()
			if len(k) < len(p)+8 {
				return fmt.Errorf("eventlog: corrupt changed index key %q", k)
			}
			c, err := get(lastStr(k, k[:len(p)+8]))
			if err != nil {
				return err
			}
			if keep(c) {
				out = append(out, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	more := len(out) > limit
	return out[:min(len(out), limit)], more, nil
}
