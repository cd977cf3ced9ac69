package relay

import (
	"bytes"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// decodePush decodes the common shape of a push frame,
//
//	{"type":"push","events":[{...}, ...]}
//
// about four times faster than encoding/json. It accepts only what it can
// decode exactly as encoding/json would into protocol.Push: known keys
// spelled as tagged, each at most once, strings without escapes, plain
// integers, no nulls. On anything else it returns ok false and the caller
// falls back to encoding/json, which also gives the error for a bad frame.
// FuzzDecodePush checks the two agree.
func decodePush(b []byte) (evs []conv.Event, ok bool) {
	p := parser{b: b}
	p.ws()
	if !p.lit(`{`) || !p.key("type") || !p.lit(`"push"`) || !p.comma() || !p.key("events") || !p.lit(`[`) {
		return nil, false
	}
	evs = make([]conv.Event, 0, bytes.Count(b, []byte(`"mid"`)))
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

type parser struct {
	b []byte
	i int
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

// lit consumes s (then whitespace) if it comes next.
func (p *parser) lit(s string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(s)) {
		return false
	}
	p.i += len(s)
	p.ws()
	return true
}

func (p *parser) comma() bool { return p.lit(`,`) }

// key consumes "name" and the colon after it.
func (p *parser) key(name string) bool {
	k, ok := p.str()
	return ok && k == name && p.lit(`:`)
}

// str consumes a string without escapes, in valid UTF-8.
func (p *parser) str() (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	ascii := true
	for j := start; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			s := p.b[start:j]
			if !ascii && !utf8.Valid(s) {
				return "", false
			}
			p.i = j + 1
			p.ws()
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
}

// uint consumes a non-negative integer that fits a uint64.
func (p *parser) uint() (uint64, bool) {
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
func (p *parser) int() (int64, bool) {
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	n, ok := p.uint()
	switch {
	case !ok:
		return 0, false
	case neg && n <= 1<<63:
		return -int64(n), true
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

func (p *parser) event(e *conv.Event) bool {
	if !p.lit(`{`) {
		return false
	}
	if p.lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := p.str()
		if !ok || !p.lit(`:`) {
			return false
		}
		var f int
		switch k {
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
			start := p.i
			if p.i < len(p.b) && p.b[p.i] == 'n' {
				return false // null: leave it to encoding/json
			}
			if ok = p.skipValue(0); ok {
				e.Data = bytes.Clone(bytes.TrimRight(p.b[start:p.i], " \t\n\r"))
			}
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

func (p *parser) participant(a *conv.Participant) bool {
	if !p.lit(`{`) {
		return false
	}
	if p.lit(`}`) {
		return true
	}
	seen := 0
	for {
		k, ok := p.str()
		if !ok || !p.lit(`:`) {
			return false
		}
		var f int
		var s string
		s, ok = p.str()
		switch k {
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

// skipValue consumes any valid JSON value (then whitespace). Strings may
// hold escapes here: data is kept raw and decoded later by conv.
func (p *parser) skipValue(depth int) bool {
	if depth > 64 || p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		p.ws()
		if p.lit(`}`) {
			return true
		}
		for {
			if !p.skipString() || !p.lit(`:`) || !p.skipValue(depth+1) {
				return false
			}
			if p.lit(`}`) {
				return true
			}
			if !p.lit(`,`) {
				return false
			}
		}
	case c == '[':
		p.i++
		p.ws()
		if p.lit(`]`) {
			return true
		}
		for {
			if !p.skipValue(depth + 1) {
				return false
			}
			if p.lit(`]`) {
				return true
			}
			if !p.lit(`,`) {
				return false
			}
		}
	case c == '"':
		return p.skipString()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return p.skipNumber()
	}
	return false
}

// skipString consumes a valid JSON string (escapes allowed).
func (p *parser) skipString() bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	j := p.i + 1
	start := j
	for j < len(p.b) {
		c := p.b[j]
		switch {
		case c == '"':
			if !utf8.Valid(p.b[start:j]) {
				return false // encoding/json would replace it: leave it to encoding/json
			}
			p.i = j + 1
			p.ws()
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
		default:
			j++
		}
	}
	return false
}

// skipNumber consumes a JSON number.
func (p *parser) skipNumber() bool {
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
	p.ws()
	return true
}
