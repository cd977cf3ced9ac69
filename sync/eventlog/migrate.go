package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/sync/protocol"
)

// Migrate moves workspace ws's log from the embedded log to JetStream,
// keeping its epoch and every seq, so that devices carry on from their
// cursors without a full resync: the events (in atomic batches), the
// answers to mids that logged nothing, the visitor tokens, the aliases, and the cursors
// of the webhook endpoints named in hooks. The stream must be empty (or
// hold exactly this log already: then nothing is done and moved is 0). No
// relay may write to either log meanwhile.
func Migrate(from *Badger, to *JetStream, ws string, hooks []string) (moved uint64, err error) {
	epoch, head, err := from.Open(ws)
	if err != nil {
		return 0, err
	}
	s, err := to.space(ws)
	if err != nil {
		return 0, err
	}
	ctx, cancel := to.ctx()
	defer cancel()
	have, err := s.kv.Get(ctx, "epoch")
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		have = nil
	case err != nil:
		return 0, fmt.Errorf("eventlog: epoch of %s on JetStream: %w", ws, err)
	}
	if n := s.idx.headNow(); n > 0 {
		if have != nil && string(have.Value()) == epoch && n == head {
			return 0, nil // moved before
		}
		return 0, fmt.Errorf("eventlog: stream %s already holds %d events: a workspace is moved into an empty stream", StreamName(ws), n)
	}
	if _, err := s.kv.Put(ctx, "epoch", []byte(epoch)); err != nil {
		return 0, fmt.Errorf("eventlog: epoch of %s on JetStream: %w", ws, err)
	}

	who, side, err := from.exportSide(ws)
	if err != nil {
		return 0, err
	}
	var b Batch
	flush := func() error {
		if len(b.Events) == 0 {
			return nil
		}
		evs, err := decodeRaws(rawsOf(b.Events))
		if err != nil {
			return err
		}
		for i := range evs {
			b.Events[i].Event = evs[i]
			// Answers by an identity other than the actor (an API key
			// acting as the contact) keep their identity.
			if id := who[evs[i].Seq]; id != "" && id != evs[i].Actor.ID {
				b.Results = append(b.Results, MidResult{Identity: id, Device: evs[i].Device, Mid: evs[i].Mid, Result: protocol.Result{ID: evs[i].ID, Seq: evs[i].Seq}})
			}
		}
		b.Head = moved
		if err := <-s.startAppend(&b); err != nil {
			return err
		}
		moved += uint64(len(b.Events))
		b = Batch{}
		return nil
	}
	err = from.Scan(ws, 1, head, func(seq uint64, raw []byte) error {
		b.Events = append(b.Events, Record{JSON: raw})
		if len(b.Events) == MaxAtomicBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return moved, fmt.Errorf("eventlog: move the events of %s: %w", ws, err)
	}
	side.Head = moved
	if err := <-s.startAppend(&side); err != nil {
		return moved, err
	}
	for _, h := range hooks {
		c, ok, err := from.WebhookCursor(ws, h)
		if err != nil {
			return moved, err
		}
		if ok {
			if err := to.SaveWebhookCursor(ws, h, c); err != nil {
				return moved, err
			}
		}
	}
	return moved, nil
}

func rawsOf(recs []Record) [][]byte {
	raws := make([][]byte, len(recs))
	for i := range recs {
		raws[i] = recs[i].JSON
	}
	return raws
}

// exportSide reads what of ws is not an event: which identity each logged
// answer was given to (by seq), and a batch of the answers that logged
// nothing, the visitor tokens and the aliases.
func (l *Badger) exportSide(ws string) (who map[uint64]string, side Batch, err error) {
	who = map[uint64]string{}
	err = l.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		p := newKey(tResult, ws)
		opts.Prefix = p
		it := txn.NewIterator(opts)
		for it.Rewind(); it.ValidForPrefix(p); it.Next() {
			k := it.Item().Key()
			identity := lastStr(k, p)
			dp := keyBuf(p).str(identity)
			device := lastStr(k, dp)
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				it.Close()
				return err
			}
			for len(v) > 0 {
				mid, n := binary.Uvarint(v)
				if n <= 0 {
					break
				}
				v = v[n:]
				size, n := binary.Uvarint(v)
				if n <= 0 || size > uint64(len(v)-n) {
					break
				}
				v = v[n:]
				r, err := decodeResult(v[:size])
				v = v[size:]
				if err != nil {
					it.Close()
					return err
				}
				if r.Error == nil && r.Seq > 0 {
					who[r.Seq] = identity
				} else {
					side.Results = append(side.Results, MidResult{Identity: identity, Device: device, Mid: mid, Result: r})
				}
			}
		}
		it.Close()
		vp := newKey(tVisitor, ws)
		opts.Prefix = vp
		it = txn.NewIterator(opts)
		for it.Rewind(); it.ValidForPrefix(vp); it.Next() {
			k := it.Item().Key()
			if len(k) != len(vp)+32 {
				continue
			}
			vt := VisitorToken{Hash: [32]byte(k[len(vp):])}
			if err := it.Item().Value(func(v []byte) error { decodeVisitor(&vt, v); return nil }); err != nil {
				it.Close()
				return err
			}
			side.Visitors = append(side.Visitors, vt)
		}
		it.Close()
		ap := newKey(tAlias, ws)
		opts.Prefix = ap
		it = txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(ap); it.Next() {
			k := it.Item().Key()
			contact := lastStr(k, ap)
			device := lastStr(k, keyBuf(ap).str(contact))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			side.Aliases = append(side.Aliases, Alias{Contact: contact, Device: device, Visitor: string(v)})
		}
		return nil
	})
	if err != nil {
		return nil, Batch{}, fmt.Errorf("eventlog: read the answers, visitors and aliases of %s: %w", ws, err)
	}
	return who, side, nil
}
