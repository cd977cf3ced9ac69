package relay

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

var seedFlag = flag.Uint64("seed", 0, "seed for randomized tests (0: time)")

// TestRandomTrafficReachesWhoMaySee runs random pushes by agents, contacts
// and visitors, then checks every live session received exactly the events
// it may see (judged on the final states), in log order, and that a new
// device of each identity gets the same in its backlog.
func TestRandomTrafficReachesWhoMaySee(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	r := newTestRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })

	type actor struct {
		s     *tsession
		convs []string // conversations it may act in
	}
	agents := []*actor{
		{s: connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})},
		{s: connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})},
		{s: connect(t, r.url, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, protocol.Cursor{})},
	}
	var users []*actor
	for i := range 3 {
		users = append(users, &actor{s: connect(t, r.url, contactAuth(fmt.Sprint("c", i)), protocol.Cursor{})})
	}
	for range 2 {
		users = append(users, &actor{s: connect(t, r.url, protocol.Auth{Kind: protocol.AuthVisitor}, protocol.Cursor{})})
	}
	// A second device of the first contact, to check fan-out to both.
	second := connect(t, r.url, contactAuth("c0"), protocol.Cursor{}, "c0-second")
	var all []string
	for step := range 300 {
		if rng.IntN(3) == 0 || len(all) == 0 {
			u := users[rng.IntN(len(users))]
			if len(u.convs) == 0 || rng.IntN(4) == 0 {
				id := newConvID()
				u.s.push(u.s.ev(conv.KindConversationCreated, id, created("")), u.s.ev(conv.KindMessageSent, id, msg("new")))
				u.convs = append(u.convs, id)
				all = append(all, id)
				continue
			}
			id := u.convs[rng.IntN(len(u.convs))]
			switch rng.IntN(4) {
			case 0:
				u.s.push(u.s.ev(conv.KindSeenMarked, id, conv.SeenMarked{UpTo: r.head()}))
			case 1:
				u.s.push(u.s.ev(conv.KindThreadStarted, id, conv.ThreadStarted{Thread: newConvID(), Topic: fmt.Sprint("topic ", step)}))
			default:
				u.s.push(u.s.ev(conv.KindMessageSent, id, msg(fmt.Sprint("user ", step))))
			}
			continue
		}
		a := agents[rng.IntN(len(agents))]
		id := all[rng.IntN(len(all))]
		var e conv.Event
		switch rng.IntN(9) {
		case 0:
			e = a.s.ev(conv.KindNoteAdded, id, conv.Note{Text: "note"})
		case 1:
			e = a.s.ev(conv.KindTagsChanged, id, conv.TagsChanged{Add: []string{fmt.Sprint("t", rng.IntN(5))}})
		case 2:
			e = a.s.ev(conv.KindPriorityChanged, id, conv.PriorityChanged{Priority: []conv.Priority{"low", "high", "urgent"}[rng.IntN(3)]})
		case 3:
			e = a.s.ev(conv.KindAttributesSet, id, conv.AttributesSet{Values: map[string]any{"seats": rng.IntN(9)}})
		case 4:
			e = a.s.ev(conv.KindStatusChanged, id, conv.StatusChanged{Status: conv.StatusResolved})
			e.Base = r.head()
		case 5:
			e = a.s.ev(conv.KindThreadEnded, id, conv.ThreadEnded{})
		default:
			e = a.s.ev(conv.KindMessageSent, id, msg(fmt.Sprint("agent ", step)))
		}
		a.s.push(e)
	}
	final := wholeLog(t, r.url)
	checkGapFree(t, final)
	head := final[len(final)-1].Seq
	t.Logf("%d events in %d conversations", len(final), len(all))
	states := map[string]*conv.Conversation{}
	for _, e := range final {
		c, err := conv.Replay(states[e.Conv], e)
		if err != nil {
			t.Fatalf("replay seq %d: %v", e.Seq, err)
		}
		states[e.Conv] = c
	}
	want := func(who conv.Participant) []uint64 {
		var seqs []uint64
		for _, e := range final {
			if conv.Visible(who, states[e.Conv], e) {
				seqs = append(seqs, e.Seq)
			}
		}
		return seqs
	}
	seqsOf := func(evs []conv.Event) []uint64 {
		var s []uint64
		for _, e := range evs {
			s = append(s, e.Seq)
		}
		return s
	}
	check := func(name string, who conv.Participant, got []conv.Event) {
		t.Helper()
		if w, g := want(who), seqsOf(got); !slices.Equal(g, w) {
			t.Errorf("%s (%s) got %d events %v…; want %d %v…", name, who.ID, len(g), g[:min(len(g), 8)], len(w), w[:min(len(w), 8)])
		}
	}
	sessions := append(append([]*actor{}, agents...), users...)
	sessions = append(sessions, &actor{s: second})
	for _, a := range sessions {
		var got []conv.Event
		waitFor(5*time.Second, func() bool {
			got = a.s.received()
			return len(got) > 0 && got[len(got)-1].Seq >= want(a.s.welcome.Identity)[len(want(a.s.welcome.Identity))-1]
		})
		check("live", a.s.welcome.Identity, got)
		var auth protocol.Auth
		switch id := a.s.welcome.Identity; id.Role {
		case conv.RoleAgent:
			auth = agentAuth(map[string]string{"agent:ana": tokAna, "agent:ben": tokBen}[id.ID])
		case conv.RoleAssistant:
			auth = protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}
		case conv.RoleContact:
			auth = contactAuth(id.ID[len("contact:"):])
		case conv.RoleVisitor:
			if a.s.welcome.VisitorToken == "" {
				continue // the second device
			}
			auth = protocol.Auth{Kind: protocol.AuthVisitor, VisitorToken: a.s.welcome.VisitorToken}
		}
		fresh := connect(t, r.url, auth, protocol.Cursor{}, "fresh")
		check("backlog", fresh.welcome.Identity, fresh.backlog)
		if fresh.caughtUp.Seq != head || fresh.welcome.Backlog != uint64(len(fresh.backlog)) {
			t.Errorf("%s: caughtUp %d (head %d), backlog %d for %d events", fresh.welcome.Identity.ID, fresh.caughtUp.Seq, head, fresh.welcome.Backlog, len(fresh.backlog))
		}
	}
}
