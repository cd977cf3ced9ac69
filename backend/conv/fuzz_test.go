package conv

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// FuzzDecodeEvent: any bytes decode to an event and its data without a panic,
// and every failure is a *conv.Error.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"e1","conv":"c1","kind":"message.sent","actor":{"id":"contact:a","role":"contact"},"data":{"text":"hi"}}`))
	f.Add([]byte(`{"id":"e2","conv":"c1","kind":"attributes.set","data":{"values":{"plan":"pro","seats":3,"vip":null}}}`))
	f.Add([]byte(`{"kind":"thread.started","data":{"thread":"t","topic":"` + "\u00e9" + `"}}`))
	f.Add([]byte(`{"kind":"seen.marked","data":{"upTo":-1}}`))
	f.Add([]byte(`{"kind":"nope","data":[1,2]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if json.Unmarshal(b, &e) != nil {
			return
		}
		if _, err := Decode(e); err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Decode error %v is not a *conv.Error", err)
			}
		}
	})
}

// FuzzApply: any event against a small real state never panics, and every
// rejection carries a known code.
func FuzzApply(f *testing.F) {
	f.Add("message.sent", "contact:alice", "contact", `{"text":"hi"}`, uint64(3))
	f.Add("thread.started", "agent:ana", "agent", `{"thread":"t9","topic":"Outage"}`, uint64(1))
	f.Add("thread.ended", "agent:ana", "agent", `{"topic":"Billing"}`, uint64(0))
	f.Add("status.changed", "agent:ana", "agent", `{"status":"resolved"}`, uint64(0))
	f.Add("attributes.set", "ai:faq", "assistant", `{"values":{"seats":"x"}}`, uint64(9))
	f.Add("tags.changed", "agent:ana", "agent", `{"add":["A","b "],"remove":null}`, uint64(9))
	f.Add("participant.joined", "agent:ben", "agent", `{"participant":{"id":"agent:ben","role":"supervisor"}}`, uint64(9))
	f.Add("conversation.created", "visitor:1", "visitor", `{"contact":{"id":"contact:x","role":"contact"}}`, uint64(0))
	f.Add("contact.identified", "system", "system", `{"visitor":{"id":"visitor:7f","role":"visitor"},"contact":{"id":"contact:z","role":"contact"}}`, uint64(0))
	f.Fuzz(func(t *testing.T, kind, actorID, role, data string, base uint64) {
		w := newWorld(t)
		w.create(alice, Created{})
		w.do(alice, KindMessageSent, Message{Text: "hi"})
		w.do(alice, KindThreadStarted, ThreadStarted{Thread: "t1", Topic: "Billing"})
		e := Event{ID: "fz", Conv: "c1", Kind: Kind(kind), Actor: Participant{ID: actorID, Role: Role(role)}, Base: base, Data: json.RawMessage(data)}
		if !json.Valid(e.Data) {
			e.Data = nil
		}
		for _, env := range []Env{{Schema: testSchema, NextSeq: w.head() + 1}, {}} {
			next, out, err := Apply(w.c, e, env)
			if err != nil {
				if !knownCodes[CodeOf(err)] {
					t.Fatalf("Apply = %v; want a known code", err)
				}
				continue
			}
			if len(out) > 0 && next == nil {
				t.Fatal("accepted but no state")
			}
			// What Apply logged replays to the very state it returned.
			r := w.c
			for _, o := range out {
				if r, err = Replay(r, o); err != nil {
					t.Fatalf("Replay(%s) of an accepted event = %v", o.Kind, err)
				}
			}
			if len(out) > 0 && !equalState(r, next) {
				t.Fatalf("replayed state differs from Apply's:\n%s\n%s", MustData(r), MustData(next))
			}
		}
	})
}

// FuzzPreview: the fast path of preview gives what Fields and Join give.
func FuzzPreview(f *testing.F) {
	for _, s := range []string{"hello there", " lead", "trail ", "two  spaces", "tab\there", "é", "", "a\u00a0b", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !plainASCII(s) {
			return
		}
		if want := strings.Join(strings.Fields(s), " "); want != s {
			t.Fatalf("plainASCII(%q) but Fields and Join give %q", s, want)
		}
	})
}

func TestKnownIsNewData(t *testing.T) {
	for _, k := range append(Kinds, "", "nope", "message.sent ", "Message.sent") {
		if got, want := Known(k), NewData(k) != nil; got != want {
			t.Errorf("Known(%q) = %v; NewData says %v", k, got, want)
		}
	}
}
