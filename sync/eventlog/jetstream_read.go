package eventlog

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// The JetStream log's reads: from the index, and for events older than
// its ring, from the stream by direct gets.

// Scan implements Log.
func (j *JetStream) Scan(ws string, from, to uint64, fn func(uint64, []byte) error) error {
	s, err := j.space(ws)
	if err != nil {
		return err
	}
	from = max(from, 1)
	for from <= to {
		// From memory while the ring holds the next one.
		s.idx.mu.Lock()
		var raws [][]byte
		for seq := from; seq <= to && len(raws) < 1024; seq++ {
			raw, ok := s.idx.ring.get(seq)
			if !ok {
				break
			}
			raws = append(raws, raw)
		}
		s.idx.mu.Unlock()
		if len(raws) > 0 {
			for _, raw := range raws {
				if err := fn(from, raw); err != nil {
					return err
				}
				from++
			}
			continue
		}
		n, err := s.fetch(from, to, fn)
		if err != nil {
			return err
		}
		from += n
	}
	return nil
}

// fetch reads up to a page of events from the stream, from..to, and gives
// them to fn; it returns how many.
func (s *jsSpace) fetch(from, to uint64, fn func(uint64, []byte) error) (uint64, error) {
	ctx, cancel := s.j.ctx()
	defer cancel()
	n := int(min(to-from+1, 2000))
	it, err := jetstreamext.GetBatch(ctx, s.j.js, s.stream.CachedInfo().Config.Name, n, jetstreamext.GetBatchSeq(from))
	if err != nil {
		return 0, fmt.Errorf("eventlog: read %s from %d: %w", s.ws, from, err)
	}
	next := from
	for m, err := range it {
		if err != nil {
			return 0, fmt.Errorf("eventlog: read %s at %d: %w", s.ws, next, err)
		}
		if m.Sequence != next {
			return 0, fmt.Errorf("eventlog: the log of %s has a gap: %d after %d", s.ws, m.Sequence, next-1)
		}
		if next > to {
			break
		}
		if err := fn(next, m.Data); err != nil {
			return 0, err
		}
		next++
	}
	if next == from {
		return 0, fmt.Errorf("eventlog: read %s: nothing at %d", s.ws, from)
	}
	return next - from, nil
}

// raw returns event seq's JSON.
func (s *jsSpace) raw(seq uint64) ([]byte, error) {
	s.idx.mu.Lock()
	raw, ok := s.idx.ring.get(seq)
	s.idx.mu.Unlock()
	if ok {
		return raw, nil
	}
	ctx, cancel := s.j.ctx()
	defer cancel()
	m, err := s.stream.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject(s.ws)))
	if err != nil {
		return nil, fmt.Errorf("eventlog: event %d of %s: %w", seq, s.ws, err)
	}
	return m.Data, nil
}

// Events implements Log.
func (j *JetStream) Events(ws string, seqs []uint64) ([][]byte, error) {
	s, err := j.space(ws)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, 0, len(seqs))
	for _, seq := range seqs {
		raw, err := s.raw(seq)
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// ConversationSeqs implements Log.
func (j *JetStream) ConversationSeqs(ws, id string, after, upTo uint64) ([]uint64, error) {
	s, err := j.space(ws)
	if err != nil {
		return nil, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	all := s.idx.seqs[id]
	lo, _ := slices.BinarySearch(all, after+1)
	hi, _ := slices.BinarySearch(all, upTo+1)
	if lo >= hi {
		return nil, nil
	}
	return slices.Clone(all[lo:hi]), nil
}

// Conversation implements Log.
func (j *JetStream) Conversation(ws, id string) (*conv.Conversation, error) {
	s, err := j.space(ws)
	if err != nil {
		return nil, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.states[id], nil
}

// Owned implements Log.
func (j *JetStream) Owned(ws, participant string) ([]Owned, error) {
	s, err := j.space(ws)
	if err != nil {
		return nil, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return slices.Clone(s.idx.owners[participant]), nil
}

// Conversations implements Log.
func (j *JetStream) Conversations(ws string, q ConversationQuery) ([]*conv.Conversation, bool, error) {
	s, err := j.space(ws)
	if err != nil {
		return nil, false, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	out, more := s.idx.conversations(q)
	return out, more, nil
}

// LastMid implements Log.
func (j *JetStream) LastMid(ws, identity, device string) (uint64, error) {
	s, err := j.space(ws)
	if err != nil {
		return 0, err
	}
	s.idx.mu.Lock()
	defer s.idx.mu.Unlock()
	return s.idx.mids[deviceKey{identity, device}], nil
}

// Result implements Log.
func (j *JetStream) Result(ws, identity, device string, mid uint64) (protocol.Result, bool, error) {
	s, err := j.space(ws)
	if err != nil {
		return protocol.Result{}, false, err
	}
	k := deviceKey{identity, device}
	s.idx.mu.Lock()
	if r, ok := s.idx.answers[answerKey{k, mid}]; ok {
		s.idx.mu.Unlock()
		return r, true, nil
	}
	l := s.idx.logged[k]
	i, found := slices.BinarySearchFunc(l, mid, func(m midSeq, mid uint64) int { return cmp.Compare(m.mid, mid) })
	var seq uint64
	if found {
		seq = l[i].seq
	}
	later := s.idx.mids[k] > mid
	s.idx.mu.Unlock()
	if !found {
		if later {
			return s.answerInBucket(identity, device, mid)
		}
		return protocol.Result{}, false, nil
	}
	raw, err := s.raw(seq)
	if err != nil {
		return protocol.Result{}, false, err
	}
	var e struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return protocol.Result{}, false, fmt.Errorf("eventlog: event %d of %s: %w", seq, ws, err)
	}
	return protocol.Result{ID: e.ID, Seq: seq}, true, nil
}

// answerInBucket reads the answer to a mid that logged no event from the
// bucket, for a mid the index has none for although it knows later mids
// of the device: the bucket holds every answer saved, while the index
// holds what its watcher has delivered, which once lacked a relay's no-op
// answer for good (a convergence run across relays, cause not found). A
// mid the device never had processed (a gap it fills late) costs one Get.
func (s *jsSpace) answerInBucket(identity, device string, mid uint64) (protocol.Result, bool, error) {
	ctx, cancel := s.j.ctx()
	defer cancel()
	e, err := s.kv.Get(ctx, answerKeyName(identity, device, mid))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return protocol.Result{}, false, nil
	}
	if err != nil {
		return protocol.Result{}, false, fmt.Errorf("eventlog: the answer to mid %d of %s on %s: %w", mid, identity, device, err)
	}
	r, err := decodeResult(e.Value())
	if err != nil {
		return protocol.Result{}, false, fmt.Errorf("eventlog: the answer to mid %d of %s on %s: %w", mid, identity, device, err)
	}
	s.idx.mu.Lock()
	s.idx.answer(MidResult{Identity: identity, Device: device, Mid: mid, Result: r})
	s.idx.mu.Unlock()
	s.j.lg.Warn("eventlog: an answer in the bucket was not in the index", "workspace", s.ws, "identity", identity, "device", device, "mid", mid)
	return r, true, nil
}

// Visitor implements Log. A token saved by another relay a moment ago may
// not have reached this one's watcher: the bucket is asked on a miss.
func (j *JetStream) Visitor(ws string, h [32]byte) (VisitorToken, bool, error) {
	s, err := j.space(ws)
	if err != nil {
		return VisitorToken{}, false, err
	}
	s.idx.mu.Lock()
	vt, ok := s.idx.visitors[h]
	s.idx.mu.Unlock()
	if ok {
		return vt, true, nil
	}
	ctx, cancel := j.ctx()
	defer cancel()
	e, err := s.kv.Get(ctx, visitorKeyName(h))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return VisitorToken{Hash: h}, false, nil
	}
	if err != nil {
		return VisitorToken{}, false, fmt.Errorf("eventlog: visitor token of %s: %w", ws, err)
	}
	vt = VisitorToken{Hash: h}
	decodeVisitor(&vt, e.Value())
	return vt, vt.ID != "", nil
}

// Alias implements Log. Like Visitor, it asks the bucket on a miss: the
// device may have identified on another relay a moment ago.
func (j *JetStream) Alias(ws, contact, device string) (string, error) {
	s, err := j.space(ws)
	if err != nil {
		return "", err
	}
	s.idx.mu.Lock()
	v, ok := s.idx.aliases[deviceKey{contact, device}]
	s.idx.mu.Unlock()
	if ok {
		return v, nil
	}
	ctx, cancel := j.ctx()
	defer cancel()
	e, err := s.kv.Get(ctx, aliasKeyName(contact, device))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("eventlog: which visitor %s was on device %s: %w", contact, device, err)
	}
	return string(e.Value()), nil
}

type jsCursor struct {
	Done         uint64    `json:"done"`
	FailingSince time.Time `json:"failingSince,omitzero"`
}

// WebhookCursor implements Log.
func (j *JetStream) WebhookCursor(ws, endpoint string) (WebhookCursor, bool, error) {
	s, err := j.space(ws)
	if err != nil {
		return WebhookCursor{}, false, err
	}
	ctx, cancel := j.ctx()
	defer cancel()
	e, err := s.kv.Get(ctx, hookKeyName(endpoint))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return WebhookCursor{}, false, nil
	}
	if err != nil {
		return WebhookCursor{}, false, fmt.Errorf("eventlog: webhook cursor of %s: %w", ws, err)
	}
	var c jsCursor
	if err := json.Unmarshal(e.Value(), &c); err != nil {
		return WebhookCursor{}, false, fmt.Errorf("eventlog: webhook cursor of %s: %w", ws, err)
	}
	return WebhookCursor(c), true, nil
}

// SaveWebhookCursor implements Log.
func (j *JetStream) SaveWebhookCursor(ws, endpoint string, c WebhookCursor) error {
	s, err := j.space(ws)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(jsCursor(c))
	ctx, cancel := j.ctx()
	defer cancel()
	if _, err := s.kv.Put(ctx, hookKeyName(endpoint), b); err != nil {
		return fmt.Errorf("eventlog: save webhook cursor of %s: %w", ws, err)
	}
	return nil
}

// Shared is a Log other writers append to as well. Follow calls fn, from
// one goroutine, with every batch of events they append to ws from then on
// (those above the head Open returned), in log order, once the log's reads
// include them; fn returns false to stop.
type Shared interface {
	Follow(ws string, fn func([]Record) bool) error
}

var (
	_ Log       = (*JetStream)(nil)
	_ Shared    = (*JetStream)(nil)
	_ Limited   = (*JetStream)(nil)
	_ Pipelined = (*JetStream)(nil)
)
