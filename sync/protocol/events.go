package protocol

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// DecodeEvents decodes a frame of the shape both sides send most,
//
//	{"type":"<typ>","events":[{...}, ...]}
//
// (a Push with typ TypePush, an Events with typ TypeEvents) several times
// faster than encoding/json. It accepts only what it decodes exactly as
// encoding/json decodes it into a frame struct with `json:"type"` and
// `json:"events"` fields: "type" then "events" and no other key, event and
// actor keys spelled as conv tags them and each at most once, strings in
// valid UTF-8 (escapes are unquoted by encoding/json itself), plain
// integers, no nulls, and data of valid JSON nested at most 64 deep, kept as
// its raw bytes. Whitespace between tokens is allowed. On anything else it
// returns ok false and the caller falls back to encoding/json, which also
// gives the error for a bad frame. FuzzDecodeEvents checks the two agree.
//
// typ is one of the Type constants: plain ASCII, nothing to escape.
//
// An empty events array decodes as an empty, non-nil slice, as
// encoding/json makes it.
func DecodeEvents(frame []byte, typ string) (evs []conv.Event, ok bool) {
	p := eventParser{b: frame}
	p.ws()
	if !p.lit(`{`) || !p.key("type") || !p.quoted(typ) || !p.lit(`,`) || !p.key("events") || !p.lit(`[`) {
		return nil, false
	}
	evs = make([]conv.Event, 0, min(bytes.Count(frame, []byte(`"base":`)), maxEventsHint))
	if !p.lit(`]`) {
		for {
			var e conv.Event
			if !p.event(&e) {
				return nil, false
			}
			evs = append(evs, e)
			if p.lit(`]`) {
				break
			}
			if !p.lit(`,`) {
				return nil, false
			}
		}
	}
	if !p.lit(`}`) {
		return nil, false
	}
	return evs, p.i == len(p.b)
}

// maxEventsHint bounds the capacity DecodeEvents reserves up front from its
// count of "base" keys (every event encoding/json or the relay writes has
// one): a page or a push fits, a frame made of "base" keys cannot make it
// reserve more than this.
const maxEventsHint = 1024

// eventParser reads a frame from b at i. Each method consumes one token or
// value and the whitespace after it, and reports whether it could; on false
// the frame goes to encoding/json, so where i is left does not matter.
type eventParser struct {
	b []byte
	i int
}

func (p *eventParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// lit consumes s if it comes next.
func (p *eventParser) lit(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	p.ws()
	return true
}

// quoted consumes the string "s", s having nothing to escape.
func (p *eventParser) quoted(s string) bool {
	j := p.i + 1 + len(s)
	if j >= len(p.b) || p.b[p.i] != '"' || p.b[j] != '"' || string(p.b[p.i+1:j]) != s {
		return false
	}
	p.i = j + 1
	p.ws()
	return true
}

// key consumes "name" and the colon after it.
func (p *eventParser) key(name string) bool {
	k, ok := p.rawKey()
	return ok && string(k) == name
}

// rawKey consumes an object key and the colon after it, and returns the
// key's bytes. A key with an escape or a control character is refused; one
// with other bytes matches no field name, so is refused by the caller.
func (p *eventParser) rawKey() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			p.ws()
			return p.b[start:j], p.lit(`:`)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// str consumes a string value. It must be valid UTF-8; one with escapes is
// unquoted by encoding/json (the relay escapes <, >, & and quotes in names).
func (p *eventParser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	escaped, high := false, false
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			raw := p.b[start:j]
			if high && !utf8.Valid(raw) {
				return "", false // encoding/json would replace bytes: leave it to encoding/json
			}
			s, ok := string(raw), true
			if escaped {
				s, ok = unquote(p.b[start-1 : j+1])
			}
			if !ok {
				return "", false
			}
			p.i = j + 1
			p.ws()
			return s, true
		case c == '\\':
			escaped = true
			j++ // the escaped byte cannot end the string
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	return "", false
}

// unquote unquotes a JSON string with escapes as encoding/json does. (Its
// own function, so that only this rare path puts a string on the heap.)
func unquote(q []byte) (string, bool) {
	var s string
	err := json.Unmarshal(q, &s)
	return s, err == nil
}

// uint consumes a non-negative integer that fits a uint64: digits, no
// leading zero, no fraction or exponent.
func (p *eventParser) uint() (uint64, bool) {
	j := p.i
	var n uint64
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		d := uint64(p.b[j] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		j++
	}
	if j == p.i || (p.b[p.i] == '0' && j-p.i > 1) {
		return 0, false
	}
	if j < len(p.b) && (p.b[j] == '.' || p.b[j] == 'e' || p.b[j] == 'E') {
		return 0, false
	}
	p.i = j
	p.ws()
	return n, true
}

// int consumes an integer that fits an int64.
func (p *eventParser) int() (int64, bool) {
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	n, ok := p.uint()
	switch {
	case !ok:
		return 0, false
	case neg && n <= 1<<63:
		return -int64(n-1) - 1, true
	case !neg && n < 1<<63:
		return int64(n), true
	}
	return 0, false
}

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

func (p *eventParser) event(e *conv.Event) bool {
	if !p.lit(`{`) {
		return false
	}
	if p.lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := p.rawKey()
		if !ok {
			return false
		}
		var f int
		switch string(k) {
		case "id":
			f = fID
			e.ID, ok = p.str()
		case "seq":
			f = fSeq
			e.Seq, ok = p.uint()
		case "conv":
			f = fConv
			e.Conv, ok = p.str()
		case "kind":
			f = fKind
			var s string
			s, ok = p.str()
			e.Kind = conv.Kind(s)
		case "actor":
			f = fActor
			ok = p.participant(&e.Actor)
		case "device":
			f = fDevice
			e.Device, ok = p.str()
		case "mid":
			f = fMid
			e.Mid, ok = p.uint()
		case "at":
			f = fAt
			e.At, ok = p.int()
		case "base":
			f = fBase
			e.Base, ok = p.uint()
		case "cause":
			f = fCause
			e.Cause, ok = p.str()
		case "data":
			f = fData
			e.Data, ok = p.data()
		default:
			return false // another key, or one spelled otherwise: encoding/json matches keys case-insensitively
		}
		if !ok || seen&f != 0 {
			return false // a repeated key: encoding/json keeps the last, or merges a repeated actor
		}
		seen |= f
		if p.lit(`}`) {
			return true
		}
		if !p.lit(`,`) {
			return false
		}
	}
}

func (p *eventParser) participant(a *conv.Participant) bool {
	if !p.lit(`{`) {
		return false
	}
	if p.lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := p.rawKey()
		if !ok {
			return false
		}
		var f int
		var s string
		s, ok = p.str()
		switch string(k) {
		case "id":
			f, a.ID = 1, s
		case "role":
			f, a.Role = 2, conv.Role(s)
		case "name":
			f, a.Name = 4, s
		default:
			return false
		}
		if !ok || seen&f != 0 {
			return false
		}
		seen |= f
		if p.lit(`}`) {
			return true
		}
		if !p.lit(`,`) {
			return false
		}
	}
}

// data consumes an event's data and returns a copy of its bytes, as
// json.RawMessage keeps them. A null is refused: encoding/json would keep
// "null", but the relay never logs it (conv.Apply re-marshals data).
func (p *eventParser) data() ([]byte, bool) {
	start := p.i
	if (p.i < len(p.b) && p.b[p.i] == 'n') || !p.skipValue(0) {
		return nil, false
	}
	d := bytes.Clone(p.b[start:p.i])
	p.ws()
	return d, true
}

// skipValue consumes one valid JSON value, without the whitespace after it.
// Strings may hold escapes here: data is kept raw and decoded later by conv.
func (p *eventParser) skipValue(depth int) bool {
	if depth > 64 || p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == '}' {
			p.i++
			return true
		}
		for {
			if !p.skipString() {
				return false
			}
			p.ws()
			if !p.lit(`:`) || !p.skipValue(depth+1) {
				return false
			}
			p.ws()
			if p.i >= len(p.b) {
				return false
			}
			switch p.b[p.i] {
			case '}':
				p.i++
				return true
			case ',':
				p.i++
				p.ws()
			default:
				return false
			}
		}
	case c == '[':
		p.i++
		p.ws()
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return true
		}
		for {
			if !p.skipValue(depth + 1) {
				return false
			}
			p.ws()
			if p.i >= len(p.b) {
				return false
			}
			switch p.b[p.i] {
			case ']':
				p.i++
				return true
			case ',':
				p.i++
				p.ws()
			default:
				return false
			}
		}
	case c == '"':
		return p.skipString()
	case c == 't':
		return p.word("true")
	case c == 'f':
		return p.word("false")
	case c == 'n':
		return p.word("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.skipNumber()
	}
	return false
}

// word consumes s, without the whitespace after it.
func (p *eventParser) word(s string) bool {
	if len(p.b)-p.i < len(s) || string(p.b[p.i:p.i+len(s)]) != s {
		return false
	}
	p.i += len(s)
	return true
}

// skipString consumes a valid JSON string in valid UTF-8 (escapes allowed).
func (p *eventParser) skipString() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	start := p.i + 1
	high := false
	for j := start; j < len(p.b); {
		c := p.b[j]
		switch {
		case c == '"':
			if high && !utf8.Valid(p.b[start:j]) {
				return false // encoding/json keeps it raw, conv would replace it: leave it to encoding/json
			}
			p.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(p.b) {
				return false
			}
			switch p.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(p.b) {
					return false
				}
				for _, h := range p.b[j+2 : j+6] {
					if !(h >= '0' && h <= '9' || h >= 'a' && h <= 'f' || h >= 'A' && h <= 'F') {
						return false
					}
				}
				j += 6
			default:
				return false
			}
		case c >= utf8.RuneSelf:
			high = true
			j++
		default:
			j++
		}
	}
	return false
}

// skipNumber consumes a JSON number.
func (p *eventParser) skipNumber() bool {
	j := p.i
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(p.b) && p.b[j] == '0' {
		j++
	} else if digits() == 0 {
		return false
	}
	if j < len(p.b) && p.b[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	p.i = j
	return true
}
