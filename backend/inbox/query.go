package inbox

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/store"
)

// The queries. Each takes a memdb.WatchSet (nil: no watching); the channels
// it adds fire when what the query returned may have changed, so a view can
// block with ws.WatchCtx(ctx) until then and query again, instead of polling:
//
//	for {
//		ws := memdb.NewWatchSet()
//		page, err := in.InboxPage(f, inbox.ByActivity, "", 50, ws)
//		// … show page …
//		if err := ws.WatchCtx(ctx); err != nil { return } // ctx done
//	}

// ErrNotFound is returned for a conversation the device does not hold.
var ErrNotFound = errors.New("inbox: no such conversation")

// Errors of Retry and Discard: no such event in the outbox, or it has not
// failed.
var (
	ErrNoSuchEvent = store.ErrNotFound
	ErrNotFailed   = store.ErrNotFailed
)

// ErrBadCursor is returned for a cursor the query did not make.
var ErrBadCursor = store.ErrBadCursor

// Filter selects inbox rows. Zero fields select everything.
type Filter struct {
	// Status: open includes the snoozed conversations whose time has
	// passed (rule 6); snoozed, those still asleep.
	Status     conv.Status   `json:"status,omitempty"`
	Lane       Lane          `json:"lane,omitempty"`
	Priority   conv.Priority `json:"priority,omitempty"`
	Tag        string        `json:"tag,omitempty"`
	Assignee   string        `json:"assignee,omitempty"` // a participant id, or "none" for unassigned
	UnreadOnly bool          `json:"unreadOnly,omitempty"`
}

// Unassigned is the Assignee filter for conversations nobody is assigned to.
const Unassigned = store.Unassigned

// Sort orders the inbox.
type Sort = store.Sort

// Sorts.
const (
	ByActivity = store.ByActivity // latest message first (either side; not notes)
	ByPriority = store.ByPriority // urgent first, then latest message
	ByWake     = store.ByWake     // the snoozed conversations, soonest to wake first
)

// Lane selects conversations by who has them: the team, or the bot (in
// assistant mode, until handoff).
type Lane = store.Lane

// Lanes.
const (
	AnyLane   = store.AnyLane
	HumanLane = store.HumanLane
	BotLane   = store.BotLane
)

// View is one of the inbox's fixed views.
type View string

// The views. The team's views (mine, unassigned, open) hold no
// conversation in assistant mode: those are the bot's until handoff.
const (
	ViewMine       View = "mine"       // open, the team's, assigned to me
	ViewUnassigned View = "unassigned" // open, the team's, nobody's
	ViewOpen       View = "open"       // open, the team's
	ViewSnoozed    View = "snoozed"    // snoozed and not woken yet
	ViewBot        View = "bot"        // open, in assistant mode
	ViewResolved   View = "resolved"
	ViewAll        View = "all"
)

// Views lists the views in the order the sidebar shows them.
var Views = []View{ViewMine, ViewUnassigned, ViewOpen, ViewSnoozed, ViewBot, ViewResolved, ViewAll}

// ErrUnknownView is returned for a view that is not one of Views.
var ErrUnknownView = errors.New("inbox: unknown view")

// ViewFilter returns the filter of view v for the local participant.
func (in *Inbox) ViewFilter(v View) (Filter, error) {
	switch v {
	case ViewMine:
		return Filter{Status: conv.StatusOpen, Lane: HumanLane, Assignee: in.me.ID}, nil
	case ViewUnassigned:
		return Filter{Status: conv.StatusOpen, Lane: HumanLane, Assignee: Unassigned}, nil
	case ViewOpen, "":
		return Filter{Status: conv.StatusOpen, Lane: HumanLane}, nil
	case ViewSnoozed:
		return Filter{Status: conv.StatusSnoozed}, nil
	case ViewBot:
		return Filter{Status: conv.StatusOpen, Lane: BotLane}, nil
	case ViewResolved:
		return Filter{Status: conv.StatusResolved}, nil
	case ViewAll:
		return Filter{}, nil
	}
	return Filter{}, ErrUnknownView
}

// Count is how many conversations a view or a query holds, and how many
// of them have something unread (rule 8).
type Count struct {
	Total  int `json:"total"`
	Unread int `json:"unread"`
}

// ViewCounts returns every view's count, from counts the store keeps (no
// scan): the sidebar's numbers, which InboxPage's Total and Unread repeat
// for the view shown.
func (in *Inbox) ViewCounts(ws memdb.WatchSet) (map[View]Count, error) {
	in.wakeDue()
	out := make(map[View]Count, len(Views))
	for _, v := range Views {
		f, _ := in.ViewFilter(v)
		n, u, err := in.st.Count(f.query(), ws)
		if err != nil {
			return nil, err
		}
		out[v] = Count{Total: n, Unread: u}
	}
	return out, nil
}

func (f Filter) query() store.Query {
	return store.Query{Status: f.Status, Lane: f.Lane, Priority: f.Priority, Tag: f.Tag, Assignee: f.Assignee, UnreadOnly: f.UnreadOnly}
}

// NextWake returns when the next snoozed conversation wakes (false: none
// is asleep); ws fires when that may have changed. A timer set for then
// calls Wake.
func (in *Inbox) NextWake(ws memdb.WatchSet) (time.Time, bool) { return in.st.NextWake(ws) }

// Wake shows the snoozed conversations whose time has passed (at the
// inbox's clock) as open, and returns how many woke; those watching the
// inbox hear it. Nothing is logged: a passed snooze is a view of the clock.
func (in *Inbox) Wake() (int, error) { return in.st.Wake() }

// wakeDue wakes what is due before a query answers, so that no query
// shows a passed snooze as asleep even before the timer has fired.
func (in *Inbox) wakeDue() {
	if at, ok := in.st.NextWake(nil); ok && !at.After(in.now()) {
		if _, err := in.st.Wake(); err != nil {
			in.log.Warn("inbox: wake", "err", err)
		}
	}
}

// Row is one line of the inbox list. Contact carries the contact's name
// when the log gives one (contact.updated), ContactEmail its email: the list
// shows them, never a raw id where a name is known.
type Row struct {
	ID             string            `json:"id"`
	Contact        conv.Participant  `json:"contact"`
	ContactEmail   string            `json:"contactEmail,omitempty"`
	Subject        string            `json:"subject,omitempty"`
	Preview        string            `json:"preview,omitempty"` // the last message
	PreviewBy      conv.Participant  `json:"previewBy"`
	LastActivityAt int64             `json:"lastActivityAt"` // Unix ms
	Status         conv.Status       `json:"status"`
	Priority       conv.Priority     `json:"priority"`
	Tags           []string          `json:"tags,omitempty"`
	Assignee       *conv.Participant `json:"assignee,omitempty"`
	Unread         int               `json:"unread"`
	Thread         string            `json:"thread,omitempty"` // the active thread's topic
	InThread       bool              `json:"inThread"`         // a thread is active (its topic may be empty)
	Pending        int               `json:"pending"`          // local events shown, not yet canonical
	Failed         int               `json:"failed"`           // rejected local events
	// SnoozedUntil (Unix ms): when a snoozed conversation wakes; set with
	// status snoozed only.
	SnoozedUntil int64 `json:"snoozedUntil,omitempty"`
	Bot          bool  `json:"bot,omitempty"`        // in assistant mode: the bot's until handoff
	NeedsHuman   bool  `json:"needsHuman,omitempty"` // handed off; no agent has replied or taken it since
}

// Page is a page of the inbox list and the cursor of the next ("": none),
// with how many conversations the query selects and how many of them have
// something unread: always for a view's query (the store counts them),
// on the first page for a tag or priority filter (that takes a scan).
type Page struct {
	Rows   []Row  `json:"rows"`
	Next   string `json:"next,omitempty"`
	Total  *int   `json:"total,omitempty"`
	Unread *int   `json:"unread,omitempty"`
}

// InboxPage returns up to limit rows (default 50) that f selects, sorted,
// starting at cursor ("" for the first page).
func (in *Inbox) InboxPage(f Filter, sort Sort, cursor string, limit int, ws memdb.WatchSet) (Page, error) {
	in.wakeDue()
	q := f.query()
	q.Sort, q.Cursor, q.Limit = sort, cursor, limit
	rows, next, err := in.st.Page(q, ws)
	if err != nil {
		return Page{}, err
	}
	p := Page{Rows: make([]Row, 0, len(rows)), Next: next}
	for _, r := range rows {
		p.Rows = append(p.Rows, rowOf(r))
	}
	if cursor == "" || (f.Tag == "" && f.Priority == "") {
		n, u, err := in.st.Count(q, ws)
		if err != nil {
			return Page{}, err
		}
		p.Total, p.Unread = &n, &u
	}
	return p, nil
}

func rowOf(r *store.Row) Row {
	v := r.View()
	row := Row{ID: r.ID, Unread: r.Unread, Failed: r.Failed, Status: r.Sum.Status, Priority: r.Sum.Priority,
		Tags: r.Sum.Tags, LastActivityAt: r.Sum.LastActivityAt, Bot: r.Sum.Bot, NeedsHuman: r.Sum.NeedsHuman}
	if r.Sum.Status == conv.StatusSnoozed {
		row.SnoozedUntil = r.Sum.SnoozedUntil
	}
	for _, it := range r.Overlay {
		if (it.State == store.StatePending || it.State == store.StateSent) && it.Event.Cause == "" {
			row.Pending++
		}
	}
	if v == nil {
		return row
	}
	row.Contact, row.ContactEmail = v.Contact, v.ContactEmail
	row.Subject, row.Preview, row.PreviewBy = v.Subject, v.LastMessage, v.LastMessageBy
	if v.Assignee != nil {
		a := *v.Assignee
		row.Assignee = &a
	}
	if v.Thread != nil {
		row.Thread, row.InThread = v.Thread.Topic, true
	}
	return row
}

// Conversation returns the conversation as the device shows it (the
// optimistic view) and its inbox row. The state is shared: never modify it.
func (in *Inbox) Conversation(convID string, ws memdb.WatchSet) (*conv.Conversation, Row, error) {
	r := in.st.Row(convID, ws)
	if r == nil || r.View() == nil {
		return nil, Row{}, ErrNotFound
	}
	return r.View(), rowOf(r), nil
}

// Item is one entry of a timeline: a message, a note, a thread boundary
// (thread.started / thread.ended carry the thread and its topic) or a
// lifecycle change.
type Item struct {
	ID     string           `json:"id"`
	Kind   conv.Kind        `json:"kind"`
	Actor  conv.Participant `json:"actor"`
	Text   string           `json:"text,omitempty"`   // message.sent, note.added
	Thread string           `json:"thread,omitempty"` // a message's thread, or the thread that starts or ends
	Topic  string           `json:"topic,omitempty"`  // thread.started, thread.ended
	Data   json.RawMessage  `json:"data,omitempty"`   // the event's data, whatever its kind
	Seq    uint64           `json:"seq"`              // 0 until canonical
	At     int64            `json:"at"`               // Unix ms, the author's clock
	Mine   bool             `json:"mine"`             // made by the local participant
	// State is the local participant's view of its own items: "pending"
	// (not yet acknowledged; items derived from a pending event too),
	// "sent" (logged) or "failed" (with Error). Empty for others' items.
	State string      `json:"state,omitempty"`
	Error *conv.Error `json:"error,omitempty"`
}

// Item states.
const (
	StatePending = "pending"
	StateSent    = "sent"
	StateFailed  = "failed"
)

// TimelinePage is a page of a timeline, oldest first, and the cursor of the
// page before it ("": this is the oldest).
type TimelinePage struct {
	Items []Item `json:"items"`
	Older string `json:"older,omitempty"`
}

// Timeline returns a page of conversation convID's timeline, oldest item
// first. The first page (cursor "") holds the newest limit (default 50)
// canonical items followed by every pending, sent and failed one; its Older
// cursor fetches the limit items before them, and so on back to the start.
func (in *Inbox) Timeline(convID, cursor string, limit int, ws memdb.WatchSet) (TimelinePage, error) {
	var before uint64
	if cursor != "" {
		n, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil || n == 0 {
			return TimelinePage{}, ErrBadCursor
		}
		before = n
	}
	if in.st.Row(convID, ws) == nil {
		return TimelinePage{}, ErrNotFound
	}
	items, older, err := in.st.Timeline(convID, before, limit, ws)
	if err != nil {
		return TimelinePage{}, err
	}
	p := TimelinePage{Items: make([]Item, 0, len(items))}
	if older > 0 {
		p.Older = strconv.FormatUint(older, 10)
	}
	for _, it := range items {
		p.Items = append(p.Items, in.itemOf(it))
	}
	return p, nil
}

func (in *Inbox) itemOf(it store.Item) Item {
	e := it.Event
	out := Item{ID: e.ID, Kind: e.Kind, Actor: e.Actor, Data: e.Data, Seq: e.Seq, At: e.At, Mine: e.Actor.ID == in.me.ID}
	switch it.State {
	case store.StatePending:
		out.State = StatePending
	case store.StateSent:
		out.State = StateSent
	case store.StateFailed:
		out.State, out.Error = StateFailed, it.Err
	default:
		if out.Mine {
			out.State = StateSent
		}
	}
	if d, err := conv.Decode(e); err == nil {
		switch d := d.(type) {
		case *conv.Message:
			out.Text, out.Thread = d.Text, d.Thread
		case *conv.Note:
			out.Text = d.Text
		case *conv.ThreadStarted:
			out.Thread, out.Topic = d.Thread, d.Topic
		case *conv.ThreadEnded:
			out.Thread, out.Topic = d.Thread, d.Topic
		}
	}
	return out
}

// UnreadCount returns the local participant's unread count in convID
// (rule 8): the items it may see, by someone else, above its seen mark.
func (in *Inbox) UnreadCount(convID string, ws memdb.WatchSet) (int, error) {
	r := in.st.Row(convID, ws)
	if r == nil {
		return 0, ErrNotFound
	}
	return r.Unread, nil
}

// TotalUnread returns the local participant's unread count over every
// conversation.
func (in *Inbox) TotalUnread(ws memdb.WatchSet) (int, error) { return in.st.TotalUnread(ws), nil }

// SeenMark is how far a participant has seen a conversation: every item up
// to seq UpTo.
type SeenMark struct {
	Participant string `json:"participant"`
	UpTo        uint64 `json:"upTo"`
}

// SeenMarks returns the other participants' seen marks in convID, for
// "Seen by …", ordered by participant id.
func (in *Inbox) SeenMarks(convID string, ws memdb.WatchSet) ([]SeenMark, error) {
	r := in.st.Row(convID, ws)
	if r == nil || r.View() == nil {
		return nil, ErrNotFound
	}
	var out []SeenMark
	for id, upTo := range r.View().Seen {
		if id != in.me.ID {
			out = append(out, SeenMark{Participant: id, UpTo: upTo})
		}
	}
	slices.SortFunc(out, func(a, b SeenMark) int {
		switch {
		case a.Participant < b.Participant:
			return -1
		case a.Participant > b.Participant:
			return 1
		}
		return 0
	})
	return out, nil
}

// OutboxItem is a local event not yet canonical.
type OutboxItem struct {
	Event conv.Event  `json:"event"`
	State string      `json:"state"` // pending, sent or failed
	Seq   uint64      `json:"seq,omitempty"`
	Error *conv.Error `json:"error,omitempty"`
}

// Outbox lists the local events not yet canonical, in mid order: what a
// "waiting to send" or "failed" panel shows.
func (in *Inbox) Outbox(ws memdb.WatchSet) []OutboxItem {
	var out []OutboxItem
	for _, p := range in.st.Outbox(ws) {
		o := OutboxItem{Event: p.Event, Seq: p.Seq, Error: p.Err}
		switch p.State {
		case store.StatePending:
			o.State = StatePending
		case store.StateSent:
			o.State = StateSent
		default:
			o.State = StateFailed
		}
		out = append(out, o)
	}
	return out
}

// Contact is a contact's history on this device: its profile as the log
// gives it, when it was first seen (the earliest creation among its
// conversations, Unix ms) and its conversations, newest activity first.
type Contact struct {
	ID            string `json:"id"`
	Name          string `json:"name,omitempty"`
	Email         string `json:"email,omitempty"`
	FirstSeen     int64  `json:"firstSeen,omitempty"`
	Conversations []Row  `json:"conversations"`
}

// Contact returns contact contactID's history, from the store's index by
// contact (no scan of the inbox); ws fires when it may have changed.
func (in *Inbox) Contact(contactID string, ws memdb.WatchSet) (Contact, error) {
	rows, err := in.st.ContactRows(contactID, ws)
	if err != nil {
		return Contact{}, err
	}
	c := Contact{ID: contactID, Conversations: make([]Row, 0, len(rows))}
	for _, r := range rows {
		v := r.View()
		if v == nil {
			continue
		}
		if c.FirstSeen == 0 || (v.CreatedAt > 0 && v.CreatedAt < c.FirstSeen) {
			c.FirstSeen = v.CreatedAt
		}
		if v.Contact.Name != "" {
			c.Name = v.Contact.Name
		}
		if v.ContactEmail != "" {
			c.Email = v.ContactEmail
		}
		c.Conversations = append(c.Conversations, rowOf(r))
	}
	slices.SortFunc(c.Conversations, func(a, b Row) int {
		if a.LastActivityAt != b.LastActivityAt {
			if a.LastActivityAt > b.LastActivityAt {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return c, nil
}
