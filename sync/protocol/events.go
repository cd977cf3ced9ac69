package protocol

import (
	"bytes"

	"github.com/threadline/threadline/backend/conv"
)

// DecodeEvents decodes an events frame,
//
//	{"type":"events","events":[{...}, ...]}
//
// several times faster than encoding/json. It accepts only what it decodes
// exactly as encoding/json decodes it into Events: "type" then "events" and
// no other key, event and actor keys spelled as conv tags them and each at
// most once, strings in valid UTF-8 (escapes are unquoted by encoding/json
// itself), plain integers, no nulls, and data of valid JSON nested at most
// 64 deep, kept as its raw bytes. Whitespace between tokens is allowed. On
// anything else it returns ok false and the caller falls back to
// encoding/json, which also gives the error for a bad frame.
// FuzzDecodeEvents checks the two agree.
//
// An empty events array decodes as an empty, non-nil slice, as
// encoding/json makes it.
func DecodeEvents(frame []byte) (evs []conv.Event, ok bool) {
	return decodeEvents(frame, TypeEvents)
}

// DecodePush decodes a push frame, {"type":"push","events":[...]}, as
// DecodeEvents decodes an events frame: what it accepts, encoding/json
// decodes into Push the same.
func DecodePush(frame []byte) (evs []conv.Event, ok bool) {
	return decodeEvents(frame, TypePush)
}

// decodeEvents decodes {"type":"<typ>","events":[...]}, typ being one of
// the Type constants: plain ASCII, nothing to escape.
func decodeEvents(frame []byte, typ string) (evs []conv.Event, ok bool) {
	s := conv.NewJSONScanner(frame)
	if !s.Lit(`{`) || !key(&s, "type") || !s.Quoted(typ) || !s.Lit(`,`) || !key(&s, "events") || !s.Lit(`[`) {
		return nil, false
	}
	evs = make([]conv.Event, 0, min(bytes.Count(frame, []byte(`"base":`)), maxEventsHint))
	if !s.Lit(`]`) {
		for {
			var e conv.Event
			if !event(&s, &e) {
				return nil, false
			}
			evs = append(evs, e)
			if s.Lit(`]`) {
				break
			}
			if !s.Lit(`,`) {
				return nil, false
			}
		}
	}
	return evs, s.Lit(`}`) && s.End()
}

// maxEventsHint bounds the capacity DecodeEvents reserves up front from its
// count of "base" keys (every event encoding/json or the relay writes has
// one): a page or a push fits, a frame made of "base" keys cannot make it
// reserve more than this.
const maxEventsHint = 1024

// Event fields, as bits, to refuse repeated keys.
const (
	fID = 1 << iota
	fSeq
	fConv
	fKind
	fActor
	fDevice
	fMid
	fAt
	fBase
	fCause
	fData
)

// key consumes "name" and the colon after it.
func key(s *conv.JSONScanner, name string) bool {
	k, ok := s.Key()
	return ok && string(k) == name
}

// event consumes an event. (A loop of its own rather than through
// JSONScanner.Object: this one runs for every key of every event.)
func event(s *conv.JSONScanner, e *conv.Event) bool {
	if !s.Lit(`{`) {
		return false
	}
	if s.Lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := s.Key()
		if !ok {
			return false
		}
		var f int
		switch string(k) {
		case "id":
			f = fID
			e.ID, ok = s.Str()
		case "seq":
			f = fSeq
			e.Seq, ok = s.Uint()
		case "conv":
			f = fConv
			e.Conv, ok = s.Str()
		case "kind":
			f = fKind
			var v string
			v, ok = s.Str()
			e.Kind = conv.Kind(v)
		case "actor":
			f = fActor
			ok = participant(s, &e.Actor)
		case "device":
			f = fDevice
			e.Device, ok = s.Str()
		case "mid":
			f = fMid
			e.Mid, ok = s.Uint()
		case "at":
			f = fAt
			e.At, ok = s.Int()
		case "base":
			f = fBase
			e.Base, ok = s.Uint()
		case "cause":
			f = fCause
			e.Cause, ok = s.Str()
		case "data":
			f = fData
			e.Data, ok = data(s)
		default:
			return false // another key, or one spelled otherwise: encoding/json matches keys case-insensitively
		}
		if !ok || seen&f != 0 {
			return false // a repeated key: encoding/json keeps the last, or merges a repeated actor
		}
		seen |= f
		if s.Lit(`}`) {
			return true
		}
		if !s.Lit(`,`) {
			return false
		}
	}
}

func participant(s *conv.JSONScanner, a *conv.Participant) bool {
	if !s.Lit(`{`) {
		return false
	}
	if s.Lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := s.Key()
		if !ok {
			return false
		}
		var f int
		var v string
		v, ok = s.Str()
		switch string(k) {
		case "id":
			f, a.ID = 1, v
		case "role":
			f, a.Role = 2, conv.Role(v)
		case "name":
			f, a.Name = 4, v
		default:
			return false
		}
		if !ok || seen&f != 0 {
			return false
		}
		seen |= f
		if s.Lit(`}`) {
			return true
		}
		if !s.Lit(`,`) {
			return false
		}
	}
}

// data consumes an event's data and returns a copy of its bytes, as
// json.RawMessage keeps them. A null is refused: encoding/json would keep
// "null", but the relay never logs it (conv.Apply re-marshals data).
func data(s *conv.JSONScanner) ([]byte, bool) {
	v, ok := s.Value()
	if !ok || string(v) == "null" {
		return nil, false
	}
	return bytes.Clone(v), true
}
