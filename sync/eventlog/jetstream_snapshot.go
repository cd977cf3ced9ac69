package eventlog

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/klauspost/compress/s2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/backend/conv"
)

// A relay joining a workspace reads its whole stream to rebuild the index:
// about 45,000 events a second here. So the index is also kept as a
// snapshot, an object of the workspace's object store TLI_<ws> written
// every snapshotEvery events by the relays that index them, and a relay
// opening the workspace starts from the newest snapshot and reads only
// the events after it. A snapshot is derived like the index and checked
// against the stream (the event at its head must be the one it names);
// one that does not match, or does not decode, is ignored, and the stream
// is read from the start. Deleting the bucket loses nothing.

// snapshotEvery is how many events a relay indexes between two snapshots.
const snapshotEvery = 100_000

const snapshotVersion = 1

const snapshotObject = "index"

// indexSnapshot is the index at Head in the object's encoding (gob of this,
// compressed with s2).
type indexSnapshot struct {
	Version int
	Head    uint64
	HeadID  string            // the id of event Head: the stream must hold it there
	States  [][]byte          // conv.Conversation JSON
	Seqs    map[string][]byte // conversation → appendSeqs
	Owners  map[string][]Owned
	Logged  map[string][]byte // identity NUL device → (mid, seq) pairs as uvarints
}

func snapshotBucket(ws string) string { return "TLI_" + token(ws) }

// snapshotStore returns the workspace's snapshot bucket, creating it when
// create is set; nil and no error when there is none.
func (s *jsSpace) snapshotStore(ctx context.Context, create bool) (jetstream.ObjectStore, error) {
	name := snapshotBucket(s.ws)
	os, err := s.j.js.ObjectStore(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if !create {
			return nil, nil
		}
		os, err = s.j.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket: name, Description: "Threadline: snapshots of a workspace's index (derived; may be deleted)",
			Storage: jetstream.FileStorage, Replicas: s.j.opts.Replicas,
		})
	}
	return os, err
}

// takeSnapshot copies the index; idx.mu is held. The copy shares the
// states (immutable) and nothing the index changes later.
func (x *memIndex) takeSnapshot() (*indexSnapshot, []*conv.Conversation) {
	sn := &indexSnapshot{
		Version: snapshotVersion, Head: x.head,
		Seqs:   make(map[string][]byte, len(x.seqs)),
		Owners: make(map[string][]Owned, len(x.owners)),
		Logged: make(map[string][]byte, len(x.logged)),
	}
	states := make([]*conv.Conversation, 0, len(x.states))
	for _, c := range x.states {
		states = append(states, c)
	}
	for id, seqs := range x.seqs {
		sn.Seqs[id] = appendSeqs(nil, seqs)
	}
	for p, os := range x.owners {
		sn.Owners[p] = append([]Owned(nil), os...)
	}
	for k, l := range x.logged {
		var b []byte
		for _, ms := range l {
			b = binary.AppendUvarint(b, ms.mid)
			b = binary.AppendUvarint(b, ms.seq)
		}
		sn.Logged[k.identity+"\x00"+k.device] = b
	}
	return sn, states
}

// maybeSnapshot writes a snapshot in the background once snapshotEvery
// events were indexed since the last one (one at a time); idx.mu is held.
func (s *jsSpace) maybeSnapshot() {
	x := s.idx
	if x.head < x.snapped+s.snapEvery() || x.snapping || x.starting {
		return
	}
	x.snapping = true
	sn, states := x.takeSnapshot()
	raw, _ := x.ring.get(x.head)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.writeSnapshot(sn, states, raw)
		x.mu.Lock()
		x.snapping = false
		if err == nil {
			x.snapped = sn.Head
		}
		x.mu.Unlock()
		if err != nil {
			s.j.lg.Warn("eventlog: snapshot of the index", "workspace", s.ws, "err", err)
		}
	}()
}

func (s *jsSpace) snapEvery() uint64 {
	if s.j.opts.snapshotEvery > 0 {
		return s.j.opts.snapshotEvery
	}
	return snapshotEvery
}

func (s *jsSpace) writeSnapshot(sn *indexSnapshot, states []*conv.Conversation, headRaw []byte) error {
	var e struct {
		ID string `json:"id"`
	}
	if headRaw == nil || json.Unmarshal(headRaw, &e) != nil {
		return fmt.Errorf("no event %d to name", sn.Head)
	}
	sn.HeadID = e.ID
	sn.States = make([][]byte, len(states))
	for i, c := range states {
		b, err := json.Marshal(c)
		if err != nil {
			return err
		}
		sn.States[i] = b
	}
	var buf bytes.Buffer
	w := s2.NewWriter(&buf)
	if err := gob.NewEncoder(w).Encode(sn); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.j.opts.Timeout)
	defer cancel()
	os, err := s.snapshotStore(ctx, true)
	if err != nil {
		return err
	}
	_, err = os.PutBytes(ctx, snapshotObject, buf.Bytes())
	return err
}

// loadSnapshot fills the empty index from the newest snapshot when there is
// one that matches the stream, whose last seq is last; it returns the
// snapshot's head (0: none used).
func (s *jsSpace) loadSnapshot(last uint64) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 4*s.j.opts.Timeout)
	defer cancel()
	os, err := s.snapshotStore(ctx, false)
	if err != nil || os == nil {
		return 0
	}
	b, err := os.GetBytes(ctx, snapshotObject)
	if err != nil {
		if !errors.Is(err, jetstream.ErrObjectNotFound) {
			s.j.lg.Warn("eventlog: read the index's snapshot; reading the log instead", "workspace", s.ws, "err", err)
		}
		return 0
	}
	var sn indexSnapshot
	if err := gob.NewDecoder(s2.NewReader(bytes.NewReader(b))).Decode(&sn); err != nil || sn.Version != snapshotVersion {
		s.j.lg.Warn("eventlog: the index's snapshot does not decode; reading the log instead", "workspace", s.ws, "err", err)
		return 0
	}
	if sn.Head == 0 || sn.Head > last {
		return 0
	}
	m, err := s.stream.GetMsg(ctx, sn.Head)
	var e struct {
		ID string `json:"id"`
	}
	if err != nil || json.Unmarshal(m.Data, &e) != nil || e.ID != sn.HeadID {
		s.j.lg.Warn("eventlog: the index's snapshot is not of this log; reading the log instead", "workspace", s.ws, "head", sn.Head)
		return 0
	}
	x := s.idx
	x.mu.Lock()
	defer x.mu.Unlock()
	fresh := newMemIndex()
	for _, raw := range sn.States {
		c := new(conv.Conversation)
		if err := json.Unmarshal(raw, c); err != nil {
			s.j.lg.Warn("eventlog: the index's snapshot holds a bad state; reading the log instead", "workspace", s.ws, "err", err)
			return 0
		}
		fresh.states[c.ID] = c
	}
	for id, b := range sn.Seqs {
		seqs, err := decodeSeqs(b)
		if err != nil {
			return 0
		}
		fresh.seqs[id] = seqs
	}
	fresh.owners = sn.Owners
	if fresh.owners == nil {
		fresh.owners = map[string][]Owned{}
	}
	split := func(k string) deviceKey {
		i := bytes.IndexByte([]byte(k), 0)
		if i < 0 {
			return deviceKey{identity: k}
		}
		return deviceKey{k[:i], k[i+1:]}
	}
	for k, b := range sn.Logged {
		var l []midSeq
		for len(b) > 0 {
			mid, n := binary.Uvarint(b)
			if n <= 0 {
				return 0
			}
			b = b[n:]
			seq, n := binary.Uvarint(b)
			if n <= 0 {
				return 0
			}
			b = b[n:]
			l = append(l, midSeq{mid, seq})
			fresh.mids[split(k)] = max(fresh.mids[split(k)], mid)
		}
		fresh.logged[split(k)] = l
	}
	for id, c := range fresh.states {
		fresh.changed = append(fresh.changed, changedAt{c.LastSeq, id})
	}
	slices.SortFunc(fresh.changed, func(a, b changedAt) int { return cmp.Compare(a.seq, b.seq) })
	// What the bucket's watcher has put in already stays.
	for k, r := range x.answers {
		fresh.answers[k] = r
		fresh.mids[k.deviceKey] = max(fresh.mids[k.deviceKey], k.mid)
	}
	for h, v := range x.visitors {
		fresh.visitors[h] = v
	}
	x.states, x.seqs, x.owners, x.mids, x.logged, x.answers, x.visitors, x.changed =
		fresh.states, fresh.seqs, fresh.owners, fresh.mids, fresh.logged, fresh.answers, fresh.visitors, fresh.changed
	x.head, x.snapped, x.joinedAt = sn.Head, sn.Head, sn.Head
	return sn.Head
}
