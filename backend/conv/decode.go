package conv

import (
	"unicode/utf8"
)

// fastData decodes the data of the kinds every timeline is made of
// (messages, notes, threads, status, priority, seen marks) when it is in the
// shape their own marshalling gives: one flat object whose keys are the
// exact field names and whose values are plain strings (no escapes) or, for
// a seen mark, a plain integer. It reports false for anything else (another
// key, an escape, a null, a nested value, a number it does not take, bytes
// after the object), and Decode hands those to encoding/json; so what it
// returns is always what encoding/json makes of data (FuzzFastData checks
// it). A device replays every canonical event it receives, and
// encoding/json was most of what that cost.
func fastData(k Kind, data []byte) (any, bool) {
	p := dataParser{b: data}
	switch k {
	case KindMessageSent:
		var d Message
		ok := p.object(func(key []byte) bool {
			switch string(key) {
			case "text":
				return p.str(&d.Text)
			case "thread":
				return p.str(&d.Thread)
			}
			return false
		})
		return &d, ok && p.end()
	case KindNoteAdded:
		var d Note
		ok := p.object(func(key []byte) bool {
			if string(key) == "text" {
				return p.str(&d.Text)
			}
			return false
		})
		return &d, ok && p.end()
	case KindThreadStarted:
		var d ThreadStarted
		ok := p.thread(&d.Thread, &d.Topic)
		return &d, ok && p.end()
	case KindThreadEnded:
		var d ThreadEnded
		ok := p.thread(&d.Thread, &d.Topic)
		return &d, ok && p.end()
	case KindStatusChanged:
		var d StatusChanged
		ok := p.object(func(key []byte) bool {
			if string(key) == "status" {
				var s string
				ok := p.str(&s)
				d.Status = Status(s)
				return ok
			}
			return false
		})
		return &d, ok && p.end()
	case KindPriorityChanged:
		var d PriorityChanged
		ok := p.object(func(key []byte) bool {
			if string(key) == "priority" {
				var s string
				ok := p.str(&s)
				d.Priority = Priority(s)
				return ok
			}
			return false
		})
		return &d, ok && p.end()
	case KindSeenMarked:
		var d SeenMarked
		ok := p.object(func(key []byte) bool {
			if string(key) == "upTo" {
				return p.uint(&d.UpTo)
			}
			return false
		})
		return &d, ok && p.end()
	}
	return nil, false
}

// dataParser reads the subset of JSON fastData takes.
type dataParser struct {
	b []byte
	i int
}

func (p *dataParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// is consumes c (after whitespace) if it is next.
func (p *dataParser) is(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (p *dataParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// object reads an object, calling field for each key to read its value. A
// key seen twice is read twice: the last one wins, as with encoding/json.
func (p *dataParser) object(field func(key []byte) bool) bool {
	if !p.is('{') {
		return false
	}
	if p.is('}') {
		return true
	}
	for {
		p.ws()
		key, ok := p.raw()
		if !ok || !p.is(':') {
			return false
		}
		p.ws()
		if !field(key) {
			return false
		}
		if p.is(',') {
			continue
		}
		return p.is('}')
	}
}

// raw reads a string with no escapes and no control characters and
// returns its bytes, which must be valid UTF-8 (encoding/json replaces
// invalid bytes; those strings are left to it).
func (p *dataParser) raw() ([]byte, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	high := false
	for i := start; i < len(p.b); i++ {
		switch c := p.b[i]; {
		case c == '"':
			s := p.b[start:i]
			if high && !utf8.Valid(s) {
				return nil, false
			}
			p.i = i + 1
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			high = true
		}
	}
	return nil, false
}

func (p *dataParser) str(s *string) bool {
	b, ok := p.raw()
	if ok {
		*s = string(b)
	}
	return ok
}

// uint reads an integer that fits a uint64: digits, no sign, no leading
// zero, no fraction or exponent.
func (p *dataParser) uint(n *uint64) bool {
	start := p.i
	var v uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		d := uint64(p.b[p.i] - '0')
		if v > (1<<64-1-d)/10 {
			return false
		}
		v = v*10 + d
		p.i++
	}
	if p.i == start || (p.i-start > 1 && p.b[start] == '0') {
		return false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return false
		}
	}
	*n = v
	return true
}

// thread reads the object of a thread.started or thread.ended event.
func (p *dataParser) thread(thread, topic *string) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "thread":
			return p.str(thread)
		case "topic":
			return p.str(topic)
		}
		return false
	})
}
