package relay

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// eventOverhead is about what appendEvent writes besides the data: field
// names, ids, numbers.
const eventOverhead = 320

// appendEvent appends e's JSON, as encoding/json would write conv.Event
// (same fields, same omitempty), without reflection and without
// re-validating e.Data: the relay only encodes events conv.Apply returned,
// whose data conv.MustData produced.
func appendEvent(b []byte, e *conv.Event) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"conv":`...)
	b = appendString(b, e.Conv)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"actor":{"id":`...)
	b = appendString(b, e.Actor.ID)
	b = append(b, `,"role":`...)
	b = appendString(b, string(e.Actor.Role))
	if e.Actor.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, e.Actor.Name)
	}
	b = append(b, '}')
	if e.Device != "" {
		b = append(b, `,"device":`...)
		b = appendString(b, e.Device)
	}
	if e.Mid != 0 {
		b = append(b, `,"mid":`...)
		b = strconv.AppendUint(b, e.Mid, 10)
	}
	b = append(b, `,"at":`...)
	b = strconv.AppendInt(b, e.At, 10)
	b = append(b, `,"base":`...)
	b = strconv.AppendUint(b, e.Base, 10)
	if e.Cause != "" {
		b = append(b, `,"cause":`...)
		b = appendString(b, e.Cause)
	}
	if len(e.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, e.Data...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Plain strings (the common case:
// ids, kinds) are copied as they are; anything with a quote, backslash,
// control character, invalid UTF-8 or U+2028/U+2029 goes through
// encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// ackFrame encodes an ack as protocol.Ack's JSON: each result {id, seq} or
// {id, error: {code, message}}.
func ackFrame(results []protocol.Result) []byte {
	b := make([]byte, 0, 32+len(results)*64)
	b = append(b, `{"type":"ack","results":[`...)
	for i := range results {
		r := &results[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":`...)
		b = appendString(b, r.ID)
		if r.Error != nil {
			b = append(b, `,"error":{"code":`...)
			b = appendString(b, string(r.Error.Code))
			b = append(b, `,"message":`...)
			b = appendString(b, r.Error.Message)
			b = append(b, `}}`...)
		} else {
			b = append(b, `,"seq":`...)
			b = strconv.AppendUint(b, r.Seq, 10)
			b = append(b, '}')
		}
	}
	return append(b, `]}`...)
}
