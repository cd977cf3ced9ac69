package eventlog

import (
	"cmp"
	"encoding/json"
	"slices"
	"sync"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// memIndex is what the JetStream log keeps in memory of one workspace, all
// derived from its stream and bucket: conversation states, each
// conversation's seqs, owners, the mids each device had processed (and by
// which event), and the latest events' JSON. Everything up to head is in.
type memIndex struct {
	mu   sync.Mutex
	cond *sync.Cond // broadcast when head moves or an append ends
	head uint64
	// appending counts this relay's appends in flight that log events:
	// while there are any, the consumer waits before taking seqs above
	// head, so a batch is indexed once, when it lands, not also as another
	// writer's.
	appending int

	states   map[string]*conv.Conversation
	seqs     map[string][]uint64 // conversation → its events' seqs, ascending
	owners   map[string][]Owned  // participant → its conversations
	mids     map[deviceKey]uint64
	logged   map[deviceKey][]midSeq // mids answered by a logged event, by mid
	answers  map[answerKey]protocol.Result
	visitors map[[32]byte]VisitorToken
	aliases  map[deviceKey]string // (contact, device) → the visitor it was
	changed  []changedAt          // conversations' latest seqs as they moved; stale entries are skipped
	ring     rawRing

	snapped  uint64 // head of the last snapshot written or read (jetstream_snapshot.go)
	snapping bool   // a snapshot is being written
	starting bool   // the first read of the stream runs: no snapshot before it ends
	joinedAt uint64 // the head of the snapshot the index started from (0: the stream's start)
}

type deviceKey struct{ identity, device string }

type answerKey struct {
	deviceKey
	mid uint64
}

type midSeq struct{ mid, seq uint64 }

type changedAt struct {
	seq  uint64
	conv string
}

// ringSize is how many of the latest events' JSON the index keeps: live
// sessions' and recent catch-ups' reads are served from memory.
const ringSize = 1 << 16

// rawRing holds the JSON of the latest ringSize events by seq.
type rawRing struct {
	raws [ringSize][]byte
	seqs [ringSize]uint64
}

func (r *rawRing) put(seq uint64, raw []byte) {
	r.raws[seq%ringSize], r.seqs[seq%ringSize] = raw, seq
}

func (r *rawRing) get(seq uint64) ([]byte, bool) {
	if r.seqs[seq%ringSize] != seq || seq == 0 {
		return nil, false
	}
	return r.raws[seq%ringSize], true
}

func newMemIndex() *memIndex {
	x := &memIndex{
		states:   map[string]*conv.Conversation{},
		seqs:     map[string][]uint64{},
		owners:   map[string][]Owned{},
		mids:     map[deviceKey]uint64{},
		logged:   map[deviceKey][]midSeq{},
		answers:  map[answerKey]protocol.Result{},
		visitors: map[[32]byte]VisitorToken{},
		aliases:  map[deviceKey]string{},
	}
	x.cond = sync.NewCond(&x.mu)
	return x
}

func (x *memIndex) headNow() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.head
}

// add indexes one logged event; mu is held. who is the identity whose mid
// it answers ("" for its actor). When state is nil the event is replayed on
// the conversation's state; else state is the conversation after it.
func (x *memIndex) add(e *conv.Event, raw []byte, who string, state *conv.Conversation) error {
	seq := e.Seq
	x.ring.put(seq, raw)
	x.seqs[e.Conv] = append(x.seqs[e.Conv], seq)
	if state == nil {
		c, err := conv.Replay(x.states[e.Conv], *e)
		if err != nil {
			return err
		}
		state = c
	}
	x.states[e.Conv] = state
	x.changed = append(x.changed, changedAt{seq, e.Conv})
	switch e.Kind {
	case conv.KindConversationCreated:
		x.own(state.Contact.ID, Owned{Conv: e.Conv, Since: seq})
	case conv.KindContactIdentified:
		var d conv.ContactIdentified
		if json.Unmarshal(e.Data, &d) == nil {
			x.disown(d.Visitor.ID, e.Conv)
			x.own(d.Contact.ID, Owned{Conv: e.Conv, Since: seq})
		}
	}
	if e.Mid > 0 && e.Actor.Role != conv.RoleSystem {
		if who == "" {
			who = e.Actor.ID
		}
		k := deviceKey{who, e.Device}
		l := x.logged[k]
		i, _ := slices.BinarySearchFunc(l, e.Mid, func(m midSeq, mid uint64) int { return cmp.Compare(m.mid, mid) })
		x.logged[k] = slices.Insert(l, i, midSeq{e.Mid, seq})
		x.mids[k] = max(x.mids[k], e.Mid)
	}
	x.head = seq
	return nil
}

func (x *memIndex) own(p string, o Owned) {
	if p == "" {
		return
	}
	for _, h := range x.owners[p] {
		if h.Conv == o.Conv {
			return
		}
	}
	x.owners[p] = append(x.owners[p], o)
}

func (x *memIndex) disown(p, convID string) {
	x.owners[p] = slices.DeleteFunc(x.owners[p], func(o Owned) bool { return o.Conv == convID })
	if len(x.owners[p]) == 0 {
		delete(x.owners, p)
	}
}

// answer records what a mid that logged no event was answered; mu is held.
func (x *memIndex) answer(r MidResult) {
	k := deviceKey{r.Identity, r.Device}
	x.answers[answerKey{k, r.Mid}] = r.Result
	x.mids[k] = max(x.mids[k], r.Mid)
}

// compact drops the changed list's stale entries once they outnumber the
// live ones; mu is held.
func (x *memIndex) compact() {
	if len(x.changed) < 4096 || len(x.changed) < 2*len(x.states) {
		return
	}
	live := x.changed[:0]
	for _, c := range x.changed {
		if st := x.states[c.conv]; st != nil && st.LastSeq == c.seq {
			live = append(live, c)
		}
	}
	clear(x.changed[len(live):])
	x.changed = live
}

// conversations answers Log.Conversations; mu is held.
func (x *memIndex) conversations(q ConversationQuery) ([]*conv.Conversation, bool) {
	limit := max(q.Limit, 1)
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
	var out []*conv.Conversation
	if q.Owner != "" {
		for _, o := range x.owners[q.Owner] {
			if c := x.states[o.Conv]; keep(c) {
				out = append(out, c)
			}
		}
		slices.SortFunc(out, func(a, b *conv.Conversation) int { return cmp.Compare(a.LastSeq, b.LastSeq) })
	} else {
		i, _ := slices.BinarySearchFunc(x.changed, q.After+1, func(c changedAt, s uint64) int { return cmp.Compare(c.seq, s) })
		for ; i < len(x.changed) && len(out) <= limit; i++ {
			ch := x.changed[i]
			if c := x.states[ch.conv]; c != nil && c.LastSeq == ch.seq && keep(c) {
				out = append(out, c)
			}
		}
	}
	more := len(out) > limit
	return out[:min(len(out), limit)], more
}
