package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/threadline/threadline/backend/conv"
)

// Values are stored in a compact binary form, not JSON: opening a store
// decodes every conversation row, and JSON would make that several times
// slower (see BenchmarkOpen). Each value starts with a format version byte.
// Strings and byte strings are uvarint-length-prefixed; slices and maps carry
// a count plus one, so that nil (0) and empty (1) survive a round trip and a
// rebuilt state is reflect.DeepEqual to the one kept incrementally.

const codecVersion byte = 2

var errCorrupt = errors.New("store: corrupt value")

type encoder struct{ b []byte }

func (w *encoder) byte1(v byte)     { w.b = append(w.b, v) }
func (w *encoder) uvarint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }
func (w *encoder) varint(v int64)   { w.b = binary.AppendVarint(w.b, v) }
func (w *encoder) str(s string)     { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) bytes(s []byte)   { w.uvarint(uint64(len(s))); w.b = append(w.b, s...) }
func (w *encoder) count(n int, isNil bool) {
	if isNil {
		w.uvarint(0)
		return
	}
	w.uvarint(uint64(n) + 1)
}
func (w *encoder) boolean(v bool) {
	if v {
		w.byte1(1)
	} else {
		w.byte1(0)
	}
}

// decoder reads from one string: every decoded string is a substring of it,
// so a conversation row costs one string allocation however many fields it
// has.
type decoder struct {
	s   string
	i   int
	err error
}

func (r *decoder) fail() {
	if r.err == nil {
		r.err = errCorrupt
	}
	r.i = len(r.s)
}

func (r *decoder) byte1() byte {
	if r.i >= len(r.s) {
		r.fail()
		return 0
	}
	b := r.s[r.i]
	r.i++
	return b
}

func (r *decoder) uvarint() uint64 {
	var v uint64
	var shift uint
	for n := 0; n < binary.MaxVarintLen64; n++ {
		if r.i >= len(r.s) {
			r.fail()
			return 0
		}
		b := r.s[r.i]
		r.i++
		if b < 0x80 {
			if n == binary.MaxVarintLen64-1 && b > 1 {
				r.fail()
				return 0
			}
			return v | uint64(b)<<shift
		}
		v |= uint64(b&0x7f) << shift
		shift += 7
	}
	r.fail()
	return 0
}

func (r *decoder) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *decoder) str() string {
	n := r.uvarint()
	if n > uint64(len(r.s)-r.i) {
		r.fail()
		return ""
	}
	s := r.s[r.i : r.i+int(n)]
	r.i += int(n)
	return s
}

// count returns the element count and whether the collection was nil.
func (r *decoder) count() (int, bool) {
	n := r.uvarint()
	if n == 0 {
		return 0, true
	}
	if n-1 > uint64(len(r.s)-r.i) { // every element takes at least one byte
		r.fail()
		return 0, true
	}
	return int(n - 1), false
}

func (r *decoder) boolean() bool { return r.byte1() != 0 }

// Known roles, statuses, priorities and kinds decode to the package's
// constants, not to substrings, so they hold nothing alive.
var (
	roles      = []conv.Role{conv.RoleAgent, conv.RoleAssistant, conv.RoleContact, conv.RoleVisitor, conv.RoleSupervisor, conv.RoleSystem}
	statuses   = []conv.Status{conv.StatusOpen, conv.StatusResolved, conv.StatusSnoozed}
	priorities = []conv.Priority{conv.PriorityLow, conv.PriorityMedium, conv.PriorityHigh, conv.PriorityUrgent}
)

func intern[T ~string](known []T, s string) T {
	for _, k := range known {
		if string(k) == s {
			return k
		}
	}
	return T(s)
}

func (w *encoder) participant(p conv.Participant) {
	w.str(p.ID)
	w.str(string(p.Role))
	w.str(p.Name)
}

func (r *decoder) participant() conv.Participant {
	return conv.Participant{ID: r.str(), Role: intern(roles, r.str()), Name: r.str()}
}

// encodeEvent appends the binary form of e to b (a fresh slice of exactly
// eventLen(e) bytes if b is nil).
func encodeEvent(b []byte, e conv.Event) []byte {
	if b == nil {
		b = make([]byte, 0, eventLen(e))
	}
	w := encoder{b: b}
	w.byte1(codecVersion)
	w.str(e.ID)
	w.uvarint(e.Seq)
	w.str(e.Conv)
	w.str(string(e.Kind))
	w.participant(e.Actor)
	w.str(e.Device)
	w.uvarint(e.Mid)
	w.varint(e.At)
	w.uvarint(e.Base)
	w.str(e.Cause)
	w.count(len(e.Data), e.Data == nil)
	w.b = append(w.b, e.Data...)
	return w.b
}

// eventLen is the length of encodeEvent's output for e.
func eventLen(e conv.Event) int {
	str := func(s string) int { return uvarintLen(uint64(len(s))) + len(s) }
	n := 1 + str(e.ID) + uvarintLen(e.Seq) + str(e.Conv) + str(string(e.Kind)) +
		str(e.Actor.ID) + str(string(e.Actor.Role)) + str(e.Actor.Name) + str(e.Device) +
		uvarintLen(e.Mid) + uvarintLen(uint64(e.At)<<1^uint64(e.At>>63)) + uvarintLen(e.Base) + str(e.Cause) + len(e.Data)
	if e.Data == nil {
		return n + 1
	}
	return n + uvarintLen(uint64(len(e.Data))+1)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// decodeEvent parses an event written by encodeEvent. Data is a fresh copy.
func decodeEvent(s string) (conv.Event, error) {
	r := decoder{s: s}
	return r.event()
}

func (r *decoder) event() (conv.Event, error) {
	if v := r.byte1(); v != codecVersion {
		return conv.Event{}, fmt.Errorf("store: event format %d: %w", v, errCorrupt)
	}
	var e conv.Event
	e.ID = r.str()
	e.Seq = r.uvarint()
	e.Conv = r.str()
	e.Kind = intern(conv.Kinds, r.str())
	e.Actor = r.participant()
	e.Device = r.str()
	e.Mid = r.uvarint()
	e.At = r.varint()
	e.Base = r.uvarint()
	e.Cause = r.str()
	if n, isNil := r.count(); !isNil {
		if n > len(r.s)-r.i {
			r.fail()
		} else {
			e.Data = json.RawMessage(r.s[r.i : r.i+n])
			r.i += n
		}
	}
	if r.err != nil {
		return conv.Event{}, r.err
	}
	return e, nil
}

// encodeConversation appends the binary form of c (never nil) to b.
func encodeConversation(b []byte, c *conv.Conversation) []byte {
	w := encoder{b: b}
	w.byte1(codecVersion)
	w.str(c.ID)
	w.participant(c.Contact)
	w.str(c.Channel)
	w.str(c.Subject)
	w.participant(c.CreatedBy)
	w.varint(c.CreatedAt)
	w.uvarint(c.CreatedSeq)
	w.str(string(c.Status))
	w.str(string(c.Priority))
	w.count(len(c.Tags), c.Tags == nil)
	for _, t := range c.Tags {
		w.str(t)
	}
	w.boolean(c.Assignee != nil)
	if c.Assignee != nil {
		w.participant(*c.Assignee)
	}
	w.count(len(c.Participants), c.Participants == nil)
	for _, p := range c.Participants {
		w.participant(p)
	}
	if c.Attributes == nil {
		w.count(0, true)
	} else {
		j, err := json.Marshal(c.Attributes)
		if err != nil { // attribute values are JSON scalars; they always marshal
			panic(fmt.Sprintf("store: marshal attributes: %v", err))
		}
		w.count(len(j), false)
		w.b = append(w.b, j...)
	}
	w.str(c.AssistantID)
	w.boolean(c.AssistantMode)
	w.boolean(c.Thread != nil)
	if t := c.Thread; t != nil {
		w.str(t.ID)
		w.str(t.Topic)
		w.uvarint(t.StartedSeq)
		w.varint(t.StartedAt)
	}
	w.uvarint(uint64(c.Threads))
	w.count(len(c.Seen), c.Seen == nil)
	if len(c.Seen) > 0 {
		ids := make([]string, 0, len(c.Seen))
		for id := range c.Seen {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			w.str(id)
			w.uvarint(c.Seen[id])
		}
	}
	w.uvarint(c.LastSeq)
	w.uvarint(c.LastItemSeq)
	w.uvarint(c.LastContactSeq)
	w.varint(c.LastActivityAt)
	w.str(c.LastMessage)
	w.participant(c.LastMessageBy)
	w.uvarint(uint64(c.Messages))
	w.uvarint(uint64(c.Notes))
	// Fields added later go last: a value written before them ends here,
	// and a binary from before them stops reading here.
	w.str(c.ContactEmail)
	w.varint(c.SnoozedUntil)
	w.uvarint(uint64(len(c.Replies))) // the library's saved replies (conv.LibraryID)
	for _, rp := range c.Replies {
		w.str(rp.ID)
		w.str(rp.Title)
		w.str(rp.Text)
		w.str(rp.Shortcut)
	}
	return w.b
}

func (r *decoder) conversation() (*conv.Conversation, error) {
	if v := r.byte1(); v != codecVersion {
		return nil, fmt.Errorf("store: conversation format %d: %w", v, errCorrupt)
	}
	c := &conv.Conversation{}
	c.ID = r.str()
	c.Contact = r.participant()
	c.Channel = r.str()
	c.Subject = r.str()
	c.CreatedBy = r.participant()
	c.CreatedAt = r.varint()
	c.CreatedSeq = r.uvarint()
	c.Status = intern(statuses, r.str())
	c.Priority = intern(priorities, r.str())
	if n, isNil := r.count(); !isNil {
		c.Tags = make([]string, n)
		for i := range c.Tags {
			c.Tags[i] = r.str()
		}
	}
	if r.boolean() {
		a := r.participant()
		c.Assignee = &a
	}
	if n, isNil := r.count(); !isNil {
		c.Participants = make([]conv.Participant, n)
		for i := range c.Participants {
			c.Participants[i] = r.participant()
		}
	}
	if n, isNil := r.count(); !isNil {
		if n > len(r.s)-r.i {
			r.fail()
		} else {
			if err := json.Unmarshal([]byte(r.s[r.i:r.i+n]), &c.Attributes); err != nil {
				r.fail()
			}
			r.i += n
			if c.Attributes == nil && r.err == nil {
				c.Attributes = map[string]any{}
			}
		}
	}
	c.AssistantID = r.str()
	c.AssistantMode = r.boolean()
	if r.boolean() {
		c.Thread = &conv.Thread{ID: r.str(), Topic: r.str(), StartedSeq: r.uvarint(), StartedAt: r.varint()}
	}
	c.Threads = int(r.uvarint())
	if n, isNil := r.count(); !isNil {
		c.Seen = make(map[string]uint64, n)
		for range n {
			id := r.str()
			c.Seen[id] = r.uvarint()
		}
	}
	c.LastSeq = r.uvarint()
	c.LastItemSeq = r.uvarint()
	c.LastContactSeq = r.uvarint()
	c.LastActivityAt = r.varint()
	c.LastMessage = r.str()
	c.LastMessageBy = r.participant()
	c.Messages = int(r.uvarint())
	c.Notes = int(r.uvarint())
	if r.i < len(r.s) { // written since contact profiles
		c.ContactEmail = r.str()
	}
	if r.i < len(r.s) { // written since snooze
		c.SnoozedUntil = r.varint()
	}
	if r.i < len(r.s) { // written since saved replies
		n := r.uvarint()
		if n > uint64(len(r.s)-r.i) { // each reply takes at least four bytes
			r.fail()
			n = 0
		}
		if n > 0 {
			c.Replies = make([]conv.Reply, n)
			for i := range c.Replies {
				c.Replies[i] = conv.Reply{ID: r.str(), Title: r.str(), Text: r.str(), Shortcut: r.str()}
			}
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

// A row value ('c' table, and each row of a snapshot chunk) is the
// canonical unread count, the summary the inbox sorts and filters on, then
// the conversation's encoding. Opening decodes the summary only.
//
//	rowFormat | unread | status | priority | lastActivityAt | assignee | tags | snoozedUntil | flags | conversation
//
// A row written before the summary's history (first byte codecVersion)
// ends at tags; such a store is derived again when it opens (derivedFormat).
const rowFormat byte = 3

// Bits of a row's flags.
const (
	rowBot        byte = 1 << 0
	rowNeedsHuman byte = 1 << 1
)

func encodeRow(unread int, k *canonical) []byte {
	return appendRow(make([]byte, 0, 40+len(k.enc)), unread, k)
}

func appendRow(b []byte, unread int, k *canonical) []byte {
	w := encoder{b: b}
	w.byte1(rowFormat)
	w.uvarint(uint64(unread))
	w.str(string(k.sum.Status))
	w.str(string(k.sum.Priority))
	w.varint(k.sum.LastActivityAt)
	w.str(k.sum.Assignee)
	w.count(len(k.sum.Tags), k.sum.Tags == nil)
	for _, t := range k.sum.Tags {
		w.str(t)
	}
	w.varint(k.sum.SnoozedUntil)
	var flags byte
	if k.sum.Bot {
		flags |= rowBot
	}
	if k.sum.NeedsHuman {
		flags |= rowNeedsHuman
	}
	w.byte1(flags)
	w.b = append(w.b, k.enc...)
	return w.b
}

// decodeRow parses a row value; the strings it returns share s.
func decodeRow(s string) (id string, unread int, k *canonical, err error) {
	r := decoder{s: s}
	v := r.byte1()
	if v != rowFormat && v != codecVersion {
		return "", 0, nil, fmt.Errorf("store: row format %d: %w", v, errCorrupt)
	}
	unread = int(r.uvarint())
	k = &canonical{}
	k.sum.Status = intern(statuses, r.str())
	k.sum.Priority = intern(priorities, r.str())
	k.sum.LastActivityAt = r.varint()
	k.sum.Assignee = r.str()
	if n, isNil := r.count(); !isNil {
		k.sum.Tags = make([]string, n)
		for i := range k.sum.Tags {
			k.sum.Tags[i] = r.str()
		}
	}
	if v == rowFormat {
		k.sum.SnoozedUntil = r.varint()
		flags := r.byte1()
		k.sum.Bot, k.sum.NeedsHuman = flags&rowBot != 0, flags&rowNeedsHuman != 0
	}
	if r.err != nil {
		return "", 0, nil, r.err
	}
	k.enc = s[r.i:]
	// The conversation's id comes right after its format byte.
	id = (&decoder{s: k.enc, i: 1}).str()
	if len(k.enc) == 0 || k.enc[0] != codecVersion || id == "" {
		return "", 0, nil, errCorrupt
	}
	k.sum.Library = conv.IsLibrary(id)
	return id, unread, k, nil
}

// encodePending is the 'p' value.
func encodePending(p *Pending) []byte {
	w := encoder{b: make([]byte, 0, 128+len(p.Event.Data))}
	w.byte1(codecVersion)
	w.byte1(byte(p.State))
	w.uvarint(p.Seq)
	w.boolean(p.Err != nil)
	if p.Err != nil {
		w.str(string(p.Err.Code))
		w.str(p.Err.Message)
	}
	return encodeEvent(w.b, p.Event)
}

func decodePending(s string) (*Pending, error) {
	r := decoder{s: s}
	if v := r.byte1(); v != codecVersion {
		return nil, fmt.Errorf("store: outbox format %d: %w", v, errCorrupt)
	}
	p := &Pending{State: State(r.byte1()), Seq: r.uvarint()}
	if r.boolean() {
		p.Err = &conv.Error{Code: conv.Code(r.str()), Message: r.str()}
	}
	e, err := r.event()
	if err != nil {
		return nil, err
	}
	if p.State < StatePending || p.State > StateFailed {
		return nil, errCorrupt
	}
	p.Event = e
	return p, nil
}

// runTag starts the value of a run of timeline items ('t' table, keys.go):
// runTag, the count of items after the first, then each one's distance
// from the one before; the first is the key's seq. An empty value is a
// single item; a value that starts with an event format byte (stores
// written before runs) is a single item holding its event. runTag is no
// event format byte.
const runTag byte = 0xff

// appendRun appends the value of a run of items at seqs (ascending, not
// empty) to b: empty for a single item.
func appendRun(b []byte, seqs []uint64) []byte {
	if len(seqs) < 2 {
		return b
	}
	w := encoder{b: b}
	w.byte1(runTag)
	w.uvarint(uint64(len(seqs) - 1))
	for i := 1; i < len(seqs); i++ {
		w.uvarint(seqs[i] - seqs[i-1])
	}
	return w.b
}

// itemRun appends to seqs the seqs of the timeline entry with key seq
// first and value v, ascending. held is v when the entry is one item that
// holds its event (the format before items pointed at the log), else nil.
func itemRun(seqs []uint64, first uint64, v []byte) (_ []uint64, held []byte, err error) {
	switch {
	case len(v) == 0:
		return append(seqs, first), nil, nil
	case v[0] != runTag:
		return append(seqs, first), v, nil
	}
	r := decoder{s: string(v[1:])} // small: the copy is cheap
	n := r.uvarint()
	if n > uint64(len(r.s)) { // every distance takes at least a byte
		return seqs, nil, fmt.Errorf("store: timeline run of %d items: %w", n, errCorrupt)
	}
	seqs = append(seqs, first)
	at := first
	for range n {
		d := r.uvarint()
		if d == 0 || at+d < at {
			r.fail()
			break
		}
		at += d
		seqs = append(seqs, at)
	}
	if r.err != nil || r.i != len(r.s) {
		return seqs, nil, fmt.Errorf("store: timeline run at %d: %w", first, errCorrupt)
	}
	return seqs, nil, nil
}

// storeFormat is the store's layout as a whole, kept in the meta: the
// newest layout its keys may be in. A binary refuses a store of a later
// format (ErrNewerStore) rather than misreading it. Format 1 is timeline
// items as runs of seqs pointing at the log; format 2, rows whose summary
// carries its history (the latest message's time, a handoff waiting for a
// human), the snooze and the assistant mode (rowFormat), derived with rule
// 8 as rewritten (unread is the other side's messages). Stores written
// before formats carry none (0), and this binary reads every layout they
// may hold. Every meta write stamps the format of the binary writing.
const storeFormat = 2

// derivedFormat is the oldest format whose derived tables this binary
// takes as they are: a store of an older one is rebuilt from its log when
// it opens (once; a few seconds for a big store).
const derivedFormat = 2

// meta flags: an interrupted Reset or Rebuild is finished when the store opens.
const (
	flagResetting  byte = 1 << 0
	flagRebuilding byte = 1 << 1
)

type metaValue struct {
	Epoch  string
	Seq    uint64
	Mid    uint64
	Gen    uint64 // bumped by every write that changes a conversation row
	Flags  byte
	Me     string // the local participant the unread counts are for
	Format uint64 // storeFormat of the binary that wrote it; 0 before formats
}

func encodeMeta(m metaValue) []byte {
	w := encoder{}
	w.byte1(codecVersion)
	w.str(m.Epoch)
	w.uvarint(m.Seq)
	w.uvarint(m.Mid)
	w.uvarint(m.Gen)
	w.byte1(m.Flags)
	w.str(m.Me)
	w.uvarint(storeFormat)
	return w.b
}

func decodeMeta(s string) (metaValue, error) {
	r := decoder{s: s}
	if v := r.byte1(); v != codecVersion {
		return metaValue{}, fmt.Errorf("store: meta format %d: %w", v, errCorrupt)
	}
	m := metaValue{Epoch: r.str(), Seq: r.uvarint(), Mid: r.uvarint(), Gen: r.uvarint(), Flags: r.byte1()}
	if r.i < len(r.s) { // written since the meta has Me
		m.Me = r.str()
	}
	if r.i < len(r.s) { // written since the meta has Format
		m.Format = r.uvarint()
	}
	if r.err != nil {
		return metaValue{}, r.err
	}
	return m, nil
}
