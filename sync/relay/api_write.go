package relay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Writes of the HTTP API. Each request is one push through the writer as
// the API key's participant, from a device of its own:
//
//   - without an Idempotency-Key, device "api" and no mid: processed once,
//     never recognized if sent again;
//   - with one, a device named by the key's SHA-256, its events mids 1 (and
//     2 for a conversation's first message). The writer remembers the
//     outcome of those mids, per API key, as long as it keeps any mid (rule
//     11), so a retry — whatever its body — is answered with the first
//     request's outcome and logs nothing (request.once).

// apiDevice is the device of API requests without an Idempotency-Key.
const apiDevice = "api"

// maxIdempotencyKey bounds an Idempotency-Key's length.
const maxIdempotencyKey = 255

// createRequest is POST …/conversations' body.
type createRequest struct {
	Contact     string         `json:"contact"`
	Message     *string        `json:"message,omitempty"`
	Subject     string         `json:"subject,omitempty"`
	Priority    conv.Priority  `json:"priority,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Attributes  map[string]any `json:"attributes,omitempty"`
	AssistantID string         `json:"assistantId,omitempty"`
}

// createdResponse answers a created conversation (Kustomer's
// createConversation callback response).
type createdResponse struct {
	ConversationID    string `json:"conversationId"`
	Seq               uint64 `json:"seq"`
	CreatedAt         string `json:"createdAt"`
	IsInAssistantMode bool   `json:"isInAssistantMode"`
}

// eventRequest is POST …/conversations/{id}/events' body.
type eventRequest struct {
	Kind conv.Kind       `json:"kind"`
	Data json.RawMessage `json:"data,omitempty"`
	As   string          `json:"as,omitempty"`
	Base *uint64         `json:"base,omitempty"`
}

// eventResponse answers a posted event: the seq it was logged at, or 0
// when it changed nothing.
type eventResponse struct {
	ID  string `json:"id"`
	Seq uint64 `json:"seq"`
}

// idempotency returns the request's Idempotency-Key's device ("" without
// one). It answers and returns false for a key that is not usable.
func (c *apiCall) idempotency() (string, bool) {
	k := c.r.Header.Get("Idempotency-Key")
	if k == "" {
		return "", true
	}
	if len(k) > maxIdempotencyKey || strings.IndexFunc(k, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("an Idempotency-Key is 1–%d printable characters", maxIdempotencyKey))
		return "", false
	}
	h := sha256.Sum256([]byte(k))
	return "idem:" + hex.EncodeToString(h[:16]), true
}

// device returns the device a write is made under: its Idempotency-Key's,
// or apiDevice without one. done reports that the request is answered
// already: a key that is not usable, a log that cannot be read, or a retry
// of a request processed before, answered as the first time by answer.
func (c *apiCall) device(answer func(res protocol.Result, replay bool)) (device string, done bool) {
	device, ok := c.idempotency()
	if !ok {
		return "", true
	}
	if device == "" {
		return apiDevice, false
	}
	res, found, err := c.replayed(device)
	if err != nil {
		c.unavailable(err)
		return "", true
	}
	if found {
		answer(res, true)
		return "", true
	}
	return device, false
}

// replayed returns the first outcome of the request whose Idempotency-Key
// is device, when one was processed.
func (c *apiCall) replayed(device string) (protocol.Result, bool, error) {
	w := c.ws
	// Every acknowledged outcome is readable first (a group is answered a
	// little before the log holds it).
	if err := w.waitReadable(c.r.Context(), w.acknowledged()); err != nil {
		return protocol.Result{}, false, err
	}
	last, err := w.srv.log.LastMid(w.id, c.who.ID, device)
	if err != nil || last == 0 {
		return protocol.Result{}, false, err
	}
	return w.srv.log.Result(w.id, c.who.ID, device, 1)
}

// submit pushes events through the writer. A retry of an Idempotency-Key's
// request processed meanwhile comes back as that request's results (their
// ids are not events').
func (c *apiCall) submit(events []conv.Event, device string, asContact, atHead bool) ([]protocol.Result, error) {
	size := 0
	for _, e := range events {
		size += len(e.Data) + eventOverhead
	}
	r := &request{kind: reqPush, who: c.who, device: device, events: events, size: size,
		asContact: asContact, atHead: atHead, once: device != apiDevice}
	if err := c.ws.submit(r); err != nil {
		return nil, err
	}
	return r.results, nil
}

func newEventID() string { return uuid.Must(uuid.NewV7()).String() }

// createConversation logs conversation.created for a contact and, with a
// message, the contact's first message (Kustomer's createConversation: what
// the contact wrote in a web form, from the website's backend).
func (a *api) createConversation(c *apiCall) {
	device, done := c.device(c.answerCreated)
	if done {
		return
	}
	var body createRequest
	if !c.decode(&body) {
		return
	}
	if body.Contact == "" || len(conv.ContactPrefix+body.Contact) > conv.MaxIDChars {
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf("contact: the website's id for the contact, 1–%d characters", conv.MaxIDChars-len(conv.ContactPrefix)))
		return
	}
	mid := func(n uint64) uint64 {
		if device == apiDevice {
			return 0
		}
		return n
	}
	now := time.Now().UnixMilli()
	convID := newEventID()
	contact := conv.Participant{ID: conv.ContactPrefix + body.Contact, Role: conv.RoleContact}
	events := []conv.Event{{
		ID: newEventID(), Conv: convID, Kind: conv.KindConversationCreated, Device: device, Mid: mid(1), At: now,
		Data: conv.MustData(conv.Created{Contact: &contact, Subject: body.Subject, Priority: body.Priority,
			Tags: body.Tags, Attributes: body.Attributes, AssistantID: body.AssistantID}),
	}}
	if body.Message != nil {
		events = append(events, conv.Event{
			ID: newEventID(), Conv: convID, Kind: conv.KindMessageSent, Device: device, Mid: mid(2), At: now,
			Data: conv.MustData(conv.Message{Text: *body.Message}),
		})
	}
	// Validate both first, with the writer's reducer: a message the writer
	// would refuse must not leave a conversation without it. (A refused
	// conversation.created goes on to the writer, which refuses it again
	// and remembers the outcome under the Idempotency-Key.)
	st, failed, err := dryRun(c.ws, c.who, events)
	if err != nil && failed > 0 {
		c.reject(err)
		return
	}
	results, serr := c.submit(events, device, true, true)
	if serr != nil {
		c.unavailable(serr)
		return
	}
	if results[0].ID != events[0].ID { // a retry processed meanwhile
		c.answerCreated(results[0], true)
		return
	}
	if e := results[0].Error; e != nil {
		c.reject(e)
		return
	}
	if len(results) > 1 && results[1].Error != nil {
		e := results[1].Error
		c.fail(eventStatus(e.Code), string(e.Code), fmt.Sprintf("conversation %s was created, but not its message: %s", convID, e.Message))
		return
	}
	c.json(http.StatusCreated, createdResponse{
		ConversationID:    convID,
		Seq:               results[0].Seq,
		CreatedAt:         rfc3339(now),
		IsInAssistantMode: st != nil && st.AssistantMode,
	})
}

// answerCreated answers, as the first time, a create already processed
// under the same Idempotency-Key.
func (c *apiCall) answerCreated(res protocol.Result, replay bool) {
	if replay {
		c.w.Header().Set("Idempotent-Replayed", "true")
	}
	if res.Error != nil {
		c.reject(res.Error)
		return
	}
	conflict := func() {
		c.fail(http.StatusConflict, string(conv.CodeConflict), "this Idempotency-Key was used for another request")
	}
	if res.Seq == 0 {
		conflict()
		return
	}
	w := c.ws
	if err := w.waitReadable(c.r.Context(), res.Seq); err != nil {
		c.unavailable(err)
		return
	}
	raws, err := w.srv.log.Events(w.id, []uint64{res.Seq})
	if err != nil {
		c.unavailable(err)
		return
	}
	var e conv.Event
	if json.Unmarshal(raws[0], &e) != nil || e.Kind != conv.KindConversationCreated {
		conflict()
		return
	}
	var d conv.Created
	_ = json.Unmarshal(e.Data, &d)
	c.json(http.StatusCreated, createdResponse{
		ConversationID:    e.Conv,
		Seq:               e.Seq,
		CreatedAt:         rfc3339(e.At),
		IsInAssistantMode: d.AssistantID != "",
	})
}

// dryRun applies events in order to a new conversation with the reducer,
// as who (and as the contact for a message), without logging anything. It
// returns the state they lead to, or the index of the first it refuses and
// why.
func dryRun(w *workspace, who conv.Participant, events []conv.Event) (*conv.Conversation, int, *conv.Error) {
	env := w.env(0)
	var c *conv.Conversation
	for i, e := range events {
		e.Actor = conv.Participant{ID: who.ID, Role: who.Role}
		if err := actAsContact(&e, c, who); err != nil {
			return nil, i, asConvError(err)
		}
		next, _, err := conv.Apply(c, e, env)
		if err != nil {
			return nil, i, asConvError(err)
		}
		c = next
	}
	return c, -1, nil
}

func asConvError(err error) *conv.Error {
	if ce, ok := err.(*conv.Error); ok {
		return ce
	}
	return &conv.Error{Code: conv.CodeOf(err), Message: err.Error()}
}

// postEvent logs one event in a conversation, as the team or (as:
// "contact", a message only) as the conversation's contact.
func (a *api) postEvent(c *apiCall) {
	device, done := c.device(c.answerEvent)
	if done {
		return
	}
	id := c.r.PathValue("id")
	if !conv.IsLibrary(id) { // the library of saved replies is made by its first reply.saved
		cv, err := c.conversation(id)
		if err != nil || cv == nil {
			return
		}
	}
	var body eventRequest
	if !c.decode(&body) {
		return
	}
	bad := func(format string, args ...any) {
		c.fail(http.StatusBadRequest, codeBadRequest, fmt.Sprintf(format, args...))
	}
	switch {
	case body.Kind == "":
		bad("kind: the event's kind, such as %q", conv.KindMessageSent)
		return
	case body.Kind == conv.KindConversationCreated:
		bad("create a conversation with POST /v1/api/workspaces/{ws}/conversations")
		return
	case body.As != "" && body.As != "contact":
		bad(`as: "contact" or absent (the team)`)
		return
	case body.As == "contact" && body.Kind != conv.KindMessageSent:
		bad(`as "contact" posts a %s only`, conv.KindMessageSent)
		return
	}
	data, msg := eventData(body.Kind, body.Data)
	if msg != "" {
		bad("data: %s", msg)
		return
	}
	e := conv.Event{ID: newEventID(), Conv: id, Kind: body.Kind, Device: device, At: time.Now().UnixMilli(), Data: data}
	if device != apiDevice {
		e.Mid = 1
	}
	if body.Base != nil {
		e.Base = *body.Base
	}
	results, serr := c.submit([]conv.Event{e}, device, body.As == "contact", body.Base == nil)
	if serr != nil {
		c.unavailable(serr)
		return
	}
	c.answerEvent(results[0], results[0].ID != e.ID)
}

// answerEvent answers a posted event's outcome.
func (c *apiCall) answerEvent(res protocol.Result, replay bool) {
	if replay {
		c.w.Header().Set("Idempotent-Replayed", "true")
	}
	switch {
	case res.Error != nil:
		c.reject(res.Error)
	case res.Seq == 0:
		c.json(http.StatusOK, eventResponse{ID: res.ID})
	default:
		c.json(http.StatusCreated, eventResponse{ID: res.ID, Seq: res.Seq})
	}
}

// eventData checks an event's data as the API takes it: absent, null or an
// object of its kind's fields, none unknown (a misspelt field must not
// silently mean "unassign"). Values of the wrong type are left to the
// reducer, which rejects them as invalid, as on the WebSocket. An explicit
// thread.started without a thread id gets a new one. It returns the data,
// or why it is refused.
func eventData(kind conv.Kind, raw json.RawMessage) (json.RawMessage, string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = nil
	} else if raw[0] != '{' {
		return nil, "an object"
	}
	d := conv.NewData(kind)
	if d == nil || raw == nil {
		if kind == conv.KindThreadStarted {
			return conv.MustData(conv.ThreadStarted{Thread: newEventID()}), ""
		}
		return raw, "" // an unknown kind: the reducer's invalid
	}
	if err := strictJSON(raw, d); err != nil {
		if strings.HasPrefix(err.Error(), "unknown field") {
			return nil, err.Error()
		}
		return raw, "" // the reducer's invalid, with its message
	}
	if ts, ok := d.(*conv.ThreadStarted); ok && ts.Thread == "" {
		ts.Thread = newEventID()
		return conv.MustData(ts), ""
	}
	return raw, ""
}

// actAsContact makes e, a message.sent of an API key's push flagged
// asContact, the message of conversation c's contact: the key forwards
// what its website's contact wrote (DESIGN §9). Other kinds stay the key's
// (a create's conversation.created). Only an API key may do this.
func actAsContact(e *conv.Event, c *conv.Conversation, key conv.Participant) error {
	if e.Kind != conv.KindMessageSent {
		return nil
	}
	if !strings.HasPrefix(key.ID, APIPrefix) || key.Role != conv.RoleAgent {
		return &conv.Error{Code: conv.CodeForbidden, Message: "only an API key posts as a conversation's contact"}
	}
	if c == nil {
		return &conv.Error{Code: conv.CodeNoSuchConversation, Message: "no conversation " + e.Conv}
	}
	e.Actor = conv.Participant{ID: c.Contact.ID, Role: c.Contact.Role}
	return nil
}

// retried answers r, a push under an Idempotency-Key (request.once), as
// the first time when its first mid was processed already: each event with
// the first request's result at its mid, or a zero Result for an event the
// first request did not have. It reports whether r was such a retry.
func (g *group) retried(r *request) (bool, error) {
	if len(r.events) == 0 || r.events[0].Mid == 0 {
		return false, nil
	}
	dk := devKey{r.who.ID, r.device}
	h, err := g.highestMid(dk)
	if err != nil || r.events[0].Mid > h {
		return false, err
	}
	for i, e := range r.events {
		res, ok, err := g.result(midKeyT{dk, e.Mid})
		if err != nil {
			return false, err
		}
		if ok {
			r.results[i] = res
		}
	}
	return true, nil
}

// waitReadable waits until the log can be read up to seq (a group is
// answered as soon as it is durable, a little before the log holds it), so
// that a read after a write finds it.
func (w *workspace) waitReadable(ctx context.Context, seq uint64) error {
	for {
		w.mu.RLock()
		pub, unread := w.pub, w.unread
		w.mu.RUnlock()
		if pub >= seq || unread == nil {
			return nil
		}
		select {
		case <-unread:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// rfc3339 writes Unix milliseconds as RFC 3339 in UTC.
func rfc3339(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
