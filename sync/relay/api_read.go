package relay

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
)

// Reads of the HTTP API: what an agent's device would read (an API key
// sees its whole workspace, as agents do), as the log holds it. Each read
// first waits until everything already acknowledged is readable, so a read
// after a write finds it.

// Page sizes of the listing routes.
const (
	apiPageDefault = 50
	apiPageMax     = 500
)

// conversationPage is GET …/conversations' answer.
type conversationPage struct {
	Conversations []*conv.Conversation `json:"conversations"`
	Next          *uint64              `json:"next,omitempty"`
}

// conversation returns the path's conversation of c's workspace; when there
// is none (another workspace's id, say) it answers not_found and returns nil.
func (c *apiCall) conversation(id string) (*conv.Conversation, error) {
	var cv *conv.Conversation
	var err error
	if id != "" && len(id) <= conv.MaxIDChars {
		cv, err = c.ws.state(id)
	}
	switch {
	case err != nil:
		c.ws.srv.lg.Error("api: read conversation", "workspace", c.ws.id, "conv", id, "err", err)
		c.unavailable(err)
	case cv == nil:
		c.fail(http.StatusNotFound, codeNotFound, "no conversation "+id+" in this workspace")
	}
	return cv, err
}

func (a *api) getConversation(c *apiCall) {
	if id := c.r.PathValue("id"); conv.IsLibrary(id) {
		c.fail(http.StatusNotFound, codeNotFound, "the saved replies are no conversation: read them with GET …/conversations/"+id+"/events")
		return
	}
	if cv, err := c.conversation(c.r.PathValue("id")); err == nil && cv != nil {
		c.json(http.StatusOK, shownAt(cv, time.Now().UnixMilli()))
	}
}

// shownAt is cv as every device shows it at now: a snooze whose time has
// passed shows as open (rule 6; no event is logged when it ends).
func shownAt(cv *conv.Conversation, now int64) *conv.Conversation {
	if st := cv.StatusAt(now); st != cv.Status {
		n := *cv // a shallow copy: states are shared, never modified
		n.Status = st
		return &n
	}
	return cv
}

// listConversations lists the conversations with an event above seq after,
// by their latest event ascending; next is the after of the following page.
func (a *api) listConversations(c *apiCall) {
	q := c.r.URL.Query()
	after, ok := c.uintParam("after", 0, 0, 1<<63)
	if !ok {
		return
	}
	limit, ok := c.uintParam("limit", apiPageDefault, 1, apiPageMax)
	if !ok {
		return
	}
	now := time.Now().UnixMilli()
	cq := eventlog.ConversationQuery{After: after, Limit: int(limit), Now: now}
	switch s := conv.Status(q.Get("status")); s {
	case "", conv.StatusOpen, conv.StatusResolved, conv.StatusSnoozed:
		cq.Status = s
	default:
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("status must be open, resolved or snoozed, not %q", s))
		return
	}
	if q.Has("contact") {
		id := q.Get("contact")
		if id == "" || len(conv.ContactPrefix+id) > conv.MaxIDChars {
			c.fail(http.StatusBadRequest, codeBadRequest, "contact: the website's id for the contact")
			return
		}
		cq.Owner = conv.ContactPrefix + id
	}
	w := c.ws
	if err := w.waitReadable(c.r.Context(), w.acknowledged()); err != nil {
		return // the client went away
	}
	convs, more, err := w.srv.log.Conversations(w.id, cq)
	if err != nil {
		w.srv.lg.Error("api: list conversations", "workspace", w.id, "err", err)
		c.unavailable(err)
		return
	}
	page := conversationPage{Conversations: make([]*conv.Conversation, 0, len(convs))}
	for _, cv := range convs {
		if conv.IsLibrary(cv.ID) {
			continue // the saved replies are no conversation (GET …/conversations/workspace:replies/events reads them)
		}
		page.Conversations = append(page.Conversations, shownAt(cv, now))
	}
	if more {
		next := convs[len(convs)-1].LastSeq
		page.Next = &next
	}
	c.json(http.StatusOK, page)
}

// listEvents pages through a conversation's timeline by seq: its events
// above after, as on the wire, and next, the after of the following page.
func (a *api) listEvents(c *apiCall) {
	after, ok := c.uintParam("after", 0, 0, 1<<63)
	if !ok {
		return
	}
	limit, ok := c.uintParam("limit", apiPageDefault, 1, apiPageMax)
	if !ok {
		return
	}
	cv, err := c.conversation(c.r.PathValue("id"))
	if err != nil || cv == nil {
		return
	}
	w := c.ws
	if err := w.waitReadable(c.r.Context(), w.acknowledged()); err != nil {
		return
	}
	seqs, err := w.srv.log.ConversationSeqs(w.id, cv.ID, after, w.published())
	var raws [][]byte
	if err == nil {
		seqs = seqs[:min(uint64(len(seqs)), limit+1)]
		raws, err = w.srv.log.Events(w.id, seqs[:min(uint64(len(seqs)), limit)])
	}
	if err != nil {
		w.srv.lg.Error("api: read events", "workspace", w.id, "conv", cv.ID, "err", err)
		c.unavailable(err)
		return
	}
	// The events as the log holds them: the wire's JSON (the team's view).
	size := 32
	for _, r := range raws {
		size += len(r) + 1
	}
	b := make([]byte, 0, size)
	b = append(b, `{"events":[`...)
	for i, r := range raws {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	b = append(b, ']')
	if uint64(len(seqs)) > limit {
		b = append(b, `,"next":`...)
		b = strconv.AppendUint(b, seqs[limit-1], 10)
	}
	c.raw(http.StatusOK, append(b, '}'))
}
