package eventlog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/bounded"
	"github.com/threadline/threadline/sync/protocol"
)

// Badger is the embedded Log: one Badger database in a directory. Every
// Append is one Badger transaction, first written to the journal (see
// journal.go) and fdatasync'd, so it is on disk (one sync for the whole
// batch) when Append returns.
//
// Values stay below Badger's value threshold, so everything lives in the LSM
// tree and the value log needs no garbage collection.
type Badger struct {
	db  *badger.DB
	dir string
	log *slog.Logger

	mu     sync.Mutex // serialises writes: journal record, then Badger
	j      journal
	failed error // set when a write reached the journal but not Badger

	// mids caches the highest mid by mid key, as committed; guarded by mu.
	// Bounded: every Idempotency-Key of the HTTP API is a device of its own.
	mids *bounded.Map[string, uint64]
	// lasts caches conversations' latest seqs, by state key, as committed
	// (the changed index's positions; see badger_changed.go); guarded by mu.
	lasts *bounded.Map[string, uint64]

	hooks cursorFiles // webhook cursors, beside Badger (see cursorFiles)

	bg   sync.WaitGroup // checkpoints and the janitor
	quit chan struct{}  // stops the janitor
}

// journalDir is the journal's directory inside the log's; webhookDir
// holds the webhook cursors.
const (
	journalDir = "journal"
	webhookDir = "webhooks"
)

// cacheSize bounds each of the log's in-memory caches (highest mids,
// latest seqs), in entries.
const cacheSize = 100_000

// OpenBadger opens (creating if needed) the log stored in dir. logger
// receives Badger's warnings and errors; nil discards them.
func OpenBadger(dir string, logger *slog.Logger) (*Badger, error) {
	return openBadger(dir, logger, defaultSegSize, 0)
}

// openBadger is OpenBadger with the journal's segment size and, when not
// 0, Badger's memtable size (tests make memtables flush sooner).
func openBadger(dir string, logger *slog.Logger, segSize, memTable int64) (*Badger, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(dir).
		WithSyncWrites(false). // the journal makes writes durable
		WithNumVersionsToKeep(1).
		WithDetectConflicts(false).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{logger.With("component", "badger")})
	if memTable > 0 {
		opts = opts.WithMemTableSize(memTable)
	}
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("eventlog: open log in %s: %w", dir, err)
	}
	l := &Badger{db: db, dir: dir, log: logger, quit: make(chan struct{}), mids: bounded.NewMap[string, uint64](cacheSize),
		lasts: bounded.NewMap[string, uint64](cacheSize)}
	l.j = journal{dir: filepath.Join(dir, journalDir), segSize: segSize}
	l.hooks = cursorFiles{dir: filepath.Join(dir, webhookDir), files: map[string]*cursorFile{}}
	if err := l.recover(); err != nil {
		l.j.close()
		db.Close()
		return nil, fmt.Errorf("eventlog: open log in %s: %w", dir, err)
	}
	l.bg.Add(1)
	go l.janitor()
	return l, nil
}

// recover replays the journal into Badger, marks the replayed segments for
// deletion once Badger holds them durably, and starts a new segment.
func (l *Badger) recover() error {
	if err := os.MkdirAll(l.j.dir, 0o700); err != nil {
		return fmt.Errorf("create journal directory: %w", err)
	}
	segs, err := l.j.segments()
	if err != nil {
		return err
	}
	txn := l.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	put := func(o journalOp) error {
		if o.del {
			return txn.Delete(o.key)
		}
		return txn.Set(o.key, o.value)
	}
	apply := func(ops []journalOp) error {
		for _, o := range ops {
			err := put(o)
			if errors.Is(err, badger.ErrTxnTooBig) {
				if err := txn.Commit(); err != nil {
					return err
				}
				txn = l.db.NewTransaction(true)
				err = put(o)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	records, err := l.j.replay(segs, apply)
	if err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	if records > 0 {
		l.log.Info("replayed journal", "records", records, "segments", len(segs))
	}
	next := uint64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.checkpoint(segs, false); err != nil {
		return err
	}
	l.j.findSpare()
	return l.j.create(next, 0)
}

// checkpoint seals segs: they go once Badger has flushed every write it
// holds now to its synced tables (see the journal's doc). Every record of
// segs is in Badger when it is called.
func (l *Badger) checkpoint(segs []uint64, full bool) error {
	txn := l.db.NewTransaction(false)
	written := txn.ReadTs() // the newest version committed
	txn.Discard()
	l.j.seal(segs, written, full)
	return l.j.collect(l.flushed())
}

// flushed is the newest version in Badger's tables: every write at or
// below it is in synced tables, since memtables flush in the order they
// filled (DB.Tables, TableInfo.MaxVersion).
func (l *Badger) flushed() uint64 {
	var v uint64
	for _, t := range l.db.Tables() {
		v = max(v, t.MaxVersion)
	}
	return v
}

// janitor retires sealed segments once Badger holds them, until quit.
func (l *Badger) janitor() {
	defer l.bg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-l.quit:
			return
		case <-t.C:
			if err := l.j.collect(l.flushed()); err != nil {
				l.log.Warn("journal cleanup", "err", err)
			}
		}
	}
}

// update runs fn in a write transaction whose writes go through w, then
// journals them (synced), calls durable (when not nil) and commits them to
// Badger.
func (l *Badger) update(fn func(w *logWriter) error, durable func()) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return l.failed
	}
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	l.j.begin()
	w := &logWriter{txn: txn, j: &l.j, l: l, mids: map[string]uint64{}, lasts: map[string]uint64{}}
	if err := fn(w); err != nil {
		return err
	}
	if l.j.full() {
		if err := l.rotate(int64(len(l.j.buf))); err != nil {
			return err
		}
	}
	// The journal first, then Badger: Badger then never holds a write the
	// journal lacks, so replaying the journal in order after any crash ends
	// in the state of its last record for every key it touches. (Committing
	// to Badger while the journal syncs would save Badger's commit time,
	// but a crash could then leave Badger with a batch whose record tore,
	// and replaying the record before it would roll back the keys both set.)
	if err := l.j.write(); err != nil {
		// What reached the disk is unknown (and a failed fdatasync may
		// have dropped pages): take no more writes until a restart
		// replays what the journal holds.
		l.failed = fmt.Errorf("eventlog: log failed, restart the relay: %w", err)
		return l.failed
	}
	// Durable now: what waits on that (acknowledgements, fan-out) need not
	// wait for Badger's commit too.
	if durable != nil {
		durable()
	}
	if err := txn.Commit(); err != nil {
		l.failed = fmt.Errorf("eventlog: log failed after journaling, restart the relay: %w", err)
		return l.failed
	}
	for k, m := range w.mids {
		l.mids.Put(k, m)
	}
	for k, s := range w.lasts {
		l.lasts.Put(k, s)
	}
	return nil
}

// rotate starts the next segment, with room for need bytes, and seals the
// full one in the background (retiring a segment syncs the journal's
// directory: no write need wait for it).
func (l *Badger) rotate(need int64) error {
	full := l.j.seg
	if err := l.j.create(full+1, need); err != nil {
		return err
	}
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := l.checkpoint([]uint64{full}, true); err != nil {
			// The segment stays, and is replayed at the next start.
			l.log.Error("journal checkpoint", "err", err)
		}
	}()
	return nil
}

// logWriter records a transaction's writes in the journal as it makes them.
type logWriter struct {
	txn *badger.Txn
	j   *journal
	l   *Badger
	// mids are the highest mids this write raises, by mid key: they go into
	// l.mids once it commits.
	mids map[string]uint64
	// lasts are the conversations' new latest seqs, by state key: they go
	// into l.lasts once it commits.
	lasts map[string]uint64
}

// highestMid returns the stored highest mid at key k (a midKey), from
// l.mids when known: reading it from Badger on every group commit cost
// 9 µs on the acknowledgement's path.
func (w *logWriter) highestMid(k []byte) (uint64, error) {
	if m, ok := w.l.mids.Get(string(k)); ok {
		return m, nil
	}
	m, err := getU64(w.txn, k)
	if err == nil {
		w.l.mids.Put(string(k), m)
	}
	return m, err
}

func (w *logWriter) set(k, v []byte) error {
	w.j.set(k, v)
	return w.txn.Set(k, v)
}

func (w *logWriter) delete(k []byte) error {
	w.j.delete(k)
	return w.txn.Delete(k)
}

// Open implements Log.
func (l *Badger) Open(ws string) (string, uint64, error) {
	if err := checkKeyPart("workspace id", ws); err != nil {
		return "", 0, err
	}
	var epoch string
	err := l.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(epochKey(ws))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { epoch = string(v); return nil })
	})
	if err != nil {
		return "", 0, fmt.Errorf("eventlog: open workspace %s: %w", ws, err)
	}
	if epoch == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", 0, err
		}
		epoch = hex.EncodeToString(b[:])
		err := l.update(func(w *logWriter) error { return w.set(epochKey(ws), []byte(epoch)) }, nil)
		if err != nil {
			return "", 0, fmt.Errorf("eventlog: create workspace %s: %w", ws, err)
		}
	}
	head, err := l.head(ws)
	if err != nil {
		return "", 0, err
	}
	if err := l.ensureChangedIndex(ws); err != nil {
		return "", 0, err
	}
	return epoch, head, nil
}

// head finds the newest seq by seeking to the end of ws's events.
func (l *Badger) head(ws string) (uint64, error) {
	var head uint64
	err := l.db.View(func(txn *badger.Txn) error {
		p := eventPrefix(ws)
		opts := badger.DefaultIteratorOptions
		opts.Reverse = true
		opts.PrefetchValues = false
		opts.Prefix = p
		it := txn.NewIterator(opts)
		defer it.Close()
		seek := append(bytes.Clone(p), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
		it.Seek(seek)
		if it.ValidForPrefix(p) {
			head = seqAtEnd(it.Item().Key())
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("eventlog: head of %s: %w", ws, err)
	}
	return head, nil
}

// Append implements Log: one transaction, journaled and synced.
func (l *Badger) Append(ws string, b *Batch) error {
	return l.update(func(w *logWriter) error { return appendBatch(w, ws, b) }, b.Durable)
}

func appendBatch(w *logWriter, ws string, b *Batch) error {
	set := w.set
	// One index entry per conversation, one result entry per device: a
	// commit of many events writes few keys besides the events.
	byConv := map[string][]uint64{}
	var convs []string
	for _, r := range b.Events {
		e := r.Event
		if err := set(eventKey(ws, e.Seq), r.JSON); err != nil {
			return fmt.Errorf("eventlog: append %s seq %d: %w", ws, e.Seq, err)
		}
		if _, ok := byConv[e.Conv]; !ok {
			convs = append(convs, e.Conv)
		}
		byConv[e.Conv] = append(byConv[e.Conv], e.Seq)
	}
	for _, c := range convs {
		seqs := byConv[c]
		if err := set(indexKey(ws, c, seqs[len(seqs)-1]), appendSeqs(nil, seqs)); err != nil {
			return fmt.Errorf("eventlog: index %s: %w", c, err)
		}
	}
	// Before the states change: the index moves each from its old latest seq.
	if err := indexChanged(w, ws, b.States); err != nil {
		return err
	}
	for _, c := range b.States {
		v, err := json.Marshal(c)
		if err != nil {
			return fmt.Errorf("eventlog: encode conversation %s: %w", c.ID, err)
		}
		if err := set(stateKey(ws, c.ID), v); err != nil {
			return fmt.Errorf("eventlog: store conversation %s: %w", c.ID, err)
		}
	}
	for _, o := range b.Owners {
		k := ownerKey(ws, o.Participant, o.Conv)
		var err error
		if o.Remove {
			err = w.delete(k)
		} else {
			err = set(k, binary.BigEndian.AppendUint64(nil, o.Since))
		}
		if err != nil {
			return fmt.Errorf("eventlog: owner %s of %s: %w", o.Participant, o.Conv, err)
		}
	}
	type dev struct{ identity, device string }
	highest := map[dev]uint64{}
	results := map[dev][]MidResult{}
	for _, r := range b.Results {
		d := dev{r.Identity, r.Device}
		highest[d] = max(highest[d], r.Mid)
		results[d] = append(results[d], r)
	}
	for d, rs := range results {
		if err := set(resultKey(ws, d.identity, d.device, highest[d]), appendResults(nil, rs)); err != nil {
			return fmt.Errorf("eventlog: results of %s: %w", d.device, err)
		}
	}
	for d, mid := range highest {
		k := midKey(ws, d.identity, d.device)
		// Results may answer mids below the highest (a gap filled late), so
		// keep the stored highest when it is larger.
		cur, err := w.highestMid(k)
		if err != nil {
			return err
		}
		if mid > cur {
			if err := set(k, binary.BigEndian.AppendUint64(nil, mid)); err != nil {
				return fmt.Errorf("eventlog: highest mid: %w", err)
			}
			w.mids[string(k)] = mid
		}
	}
	for _, v := range b.Visitors {
		if err := set(visitorKey(ws, v.Hash), encodeVisitor(v)); err != nil {
			return fmt.Errorf("eventlog: store visitor: %w", err)
		}
	}
	for _, a := range b.Aliases {
		if err := set(aliasKey(ws, a.Contact, a.Device), []byte(a.Visitor)); err != nil {
			return fmt.Errorf("eventlog: store the visitor a device was: %w", err)
		}
	}
	return nil
}

func getU64(txn *badger.Txn, k []byte) (uint64, error) {
	item, err := txn.Get(k)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var n uint64
	err = item.Value(func(v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("eventlog: corrupt number at %q", k)
		}
		n = binary.BigEndian.Uint64(v)
		return nil
	})
	return n, err
}

// Scan implements Log.
func (l *Badger) Scan(ws string, from, to uint64, fn func(uint64, []byte) error) error {
	if from > to {
		return nil
	}
	return l.db.View(func(txn *badger.Txn) error {
		p := eventPrefix(ws)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		opts.PrefetchSize = 256
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(eventKey(ws, from)); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			seq := seqAtEnd(item.Key())
			if seq > to {
				break
			}
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(seq, raw); err != nil {
				return err
			}
		}
		return nil
	})
}

// Events implements Log.
func (l *Badger) Events(ws string, seqs []uint64) ([][]byte, error) {
	out := make([][]byte, 0, len(seqs))
	err := l.db.View(func(txn *badger.Txn) error {
		for _, s := range seqs {
			item, err := txn.Get(eventKey(ws, s))
			if err != nil {
				return fmt.Errorf("eventlog: event %d of %s: %w", s, ws, err)
			}
			raw, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, raw)
		}
		return nil
	})
	return out, err
}

// ConversationSeqs implements Log.
func (l *Badger) ConversationSeqs(ws, id string, after, upTo uint64) ([]uint64, error) {
	if len(id) > 255 || after >= upTo {
		return nil, nil
	}
	var seqs []uint64
	err := l.db.View(func(txn *badger.Txn) error {
		p := indexPrefix(ws, id)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		opts.PrefetchSize = 16
		it := txn.NewIterator(opts)
		defer it.Close()
		// Entries are keyed by their last seq and never overlap: start at
		// the first that ends after `after`, stop at the first that starts
		// after upTo.
		for it.Seek(indexKey(ws, id, after+1)); it.ValidForPrefix(p); it.Next() {
			var entry []uint64
			if err := it.Item().Value(func(v []byte) error {
				var err error
				entry, err = decodeSeqs(v)
				return err
			}); err != nil {
				return err
			}
			if len(entry) == 0 || entry[0] > upTo {
				break
			}
			for _, s := range entry {
				if s > after && s <= upTo {
					seqs = append(seqs, s)
				}
			}
		}
		return nil
	})
	return seqs, err
}

// Conversation implements Log.
func (l *Badger) Conversation(ws, id string) (*conv.Conversation, error) {
	if len(id) > 255 {
		return nil, nil
	}
	var c *conv.Conversation
	err := l.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stateKey(ws, id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			c = new(conv.Conversation)
			return json.Unmarshal(v, c)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("eventlog: conversation %s: %w", id, err)
	}
	return c, nil
}

// Owned implements Log.
func (l *Badger) Owned(ws, participant string) ([]Owned, error) {
	if len(participant) > 255 {
		return nil, nil
	}
	var out []Owned
	err := l.db.View(func(txn *badger.Txn) error {
		p := ownerPrefix(ws, participant)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(p); it.Next() {
			item := it.Item()
			o := Owned{Conv: lastStr(item.Key(), p)}
			if err := item.Value(func(v []byte) error {
				if len(v) == 8 {
					o.Since = binary.BigEndian.Uint64(v)
				}
				return nil
			}); err != nil {
				return err
			}
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

// LastMid implements Log.
func (l *Badger) LastMid(ws, identity, device string) (uint64, error) {
	if len(identity) > 255 || len(device) > 255 {
		return 0, nil
	}
	var mid uint64
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		mid, err = getU64(txn, midKey(ws, identity, device))
		return err
	})
	return mid, err
}

// Result implements Log.
func (l *Badger) Result(ws, identity, device string, mid uint64) (protocol.Result, bool, error) {
	if len(identity) > 255 || len(device) > 255 {
		return protocol.Result{}, false, nil
	}
	var r protocol.Result
	found := false
	err := l.db.View(func(txn *badger.Txn) error {
		// Entries are keyed by the largest mid they answer. The first one at
		// or after mid holds it, unless a gap was filled late; then a later
		// entry may.
		p := resultPrefix(ws, identity, device)
		opts := badger.DefaultIteratorOptions
		opts.Prefix = p
		opts.PrefetchSize = 4
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(resultKey(ws, identity, device, mid)); it.ValidForPrefix(p); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				var err error
				r, found, err = findResult(v, mid)
				return err
			})
			if err != nil || found {
				return err
			}
		}
		return nil
	})
	return r, found, err
}

// Visitor implements Log.
func (l *Badger) Visitor(ws string, h [32]byte) (VisitorToken, bool, error) {
	vt := VisitorToken{Hash: h}
	err := l.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(visitorKey(ws, h))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			decodeVisitor(&vt, v)
			return nil
		})
	})
	return vt, vt.ID != "", err
}

// Alias implements Log.
func (l *Badger) Alias(ws, contact, device string) (string, error) {
	if len(contact) > 255 || len(device) > 255 {
		return "", nil
	}
	var visitor string
	err := l.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(aliasKey(ws, contact, device))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		visitor = string(v)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("eventlog: which visitor %s was on device %s: %w", contact, device, err)
	}
	return visitor, nil
}

// encodeVisitor writes a visitor token's value: id NUL contact NUL seq(8).
func encodeVisitor(v VisitorToken) []byte {
	b := make([]byte, 0, len(v.ID)+len(v.Contact)+10)
	b = append(b, v.ID...)
	b = append(b, 0)
	b = append(b, v.Contact...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, v.Seq)
}

// decodeVisitor reads encodeVisitor's value, or an older one without the
// seq (id NUL contact; seq 0). An older contact id with a NUL nine bytes
// from its end would read as another contact: the device would only be
// treated as identifying anew (sent the contact's conversations whole).
func decodeVisitor(vt *VisitorToken, v []byte) {
	id, rest, _ := strings.Cut(string(v), "\x00")
	vt.ID, vt.Contact, vt.Seq = id, rest, 0
	if n := len(rest); n >= 9 && rest[n-9] == 0 {
		vt.Contact, vt.Seq = rest[:n-9], binary.BigEndian.Uint64([]byte(rest[n-8:]))
	}
}

// WebhookCursor implements Log.
func (l *Badger) WebhookCursor(ws, endpoint string) (WebhookCursor, bool, error) {
	return l.hooks.load(ws, endpoint)
}

// SaveWebhookCursor implements Log: the cursor's own small file, synced
// (see cursorFiles), not a Badger write.
func (l *Badger) SaveWebhookCursor(ws, endpoint string, c WebhookCursor) error {
	return l.hooks.save(ws, endpoint, c)
}

// Check implements Log: it writes (and syncs) a probe key.
func (l *Badger) Check() error {
	if l.db.IsClosed() {
		return errors.New("eventlog: log is closed")
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
	return l.update(func(w *logWriter) error { return w.set(healthKey, v) }, nil)
}

// Close implements Log. Closing Badger flushes its memtables to synced
// tables, so the journal is then deleted.
func (l *Badger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.quit)
	l.bg.Wait()
	l.j.close()
	if err := l.hooks.close(); err != nil {
		l.log.Warn("close webhook cursors", "err", err)
	}
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("eventlog: close log: %w", err)
	}
	if l.failed != nil {
		return nil // keep the journal: the next start replays it
	}
	if err := l.j.removeAll(); err != nil {
		return fmt.Errorf("eventlog: close log: %w", err)
	}
	return nil
}

// badgerLogger sends Badger's warnings and errors to slog; its chatty info
// and debug lines are dropped.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Log(context.Background(), slog.LevelError, trimNL(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Log(context.Background(), slog.LevelWarn, trimNL(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

func trimNL(s string) string { return string(bytes.TrimRight([]byte(s), "\n")) }
