package inbox

import (
	"cmp"
	"slices"
	"strings"

	memdb "github.com/hashicorp/go-memdb"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/store"
)

// Saved replies (canned replies) are events of the workspace's library,
// conv.LibraryID, a conversation in all but name (conv/replies.go): a save
// is applied optimistically, stored as pending, pushed, rebased and rebuilt
// like any action, so the library works offline and every agent's device
// gets the team's replies from the log. The store keeps the library's row
// out of every view.

// SavedReply is a saved reply as the device shows it: the library's
// optimistic view, and the saves the relay refused.
type SavedReply struct {
	conv.Reply
	// State is "" once the relay has logged it, "pending" while a save or
	// an edit waits to be sent, "failed" for a refused save (Error says
	// why; Event names it for Retry or Discard). A failed save is listed
	// next to the reply as it stands, which keeps its own entry.
	State string      `json:"state,omitempty"`
	Error *conv.Error `json:"error,omitempty"`
	Event string      `json:"event,omitempty"`
}

// Replies lists the team's saved replies by title (case-insensitive),
// then the failed saves; ws fires when they may have changed.
func (in *Inbox) Replies(ws memdb.WatchSet) []SavedReply {
	out := []SavedReply{}
	if r := in.st.Row(conv.LibraryID, ws); r != nil {
		canon := r.Canon()
		if v := r.View(); v != nil {
			for _, rp := range v.Replies {
				s := SavedReply{Reply: rp}
				if c, ok := canon.Reply(rp.ID); !ok || c != rp {
					s.State = StatePending
				}
				out = append(out, s)
			}
		}
	}
	slices.SortFunc(out, func(a, b SavedReply) int {
		return cmp.Or(strings.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)), strings.Compare(a.ID, b.ID))
	})
	for _, p := range in.st.Outbox(ws) {
		if p.State != store.StateFailed || p.Event.Kind != conv.KindReplySaved {
			continue
		}
		d, err := conv.Decode(p.Event)
		if err != nil {
			continue
		}
		out = append(out, SavedReply{Reply: d.(*conv.ReplySaved).Reply, State: StateFailed, Error: p.Err, Event: p.Event.ID})
	}
	return out
}

// SaveReply saves r in the team's library: a new reply when r.ID is empty
// (it gets a fresh id), else an edit of reply r.ID. It returns the reply as
// saved (trimmed; the shortcut lower-cased). A title, text or shortcut the
// rules refuse, or a shortcut another reply has, is a *conv.Error.
func (in *Inbox) SaveReply(r conv.Reply) (conv.Reply, error) {
	if r.ID == "" {
		id, err := in.id()
		if err != nil {
			return conv.Reply{}, err
		}
		r.ID = id
	}
	n, err := conv.NormalizeReply(r)
	if err != nil {
		return conv.Reply{}, err
	}
	if _, err := in.act1(conv.LibraryID, conv.KindReplySaved, conv.ReplySaved{Reply: n}); err != nil {
		return conv.Reply{}, err
	}
	return n, nil
}

// DeleteReply deletes reply id from the team's library; one that is not
// there is no error (a teammate may have deleted it first).
func (in *Inbox) DeleteReply(id string) error {
	_, err := in.act1(conv.LibraryID, conv.KindReplyDeleted, conv.ReplyDeleted{ID: id})
	return err
}
