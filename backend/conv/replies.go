package conv

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Saved replies (canned replies) are the team's, shared by every agent's
// device. They travel as events of the one ordered log, like everything
// else, in one reserved conversation per workspace: the library, whose id is
// LibraryID. So the relay orders, validates (Apply), stores and fans them
// out as it does any conversation's events, a device keeps them offline and
// rebases its pending ones as it does a conversation's, and a rebuild from
// the log gives them back. The library's state is a Conversation holding
// only Replies (no contact, no status, no timeline items): nobody outside
// the team may see it (CanSee), and only agents may change it (Authorize).
//
// reply.saved carries the whole reply (new or edited: the later in log
// order wins); reply.deleted its id (deleting what is not there changes
// nothing, so two agents deleting one reply at once both succeed).

// LibraryID is the id of a workspace's library of saved replies. Devices
// name conversations with UUIDs, so it is never one of theirs; a
// conversation.created that names it is invalid.
const LibraryID = "workspace:replies"

// IsLibrary reports whether id is the library's conversation id.
func IsLibrary(id string) bool { return id == LibraryID }

// IsReplyKind reports whether k is a kind of the library (reply.saved,
// reply.deleted), and only of it.
func IsReplyKind(k Kind) bool { return k == KindReplySaved || k == KindReplyDeleted }

// Reply returns the library's reply with id, if c (the library) has it.
func (c *Conversation) Reply(id string) (Reply, bool) {
	if c == nil {
		return Reply{}, false
	}
	i, ok := slices.BinarySearchFunc(c.Replies, id, func(r Reply, id string) int { return strings.Compare(r.ID, id) })
	if !ok {
		return Reply{}, false
	}
	return c.Replies[i], true
}

// NormalizeShortcut trims and lower-cases a shortcut and checks its shape:
// 1–32 of a–z, 0–9 and "-". An empty one is no shortcut ("", nil).
func NormalizeShortcut(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "/")))
	if s == "" {
		return "", nil
	}
	if len(s) > MaxReplyShortcutChars {
		return "", reject(CodeInvalid, "a shortcut is at most %d characters", MaxReplyShortcutChars)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return "", reject(CodeInvalid, "a shortcut is made of a–z, 0–9 and -, not %q", s)
		}
	}
	return s, nil
}

// NormalizeReply checks r as reply.saved would and returns it normalized
// (title and shortcut trimmed, the shortcut lower-cased), without looking
// at the library: Apply also checks the shortcut is free and the library's
// limits.
func NormalizeReply(r Reply) (Reply, error) {
	if r.ID == "" || len(r.ID) > MaxIDChars {
		return r, reject(CodeInvalid, "a saved reply needs an id")
	}
	if !utf8.ValidString(r.Title) || !utf8.ValidString(r.Text) {
		return r, reject(CodeInvalid, "a saved reply is valid UTF-8")
	}
	r.Title = strings.TrimSpace(r.Title)
	if r.Title == "" {
		return r, reject(CodeInvalid, "a saved reply needs a title")
	}
	if utf8.RuneCountInString(r.Title) > MaxReplyTitleChars {
		return r, reject(CodeTooLarge, "a saved reply's title is at most %d characters", MaxReplyTitleChars)
	}
	if strings.TrimSpace(r.Text) == "" {
		return r, reject(CodeInvalid, "a saved reply needs a text")
	}
	if utf8.RuneCountInString(r.Text) > MaxReplyTextChars {
		return r, reject(CodeTooLarge, "a saved reply's text is at most %d characters", MaxReplyTextChars)
	}
	sc, err := NormalizeShortcut(r.Shortcut)
	if err != nil {
		return r, err
	}
	r.Shortcut = sc
	return r, nil
}

// decideReply validates a library event against the library c (nil: no
// reply was ever saved) and returns its normalized data; nil data and no
// error is a no-op.
func decideReply(c *Conversation, d any) (any, error) {
	switch d := d.(type) {
	case *ReplySaved:
		r, err := NormalizeReply(d.Reply)
		if err != nil {
			return nil, err
		}
		old, exists := c.Reply(r.ID)
		if exists && old == r {
			return nil, nil
		}
		size := len(r.Title) + len(r.Text)
		for _, o := range c.libraryReplies() {
			if o.ID == r.ID {
				continue
			}
			if r.Shortcut != "" && o.Shortcut == r.Shortcut {
				return nil, reject(CodeConflict, "the shortcut /%s is already %q's", r.Shortcut, o.Title)
			}
			size += len(o.Title) + len(o.Text)
		}
		if !exists && len(c.libraryReplies()) >= MaxReplies {
			return nil, reject(CodeInvalid, "a workspace keeps at most %d saved replies", MaxReplies)
		}
		if size > MaxLibraryBytes {
			return nil, reject(CodeTooLarge, "the saved replies of a workspace hold at most %d bytes of text", MaxLibraryBytes)
		}
		return &ReplySaved{Reply: r}, nil
	case *ReplyDeleted:
		if d.ID == "" || len(d.ID) > MaxIDChars {
			return nil, reject(CodeInvalid, "which saved reply? the id is empty or too long")
		}
		if _, ok := c.Reply(d.ID); !ok {
			return nil, nil
		}
		return d, nil
	}
	return nil, reject(CodeInvalid, "not a library event")
}

func (c *Conversation) libraryReplies() []Reply {
	if c == nil {
		return nil
	}
	return c.Replies
}

// mutateReply is the library's state transition; c may be nil (the first
// reply saved makes the library).
func mutateReply(c *Conversation, e Event, d any) *Conversation {
	var n *Conversation
	if c == nil {
		n = &Conversation{ID: e.Conv}
	} else {
		m := *c
		n = &m
	}
	n.LastSeq = max(n.LastSeq, e.Seq)
	cmp := func(r Reply, id string) int { return strings.Compare(r.ID, id) }
	switch d := d.(type) {
	case *ReplySaved:
		n.Replies = slices.Clone(n.Replies)
		if i, ok := slices.BinarySearchFunc(n.Replies, d.Reply.ID, cmp); ok {
			n.Replies[i] = d.Reply
		} else {
			n.Replies = slices.Insert(n.Replies, i, d.Reply)
		}
	case *ReplyDeleted:
		if i, ok := slices.BinarySearchFunc(n.Replies, d.ID, cmp); ok {
			n.Replies = slices.Delete(slices.Clone(n.Replies), i, i+1)
			if len(n.Replies) == 0 {
				n.Replies = nil
			}
		}
	}
	return n
}
