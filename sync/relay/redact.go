package relay

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Events go to end users as rule 13 allows: some they may see carry fields
// they may not (a conversation.created the team made for a contact has its
// priority, tags and attributes). The log keeps every event whole; the
// relay takes those fields out on the way to a contact's or visitor's
// device, in the backlog and live alike.

// createdKind is how every conversation.created the relay logged names its
// kind. Inside a JSON string a quote is escaped, so these bytes appear in
// an event's JSON only as its kind.
var createdKind = []byte(`"kind":"` + string(conv.KindConversationCreated) + `"`)

// forUser returns raw, the logged JSON of e, as viewer (a contact or a
// visitor allowed to see e) may receive it: raw itself, or e re-encoded
// without what conv.Redact takes out.
func forUser(viewer conv.Participant, e *conv.Event, raw []byte) []byte {
	r, changed := conv.Redact(viewer, *e)
	if !changed {
		return raw
	}
	return protocol.AppendEvent(make([]byte, 0, len(raw)), &r)
}

// forUserRaws rewrites, in place, the logged events in raws that viewer
// must receive redacted. Only a conversation.created can be: the others are
// not decoded.
func forUserRaws(viewer conv.Participant, raws [][]byte) error {
	for i, raw := range raws {
		if !bytes.Contains(raw, createdKind) {
			continue
		}
		var e conv.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return fmt.Errorf("relay: decode stored event: %w", err)
		}
		raws[i] = forUser(viewer, &e, raw)
	}
	return nil
}
