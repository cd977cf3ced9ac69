package app

import (
	"errors"
	"strings"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/backend/search"
	"github.com/threadline/threadline/sync/client"
)

// Error is what a bound method returns for people and code alike: its text
// reads "code: message", the form the frontend parses under Wails (which
// passes only the text); the browser bridge sends code and message apart.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// wireError turns any error into an *Error with a stable code.
func wireError(err error) *Error {
	var e *Error
	var ce *conv.Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &ce):
		return &Error{Code: string(ce.Code), Message: ce.Message}
	case errors.Is(err, inbox.ErrNotFound):
		return &Error{Code: "not_found", Message: "no such conversation"}
	case errors.Is(err, inbox.ErrNoSuchEvent):
		return &Error{Code: "not_found", Message: "no such event"}
	case errors.Is(err, inbox.ErrNotFailed):
		return &Error{Code: "invalid", Message: "only a failed item can be retried or discarded"}
	case errors.Is(err, inbox.ErrBadCursor):
		return &Error{Code: "invalid", Message: "bad cursor"}
	}
	return &Error{Code: "error", Message: err.Error()}
}

// act runs an inbox action and returns nil or a wire error.
func (a *App) act(f func(in *inbox.Inbox) error) error {
	in, err := a.current()
	if err != nil {
		return err
	}
	if err := f(in); err != nil {
		return wireError(err)
	}
	return nil
}

// Info tells the frontend which profile and store it shows, and who the user is.
func (a *App) Info() (Info, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return Info{Version: Version, Profile: a.cfg.Profile, DataDir: a.cfg.DataDir, Demo: a.cfg.Demo,
		Me: a.prof.Me, Workspace: a.prof.Workspace, Connected: a.prof.Connected(),
		Disconnected: a.prof.Synced() && !a.prof.Connected()}, nil
}

// Status is the truth the status line shows: the connection, what waits to
// be sent, what failed, and the unread total.
type Status struct {
	Sync        client.Status `json:"sync"`
	Pending     int           `json:"pending"`
	Failed      int           `json:"failed"`
	TotalUnread int           `json:"totalUnread"`
}

// Status returns the connection state and the outbox and unread counts.
func (a *App) Status() (Status, error) {
	in, err := a.current()
	if err != nil {
		return Status{}, err
	}
	return a.statusOf(in), nil
}

// statusOf is Status for inbox in.
func (a *App) statusOf(in *inbox.Inbox) Status {
	a.mu.RLock()
	s := Status{Sync: a.status}
	a.mu.RUnlock()
	for _, o := range in.Outbox(nil) {
		if o.State == inbox.StateFailed {
			s.Failed++
		} else if o.Event.Cause == "" {
			s.Pending++
		}
	}
	s.TotalUnread, _ = in.TotalUnread(nil)
	return s
}

// Query selects an inbox page: a view, filters, a sort and a cursor.
type Query struct {
	View       inbox.View    `json:"view"`
	Priority   conv.Priority `json:"priority,omitempty"`
	Tag        string        `json:"tag,omitempty"`
	UnreadOnly bool          `json:"unreadOnly,omitempty"`
	Sort       SortOrder     `json:"sort,omitempty"` // activity by default; the snoozed view's: wake
	Cursor     string        `json:"cursor,omitempty"`
	Limit      int           `json:"limit,omitempty"`
}

// SortOrder is the order of an inbox page.
type SortOrder string

// The orders: by last activity, by priority, by wake time (snoozed view only).
const (
	SortActivity SortOrder = "activity"
	SortPriority SortOrder = "priority"
	SortWake     SortOrder = "wake"
)

// Inbox returns a page of the inbox list, with how many conversations the
// query selects and how many have something unread (the list header's
// numbers; a plain view's are the sidebar's, from Counts).
func (a *App) Inbox(q Query) (inbox.Page, error) {
	in, err := a.current()
	if err != nil {
		return inbox.Page{}, err
	}
	f, err := in.ViewFilter(q.View)
	if err != nil {
		return inbox.Page{}, &Error{Code: "invalid", Message: "unknown view " + string(q.View)}
	}
	f.Priority, f.Tag, f.UnreadOnly = q.Priority, strings.ToLower(strings.TrimSpace(q.Tag)), q.UnreadOnly
	sort := inbox.ByActivity
	switch {
	case q.Sort == SortPriority:
		sort = inbox.ByPriority
	case q.View == inbox.ViewSnoozed && (q.Sort == SortWake || q.Sort == ""):
		sort = inbox.ByWake
	}
	limit := q.Limit
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	p, err := in.InboxPage(f, sort, q.Cursor, limit, nil)
	if err != nil {
		return inbox.Page{}, wireError(err)
	}
	return p, nil
}

// Counts returns every view's number of conversations and of those with
// something unread (rule 8: the contact's messages above my seen mark):
// the sidebar's numbers, kept by the store, no scan.
func (a *App) Counts() (map[inbox.View]inbox.Count, error) {
	in, err := a.current()
	if err != nil {
		return nil, err
	}
	c, err := in.ViewCounts(nil)
	if err != nil {
		return nil, wireError(err)
	}
	return c, nil
}

// ConversationView is a conversation as its pane shows it.
type ConversationView struct {
	Conversation *conv.Conversation `json:"conversation"`
	Row          inbox.Row          `json:"row"`
	Seen         []inbox.SeenMark   `json:"seen"`
}

// Conversation returns one conversation, its row and the others' seen marks.
// The UI calls it when it opens a conversation: the App then follows that
// conversation's timeline for live updates.
func (a *App) Conversation(id string) (ConversationView, error) {
	in, err := a.current()
	if err != nil {
		return ConversationView{}, err
	}
	c, row, err := in.Conversation(id, nil)
	if err != nil {
		return ConversationView{}, wireError(err)
	}
	seen, err := in.SeenMarks(id, nil)
	if err != nil {
		return ConversationView{}, wireError(err)
	}
	a.follow(id)
	return ConversationView{Conversation: c, Row: row, Seen: seen}, nil
}

// Contact returns a contact's history: name, email, first seen and its
// conversations, from the store's index by contact.
func (a *App) Contact(id string) (inbox.Contact, error) {
	in, err := a.current()
	if err != nil {
		return inbox.Contact{}, err
	}
	c, err := in.Contact(id, nil)
	if err != nil {
		return inbox.Contact{}, wireError(err)
	}
	return c, nil
}

// Timeline returns a page of a conversation's timeline (cursor "" for the newest).
func (a *App) Timeline(id, cursor string, limit int) (inbox.TimelinePage, error) {
	in, err := a.current()
	if err != nil {
		return inbox.TimelinePage{}, err
	}
	p, err := in.Timeline(id, cursor, limit, nil)
	if err != nil {
		return inbox.TimelinePage{}, wireError(err)
	}
	a.follow(id)
	return p, nil
}

func (a *App) follow(id string) {
	a.mu.Lock()
	changed := a.openConv != id
	a.openConv = id
	a.mu.Unlock()
	if changed {
		a.poke()
	}
}

// Search finds conversations, messages and notes, newest first.
func (a *App) Search(query string, limit int) ([]search.Hit, error) {
	a.mu.RLock()
	x, why := a.index, a.openErr
	a.mu.RUnlock()
	if x == nil {
		return nil, notOpen(why)
	}
	if limit <= 0 || limit > 200 {
		limit = 30
	}
	ch := a.searchWanted()
	a.searched.Do(func() { close(ch) })
	a.awaitIndex()
	hits := x.Search(query, limit)
	if hits == nil {
		hits = []search.Hit{}
	}
	return hits, nil
}

// awaitIndex waits for the search index's first build (at most a few
// seconds: on a big store it reads every event), so a search never misses
// what the inbox already shows. Later changes are indexed as they come.
func (a *App) awaitIndex() {
	a.mu.RLock()
	ready := a.indexReady
	a.mu.RUnlock()
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
	}
}

// NewConversation is what the "new conversation" form sends.
type NewConversation struct {
	ContactID   string         `json:"contactId"`
	ContactName string         `json:"contactName"`
	Subject     string         `json:"subject"`
	Text        string         `json:"text"`
	Priority    conv.Priority  `json:"priority,omitempty"`   // default medium
	Tags        []string       `json:"tags,omitempty"`       // normalized by the reducer
	Attributes  map[string]any `json:"attributes,omitempty"` // the workspace's custom attributes
	Assignee    string         `json:"assignee,omitempty"`   // a teammate's id; "" leaves it unassigned
}

// CreateConversation starts a conversation with a contact, with a first
// message, its priority, tags, attributes and assignee: one action.
func (a *App) CreateConversation(n NewConversation) (string, error) {
	in, err := a.current()
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(n.ContactID)
	if id == "" {
		return "", &Error{Code: "invalid", Message: "a contact id is required"}
	}
	if !strings.Contains(id, ":") {
		id = "contact:" + id
	}
	opts := inbox.CreateOptions{Priority: n.Priority, Tags: n.Tags, Attributes: n.Attributes}
	if as := strings.TrimSpace(n.Assignee); as != "" {
		p := teamMember(as)
		opts.Assignee = &p
	}
	c, err := in.CreateConversation(conv.Participant{ID: id, Role: conv.RoleContact, Name: strings.TrimSpace(n.ContactName)},
		strings.TrimSpace(n.Subject), n.Text, opts)
	if err != nil {
		return "", wireError(err)
	}
	a.kick()
	return c, nil
}

// teamMember is the participant a teammate's id names.
func teamMember(id string) conv.Participant {
	p := conv.Participant{ID: id, Role: conv.RoleAgent}
	if strings.HasPrefix(id, "ai:") {
		p.Role = conv.RoleAssistant
	}
	return p
}

// The actions. Each becomes an event, applied at once, stored durably
// before the call returns, and pushed to the relay when there is one.

// Send sends a public reply.
func (a *App) Send(id, text string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Send(id, text) })
}

// AddNote adds a private note.
func (a *App) AddNote(id, text string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.AddNote(id, text) })
}

// StartThread starts a thread with a topic (ending the active one).
func (a *App) StartThread(id, topic string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.StartThread(id, topic) })
}

// EndThread ends the active thread; a topic must be the active thread's.
func (a *App) EndThread(id, topic string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.EndThread(id, topic) })
}

// Resolve resolves the conversation; it is refused as stale when a message
// arrived that this device had not shown yet.
func (a *App) Resolve(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Resolve(id) })
}

// Reopen reopens a resolved conversation, or wakes a snoozed one now.
func (a *App) Reopen(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Reopen(id) })
}

// Snooze snoozes the conversation until a time (Unix ms, in the future):
// it leaves the open views for Snoozed and comes back then, or when the
// contact writes.
func (a *App) Snooze(id string, until int64) error {
	if until <= time.Now().UnixMilli() {
		return &Error{Code: "invalid", Message: "snooze until a time to come"}
	}
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Snooze(id, time.UnixMilli(until)) })
}

// TakeOver takes a conversation over from the bot: handed off to me, and
// mine.
func (a *App) TakeOver(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.TakeOver(id) })
}

// BulkAction is one action for several conversations at once.
type BulkAction struct {
	Kind     BulkKind `json:"kind"`
	Assignee string   `json:"assignee,omitempty"` // assign: a teammate's id; "" unassigns
	Tag      string   `json:"tag,omitempty"`      // tag: the tag to add
	Until    int64    `json:"until,omitempty"`    // snooze: Unix ms
}

// BulkKind names a bulk action.
type BulkKind string

// The bulk actions.
const (
	BulkResolve BulkKind = "resolve"
	BulkReopen  BulkKind = "reopen"
	BulkAssign  BulkKind = "assign"
	BulkTag     BulkKind = "tag"
	BulkSnooze  BulkKind = "snooze"
)

// BulkFailure is a conversation a bulk action was refused for, and why.
type BulkFailure struct {
	ID    string `json:"id"`
	Error *Error `json:"error"`
}

// BulkResult says what a bulk action did: how many conversations it went
// to, and those it was refused for.
type BulkResult struct {
	Done   int           `json:"done"`
	Failed []BulkFailure `json:"failed"`
}

// Bulk does one action (resolve, reopen, assign, tag, snooze) on each of
// several conversations, in one durable write; each conversation stands
// alone, so one refused leaves the others done.
func (a *App) Bulk(ids []string, action BulkAction) (BulkResult, error) {
	in, err := a.current()
	if err != nil {
		return BulkResult{}, err
	}
	if len(ids) == 0 || len(ids) > 1000 {
		return BulkResult{}, &Error{Code: "invalid", Message: "choose 1 to 1,000 conversations"}
	}
	var k conv.Kind
	var data any
	switch action.Kind {
	case "resolve":
		k, data = conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved}
	case "reopen":
		k, data = conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusOpen}
	case "snooze":
		if action.Until <= time.Now().UnixMilli() {
			return BulkResult{}, &Error{Code: "invalid", Message: "snooze until a time to come"}
		}
		k, data = conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: action.Until}
	case "assign":
		var p *conv.Participant
		if as := strings.TrimSpace(action.Assignee); as != "" {
			t := teamMember(as)
			p = &t
		}
		k, data = conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: p}
	case "tag":
		tag := strings.TrimSpace(action.Tag)
		if tag == "" {
			return BulkResult{}, &Error{Code: "invalid", Message: "name the tag"}
		}
		k, data = conv.KindTagsChanged, conv.TagsChanged{Add: []string{tag}}
	default:
		return BulkResult{}, &Error{Code: "invalid", Message: "unknown bulk action " + string(action.Kind)}
	}
	errs, err := in.ActOnEach(ids, k, data)
	if err != nil {
		return BulkResult{}, wireError(err)
	}
	res := BulkResult{Failed: []BulkFailure{}}
	for i, e := range errs {
		if e != nil {
			res.Failed = append(res.Failed, BulkFailure{ID: ids[i], Error: wireError(e)})
		} else {
			res.Done++
		}
	}
	if res.Done > 0 {
		a.kick()
	}
	return res, nil
}

// SetPriority sets the priority: low, medium, high or urgent.
func (a *App) SetPriority(id string, p conv.Priority) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.SetPriority(id, p) })
}

// ChangeTags adds and removes tags.
func (a *App) ChangeTags(id string, add, remove []string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.ChangeTags(id, add, remove) })
}

// Assign assigns the conversation to a teammate by id ("" unassigns).
func (a *App) Assign(id, participant string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) {
		if participant == "" {
			return in.Assign(id, nil)
		}
		p := teamMember(participant)
		return in.Assign(id, &p)
	})
}

// Join joins the conversation as an agent or a supervisor.
func (a *App) Join(id string, role conv.Role) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Join(id, role) })
}

// Leave leaves the conversation.
func (a *App) Leave(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Leave(id) })
}

// SetAttributes sets custom attributes (a null value clears one).
func (a *App) SetAttributes(id string, values map[string]any) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.SetAttributes(id, values) })
}

// MarkSeen marks the conversation seen up to its latest item.
func (a *App) MarkSeen(id string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.MarkSeen(id) })
}

// Retry makes a failed item again.
func (a *App) Retry(eventID string) error {
	return a.do(func(in *inbox.Inbox) (conv.Event, error) { return in.Retry(eventID) })
}

// Discard drops a failed item.
func (a *App) Discard(eventID string) error {
	return a.act(func(in *inbox.Inbox) error { return in.Discard(eventID) })
}

func (a *App) do(f func(in *inbox.Inbox) (conv.Event, error)) error {
	err := a.act(func(in *inbox.Inbox) error { _, err := f(in); return err })
	if err == nil {
		a.kick()
	}
	return err
}

// kick tells the sync client there is something to push.
func (a *App) kick() {
	a.mu.RLock()
	cl := a.sync
	a.mu.RUnlock()
	if cl != nil {
		cl.Kick()
	}
}

// Attributes returns the workspace's custom attribute definitions.
func (a *App) Attributes() ([]conv.AttributeDef, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.prof.Attributes == nil {
		return []conv.AttributeDef{}, nil
	}
	return a.prof.Attributes, nil
}

// Teammates returns who a conversation can be assigned to.
func (a *App) Teammates() ([]conv.Participant, error) {
	in, err := a.current()
	if err != nil {
		return nil, err
	}
	a.mu.RLock()
	connected := a.prof.Synced()
	a.mu.RUnlock()
	a.mu.RLock()
	team := a.prof.Team
	a.mu.RUnlock()
	out := []conv.Participant{in.Me()}
	if !connected {
		team = inbox.DemoTeam
	}
	for _, p := range team {
		if p.ID != out[0].ID {
			out = append(out, p)
		}
	}
	return out, nil
}
