// Package search is the device's local full-text index: conversations
// (subject, contact), messages and notes, searched as you type, offline.
//
// The index is derived state: it is built from the store's canonical log
// and can be thrown away and rebuilt at any time.
package search

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/threadline/threadline/backend/conv"
)

// Hit is one search result.
type Hit struct {
	Conv    string           `json:"conv"`
	Item    string           `json:"item,omitempty"` // the matched item's id; empty for a conversation match
	Kind    string           `json:"kind"`           // "conversation", "message" or "note"
	Snippet string           `json:"snippet"`
	At      int64            `json:"at"`
	Contact conv.Participant `json:"contact"`
}

type doc struct {
	conv, item, kind, text string
	at                     int64
	seq                    uint64
}

// Index is safe for concurrent use.
type Index struct {
	mu       sync.RWMutex
	docs     []doc
	postings map[string][]int32 // token -> doc numbers, ascending
	tokens   []string           // sorted, for prefix lookups; nil when stale
	contacts map[string]conv.Participant
	seq      uint64 // the highest canonical seq indexed
}

// New returns an empty index.
func New() *Index {
	return &Index{postings: map[string][]int32{}, contacts: map[string]conv.Participant{}}
}

// Seq returns the highest seq Add has seen, so a caller can feed only what
// is newer.
func (x *Index) Seq() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// Add indexes a canonical event: a conversation's subject and contact, a
// message or a note. Other kinds only move Seq.
func (x *Index) Add(e conv.Event) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq = max(x.seq, e.Seq)
	d, err := conv.Decode(e)
	if err != nil {
		return
	}
	switch d := d.(type) {
	case *conv.Created:
		text := d.Subject
		if d.Contact != nil {
			x.contacts[e.Conv] = *d.Contact
			text = strings.TrimSpace(d.Contact.Name + " " + strings.TrimPrefix(strings.TrimPrefix(d.Contact.ID, "contact:"), "visitor:") + " " + text)
		}
		x.addLocked(doc{conv: e.Conv, kind: "conversation", text: text, at: e.At, seq: e.Seq})
	case *conv.Message:
		x.addLocked(doc{conv: e.Conv, item: e.ID, kind: "message", text: d.Text, at: e.At, seq: e.Seq})
	case *conv.Note:
		x.addLocked(doc{conv: e.Conv, item: e.ID, kind: "note", text: d.Text, at: e.At, seq: e.Seq})
	case *conv.ContactIdentified:
		if c, ok := x.contacts[e.Conv]; ok && c.ID == d.Visitor.ID {
			x.contacts[e.Conv] = d.Contact
		}
	}
}

func (x *Index) addLocked(d doc) {
	n := int32(len(x.docs))
	x.docs = append(x.docs, d)
	for _, t := range uniqueTokens(d.text) {
		p := x.postings[t]
		if len(p) == 0 {
			x.tokens = nil // a new token: the sorted list is stale
		}
		x.postings[t] = append(p, n)
	}
}

// Search returns up to limit hits for q, newest first. Every word of q must
// appear; the last one may be a prefix (the user is still typing it).
func (x *Index) Search(q string, limit int) []Hit {
	words := tokens(q)
	if len(words) == 0 || limit <= 0 {
		return nil
	}
	x.mu.Lock() // a write lock only to rebuild the sorted token list when stale
	if x.tokens == nil {
		x.tokens = make([]string, 0, len(x.postings))
		for t := range x.postings {
			x.tokens = append(x.tokens, t)
		}
		sort.Strings(x.tokens)
	}
	x.mu.Unlock()
	x.mu.RLock()
	defer x.mu.RUnlock()

	var set []int32
	for i, w := range words {
		var p []int32
		if i == len(words)-1 {
			p = x.prefixLocked(w)
		} else {
			p = x.postings[w]
		}
		if i == 0 {
			set = p
		} else {
			set = intersect(set, p)
		}
		if len(set) == 0 {
			return nil
		}
	}
	hits := make([]Hit, 0, min(limit, len(set)))
	for i := len(set) - 1; i >= 0 && len(hits) < limit; i-- { // later docs first
		d := x.docs[set[i]]
		hits = append(hits, Hit{Conv: d.conv, Item: d.item, Kind: d.kind, Snippet: snippet(d.text, words), At: d.at, Contact: x.contacts[d.conv]})
	}
	return hits
}

func (x *Index) prefixLocked(w string) []int32 {
	i := sort.SearchStrings(x.tokens, w)
	var out []int32
	n := 0
	for ; i < len(x.tokens) && strings.HasPrefix(x.tokens[i], w); i++ {
		out = append(out, x.postings[x.tokens[i]]...)
		n++
	}
	if n > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	return out
}

func intersect(a, b []int32) []int32 {
	out := make([]int32, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

func tokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

func uniqueTokens(s string) []string {
	t := tokens(s)
	slices.Sort(t)
	return slices.Compact(t)
}

// snippet returns up to ~120 characters of text around the first word found.
func snippet(text string, words []string) string {
	const width = 120
	text = strings.Join(strings.Fields(text), " ")
	lower := strings.ToLower(text)
	at := 0
	for _, w := range words {
		if i := strings.Index(lower, w); i >= 0 {
			at = i
			break
		}
	}
	start := max(0, at-40)
	for start > 0 && !utf8.RuneStart(text[start]) {
		start--
	}
	end := min(len(text), start+width)
	for end < len(text) && !utf8.RuneStart(text[end]) {
		end++
	}
	s := text[start:end]
	if start > 0 {
		s = "…" + s
	}
	if end < len(text) {
		s += "…"
	}
	return s
}
