package store

import (
	"encoding/binary"
	"fmt"
)

// Badger key layout. Every key starts with a one-byte table prefix; numbers
// are fixed-width big-endian, so a prefix scan returns keys in numeric order.
//
//	'm' 0x01                            meta: epoch, cursor seq, mid counter, flags, store format (metaValue)
//	'l' seq[8]                          canonical log: the event logged at seq
//	'p' mid[8]                          outbox: a local event by its mid, with its state (pending, sent, failed)
//	'c' conv[...]                       conversation row: canonical state + the local participant's unread count
//	't' len[1] conv[len] seq[8]         timeline items of conv: a run of canonical events that show in its timeline, the first at seq
//
// conv is the conversation id's bytes (at most conv.MaxIDChars = 128, so its
// length fits in one byte). In the timeline table the id is length-prefixed,
// so the items of "ab" never fall under the prefix of "abc".
//
// A timeline entry holds the seqs of the items one write added to a
// conversation (a run: a catch-up page makes one entry per conversation,
// not one per item); each item's event is the log's entry at its seq ('l'
// seq), so an event is written once. The value is empty for a run of one
// item (at the key's seq), else runTag and the seqs (codec.go). Runs of a
// conversation never overlap, so key order is item order. Stores written
// before runs hold one item per key, and before that the item held its
// event (encodeEvent) as its value; readers take all three (scanItems).
//
// Derived tables ('c', 't') can be dropped and rebuilt from 'l' and 'p'.
//
// Next to Badger's files, the snapshot file (snapshot.go) is a copy of the
// 'c' table written when the store closes; opening reads it instead of the
// rows when nothing changed since.
const (
	prefixMeta     byte = 'm'
	prefixLog      byte = 'l'
	prefixPending  byte = 'p'
	prefixConv     byte = 'c'
	prefixTimeline byte = 't'
)

var metaKey = []byte{prefixMeta, 0x01}

func logKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	binary.BigEndian.PutUint64(k[1:], seq)
	return k
}

func seqOfLogKey(k []byte) uint64 { return binary.BigEndian.Uint64(k[1:]) }

func pendingKey(mid uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixPending
	binary.BigEndian.PutUint64(k[1:], mid)
	return k
}

func convKey(id string) []byte {
	k := make([]byte, 1+len(id))
	k[0] = prefixConv
	copy(k[1:], id)
	return k
}

// itemPrefix is the prefix of every timeline item of conversation id.
func itemPrefix(id string) ([]byte, error) {
	if len(id) == 0 || len(id) > 255 {
		return nil, fmt.Errorf("store: conversation id of %d bytes", len(id))
	}
	k := make([]byte, 2+len(id), 2+len(id)+8)
	k[0] = prefixTimeline
	k[1] = byte(len(id))
	copy(k[2:], id)
	return k, nil
}

// itemKey is the key of conversation id's item at seq.
func itemKey(id string, seq uint64) ([]byte, error) {
	k, err := itemPrefix(id)
	if err != nil {
		return nil, err
	}
	return binary.BigEndian.AppendUint64(k, seq), nil
}

func seqOfItemKey(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }
