package conv

import (
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Env is what Apply needs besides the conversation and the event.
type Env struct {
	// Schema holds the workspace's attribute definitions. Nil skips the
	// definition check (a device that does not know them leaves it to the
	// relay); an empty, non-nil schema defines no attribute at all.
	Schema Schema
	// NextSeq is the seq the first resulting event takes in the log; the
	// following ones take the next seqs. Zero while the events are pending on
	// a device: they then keep seq 0.
	NextSeq uint64
	// Assistants lists the workspace's assistants by their config ids
	// ("faq"). Nil skips the check of conversation.created's assistantId (a
	// device that does not know them leaves it to the relay); an empty,
	// non-nil list defines no assistant at all.
	Assistants []string
	// DefaultAssistant (a config id) answers the conversations contacts and
	// visitors create without naming an assistant; empty: none.
	DefaultAssistant string
}

// Apply validates e against c (nil: the conversation does not exist yet),
// derives the events the lifecycle rules put before it, and returns the next
// state with the events to log, in log order: derived events first, then e
// itself as normalized (its actor's conversation filled in, tags cleaned, a
// message's thread set). No events and no error means e would change nothing:
// it is acknowledged with seq 0 and not logged. c itself is never modified.
func Apply(c *Conversation, e Event, env Env) (*Conversation, []Event, error) {
	if err := checkEnvelope(e); err != nil {
		return c, nil, err
	}
	if IsReplyKind(e.Kind) != IsLibrary(e.Conv) {
		if IsLibrary(e.Conv) {
			return c, nil, reject(CodeInvalid, "the library of saved replies takes reply.saved and reply.deleted only, not %s", e.Kind)
		}
		return c, nil, reject(CodeInvalid, "%s belongs in the library of saved replies (conversation %s)", e.Kind, LibraryID)
	}
	if c == nil && e.Kind != KindConversationCreated && e.Kind != KindContactIdentified && !IsReplyKind(e.Kind) {
		return c, nil, reject(CodeNoSuchConversation, "no conversation %s", e.Conv)
	}
	if c == nil && e.Kind == KindContactIdentified {
		return c, nil, reject(CodeNoSuchConversation, "no conversation %s", e.Conv)
	}
	if c != nil && e.Kind == KindConversationCreated {
		return c, nil, reject(CodeConflict, "conversation %s already exists", e.Conv)
	}
	if err := Authorize(c, e); err != nil {
		return c, nil, err
	}
	d, err := Decode(e)
	if err != nil {
		return c, nil, err
	}
	if IsReplyKind(e.Kind) { // the library: no derived events, no timeline
		data, err := decideReply(c, d)
		if err != nil || data == nil {
			return c, nil, err
		}
		e.Data = MustData(data)
		e.Seq = env.NextSeq
		return mutateReply(c, e, data), []Event{e}, nil
	}
	derived, data, err := decide(c, e, d, env)
	if err != nil || data == nil {
		return c, nil, err
	}
	e.Data = MustData(data)
	if e.Actor.Role == RoleAgent && c.IsSupervisor(e.Actor.ID) {
		// The log records the role the actor held when it acted, so what a
		// supervisor did stays a supervisor's, whatever it does later.
		e.Actor.Role = RoleSupervisor
	}
	out := append(derived, e)
	next := c
	for i := range out {
		if env.NextSeq > 0 {
			out[i].Seq = env.NextSeq + uint64(i)
		} else {
			out[i].Seq = 0
		}
		var dd any = data
		if i < len(derived) {
			dd, _ = Decode(out[i]) // made here: always decodes
		}
		next = mutate(next, out[i], dd)
	}
	return next, out, nil
}

// Replay applies a canonical event, already validated and derived by the
// relay, to c: no checks, no derived events. Devices rebuild their state
// with it and every rebuild of the same log gives the same state.
func Replay(c *Conversation, e Event) (*Conversation, error) {
	d, err := Decode(e)
	if err != nil {
		return c, err
	}
	if IsReplyKind(e.Kind) {
		return mutateReply(c, e, d), nil
	}
	if c == nil && e.Kind != KindConversationCreated {
		return c, reject(CodeNoSuchConversation, "no conversation %s", e.Conv)
	}
	if c != nil && e.Kind == KindConversationCreated {
		return c, reject(CodeConflict, "conversation %s already exists", e.Conv)
	}
	return mutate(c, e, d), nil
}

// DerivedID is the id of the i-th event derived from the event named cause.
// Relay and device compute the same id, so an optimistic derived item and
// its canonical copy are one item.
func DerivedID(cause string, i int) string {
	return uuid.NewSHA1(derivedSpace, []byte(cause+"/"+strconv.Itoa(i))).String()
}

var derivedSpace = uuid.MustParse("6f1c2b8e-5b7a-4f1e-9a53-1d2c3b4a5e6f")

func checkEnvelope(e Event) error {
	switch {
	case e.ID == "" || len(e.ID) > MaxIDChars:
		return reject(CodeInvalid, "event id is empty or too long")
	case e.Conv == "" || len(e.Conv) > MaxIDChars:
		return reject(CodeInvalid, "conversation id is empty or too long")
	case !Known(e.Kind):
		return reject(CodeInvalid, "unknown event kind %q", e.Kind)
	case e.Actor.ID == "" || len(e.Actor.ID) > MaxIDChars:
		return reject(CodeInvalid, "actor is missing")
	}
	return nil
}

// decide validates e's data against c and plans: the derived events to log
// before e, and e's normalized data. A nil data with no error is a no-op.
func decide(c *Conversation, e Event, d any, env Env) ([]Event, any, error) {
	var derived []Event
	derive := func(k Kind, data any) {
		derived = append(derived, Event{
			ID:    DerivedID(e.ID, len(derived)),
			Conv:  e.Conv,
			Kind:  k,
			Actor: System,
			At:    e.At,
			Base:  e.Base,
			Cause: e.ID,
			Data:  MustData(data),
		})
	}
	endActive := func() {
		if c.Thread != nil {
			derive(KindThreadEnded, ThreadEnded{Thread: c.Thread.ID, Topic: c.Thread.Topic})
		}
	}

	switch d := d.(type) {
	case *Created:
		n := *d
		if e.Actor.IsEndUser() {
			if n.Contact != nil && n.Contact.ID != e.Actor.ID {
				return nil, nil, reject(CodeForbidden, "a %s creates conversations for itself only", e.Actor.Role)
			}
			if n.Priority != "" || len(n.Tags) > 0 {
				return nil, nil, reject(CodeForbidden, "a %s may not set priority or tags; the team sets them", e.Actor.Role)
			}
			self := Participant{ID: e.Actor.ID, Role: e.Actor.Role, Name: e.Actor.Name}
			n.Contact = &self
		} else if n.Contact == nil || !n.Contact.IsEndUser() || n.Contact.ID == "" {
			return nil, nil, reject(CodeInvalid, "a conversation needs its contact or visitor")
		}
		if utf8.RuneCountInString(n.Subject) > MaxSubjectChars || utf8.RuneCountInString(n.Channel) > MaxNameChars {
			return nil, nil, reject(CodeTooLarge, "subject or channel is too long")
		}
		if n.Priority == "" {
			n.Priority = PriorityMedium
		} else if n.Priority.Rank() < 0 {
			return nil, nil, reject(CodeInvalid, "unknown priority %q", n.Priority)
		}
		tags, err := applyTags(nil, n.Tags, nil)
		if err != nil {
			return nil, nil, err
		}
		n.Tags = tags
		if len(n.Attributes) > 0 {
			if err := CheckAttributes(env.Schema, n.Attributes, false); err != nil {
				return nil, nil, err
			}
		}
		if n.AssistantID == "" && e.Actor.IsEndUser() {
			n.AssistantID = env.DefaultAssistant
		}
		if n.AssistantID != "" {
			id, err := assistantOf(env.Assistants, n.AssistantID)
			if err != nil {
				return nil, nil, err
			}
			n.AssistantID = id
		}
		return nil, &n, nil

	case *Message:
		if err := checkText(d.Text, len(d.Attachments) > 0); err != nil {
			return nil, nil, err
		}
		if err := checkAttachments(d.Attachments); err != nil {
			return nil, nil, err
		}
		n := *d
		if e.Actor.IsEndUser() && c.Status != StatusOpen { // resolved or snoozed: rule 6
			derive(KindStatusChanged, StatusChanged{Status: StatusOpen})
		}
		if c.Thread == nil {
			id := DerivedID(e.ID, len(derived)) // the thread is named by the event that starts it
			derive(KindThreadStarted, ThreadStarted{Thread: id, Topic: ""})
			n.Thread = id
		} else {
			n.Thread = c.Thread.ID
		}
		return derived, &n, nil

	case *Note:
		if err := checkText(d.Text, len(d.Attachments) > 0); err != nil {
			return nil, nil, err
		}
		if err := checkAttachments(d.Attachments); err != nil {
			return nil, nil, err
		}
		return nil, d, nil

	case *ThreadStarted:
		topic := strings.TrimSpace(d.Topic)
		if topic == "" {
			return nil, nil, reject(CodeInvalid, "a thread needs a topic")
		}
		if utf8.RuneCountInString(topic) > MaxTopicChars {
			return nil, nil, reject(CodeTooLarge, "a topic is at most %d characters", MaxTopicChars)
		}
		if d.Thread == "" || len(d.Thread) > MaxIDChars {
			return nil, nil, reject(CodeInvalid, "a thread needs an id")
		}
		if c.Thread != nil && c.Thread.ID == d.Thread {
			return nil, nil, reject(CodeConflict, "thread %s is already active", d.Thread)
		}
		endActive()
		return derived, &ThreadStarted{Thread: d.Thread, Topic: topic}, nil

	case *ThreadEnded:
		if c.Thread == nil { // rule 4: ending no thread changes nothing, whatever it names
			return nil, nil, nil
		}
		if d.Topic != "" && strings.TrimSpace(d.Topic) != c.Thread.Topic {
			return nil, nil, reject(CodeNoSuchThread, "the active thread is not %q", d.Topic)
		}
		if d.Thread != "" && d.Thread != c.Thread.ID {
			return nil, nil, reject(CodeNoSuchThread, "thread %s is not the active one", d.Thread)
		}
		return nil, &ThreadEnded{Thread: c.Thread.ID, Topic: c.Thread.Topic}, nil

	case *StatusChanged:
		switch d.Status {
		case StatusResolved:
			if e.Actor.Role != RoleSystem && e.Base < c.LastContactSeq {
				return nil, nil, reject(CodeStale, "a new message arrived (seq %d) after what you saw (seq %d)", c.LastContactSeq, e.Base)
			}
		case StatusOpen, StatusSnoozed: // rule 5's stale check is for resolving only
		default:
			return nil, nil, reject(CodeInvalid, "unknown status %q", d.Status)
		}
		if (d.Status == StatusSnoozed) != (d.Until > 0) {
			return nil, nil, reject(CodeInvalid, "a snooze needs its time (until, Unix ms), and only a snooze has one")
		}
		if c.Status == d.Status && c.SnoozedUntil == d.Until {
			return nil, nil, nil
		}
		if d.Status == StatusResolved {
			endActive()
		}
		return derived, d, nil

	case *PriorityChanged:
		if d.Priority.Rank() < 0 {
			return nil, nil, reject(CodeInvalid, "unknown priority %q", d.Priority)
		}
		if c.Priority == d.Priority {
			return nil, nil, nil
		}
		return nil, d, nil

	case *TagsChanged:
		add, err := normalizeTags(d.Add)
		if err != nil {
			return nil, nil, err
		}
		remove, err := normalizeTags(d.Remove)
		if err != nil {
			return nil, nil, err
		}
		next, err := applyTags(c.Tags, add, remove)
		if err != nil {
			return nil, nil, err
		}
		if slices.Equal(next, c.Tags) {
			return nil, nil, nil
		}
		return nil, &TagsChanged{Add: add, Remove: remove}, nil

	case *AssigneeChanged:
		if d.Assignee != nil && (d.Assignee.ID == "" || !d.Assignee.IsTeam()) {
			return nil, nil, reject(CodeInvalid, "an assignee is an agent or an assistant")
		}
		if sameParticipant(c.Assignee, d.Assignee) {
			return nil, nil, nil
		}
		return nil, d, nil

	case *ParticipantChanged:
		p := d.Participant
		switch p.Role {
		case RoleAgent, RoleAssistant, RoleSupervisor:
		default:
			return nil, nil, reject(CodeInvalid, "participants are agents, assistants or supervisors, not %q", p.Role)
		}
		if p.ID == "" || len(p.ID) > MaxIDChars {
			return nil, nil, reject(CodeInvalid, "participant id is empty or too long")
		}
		role := c.RoleIn(p.ID)
		if e.Kind == KindParticipantJoined && role == p.Role {
			return nil, nil, nil
		}
		if e.Kind == KindParticipantLeft && role == "" {
			return nil, nil, nil
		}
		return nil, d, nil

	case *AttributesSet:
		if len(d.Values) == 0 {
			return nil, nil, reject(CodeInvalid, "no attributes to set")
		}
		if err := CheckAttributes(env.Schema, d.Values, true); err != nil {
			return nil, nil, err
		}
		changed := false
		for k, v := range d.Values {
			old, ok := c.Attributes[k]
			if (v == nil && ok) || (v != nil && (!ok || !sameScalar(old, v))) {
				changed = true
				break
			}
		}
		if !changed {
			return nil, nil, nil
		}
		return nil, d, nil

	case *SeenMarked:
		// Clamped to the latest timeline item, not the latest event: seen
		// marks are events too, and clamping to them would make every mark
		// an advance and two open windows mark each other's marks forever.
		upTo := min(d.UpTo, c.LastItemSeq)
		if upTo <= c.Seen[e.Actor.ID] {
			return nil, nil, nil
		}
		return nil, &SeenMarked{UpTo: upTo}, nil

	case *HandedOff:
		if d.To != nil && (d.To.ID == "" || !d.To.IsTeam()) {
			return nil, nil, reject(CodeInvalid, "hand off to an agent or an assistant")
		}
		if !c.AssistantMode {
			return nil, nil, nil
		}
		return nil, d, nil

	case *ContactUpdated:
		if d.Contact.ID != c.Contact.ID {
			return nil, nil, reject(CodeInvalid, "conversation %s is not %s's", c.ID, d.Contact.ID)
		}
		if utf8.RuneCountInString(d.Name) > MaxNameChars || len(d.Email) > MaxEmailBytes {
			return nil, nil, reject(CodeTooLarge, "a contact's name is at most %d characters, its email %d bytes", MaxNameChars, MaxEmailBytes)
		}
		n := ContactUpdated{Contact: c.Contact}
		if d.Name != c.Contact.Name {
			n.Name = d.Name
		}
		if d.Email != c.ContactEmail {
			n.Email = d.Email
		}
		if n.Name == "" && n.Email == "" {
			return nil, nil, nil
		}
		return nil, &n, nil

	case *ContactIdentified:
		if d.Visitor.Role != RoleVisitor || d.Contact.Role != RoleContact || d.Contact.ID == "" {
			return nil, nil, reject(CodeInvalid, "identify a visitor as a contact")
		}
		if c.Contact.ID != d.Visitor.ID {
			return nil, nil, nil
		}
		return nil, d, nil
	}
	return nil, nil, reject(CodeInvalid, "unknown event kind %q", e.Kind)
}

// mutate is the state transition of one event whose data is d. It trusts its
// input: Apply has checked it, or the relay did before logging it.
func mutate(c *Conversation, e Event, d any) *Conversation {
	if e.Kind == KindConversationCreated {
		d := d.(*Created)
		n := &Conversation{
			ID:             e.Conv,
			CreatedBy:      e.Actor,
			CreatedAt:      e.At,
			CreatedSeq:     e.Seq,
			Status:         StatusOpen,
			Priority:       d.Priority,
			Channel:        d.Channel,
			Subject:        d.Subject,
			AssistantID:    d.AssistantID,
			LastActivityAt: e.At,
		}
		if d.Contact != nil {
			n.Contact = *d.Contact
		}
		if n.Priority == "" {
			n.Priority = PriorityMedium
		}
		n.AssistantMode = d.AssistantID != ""
		n.Tags, _ = applyTags(nil, d.Tags, nil)
		for k, v := range d.Attributes {
			if v != nil {
				if n.Attributes == nil {
					n.Attributes = map[string]any{}
				}
				n.Attributes[k] = v
			}
		}
		n.LastSeq = max(n.LastSeq, e.Seq)
		n.LastItemSeq = n.LastSeq
		return n
	}
	if c == nil {
		return nil
	}
	// A shallow copy: the slices and maps are c's, shared until a case
	// below changes one, which it copies first (states are never modified
	// once handed out, so sharing the rest is safe).
	m := *c
	n := &m
	n.LastSeq = max(n.LastSeq, e.Seq)
	if IsTimelineItem(e.Kind) {
		n.LastItemSeq = max(n.LastItemSeq, e.Seq)
	}
	switch d := d.(type) {
	case *Message:
		if e.Actor.IsEndUser() {
			n.LastContactSeq = max(n.LastContactSeq, e.Seq)
		}
		n.LastActivityAt = max(n.LastActivityAt, e.At)
		n.LastMessage = preview(d.Text, d.Attachments)
		n.LastMessageBy = e.Actor
		n.Messages++
		if n.Thread == nil { // a canonical log always starts one first; keep the invariant anyway
			n.Thread = &Thread{ID: d.Thread, StartedSeq: e.Seq, StartedAt: e.At}
			n.Threads++
		}
	case *Note:
		n.LastActivityAt = max(n.LastActivityAt, e.At)
		n.Notes++
	case *ThreadStarted:
		n.Thread = &Thread{ID: d.Thread, Topic: d.Topic, StartedSeq: e.Seq, StartedAt: e.At}
		n.Threads++
	case *ThreadEnded:
		n.Thread = nil
	case *StatusChanged:
		n.Status, n.SnoozedUntil = d.Status, d.Until
		if d.Status == StatusResolved {
			n.Thread = nil
		}
	case *PriorityChanged:
		n.Priority = d.Priority
	case *TagsChanged:
		n.Tags, _ = applyTags(n.Tags, d.Add, d.Remove)
	case *AssigneeChanged:
		if d.Assignee == nil {
			n.Assignee = nil
		} else {
			a := *d.Assignee
			n.Assignee = &a
		}
	case *ParticipantChanged:
		n.Participants = slices.DeleteFunc(slices.Clone(n.Participants), func(p Participant) bool { return p.ID == d.Participant.ID })
		if e.Kind == KindParticipantJoined {
			n.Participants = append(n.Participants, d.Participant)
			slices.SortFunc(n.Participants, func(a, b Participant) int { return strings.Compare(a.ID, b.ID) })
		}
	case *AttributesSet:
		n.Attributes = maps.Clone(n.Attributes)
		for k, v := range d.Values {
			if v == nil {
				delete(n.Attributes, k)
				continue
			}
			if n.Attributes == nil {
				n.Attributes = map[string]any{}
			}
			n.Attributes[k] = v
		}
	case *SeenMarked:
		if d.UpTo > n.Seen[e.Actor.ID] {
			n.Seen = maps.Clone(n.Seen)
			if n.Seen == nil {
				n.Seen = map[string]uint64{}
			}
			n.Seen[e.Actor.ID] = d.UpTo
		}
	case *HandedOff:
		n.AssistantMode = false
		if d.To != nil {
			a := *d.To
			n.Assignee = &a
		}
	case *ContactUpdated:
		if d.Name != "" {
			n.Contact.Name = d.Name
		}
		if d.Email != "" {
			n.ContactEmail = d.Email
		}
	case *ContactIdentified:
		if n.Contact.ID == d.Visitor.ID {
			n.Contact = d.Contact
			if s := n.Seen[d.Visitor.ID]; s > n.Seen[d.Contact.ID] {
				n.Seen = maps.Clone(n.Seen)
				n.Seen[d.Contact.ID] = s
			}
		}
	}
	return n
}

// assistantOf returns the config id of the assistant that id names, by its
// config id ("faq") or its participant id ("ai:faq"); known nil accepts any
// well-formed id (the device leaves the check to the relay).
func assistantOf(known []string, id string) (string, error) {
	if len(id) > MaxIDChars {
		return "", reject(CodeInvalid, "assistant id is too long")
	}
	short := strings.TrimPrefix(id, AssistantPrefix)
	if known == nil {
		return short, nil
	}
	if short == "" || !slices.Contains(known, short) {
		return "", reject(CodeInvalid, "no assistant %q in this workspace", id)
	}
	return short, nil
}

func checkText(text string, allowEmpty bool) error {
	if !utf8.ValidString(text) {
		return reject(CodeInvalid, "text is not valid UTF-8")
	}
	if len(text) > MaxTextBytes {
		return reject(CodeTooLarge, "text is %d bytes; at most %d", len(text), MaxTextBytes)
	}
	if !allowEmpty && strings.TrimSpace(text) == "" {
		return reject(CodeInvalid, "text is empty")
	}
	return nil
}

func checkAttachments(as []Attachment) error {
	if len(as) > MaxAttachments {
		return reject(CodeTooLarge, "at most %d attachments", MaxAttachments)
	}
	for _, a := range as {
		switch {
		case !IsFileID(a.ID) || a.SHA256 != a.ID:
			return reject(CodeInvalid, "attachment %q: id and sha256 are the file's SHA-256, 64 lowercase hex digits", a.Name)
		case a.Name == "" || !utf8.ValidString(a.Name) || utf8.RuneCountInString(a.Name) > MaxNameChars || strings.ContainsFunc(a.Name, unicode.IsControl):
			return reject(CodeInvalid, "attachment %s: a name is 1–%d characters of UTF-8, no control characters", a.ID, MaxNameChars)
		case a.Size < 0:
			return reject(CodeInvalid, "attachment %q: a size is not negative", a.Name)
		case a.Size > MaxFileBytes:
			return reject(CodeTooLarge, "attachment %q is %d bytes; at most %d", a.Name, a.Size, MaxFileBytes)
		case len(a.Type) > MaxFileTypeBytes:
			return reject(CodeInvalid, "attachment %q: a type is at most %d bytes", a.Name, MaxFileTypeBytes)
		}
	}
	return nil
}

// NormalizeTag trims and lower-cases a tag and checks its length (rule 9).
func NormalizeTag(t string) (string, error) {
	t = strings.ToLower(strings.TrimSpace(t))
	if t == "" {
		return "", reject(CodeInvalid, "a tag is empty")
	}
	if utf8.RuneCountInString(t) > MaxTagChars {
		return "", reject(CodeInvalid, "tag %q is longer than %d characters", t, MaxTagChars)
	}
	return t, nil
}

func normalizeTags(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, t := range in {
		n, err := NormalizeTag(t)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// applyTags returns cur with add added and remove removed, normalized and
// sorted; more than MaxTags is invalid.
func applyTags(cur, add, remove []string) ([]string, error) {
	add, err := normalizeTags(add)
	if err != nil {
		return nil, err
	}
	out := slices.Clone(cur)
	for _, t := range add {
		if i, ok := slices.BinarySearch(out, t); !ok {
			out = slices.Insert(out, i, t)
		}
	}
	for _, t := range remove {
		if i, ok := slices.BinarySearch(out, strings.ToLower(strings.TrimSpace(t))); ok {
			out = slices.Delete(out, i, i+1)
		}
	}
	if len(out) > MaxTags {
		return nil, reject(CodeInvalid, "at most %d tags on a conversation", MaxTags)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func sameParticipant(a, b *Participant) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Role == b.Role
}

func sameScalar(a, b any) bool { return reflect.DeepEqual(a, b) }

func preview(text string, atts []Attachment) string {
	const max = 140
	if len(text) <= max && plainASCII(text) {
		return text // what Fields and Join would make of it
	}
	t := strings.Join(strings.Fields(text), " ")
	if t == "" && len(atts) > 0 {
		t = "📎 " + atts[0].Name
	}
	if utf8.RuneCountInString(t) > max {
		r := []rune(t)
		t = string(r[:max-1]) + "…"
	}
	return t
}

// plainASCII reports whether s is non-empty ASCII whose only whitespace is
// single spaces between words: strings.Fields and Join give it back as is.
func plainASCII(s string) bool {
	if s == "" || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80, c == '\t', c == '\n', c == '\v', c == '\f', c == '\r':
			return false
		case c == ' ' && s[i-1] == ' ':
			return false
		}
	}
	return true
}
