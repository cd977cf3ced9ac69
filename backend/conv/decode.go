package conv

import (
	"encoding/json"
	"unicode/utf8"
)

// fastData decodes the data of the kinds every timeline is made of
// (messages, notes, threads, status, priority, seen marks) when it is in the
// shape their own marshalling gives: one flat object whose keys are the
// exact field names and whose values are strings or, for a seen mark, a
// plain integer. It reports false for anything else (another key, a null, a
// nested value, a number it does not take, bytes after the object), and
// Decode hands those to encoding/json; so what it returns is always what
// encoding/json makes of data (FuzzFastData checks it). A device replays
// every canonical event it receives, and encoding/json was most of what
// that cost.
func fastData(k Kind, data []byte) (any, bool) {
	s := NewJSONScanner(data)
	// A key seen twice is read twice: the last one wins, as with
	// encoding/json.
	switch k {
	case KindMessageSent:
		var d Message
		ok := s.Object(func(key []byte) (ok bool) {
			switch string(key) {
			case "text":
				d.Text, ok = s.Str()
			case "thread":
				d.Thread, ok = s.Str()
			}
			return ok
		})
		return &d, ok && s.End()
	case KindNoteAdded:
		var d Note
		ok := s.Object(func(key []byte) (ok bool) {
			if string(key) == "text" {
				d.Text, ok = s.Str()
			}
			return ok
		})
		return &d, ok && s.End()
	case KindThreadStarted:
		var d ThreadStarted
		ok := s.thread(&d.Thread, &d.Topic)
		return &d, ok && s.End()
	case KindThreadEnded:
		var d ThreadEnded
		ok := s.thread(&d.Thread, &d.Topic)
		return &d, ok && s.End()
	case KindStatusChanged:
		var d StatusChanged
		ok := s.Object(func(key []byte) (ok bool) {
			switch string(key) {
			case "status":
				var v string
				v, ok = s.Str()
				d.Status = Status(v)
			case "until":
				d.Until, ok = s.Int()
			}
			return ok
		})
		return &d, ok && s.End()
	case KindPriorityChanged:
		var d PriorityChanged
		ok := s.Object(func(key []byte) (ok bool) {
			if string(key) == "priority" {
				var v string
				v, ok = s.Str()
				d.Priority = Priority(v)
			}
			return ok
		})
		return &d, ok && s.End()
	case KindSeenMarked:
		var d SeenMarked
		ok := s.Object(func(key []byte) (ok bool) {
			if string(key) == "upTo" {
				d.UpTo, ok = s.Uint()
			}
			return ok
		})
		return &d, ok && s.End()
	}
	return nil, false
}

// thread reads the object of a thread.started or thread.ended event.
func (s *JSONScanner) thread(thread, topic *string) bool {
	return s.Object(func(key []byte) (ok bool) {
		switch string(key) {
		case "thread":
			*thread, ok = s.Str()
		case "topic":
			*topic, ok = s.Str()
		}
		return ok
	})
}

// JSONScanner reads JSON a token at a time, for the fast decoders that take
// only what they decode exactly as encoding/json does and leave the rest to
// it: fastData here, and sync/protocol's frame decoders (the one scanner both
// use lives in conv because conv imports nothing of the project).
//
// Each method consumes one token or value and the whitespace after it, and
// reports whether it could. It refuses more than JSON does: strings in
// invalid UTF-8 (encoding/json would replace the bytes), keys with escapes
// (one could match a field name), numbers where a plain integer is asked
// for. After a false, where the scanner stands is unspecified: the caller
// gives up and hands the input to encoding/json.
type JSONScanner struct {
	b []byte
	i int
}

// NewJSONScanner returns a scanner at b's first token.
func NewJSONScanner(b []byte) JSONScanner {
	s := JSONScanner{b: b}
	s.ws()
	return s
}

// End reports whether the scanner has consumed all of its input.
func (s *JSONScanner) End() bool { return s.i == len(s.b) }

func (s *JSONScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Lit consumes l if it comes next: punctuation, or a run of tokens written
// without whitespace (`{"type":`).
func (s *JSONScanner) Lit(l string) bool {
	if len(s.b)-s.i < len(l) || string(s.b[s.i:s.i+len(l)]) != l {
		return false
	}
	s.i += len(l)
	s.ws()
	return true
}

// Quoted consumes the string "q", q having nothing to escape.
func (s *JSONScanner) Quoted(q string) bool {
	j := s.i + 1 + len(q)
	if j >= len(s.b) || s.b[s.i] != '"' || s.b[j] != '"' || string(s.b[s.i+1:j]) != q {
		return false
	}
	s.i = j + 1
	s.ws()
	return true
}

// Key consumes an object key and the colon after it, and returns the key's
// bytes. A key with an escape or a control character is refused; one with
// other bytes matches no field name, so its caller refuses it.
func (s *JSONScanner) Key() ([]byte, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			s.ws()
			return s.b[start:j], s.Lit(`:`)
		case c == '\\' || c < 0x20:
			return nil, false
		}
	}
	return nil, false
}

// Object consumes an object, calling field with each key to consume its
// value (and refuse what it does not take).
func (s *JSONScanner) Object(field func(key []byte) bool) bool {
	if !s.Lit(`{`) {
		return false
	}
	if s.Lit(`}`) {
		return true
	}
	for {
		k, ok := s.Key()
		if !ok || !field(k) {
			return false
		}
		if s.Lit(`}`) {
			return true
		}
		if !s.Lit(`,`) {
			return false
		}
	}
}

// Str consumes a string in valid UTF-8. One with escapes is unquoted by
// encoding/json itself.
func (s *JSONScanner) Str() (string, bool) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", false
	}
	start := s.i + 1
	escaped, high := false, false
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			raw := s.b[start:j]
			if high && !utf8.Valid(raw) {
				return "", false
			}
			v, ok := string(raw), true
			if escaped {
				v, ok = unquote(s.b[start-1 : j+1])
			}
			if !ok {
				return "", false
			}
			s.i = j + 1
			s.ws()
			return v, true
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
// own function, so that only this rarer path puts a string on the heap.)
func unquote(q []byte) (string, bool) {
	var v string
	err := json.Unmarshal(q, &v)
	return v, err == nil
}

// Uint consumes a non-negative integer that fits a uint64: digits, no
// leading zero, no fraction or exponent.
func (s *JSONScanner) Uint() (uint64, bool) {
	j := s.i
	var n uint64
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		d := uint64(s.b[j] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
		j++
	}
	if j == s.i || (s.b[s.i] == '0' && j-s.i > 1) {
		return 0, false
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return 0, false
	}
	s.i = j
	s.ws()
	return n, true
}

// Int consumes an integer that fits an int64.
func (s *JSONScanner) Int() (int64, bool) {
	neg := s.i < len(s.b) && s.b[s.i] == '-'
	if neg {
		s.i++
	}
	n, ok := s.Uint()
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

// maxDepth is how deeply Value takes arrays and objects nested.
const maxDepth = 64

// Value consumes any valid JSON value nested at most 64 deep, strings in
// valid UTF-8 with any escapes, and returns its bytes (a part of the input,
// without the whitespace after it), as json.RawMessage holds them.
func (s *JSONScanner) Value() ([]byte, bool) {
	start := s.i
	if !s.skip(0) {
		return nil, false
	}
	v := s.b[start:s.i]
	s.ws()
	return v, true
}

// skip consumes one valid JSON value, without the whitespace after it.
func (s *JSONScanner) skip(depth int) bool {
	if depth > maxDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return true
		}
		for {
			if !s.skipString() {
				return false
			}
			s.ws()
			if !s.Lit(`:`) || !s.skip(depth+1) {
				return false
			}
			if more, ok := s.sep('}'); !ok || !more {
				return ok
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return true
		}
		for {
			if !s.skip(depth + 1) {
				return false
			}
			if more, ok := s.sep(']'); !ok || !more {
				return ok
			}
		}
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.word("true")
	case c == 'f':
		return s.word("false")
	case c == 'n':
		return s.word("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.skipNumber()
	}
	return false
}

// word consumes w, without the whitespace after it.
// sep reads what follows a member or an element: close ends the object or
// array (more is false), a comma says another follows; anything else is not
// JSON (ok is false).
func (s *JSONScanner) sep(close byte) (more, ok bool) {
	s.ws()
	if s.i >= len(s.b) {
		return false, false
	}
	switch s.b[s.i] {
	case close:
		s.i++
		return false, true
	case ',':
		s.i++
		s.ws()
		return true, true
	}
	return false, false
}

func (s *JSONScanner) word(w string) bool {
	if len(s.b)-s.i < len(w) || string(s.b[s.i:s.i+len(w)]) != w {
		return false
	}
	s.i += len(w)
	return true
}

// skipString consumes a valid JSON string in valid UTF-8 (escapes allowed),
// without the whitespace after it.
func (s *JSONScanner) skipString() bool {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return false
	}
	start := s.i + 1
	high := false
	for j := start; j < len(s.b); {
		c := s.b[j]
		switch {
		case c == '"':
			if high && !utf8.Valid(s.b[start:j]) {
				return false // encoding/json keeps it raw, Decode would replace it: leave it to encoding/json
			}
			s.i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if j+1 >= len(s.b) {
				return false
			}
			switch s.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(s.b) {
					return false
				}
				for _, h := range s.b[j+2 : j+6] {
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

// skipNumber consumes a JSON number, without the whitespace after it.
func (s *JSONScanner) skipNumber() bool {
	j := s.i
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	digits := func() int {
		k := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(s.b) && s.b[j] == '0' {
		j++
	} else if digits() == 0 {
		return false
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	s.i = j
	return true
}
