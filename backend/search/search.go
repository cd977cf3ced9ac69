// Package search is the device's local full-text index: conversations
// (subject, contact), messages and notes (their text and their files'
// names), searched as you type, offline.
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

// Hit is one search result. Contact is the conversation's contact as the
// log last gave it (its name, after contact.updated), ContactEmail its
// email: a hit shows who it is about, never a raw id where a name is known.
type Hit struct {
	Conv         string           `json:"conv"`
	Item         string           `json:"item,omitempty"` // the matched item's id; empty for a conversation match
	Kind         string           `json:"kind"`           // "conversation", "message" or "note"
	Snippet      string           `json:"snippet"`
	At           int64            `json:"at"`
	Contact      conv.Participant `json:"contact"`
	ContactEmail string           `json:"contactEmail,omitempty"`
}

type doc struct {
	conv, item, kind, text string
	at                     int64
	seq                    uint64
	dead                   bool // replaced by a later doc of the same conversation
}

// convInfo is what the index keeps of a conversation: who its contact is
// (following contact.identified and contact.updated, as the reducer does),
// and its conversation doc (subject and contact), made again when the
// contact changes so that its name and email are what a search finds.
type convInfo struct {
	contact conv.Participant
	email   string
	subject string
	at      int64
	seq     uint64
	doc     int32 // the live conversation doc; -1: none
}

// Index is safe for concurrent use.
type Index struct {
	mu       sync.RWMutex
	docs     []doc
	postings map[string][]int32 // token -> doc numbers, ascending
	tokens   []string           // sorted, for prefix lookups; nil when stale
	convs    map[string]*convInfo
	seq      uint64 // the highest canonical seq indexed
}

// New returns an empty index.
func New() *Index {
	return &Index{postings: map[string][]int32{}, convs: map[string]*convInfo{}}
}

// Seq returns the highest seq Add has seen, so a caller can feed only what
// is newer.
func (x *Index) Seq() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// Add indexes a canonical event: a conversation's subject and contact (its
// name, email and id), a message or a note. contact.identified and
// contact.updated index the conversation's contact again. Other kinds only
// move Seq.
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
		ci := &convInfo{subject: d.Subject, at: e.At, seq: e.Seq, doc: -1}
		if d.Contact != nil {
			ci.contact = *d.Contact
		}
		x.convs[e.Conv] = ci
		x.indexConvLocked(e.Conv, ci)
	case *conv.Message:
		x.addLocked(doc{conv: e.Conv, item: e.ID, kind: "message", text: withFiles(d.Text, d.Attachments), at: e.At, seq: e.Seq})
	case *conv.Note:
		x.addLocked(doc{conv: e.Conv, item: e.ID, kind: "note", text: withFiles(d.Text, d.Attachments), at: e.At, seq: e.Seq})
	case *conv.ContactIdentified:
		if ci, ok := x.convs[e.Conv]; ok && ci.contact.ID == d.Visitor.ID {
			ci.contact = d.Contact
			x.indexConvLocked(e.Conv, ci)
		}
	case *conv.ContactUpdated:
		ci, ok := x.convs[e.Conv]
		if !ok || ci.contact.ID != d.Contact.ID {
			return // the reducer refuses it too
		}
		changed := false
		if d.Name != "" && d.Name != ci.contact.Name {
			ci.contact.Name, changed = d.Name, true
		}
		if d.Email != "" && d.Email != ci.email {
			ci.email, changed = d.Email, true
		}
		if changed {
			x.indexConvLocked(e.Conv, ci)
		}
	}
}

// withFiles is what a message's or note's doc holds: its text, then the
// names of its files, so a search finds a message by a file's name and the
// snippet says it was a file ("Attached: invoice.pdf").
func withFiles(text string, atts []conv.Attachment) string {
	if len(atts) == 0 {
		return text
	}
	names := make([]string, 0, len(atts))
	for _, a := range atts {
		if n := strings.TrimSpace(a.Name); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return text
	}
	files := "Attached: " + strings.Join(names, ", ")
	if strings.TrimSpace(text) == "" {
		return files
	}
	return text + " · " + files
}

// indexConvLocked (re)makes the conversation doc of ci: its contact's
// name, email and bare id, and its subject. The doc it replaces stays in the
// postings, marked dead: a profile changes rarely, and removing a doc
// number from long posting lists would cost more than skipping it.
func (x *Index) indexConvLocked(id string, ci *convInfo) {
	if ci.doc >= 0 {
		x.docs[ci.doc].dead = true
	}
	bare := strings.TrimPrefix(strings.TrimPrefix(ci.contact.ID, conv.ContactPrefix), conv.VisitorPrefix)
	var parts []string
	for _, p := range []string{ci.contact.Name, ci.email, bare, ci.subject} {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	ci.doc = int32(len(x.docs))
	x.addLocked(doc{conv: id, kind: "conversation", text: strings.Join(parts, " "), at: ci.at, seq: ci.seq})
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
		if d.dead {
			continue
		}
		h := Hit{Conv: d.conv, Item: d.item, Kind: d.kind, Snippet: snippet(d.text, words), At: d.at}
		if ci := x.convs[d.conv]; ci != nil {
			h.Contact, h.ContactEmail = ci.contact, ci.email
		}
		hits = append(hits, h)
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
