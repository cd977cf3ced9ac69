package protocol

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// The frames both sides send often, encoded without reflection. Each writes
// the bytes encoding/json writes for the frame's struct (FuzzEncode checks
// it); the rest (hello, welcome) go through encoding/json.

const (
	eventsHead = `{"type":"events","events":[`
	pushHead   = `{"type":"push","events":[`
	framesTail = `]}`
)

// MaxEventsBytes is how many bytes of events one events or push frame
// holds under MaxFrameBytes: their JSON and a comma after each. (A single
// event over it cannot be sent in a frame at all.)
const MaxEventsBytes = MaxFrameBytes - len(eventsHead) - len(framesTail)

// AppendEvent appends e's JSON to b as encoding/json writes a conv.Event
// (same fields, same omitempty, strings escaped alike) and returns the
// extended buffer.
//
// e.Data is copied as it is, not re-validated: it must be valid JSON, such
// as conv.MustData makes. (encoding/json would also compact it and escape
// <, > and & in it; data from conv.MustData already is so, and no decoder
// sees the difference.)
func AppendEvent(b []byte, e *conv.Event) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, e.Seq, 10)
	b = append(b, `,"conv":`...)
	b = appendString(b, e.Conv)
	b = append(b, `,"kind":`...)
	b = appendString(b, string(e.Kind))
	// The actor written here, not through appendParticipant: a call per
	// event costs a backlog page's encoding about 2%.
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

func appendParticipant(b []byte, p *conv.Participant) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, p.ID)
	b = append(b, `,"role":`...)
	b = appendString(b, string(p.Role))
	if p.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, p.Name)
	}
	return append(b, '}')
}

// appendString appends s as encoding/json writes a string. Plain strings
// (the common case: ids, kinds) are copied as they are; anything with a
// quote, backslash, control character, <, >, &, invalid UTF-8 or
// U+2028/U+2029 goes through encoding/json.
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

// EventsFrame builds an events frame of events' JSON (AppendEvent's, or as
// the relay's log keeps it), in order. Keeping them under MaxEventsBytes
// and BacklogPage is the caller's part.
func EventsFrame(events [][]byte) []byte { return frameOf(eventsHead, events) }

// PushFrame builds a push frame of events' JSON (AppendEvent's), in order.
// Keeping them under MaxEventsBytes and MaxPushEvents is the caller's part.
func PushFrame(events [][]byte) []byte { return frameOf(pushHead, events) }

func frameOf(head string, events [][]byte) []byte {
	size := len(head) + len(framesTail)
	for _, e := range events {
		size += len(e) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, head...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e...)
	}
	return append(b, framesTail...)
}

// AckFrame builds the ack of a push: each result {id, seq} or
// {id, error: {code, message}}, as Result.MarshalJSON writes it.
func AckFrame(results []Result) []byte {
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

// CaughtUpFrame builds the frame that ends a backlog at cursor c.
func CaughtUpFrame(c Cursor) []byte {
	b := make([]byte, 0, 64+len(c.Epoch))
	b = append(b, `{"type":"caughtUp","cursor":{"epoch":`...)
	b = appendString(b, c.Epoch)
	b = append(b, `,"seq":`...)
	b = strconv.AppendUint(b, c.Seq, 10)
	return append(b, `}}`...)
}

// ErrorFrame builds an error frame, NewError(code, message, fatal)'s JSON.
func ErrorFrame(code, message string, fatal bool) []byte {
	b := make([]byte, 0, 64+len(code)+len(message))
	b = append(b, `{"type":"error","code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, message)
	b = append(b, `,"fatal":`...)
	b = strconv.AppendBool(b, fatal)
	return append(b, '}')
}

// TypingFrame builds a typing frame of t, whose Type it writes as
// TypeTyping whatever t.Type says.
func TypingFrame(t Typing) []byte {
	b := make([]byte, 0, 96+len(t.Conv))
	b = append(b, `{"type":"typing","conv":`...)
	b = appendString(b, t.Conv)
	if t.Participant != nil {
		b = append(b, `,"participant":`...)
		b = appendParticipant(b, t.Participant)
	}
	b = append(b, `,"on":`...)
	b = strconv.AppendBool(b, t.On)
	return append(b, '}')
}

// WelcomeFrame builds a welcome frame of w (through encoding/json: one per
// session), whose Type it writes as TypeWelcome whatever w.Type says.
func WelcomeFrame(w Welcome) []byte {
	w.Type = TypeWelcome
	b, err := json.Marshal(w)
	if err != nil {
		panic("protocol: encode welcome: " + err.Error()) // a plain struct always encodes
	}
	return b
}
