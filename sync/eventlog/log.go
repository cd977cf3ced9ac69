package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Log is the relay's durable, ordered store: one gap-free log of events per
// workspace, plus what the relay must remember to validate and answer
// resends. The relay calls Append from one goroutine per workspace and
// everything else from any goroutine.
//
// The embedded implementation is Badger. A NATS JetStream implementation
// (DESIGN §6) maps a workspace to a stream, seq to the stream sequence,
// Append to a batch publish with Nats-Msg-Id de-duplication, and the indexes
// below to key-value buckets.
type Log interface {
	// Open returns the workspace's epoch and head (newest seq, 0 when
	// empty). The first Open of a workspace creates its log and a random
	// epoch; later ones, across restarts, return the same epoch.
	Open(ws string) (epoch string, head uint64, err error)

	// Append writes b atomically and durably: when it returns nil, all of b
	// survives a crash; when it fails, none of it is visible (unless it
	// called b.Durable: see there). b.Events continue the log gap-free from
	// the current head.
	Append(ws string, b *Batch) error

	// Scan calls fn with each event of ws with from <= seq <= to, in seq
	// order, as the JSON Append stored. fn may keep raw. A non-nil error from
	// fn stops the scan and is returned.
	Scan(ws string, from, to uint64, fn func(seq uint64, raw []byte) error) error

	// Events returns the stored JSON of the events with the given seqs, in
	// the same order.
	Events(ws string, seqs []uint64) ([][]byte, error)

	// ConversationSeqs returns the seqs of conversation id's events with
	// after < seq <= upTo, ascending.
	ConversationSeqs(ws, id string, after, upTo uint64) ([]uint64, error)

	// Conversation returns the current state of conversation id, or nil when
	// it does not exist.
	Conversation(ws, id string) (*conv.Conversation, error)

	// Owned returns the conversations that belong to participant (a contact
	// or visitor id), each with the seq at which it got it.
	Owned(ws, participant string) ([]Owned, error)

	// Conversations returns, from one consistent view of the log, the
	// states of ws's conversations whose latest event is above seq q.After,
	// by the seq of that event ascending: at most q.Limit of them, and
	// whether more follow. (The HTTP API lists "changed since a cursor"
	// with it.)
	Conversations(ws string, q ConversationQuery) ([]*conv.Conversation, bool, error)

	// LastMid returns the highest mid processed for (identity, device).
	LastMid(ws, identity, device string) (uint64, error)

	// Result returns what was answered for (identity, device, mid), if that
	// mid was processed.
	Result(ws, identity, device string, mid uint64) (protocol.Result, bool, error)

	// Visitor returns the visitor a visitor token (given by its SHA-256)
	// stands for.
	Visitor(ws string, tokenHash [32]byte) (v VisitorToken, ok bool, err error)

	// Alias returns the visitor that contact's device was before it last
	// identified there (Batch.Aliases), or "".
	Alias(ws, contact, device string) (visitor string, err error)

	// WebhookCursor returns the cursor last saved for webhook endpoint of
	// ws; ok is false when none was.
	WebhookCursor(ws, endpoint string) (c WebhookCursor, ok bool, err error)

	// SaveWebhookCursor saves endpoint's cursor durably: once it returns
	// nil, c survives a crash. One goroutine at a time saves a given
	// endpoint's; a save neither waits for Append nor delays it.
	SaveWebhookCursor(ws, endpoint string, c WebhookCursor) error

	// Check reports whether the log can take writes now.
	Check() error

	// Close flushes and closes the log. Nothing may be called afterwards.
	Close() error
}

// Pipelined is a Log that takes a workspace's next append before the one
// before it has ended (the JetStream log: the stream takes one relay's
// groups back to back instead of one round trip after the other). The
// relay calls both from the goroutine that would call Append.
type Pipelined interface {
	// StartAppend begins writing b and returns at once; what Append would
	// have returned arrives on the channel (b.Durable is not called). b
	// continues the append started before it (b.Head is that one's last
	// seq and b.After that one; or the head, with no After, when none is in
	// flight). Appends end in the order they started, and once one fails,
	// every one started after it fails too: a *BehindError when it was
	// behind, else an error wrapping its own. What of them the log took
	// anyway it delivers as another writer's (Shared).
	StartAppend(ws string, b *Batch) <-chan error

	// Ready reports whether an append started now goes out at once; when it
	// does not, the relay holds its next group back, to grow.
	Ready(ws string) bool
}

// ConversationQuery selects conversations for Log.Conversations.
type ConversationQuery struct {
	After  uint64      // whose latest event is above this seq
	Owner  string      // when set: only the conversations Owned by this participant
	Status conv.Status // when set: only those in this status…
	Now    int64       // …as shown at Now (Unix ms; Conversation.StatusAt) when set
	Limit  int         // at most this many (at least 1)
}

// Batch is what one group commit writes for a workspace.
type Batch struct {
	// Events to log, seqs head+1, head+2, … in order, with their JSON.
	Events []Record
	// States are the new states of the conversations the events changed.
	States []*conv.Conversation
	// Owners change which participant a conversation belongs to.
	Owners []Ownership
	// Results are the outcomes of processed mids; the log also raises each
	// (identity, device)'s highest processed mid to the largest one here.
	Results []MidResult
	// Visitors are new visitor tokens.
	Visitors []VisitorToken
	// Aliases are identifications, by device.
	Aliases []Alias

	// Head is the head b was validated against: Events continue it. A
	// shared log (JetStream) refuses b with a *BehindError when its head has
	// moved since, even when b logs no event (answers validated on an old
	// head would be answers one relay would not give).
	Head uint64

	// After is the batch b was validated on top of while that one was
	// still being appended (nil: on the log's head alone). A Pipelined log
	// refuses b as behind unless After is the last batch it started or
	// landed: validated on a batch that failed, b could otherwise continue
	// the log at the right seq on top of events it was never validated on.
	After *Batch

	// Durable, when not nil, is called by Append (on its goroutine, at
	// most once) as soon as all of b survives a crash, which may be before
	// the reads above return it. The relay acknowledges and fans out the
	// events from there, and keeps its readers behind until Append returns.
	// Once Durable is called b stays durable, even if Append then fails: a
	// log whose write failed after that point takes no more writes until a
	// restart recovers b. An implementation may also never call it.
	Durable func()
}

// Record is one event to log and its JSON encoding.
type Record struct {
	Event conv.Event
	JSON  []byte
}

// Owned is a conversation a participant owns, and the seq since when.
type Owned struct {
	Conv  string
	Since uint64
}

// Ownership adds (or, with Remove, removes) conversation Conv from the
// conversations of Participant, as of seq Since.
type Ownership struct {
	Participant string
	Conv        string
	Since       uint64
	Remove      bool
}

// MidResult is the outcome of one processed mid.
type MidResult struct {
	Identity, Device string
	Mid              uint64
	Result           protocol.Result
}

// VisitorToken maps a visitor token's SHA-256 to its visitor id, and to the
// contact it last identified as ("" if none) with Seq, the lowest cursor a
// device holds only once it has caught up as that contact: a cursor below it
// may still be the visitor's.
type VisitorToken struct {
	Hash    [32]byte
	ID      string
	Contact string
	Seq     uint64
}

// Alias says that a contact's device was visitor Visitor until it
// identified: what the device pushed as that visitor counts as the
// contact's there, so a pending event resent later, in a hello without the
// visitor token, is still answered as the first time.
type Alias struct {
	Contact, Device, Visitor string
}

// encodeResult writes r compactly: id length(1) id, then 0 seq(8), or 1 code
// length(1) code message.
func encodeResult(r protocol.Result) []byte {
	b := make([]byte, 0, 2+len(r.ID)+9)
	b = append(b, byte(min(len(r.ID), 255)))
	b = append(b, r.ID[:min(len(r.ID), 255)]...)
	if r.Error == nil {
		b = append(b, 0)
		return binary.BigEndian.AppendUint64(b, r.Seq)
	}
	code := string(r.Error.Code)
	b = append(b, 1, byte(min(len(code), 255)))
	b = append(b, code[:min(len(code), 255)]...)
	return append(b, r.Error.Message...)
}

var errBadResult = errors.New("eventlog: corrupt stored result")

func decodeResult(b []byte) (protocol.Result, error) {
	var r protocol.Result
	if len(b) < 2 {
		return r, errBadResult
	}
	n := int(b[0])
	if len(b) < 2+n {
		return r, errBadResult
	}
	r.ID = string(b[1 : 1+n])
	b = b[1+n:]
	switch b[0] {
	case 0:
		if len(b) != 9 {
			return r, errBadResult
		}
		r.Seq = binary.BigEndian.Uint64(b[1:])
	case 1:
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			return r, errBadResult
		}
		c := int(b[1])
		r.Error = &conv.Error{Code: conv.Code(b[2 : 2+c]), Message: string(b[2+c:])}
	default:
		return r, fmt.Errorf("%w: tag %d", errBadResult, b[0])
	}
	return r, nil
}
