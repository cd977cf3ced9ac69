package client

import (
	"bytes"
	"encoding/json"
	"sync/atomic"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// decodeFrame decodes a frame from the relay into f.
//
// Events frames, nearly all of the bytes a device receives, take a fast
// path written for the relay's own encoding: exact field names, no nulls but
// in data. Anything it does not expect (another field, an escape it cannot
// take, a number it does not parse) sends the whole frame to encoding/json,
// so the result is always what encoding/json makes of the frame
// (FuzzDecodeFrame checks it). The fast path decodes a catch-up's events
// several times faster, which is most of a catch-up's cost on the device.
func decodeFrame(data []byte, f *inFrame) error {
	if bytes.HasPrefix(data, eventsPrefix) {
		if evs, ok := fastEvents(data[len(eventsPrefix):]); ok {
			*f = inFrame{Type: "events", Events: evs}
			return nil
		}
		slowEventsFrames.Add(1)
	}
	return json.Unmarshal(data, f)
}

var eventsPrefix = []byte(`{"type":"events","events":[`)

// slowEventsFrames counts the events frames the fast path handed to
// encoding/json (tests check that the relay's frames never need it).
var slowEventsFrames atomic.Int64

// fastEvents parses the rest of an events frame after its prefix: events,
// "]}" and nothing else.
func fastEvents(b []byte) ([]conv.Event, bool) {
	p := parser{b: b}
	evs := make([]conv.Event, 0, 64)
	p.ws()
	if p.peek() == ']' {
		p.i++
	} else {
		for {
			var e conv.Event
			if !p.event(&e) {
				return nil, false
			}
			evs = append(evs, e)
			p.ws()
			switch p.next() {
			case ',':
				p.ws()
				continue
			case ']':
			default:
				return nil, false
			}
			break
		}
	}
	p.ws()
	if p.next() != '}' {
		return nil, false
	}
	p.ws()
	return evs, p.i == len(p.b)
}

type parser struct {
	b []byte
	i int
}

func (p *parser) peek() byte {
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *parser) next() byte {
	if p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		return c
	}
	return 0
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object calls field for each key of an object; field parses the value and
// reports whether it could.
func (p *parser) object(field func(key []byte) bool) bool {
	p.ws()
	if p.next() != '{' {
		return false
	}
	p.ws()
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		p.ws()
		key, ok := p.rawKey()
		if !ok {
			return false
		}
		p.ws()
		if p.next() != ':' {
			return false
		}
		p.ws()
		if !field(key) {
			return false
		}
		p.ws()
		switch p.next() {
		case ',':
			continue
		case '}':
			return true
		}
		return false
	}
}

// rawKey reads an object key without escapes (a key with one goes to
// encoding/json).
func (p *parser) rawKey() ([]byte, bool) {
	if p.next() != '"' {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return p.b[start : p.i-1], true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// str reads a string. Plain ASCII and valid UTF-8 are taken as they are;
// a string with escapes is unquoted by encoding/json, which also decides
// what invalid UTF-8 becomes.
func (p *parser) str() (string, bool) {
	if p.next() != '"' {
		return "", false
	}
	start := p.i
	escaped, high := false, false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			raw := p.b[start : p.i-1]
			if !escaped && (!high || utf8.Valid(raw)) {
				return string(raw), true
			}
			var s string
			if err := json.Unmarshal(p.b[start-1:p.i], &s); err != nil {
				return "", false
			}
			return s, true
		case c == '\\':
			escaped = true
			p.i += 2 // the escaped byte cannot end the string
			continue
		case c < 0x20:
			return "", false
		case c >= 0x80:
			high = true
		}
		p.i++
	}
	return "", false
}

// uint reads a JSON integer that fits a uint64: digits, no sign, no
// leading zero, no fraction or exponent (anything else goes to
// encoding/json).
func (p *parser) uint() (uint64, bool) {
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		p.i++
	}
	switch {
	case p.i == start, p.i-start > 1 && p.b[start] == '0':
		return 0, false
	}
	switch p.peek() {
	case '.', 'e', 'E':
		return 0, false
	}
	return n, true
}

func (p *parser) int() (int64, bool) {
	neg := p.peek() == '-'
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

// raw reads any JSON value and returns a copy of its bytes. It only finds
// the value's end; encoding/json checks that the bytes are valid JSON.
func (p *parser) raw() ([]byte, bool) {
	start := p.i
	if !p.skip() {
		return nil, false
	}
	v := p.b[start:p.i]
	if !json.Valid(v) {
		return nil, false
	}
	return append([]byte(nil), v...), true
}

// skip moves past one value: a string, an object or array (to its matching
// close, strings skipped whole), or a literal or number (to the next
// delimiter).
func (p *parser) skip() bool {
	depth := 0
	for p.i < len(p.b) {
		switch c := p.b[p.i]; c {
		case '"':
			p.i++
			for p.i < len(p.b) && p.b[p.i] != '"' {
				if p.b[p.i] == '\\' {
					p.i++
				}
				p.i++
			}
			if p.i >= len(p.b) {
				return false
			}
			p.i++
		case '{', '[':
			depth++
			p.i++
		case '}', ']':
			if depth == 0 {
				return false
			}
			depth--
			p.i++
		case ',', ' ', '\t', '\n', '\r', ':':
			if depth == 0 {
				return false
			}
			p.i++
		default: // a literal or a number runs to the next delimiter
			p.i++
			for p.i < len(p.b) && !delim(p.b[p.i]) {
				p.i++
			}
		}
		if depth == 0 {
			return true
		}
	}
	return false
}

func (p *parser) participant(a *conv.Participant) bool {
	return p.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "id":
			a.ID, ok = p.str()
		case "role":
			var r string
			r, ok = p.str()
			a.Role = conv.Role(r)
		case "name":
			a.Name, ok = p.str()
		}
		return ok
	})
}

func (p *parser) event(e *conv.Event) bool {
	return p.object(func(k []byte) bool {
		var ok bool
		switch string(k) {
		case "id":
			e.ID, ok = p.str()
		case "seq":
			e.Seq, ok = p.uint()
		case "conv":
			e.Conv, ok = p.str()
		case "kind":
			var s string
			s, ok = p.str()
			e.Kind = conv.Kind(s)
		case "actor": // a second "actor" merges into the first, as encoding/json does
			ok = p.participant(&e.Actor)
		case "device":
			e.Device, ok = p.str()
		case "mid":
			e.Mid, ok = p.uint()
		case "at":
			e.At, ok = p.int()
		case "base":
			e.Base, ok = p.uint()
		case "cause":
			e.Cause, ok = p.str()
		case "data":
			e.Data, ok = p.raw()
		}
		return ok
	})
}

func delim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r', ':', '"', '{', '[':
		return true
	}
	return false
}
