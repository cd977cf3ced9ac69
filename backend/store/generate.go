package store

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/google/uuid"
	"github.com/threadline/threadline/backend/conv"
)

// GenerateMe is the local participant of a generated store.
var GenerateMe = conv.Participant{ID: "agent:me", Role: conv.RoleAgent}

// Generate builds, in the empty directory dir, the store a device with
// identity GenerateMe would have after syncing a busy workspace: nConvs
// conversations holding about nItems timeline items in all, made by running
// conv.Apply with NextSeq (as a relay would) and derived with the same rules
// as every other write. It writes through one WriteBatch, unsynced, then
// closes the store (which flushes it); it is for benchmarks and tests. The
// same seed makes the same store.
func Generate(dir string, nConvs, nItems int, seed int64) error {
	if nConvs <= 0 || nItems < nConvs {
		return fmt.Errorf("store: generate %d conversations with %d items: need at least one item each", nConvs, nItems)
	}
	log := slog.New(slog.DiscardHandler)
	db, err := badger.Open(badgerOptions(dir, false, log).WithSyncWrites(false).WithMemTableSize(64 << 20).WithNumMemtables(3))
	if err != nil {
		return fmt.Errorf("store: generate: %w", err)
	}
	wb := db.NewWriteBatch()
	defer wb.Cancel()
	g := &generator{rng: rand.New(rand.NewPCG(uint64(seed), 0x7468726561646c6e)), wb: wb, log: log}
	if err := g.run(nConvs, nItems); err != nil {
		db.Close()
		return err
	}
	// The snapshot a clean Close would have left, so that opening takes
	// the fast path.
	const gen = 1
	if err := wb.Set(metaKey, encodeMeta(metaValue{Epoch: "generated", Seq: g.head, Gen: gen, Me: GenerateMe.ID})); err != nil {
		db.Close()
		return err
	}
	slices.SortFunc(g.snap, func(a, b [2][]byte) int { return bytes.Compare(a[0], b[0]) })
	size := 0
	for _, x := range g.snap {
		size += len(x[1]) + 3
	}
	if err := writeSnapshotFile(filepath.Join(dir, snapshotFile), gen, len(g.snap), size, func(w *encoder, i int) { w.bytes(g.snap[i][1]) }); err != nil {
		db.Close()
		return err
	}
	return errors.Join(wb.Flush(), db.Close())
}

type generator struct {
	rng   *rand.Rand
	wb    *badger.WriteBatch
	log   *slog.Logger
	head  uint64
	items []conv.Event // the current conversation's items
	n     int          // ids made
	snap  [][2][]byte  // inbox key, row value: the snapshot to write
}

// item keeps e; the conversation's items are written as one run at its end.
func (g *generator) item(e conv.Event) error {
	g.items = append(g.items, e)
	return nil
}

func (g *generator) countUnread(c *conv.Conversation, mark uint64) (int, error) {
	n := 0
	for _, e := range g.items {
		if e.Seq > mark && conv.CountsAsUnread(GenerateMe, c, e) {
			n++
		}
	}
	return n, nil
}

// id makes a deterministic UUIDv7-shaped id for time at.
func (g *generator) id(at int64) string {
	var u uuid.UUID
	g.n++
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(at>>40), byte(at>>32), byte(at>>24), byte(at>>16), byte(at>>8), byte(at)
	r := g.rng.Uint64()
	for i := 6; i < 14; i++ {
		u[i] = byte(r >> (8 * (i - 6)))
	}
	u[14], u[15] = byte(g.n>>8), byte(g.n)
	u[6] = 0x70 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return u.String()
}

var (
	genTeam = []conv.Participant{
		GenerateMe,
		{ID: "agent:ana", Role: conv.RoleAgent},
		{ID: "agent:ben", Role: conv.RoleAgent},
		{ID: "agent:chloe", Role: conv.RoleAgent},
		{ID: "ai:faq", Role: conv.RoleAssistant},
	}
	genTags     = []string{"billing", "outage", "onboarding", "vip", "bug", "feature-request", "refund", "dns", "email", "migration"}
	genSubjects = []string{"Server offline", "Invoice question", "Cannot log in", "DNS not propagating", "Upgrade plan", "Refund request", "Email bouncing", "SSL certificate expired", "Slow website", "Migration help"}
	genWords    = []string{"hello", "the", "server", "is", "down", "again", "since", "this", "morning", "please", "can", "you", "check", "invoice", "thanks", "we", "restarted", "it", "and", "looks", "fine", "now", "DNS", "records", "updated", "ticket", "customer", "waiting", "on", "backup", "restore", "done", "let", "me", "know", "if", "anything", "else"}
)

func (g *generator) text(min, max int) string {
	n := min + g.rng.IntN(max-min+1)
	b := make([]byte, 0, n*7)
	for i := range n {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, genWords[g.rng.IntN(len(genWords))]...)
	}
	return string(b)
}

func (g *generator) run(nConvs, nItems int) error {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	left := nItems
	for i := range nConvs {
		mean := left / (nConvs - i)
		want := mean
		if i < nConvs-1 && mean > 1 {
			want = 1 + g.rng.IntN(2*mean-1)
		}
		if i == nConvs-1 {
			want = left
		}
		want = max(1, min(want, left-(nConvs-i-1)))
		at := base - g.rng.Int64N(90*24*3600*1000)
		got, err := g.conversation(i, want, at)
		if err != nil {
			return err
		}
		left -= got
	}
	return nil
}

// conversation makes one conversation of about want items; it returns how
// many it made.
func (g *generator) conversation(n, want int, at int64) (int, error) {
	g.items = g.items[:0]
	contact := conv.Participant{ID: fmt.Sprintf("contact:%d", 100000+n), Role: conv.RoleContact, Name: fmt.Sprintf("Customer %d", n)}
	cid := g.id(at)
	var state, canon *conv.Conversation
	var hist history
	unread := 0
	apply := func(actor conv.Participant, k conv.Kind, data any) error {
		at += int64(1+g.rng.IntN(240)) * 60_000
		e := conv.Event{ID: g.id(at), Conv: cid, Kind: k, Actor: actor, Device: "gen", At: at, Base: g.head, Data: conv.MustData(data)}
		next, evs, err := conv.Apply(state, e, conv.Env{NextSeq: g.head + 1})
		if err != nil {
			return nil // an invalid random step: skip it, as a relay would reject it
		}
		state = next
		for _, ev := range evs {
			g.head = ev.Seq
			if err := g.wb.Set(logKey(ev.Seq), encodeEvent(nil, ev)); err != nil {
				return err
			}
			var err error
			if canon, hist, unread, _, err = canonStep(GenerateMe, g.log, g, canon, hist, unread, ev); err != nil {
				return err
			}
		}
		return nil
	}
	creator := contact
	if g.rng.IntN(4) == 0 {
		creator = genTeam[g.rng.IntN(4)]
	}
	created := conv.Created{Contact: &contact, Channel: "chat", Subject: genSubjects[g.rng.IntN(len(genSubjects))],
		Priority: []conv.Priority{conv.PriorityLow, conv.PriorityMedium, conv.PriorityMedium, conv.PriorityHigh, conv.PriorityUrgent}[g.rng.IntN(5)]}
	if g.rng.IntN(3) == 0 {
		created.Tags = []string{genTags[g.rng.IntN(len(genTags))]}
	}
	if creator.IsEndUser() { // priority and tags are the team's to set (rule 12)
		created.Priority, created.Tags = "", nil
	}
	// One in twenty is the bot's: in assistant mode, handed off to the
	// team most of the time.
	botConv := g.rng.IntN(20) == 0
	if botConv {
		created.AssistantID = "faq"
	}
	if err := apply(creator, conv.KindConversationCreated, created); err != nil {
		return 0, err
	}
	for len(g.items) < want {
		agent := genTeam[g.rng.IntN(len(genTeam))]
		var err error
		switch p := g.rng.IntN(100); {
		case p < 45:
			err = apply(contact, conv.KindMessageSent, conv.Message{Text: g.text(3, 25)})
		case p < 80:
			err = apply(agent, conv.KindMessageSent, conv.Message{Text: g.text(3, 25)})
			if err == nil && agent.ID == GenerateMe.ID {
				err = apply(GenerateMe, conv.KindSeenMarked, conv.SeenMarked{UpTo: g.head})
			}
		case p < 87:
			err = apply(genTeam[g.rng.IntN(4)], conv.KindNoteAdded, conv.Note{Text: g.text(3, 15)})
		case p < 89:
			err = apply(agent, conv.KindTagsChanged, conv.TagsChanged{Add: []string{genTags[g.rng.IntN(len(genTags))]}})
		case p < 91:
			err = apply(agent, conv.KindPriorityChanged, conv.PriorityChanged{Priority: conv.Priority([]string{"low", "medium", "high", "urgent"}[g.rng.IntN(4)])})
		case p < 93:
			a := genTeam[g.rng.IntN(4)]
			err = apply(genTeam[1], conv.KindAssigneeChanged, conv.AssigneeChanged{Assignee: &a})
		case p < 95:
			err = apply(agent, conv.KindThreadStarted, conv.ThreadStarted{Thread: g.id(at), Topic: fmt.Sprintf("Customer server offline (Ticket #%d)", 1000000+g.rng.IntN(9000000))})
		case p < 97:
			err = apply(contact, conv.KindSeenMarked, conv.SeenMarked{UpTo: g.head})
		default:
			err = apply(agent, conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusResolved})
		}
		if err != nil {
			return 0, err
		}
	}
	if botConv && g.rng.IntN(3) > 0 {
		if err := apply(genTeam[4], conv.KindAssistantHandedOff, conv.HandedOff{}); err != nil {
			return 0, err
		}
	}
	if state != nil && state.Status == conv.StatusOpen && g.rng.IntN(50) == 0 { // a few snoozed, until long after any run
		if err := apply(genTeam[1], conv.KindStatusChanged, conv.StatusChanged{Status: conv.StatusSnoozed, Until: genSnoozedUntil + at}); err != nil {
			return 0, err
		}
	}
	if g.rng.IntN(10) < 7 { // most conversations are read up to their end
		if err := apply(GenerateMe, conv.KindSeenMarked, conv.SeenMarked{UpTo: g.head}); err != nil {
			return 0, err
		}
	}
	if len(g.items) > 0 {
		seqs := make([]uint64, len(g.items))
		for i, e := range g.items {
			seqs[i] = e.Seq
		}
		k, err := itemKey(cid, seqs[0])
		if err != nil {
			return 0, err
		}
		if err := g.wb.Set(k, appendRun(nil, seqs)); err != nil {
			return 0, err
		}
	}
	if canon != nil {
		k := newCanonical(canon, hist)
		v := encodeRow(unread, k)
		if err := g.wb.Set(convKey(cid), v); err != nil {
			return 0, err
		}
		g.snap = append(g.snap, [2][]byte{inboxKeyOf(cid, k.sum), v})
	}
	return len(g.items), nil
}

// generatorVersion names what Generate makes; a change to it (or to the
// codec) makes GeneratedStore build a new store rather than reuse a cached
// one.
const generatorVersion = 6

// genSnoozedUntil is about when the snoozed conversations of a generated
// store wake (plus their last event's time): the year 2100.
const genSnoozedUntil = 4_102_444_800_000 - 1_767_225_600_000

// GeneratedStore returns the directory of a generated store of nConvs
// conversations and nItems items under the user's cache directory (or the
// system's temp directory), generating it first if it is not there yet, so
// that repeated benchmark runs reuse it.
func GeneratedStore(nConvs, nItems int, seed int64) (string, error) {
	root, err := os.UserCacheDir()
	if err != nil {
		root = os.TempDir()
	}
	dir := filepath.Join(root, "threadline-bench", fmt.Sprintf("store-v%d.%d-%d-%d-%d", codecVersion, generatorVersion, nConvs, nItems, seed))
	done := filepath.Join(dir, "GENERATED")
	if _, err := os.Stat(done); err == nil {
		return dir, nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := Generate(dir, nConvs, nItems, seed); err != nil {
		return "", err
	}
	return dir, os.WriteFile(done, nil, 0o644)
}
