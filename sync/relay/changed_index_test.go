package relay

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
)

// listAll pages through Log.Conversations after `after` (owner, status as
// given) in pages of limit, and returns the ids and latest seqs in order.
func listAll(t *testing.T, l eventlog.Log, q eventlog.ConversationQuery) []string {
	t.Helper()
	var out []string
	for range 10_000 {
		page, more, err := l.Conversations(testWS, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range page {
			out = append(out, fmt.Sprintf("%s@%d", c.ID, c.LastSeq))
		}
		if !more {
			return out
		}
		q.After = page[len(page)-1].LastSeq
	}
	t.Fatal("the pages never end")
	return nil
}

// expected lists states (all of them) as Conversations must: latest seq
// above after, of owner and status when set, by latest seq ascending.
func expected(states []*conv.Conversation, q eventlog.ConversationQuery) []string {
	var keep []*conv.Conversation
	for _, c := range states {
		if c.LastSeq > q.After && (q.Owner == "" || c.Contact.ID == q.Owner) && (q.Status == "" || c.Status == q.Status) {
			keep = append(keep, c)
		}
	}
	slices.SortFunc(keep, func(a, b *conv.Conversation) int { return cmpU64(a.LastSeq, b.LastSeq) })
	var out []string
	for _, c := range keep {
		out = append(out, fmt.Sprintf("%s@%d", c.ID, c.LastSeq))
	}
	return out
}

// The changed index lists exactly the conversations changed since a
// cursor, by their latest seq, after random traffic and after a restart.
// (Its rebuild from the states, for a log written before it, is
// eventlog's TestChangedIndexRebuilt.)
func TestChangedIndex(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	r := newAPIRelay(t, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })
	c := r.api(tokAPI)
	var ids []string
	for range 60 {
		if len(ids) == 0 || rng.IntN(4) == 0 {
			ids = append(ids, c.create(fmt.Sprint(rng.IntN(5)), "hello").ConversationID)
			continue
		}
		id := ids[rng.IntN(len(ids))]
		switch rng.IntN(3) {
		case 0:
			c.post(id, conv.KindNoteAdded, conv.Note{Text: "n"}).must(t, 201)
		case 1:
			c.post(id, conv.KindMessageSent, conv.Message{Text: "m"}, "as", "contact").must(t, 201)
		default:
			st := conv.StatusResolved
			if rng.IntN(2) == 0 {
				st = conv.StatusOpen
			}
			c.post(id, conv.KindStatusChanged, conv.StatusChanged{Status: st})
		}
	}
	states := func() []*conv.Conversation {
		var out []*conv.Conversation
		for _, id := range ids {
			s, err := r.log.Conversation(testWS, id)
			if err != nil || s == nil {
				t.Fatalf("state of %s: %v", id, err)
			}
			out = append(out, s)
		}
		return out
	}
	check := func(when string) {
		t.Helper()
		// What was acknowledged is readable (answers come a little before).
		w := r.srv.workspace(testWS)
		if err := w.waitReadable(t.Context(), w.acknowledged()); err != nil {
			t.Fatal(err)
		}
		sts := states()
		for _, q := range []eventlog.ConversationQuery{
			{Limit: 1}, {Limit: 7}, {After: r.head() / 2, Limit: 3}, {After: r.head(), Limit: 5},
			{Owner: "contact:1", Limit: 2}, {Owner: "contact:3", After: r.head() / 3, Limit: 50},
			{Status: conv.StatusResolved, Limit: 4}, {Status: conv.StatusOpen, Owner: "contact:2", Limit: 1},
		} {
			if got, want := listAll(t, r.log, q), expected(sts, q); !slices.Equal(got, want) {
				t.Fatalf("%s: Conversations(%+v) =\n%v\nwant\n%v", when, q, got, want)
			}
		}
	}
	check("live")
	r.restart()
	check("after a restart")

	c = r.api(tokAPI)
	c.post(ids[0], conv.KindNoteAdded, conv.Note{Text: "after"}).must(t, 201)
	check("written after a restart")
}
