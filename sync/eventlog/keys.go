package eventlog

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/threadline/threadline/sync/protocol"
)

// Badger key layout. Every key starts with a one-byte table prefix, then the
// workspace id as a length-prefixed string (one length byte, then the bytes),
// then the table's own fields. Strings are length-prefixed the same way and
// numbers are fixed-width big-endian, so a prefix scan returns keys in order
// (by seq for the tables that end in one).
//
//	'E' ws                                  → epoch (string)
//	'e' ws seq(8)                           → event JSON, as delivered (seq set)
//	'i' ws conv lastSeq(8)                  → the conversation index: the seqs of conv's events
//	                                          logged by one commit, lastSeq the largest
//	                                          (see appendSeqs)
//	's' ws conv                             → conv.Conversation JSON: current state
//	'o' ws participant conv                 → since(8): participant's conversations and the seq it got each
//	'm' ws identity device                  → highest processed mid(8)
//	'r' ws identity device lastMid(8)       → the results of the mids of (identity, device)
//	                                          one commit processed, lastMid the largest
//	                                          (see appendResults)
//	'v' ws sha256(visitor token)(32)        → visitor participant id, NUL, contact id it identified as,
//	                                          then NUL seq(8): VisitorToken.Seq (older
//	                                          values end with the contact id: seq 0)
//	'a' ws contact device                   → the visitor id the device was (Alias)
//	'c' ws lastSeq(8) conv                  → empty: the changed index, one key per conversation,
//	                                          at the seq of its latest event (Conversations)
//	'C' ws                                  → the changed index's format (1); when absent, Open
//	                                          rebuilds the index from the states
//	'h'                                     → health probe (last write time)
//
// Strings are at most 255 bytes (ids are at most conv.MaxIDChars).
const (
	tEpoch         = 'E'
	tEvent         = 'e'
	tIndex         = 'i'
	tState         = 's'
	tOwner         = 'o'
	tMid           = 'm'
	tResult        = 'r'
	tVisitor       = 'v'
	tAlias         = 'a'
	tHealth        = 'h'
	tChanged       = 'c'
	tChangedFormat = 'C'
)

var errKeyPart = errors.New("eventlog: key part longer than 255 bytes")

type keyBuf []byte

func newKey(table byte, ws string) keyBuf {
	k := make(keyBuf, 0, 64)
	k = append(k, table)
	return k.str(ws)
}

func (k keyBuf) str(s string) keyBuf {
	if len(s) > 255 {
		panic(errKeyPart) // callers validate lengths first; see checkKeyPart
	}
	k = append(k, byte(len(s)))
	return append(k, s...)
}

func (k keyBuf) u64(n uint64) keyBuf { return binary.BigEndian.AppendUint64(k, n) }

func (k keyBuf) raw(b []byte) keyBuf { return append(k, b...) }

func checkKeyPart(what, s string) error {
	if len(s) > 255 {
		return fmt.Errorf("%s is %d bytes; at most 255: %w", what, len(s), errKeyPart)
	}
	return nil
}

func epochKey(ws string) []byte             { return newKey(tEpoch, ws) }
func eventPrefix(ws string) []byte          { return newKey(tEvent, ws) }
func eventKey(ws string, seq uint64) []byte { return newKey(tEvent, ws).u64(seq) }
func indexPrefix(ws, conv string) []byte    { return newKey(tIndex, ws).str(conv) }
func indexKey(ws, conv string, seq uint64) []byte {
	return newKey(tIndex, ws).str(conv).u64(seq)
}
func stateKey(ws, conv string) []byte           { return newKey(tState, ws).str(conv) }
func ownerPrefix(ws, participant string) []byte { return newKey(tOwner, ws).str(participant) }
func ownerKey(ws, participant, conv string) []byte {
	return newKey(tOwner, ws).str(participant).str(conv)
}
func midKey(ws, identity, device string) []byte { return newKey(tMid, ws).str(identity).str(device) }
func resultPrefix(ws, identity, device string) []byte {
	return newKey(tResult, ws).str(identity).str(device)
}
func resultKey(ws, identity, device string, mid uint64) []byte {
	return newKey(tResult, ws).str(identity).str(device).u64(mid)
}
func visitorKey(ws string, tokenHash [32]byte) []byte { return newKey(tVisitor, ws).raw(tokenHash[:]) }

func aliasKey(ws, contact, device string) []byte { return newKey(tAlias, ws).str(contact).str(device) }

func changedPrefix(ws string) []byte { return newKey(tChanged, ws) }
func changedKey(ws string, seq uint64, conv string) []byte {
	return newKey(tChanged, ws).u64(seq).str(conv)
}
func changedFormatKey(ws string) []byte { return newKey(tChangedFormat, ws) }

var healthKey = []byte{tHealth}

// seqAtEnd reads the big-endian seq that ends key k.
func seqAtEnd(k []byte) uint64 {
	if len(k) < 8 {
		return 0
	}
	return binary.BigEndian.Uint64(k[len(k)-8:])
}

// lastStr reads the length-prefixed string that ends key k after prefix p.
func lastStr(k, p []byte) string {
	if len(k) <= len(p) {
		return ""
	}
	rest := k[len(p):]
	n := int(rest[0])
	if len(rest) < 1+n {
		return ""
	}
	return string(rest[1 : 1+n])
}

// appendSeqs encodes ascending seqs: a count, the first, then the gaps, as
// uvarints.
func appendSeqs(b []byte, seqs []uint64) []byte {
	b = binary.AppendUvarint(b, uint64(len(seqs)))
	var prev uint64
	for _, s := range seqs {
		b = binary.AppendUvarint(b, s-prev)
		prev = s
	}
	return b
}

func decodeSeqs(b []byte) ([]uint64, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errors.New("eventlog: corrupt conversation index")
	}
	b = b[k:]
	seqs := make([]uint64, 0, n)
	var prev uint64
	for range n {
		d, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errors.New("eventlog: corrupt conversation index")
		}
		b = b[k:]
		prev += d
		seqs = append(seqs, prev)
	}
	return seqs, nil
}

// appendResults encodes (mid, result) pairs: for each, the mid and the
// encoded result's length as uvarints, then the result (encodeResult).
func appendResults(b []byte, rs []MidResult) []byte {
	for _, r := range rs {
		enc := encodeResult(r.Result)
		b = binary.AppendUvarint(b, r.Mid)
		b = binary.AppendUvarint(b, uint64(len(enc)))
		b = append(b, enc...)
	}
	return b
}

// findResult looks mid up in an appendResults encoding.
func findResult(b []byte, mid uint64) (protocol.Result, bool, error) {
	for len(b) > 0 {
		m, k := binary.Uvarint(b)
		if k <= 0 {
			break
		}
		b = b[k:]
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			break
		}
		b = b[k:]
		if m == mid {
			r, err := decodeResult(b[:n])
			return r, err == nil, err
		}
		b = b[n:]
	}
	if len(b) > 0 {
		return protocol.Result{}, false, errBadResult
	}
	return protocol.Result{}, false, nil
}
