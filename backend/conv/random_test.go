package conv

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: a few fixed seeds plus one from the clock)")

func seeds() []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	return []uint64{1, 2, 3, 42, uint64(time.Now().UnixNano())}
}

var knownCodes = map[Code]bool{
	CodeStale: true, CodeNoSuchThread: true, CodeNoSuchConversation: true, CodeForbidden: true,
	CodeUnknownAttribute: true, CodeInvalidAttribute: true, CodeConflict: true, CodeInvalid: true, CodeTooLarge: true,
}

// randomEvent makes a plausible event, valid or not, for one of convs.
func randomEvent(r *rand.Rand, i int, convs []string, head uint64) Event {
	actors := []Participant{ana, ben, bot, alice, bob, visitor, {ID: "agent:sup", Role: RoleSupervisor}}
	actor := actors[r.IntN(len(actors))]
	k := Kinds[r.IntN(len(Kinds)-1)] // contact.identified only from the system, below
	var data any
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	switch k {
	case KindConversationCreated:
		c := &Created{Subject: pick("", "Login issue", "Refund")}
		if r.IntN(2) == 0 {
			c.Contact = &actors[3+r.IntN(3)]
		}
		if r.IntN(4) == 0 {
			c.Attributes = map[string]any{pick("plan", "seats", "nope"): pick("pro", "free", "x")}
		}
		data = c
	case KindMessageSent:
		data = Message{Text: pick("hi", "", "  ", "it is down again", "thanks!")}
	case KindNoteAdded:
		data = Note{Text: pick("vip", "", "check logs")}
	case KindThreadStarted:
		data = ThreadStarted{Thread: fmt.Sprintf("t%d", r.IntN(6)), Topic: pick("", "Billing", "Outage", "Customer server offline (Ticket #1929383)")}
	case KindThreadEnded:
		data = ThreadEnded{Topic: pick("", "", "Billing", "Outage")}
	case KindStatusChanged:
		data = StatusChanged{Status: Status(pick("open", "resolved", "resolved", "bogus"))}
	case KindPriorityChanged:
		data = PriorityChanged{Priority: Priority(pick("low", "medium", "high", "urgent", "p0"))}
	case KindTagsChanged:
		data = TagsChanged{Add: []string{pick("VIP", " billing", "")}, Remove: []string{pick("vip", "x")}}
	case KindAssigneeChanged:
		if r.IntN(3) == 0 {
			data = AssigneeChanged{}
		} else {
			data = AssigneeChanged{Assignee: &actors[r.IntN(len(actors))]}
		}
	case KindParticipantJoined, KindParticipantLeft:
		p := actors[r.IntN(3)]
		if r.IntN(3) == 0 {
			p.Role = RoleSupervisor
		}
		data = ParticipantChanged{Participant: p}
	case KindAttributesSet:
		data = AttributesSet{Values: map[string]any{pick("plan", "seats", "vip", "shoe"): []any{"pro", 3.0, true, nil}[r.IntN(4)]}}
	case KindSeenMarked:
		data = SeenMarked{UpTo: uint64(r.IntN(int(head) + 3))}
	case KindAssistantHandedOff:
		data = HandedOff{}
	}
	base := head
	if r.IntN(5) == 0 && head > 0 {
		base = uint64(r.IntN(int(head)))
	}
	return Event{ID: fmt.Sprintf("ev-%d", i), Conv: convs[r.IntN(len(convs))], Kind: k, Actor: actor, At: int64(i), Base: base, Data: MustData(data)}
}

func TestRandomSequencesKeepInvariants(t *testing.T) {
	for _, seed := range seeds() {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
			defer func() {
				if t.Failed() {
					t.Logf("re-run with: go test ./backend/conv -run TestRandomSequencesKeepInvariants -seed %d", seed)
				}
			}()
			convs := []string{"c1", "c2", "c3"}
			states := map[string]*Conversation{}
			var log []Event
			for i := range 3000 {
				e := randomEvent(r, i, convs, uint64(len(log)))
				if r.IntN(200) == 0 { // the relay identifies a visitor now and then
					e = Event{ID: fmt.Sprintf("ev-%d", i), Conv: e.Conv, Kind: KindContactIdentified, Actor: System, Data: MustData(ContactIdentified{Visitor: visitor, Contact: alice})}
				}
				before := states[e.Conv]
				snap := string(MustData(before))
				next, out, err := Apply(before, e, Env{Schema: testSchema, NextSeq: uint64(len(log)) + 1})
				if string(MustData(before)) != snap {
					t.Fatalf("event %d: Apply modified its input state", i)
				}
				if err != nil {
					var ce *Error
					if !errors.As(err, &ce) || !knownCodes[ce.Code] {
						t.Fatalf("event %d: Apply(%s) = %v; want a *conv.Error with a known code", i, e.Kind, err)
					}
					if next != before || len(out) != 0 {
						t.Fatalf("event %d: rejected but returned events or a new state", i)
					}
					continue
				}
				if len(out) == 0 { // a no-op: acknowledged with seq 0, nothing changes
					if next != before {
						t.Fatalf("event %d: no-op %s returned a new state", i, e.Kind)
					}
					continue
				}
				for j, o := range out {
					if o.Seq != uint64(len(log)+1+j) {
						t.Fatalf("event %d: seq %d; want gap-free %d", i, o.Seq, len(log)+1+j)
					}
					if j < len(out)-1 && (o.Cause != e.ID || o.ID != DerivedID(e.ID, j) || o.Actor != System) {
						t.Fatalf("event %d: derived %+v not made from its cause", i, o)
					}
				}
				checkInvariants(t, before, next, out[len(out)-1])
				states[e.Conv] = next
				log = append(log, out...)
			}
			// Rebuild from the log, twice: the same state as built incrementally.
			for range 2 {
				rebuilt := map[string]*Conversation{}
				for _, e := range log {
					c, err := Replay(rebuilt[e.Conv], e)
					if err != nil {
						t.Fatalf("Replay(seq %d %s) = %v", e.Seq, e.Kind, err)
					}
					rebuilt[e.Conv] = c
				}
				for id, c := range states {
					if !equalState(c, rebuilt[id]) {
						t.Fatalf("conversation %s: rebuilt\n%s\nincremental\n%s", id, MustData(rebuilt[id]), MustData(c))
					}
				}
			}
			// Unread, computed from the log, is never negative and never more than the items.
			for id, c := range states {
				for _, p := range []Participant{ana, alice, bot} {
					n, items := 0, 0
					for _, e := range log {
						if e.Conv != id {
							continue
						}
						if e.Kind == KindMessageSent || e.Kind == KindNoteAdded {
							items++
						}
						if e.Seq > c.SeenBy(p.ID) && CountsAsUnread(p, c, e) {
							n++
						}
					}
					if n < 0 || n > items {
						t.Fatalf("unread(%s, %s) = %d of %d items", p.ID, id, n, items)
					}
				}
			}
		})
	}
}

func checkInvariants(t *testing.T, before, after *Conversation, e Event) {
	t.Helper()
	if after == nil {
		t.Fatal("accepted event left no conversation")
	}
	if e.Kind == KindStatusChanged && after.Status == StatusResolved && after.Thread != nil {
		t.Fatalf("resolving %s left thread %+v active", after.ID, after.Thread)
	}
	if before == nil {
		return
	}
	for p, s := range before.Seen {
		if after.Seen[p] < s {
			t.Fatalf("seen mark of %s went back from %d to %d", p, s, after.Seen[p])
		}
	}
	if after.Threads < before.Threads || after.LastSeq < before.LastSeq {
		t.Fatal("counters went back")
	}
	if len(after.Tags) > MaxTags {
		t.Fatalf("%d tags", len(after.Tags))
	}
}
