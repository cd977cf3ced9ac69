package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/threadline/threadline/backend/conv"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, Options{Me: me, Now: func() time.Time { return time.UnixMilli(worldNow) }})
	if err != nil {
		t.Fatalf("Open(%s) = %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// run drives a world for n steps, then optionally settles it: push and
// deliver everything.
func run(t *testing.T, seed int64, s *Store, n int, settle bool) *world {
	w := newWorld(t, seed, s)
	for range n {
		w.step()
	}
	if settle {
		for range 3 {
			var outs []Outcome
			for _, e := range s.Pending(nil) {
				_, o := w.r.accept(e)
				outs = append(outs, o)
			}
			w.deliver()
			if err := s.Acknowledged(outs); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

func TestReopenKeepsEverything(t *testing.T) {
	for _, seed := range seeds() {
		dir := t.TempDir()
		s := openStore(t, dir)
		run(t, seed, s, 300, false)
		before := takeSnapshot(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openStore(t, dir)
		if d := diff(before, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: reopened store differs: %s", seed, d)
		}
	}
}

func TestRebuildEqualsIncremental(t *testing.T) {
	for _, seed := range seeds() {
		dir := t.TempDir()
		s := openStore(t, dir)
		run(t, seed, s, 400, false)
		incremental := takeSnapshot(t, s)
		if len(incremental.Rows) == 0 {
			t.Fatalf("seed %d: the random run made no conversation", seed)
		}
		if err := s.Rebuild(); err != nil {
			t.Fatalf("seed %d: Rebuild() = %v", seed, err)
		}
		if d := diff(incremental, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: rebuilt state differs from the incremental one: %s", seed, d)
		}
		if err := s.Rebuild(); err != nil { // replaying the same log twice gives the same state
			t.Fatal(err)
		}
		if d := diff(incremental, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: second rebuild differs: %s", seed, d)
		}
		s.Close()
		s = openStore(t, dir)
		if d := diff(incremental, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: reopened rebuilt store differs: %s", seed, d)
		}
	}
}

// A settled device (nothing pending, everything delivered) holds exactly
// the relay's state, and its view is the canonical state.
func TestSettledDeviceEqualsRelay(t *testing.T) {
	for _, seed := range seeds() {
		s := openStore(t, t.TempDir())
		w := run(t, seed, s, 300, true)
		for _, p := range s.Outbox(nil) {
			if p.State != StateFailed {
				t.Fatalf("seed %d: outbox still holds %s %s (%s) after settling", seed, p.Event.Kind, p.Event.ID, p.State)
			}
		}
		for id, want := range w.r.state {
			r := s.Row(id, nil)
			if r == nil {
				t.Fatalf("seed %d: no row for %s", seed, id)
			}
			if !reflect.DeepEqual(r.Canon(), want) {
				t.Fatalf("seed %d: Canon(%s) = %+v; want the relay's %+v", seed, id, r.Canon(), want)
			}
			if r.Failed == 0 && r.View() != r.Canon() {
				t.Errorf("seed %d: View(%s) is not Canon with nothing pending", seed, id)
			}
			// The unread count is rule 8, counted from the relay's log.
			mark, n := want.SeenBy(me.ID), 0
			for _, e := range w.r.log {
				if e.Conv == id && e.Seq > mark && conv.CountsAsUnread(me, want, e) {
					n++
				}
			}
			if r.Unread != n || r.CanonUnread != n {
				t.Errorf("seed %d: Unread(%s) = %d/%d; want %d", seed, id, r.Unread, r.CanonUnread, n)
			}
		}
		if _, seq := s.Cursor(nil); seq != w.r.head {
			t.Errorf("seed %d: Cursor() seq = %d; want the relay's head %d", seed, seq, w.r.head)
		}
	}
}

// Rows handed out by memdb are never changed by later writes.
func TestRowsNotMutatedInPlace(t *testing.T) {
	s := openStore(t, t.TempDir())
	w := newWorld(t, 7, s)
	type kept struct {
		ptr         *Row
		copy        rowCopy
		canon, view *conv.Conversation
	}
	var all []kept
	for range 300 {
		w.step()
		for _, id := range someIDs {
			if r := s.Row(id, nil); r != nil {
				k := kept{ptr: r, copy: copyRow(r), canon: r.Canon().Clone(), view: r.View().Clone()}
				k.copy.Overlay = slices.Clone(r.Overlay)
				all = append(all, k)
			}
		}
	}
	for i, k := range all {
		if !reflect.DeepEqual(copyRow(k.ptr), k.copy) || !reflect.DeepEqual(k.ptr.Canon(), k.canon) || !reflect.DeepEqual(k.ptr.View(), k.view) {
			t.Fatalf("row %d (%s) was modified in place after it was handed out", i, k.ptr.ID)
		}
	}
}

func TestReset(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	w := run(t, 5, s, 200, true)
	// Something pending, something sent, something failed.
	_, seq := s.Cursor(nil)
	c := conv.Event{ID: "new-c", Conv: "cz", Kind: conv.KindConversationCreated, Actor: me, Base: seq,
		Data: conv.MustData(conv.Created{Contact: &alice, Subject: "after reset"})}
	m := conv.Event{ID: "new-m", Conv: "cz", Kind: conv.KindMessageSent, Actor: me, Base: seq, Data: conv.MustData(conv.Message{Text: "kept"})}
	if _, err := s.AddLocal([]conv.Event{c, m}); err != nil {
		t.Fatal(err)
	}
	if err := s.Acknowledged([]Outcome{{ID: "new-c", Seq: w.r.head + 5}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset("ep2"); err != nil {
		t.Fatalf("Reset() = %v", err)
	}
	check := func(s *Store) {
		t.Helper()
		if ep, seq := s.Cursor(nil); ep != "ep2" || seq != 0 {
			t.Fatalf("Cursor() = %q %d; want ep2 0", ep, seq)
		}
		var ids []string
		for _, e := range s.Pending(nil) {
			ids = append(ids, e.ID)
		}
		if !slices.Contains(ids, "new-c") || !slices.Contains(ids, "new-m") {
			t.Fatalf("Pending() = %v; want the sent and the pending events again", ids)
		}
		for _, id := range someIDs {
			if r := s.Row(id, nil); r != nil && r.Canon() != nil {
				t.Fatalf("Row(%s).Canon survives a reset", id)
			}
		}
		r := s.Row("cz", nil)
		if r == nil || r.View() == nil || r.View().Subject != "after reset" || len(r.Overlay) != 3 {
			t.Fatalf("Row(cz) = %+v; want the pending conversation with its 3 items", r)
		}
		n := 0
		s.Log(0, func(conv.Event) bool { n++; return true })
		if n != 0 {
			t.Fatalf("the log holds %d events after a reset", n)
		}
	}
	check(s)
	s.Close()
	check(openStore(t, dir))
}

// A Reset or Rebuild cut short by a crash is finished when the store opens.
func TestInterruptedResetAndRebuild(t *testing.T) {
	for _, flag := range []byte{flagResetting, flagRebuilding} {
		dir := t.TempDir()
		s := openStore(t, dir)
		run(t, 11, s, 200, false)
		want := takeSnapshot(t, s)
		m := s.meta(nil)
		err := s.db.Update(func(btx *badger.Txn) error {
			if flag == flagRebuilding { // half a rebuild: some rows gone
				if err := btx.Delete(convKey("c1")); err != nil {
					return err
				}
			}
			return btx.Set(metaKey, encodeMeta(metaValue{Epoch: m.Epoch, Seq: m.Seq, Mid: m.Mid, Flags: flag}))
		})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		s = openStore(t, dir)
		got := takeSnapshot(t, s)
		if flag == flagRebuilding {
			if d := diff(want, got); d != "" {
				t.Fatalf("after an interrupted rebuild: %s", d)
			}
			continue
		}
		if got.Seq != 0 || len(got.Items) != 0 && hasCanonical(got) {
			t.Fatalf("after an interrupted reset: cursor %d, canonical items left", got.Seq)
		}
		if !reflect.DeepEqual(got.Outbox, want.Outbox) && len(got.Outbox) != len(want.Outbox) {
			t.Fatalf("after an interrupted reset the outbox changed: %d records; want %d", len(got.Outbox), len(want.Outbox))
		}
	}
}

func hasCanonical(s snapshot) bool {
	for _, items := range s.Items {
		for _, it := range items {
			if it.State == StateCanonical {
				return true
			}
		}
	}
	return false
}

func TestOutboxVerbs(t *testing.T) {
	s := openStore(t, t.TempDir())
	c := conv.Event{ID: "c", Conv: "c1", Kind: conv.KindConversationCreated, Actor: me, Data: conv.MustData(conv.Created{Contact: &alice})}
	m := conv.Event{ID: "m", Conv: "c1", Kind: conv.KindMessageSent, Actor: me, Data: conv.MustData(conv.Message{Text: "hello"})}
	stored, err := s.AddLocal([]conv.Event{c, m})
	if err != nil || len(stored) != 2 || stored[0].Mid != 1 || stored[1].Mid != 2 {
		t.Fatalf("AddLocal() = %+v, %v; want two events with mids 1, 2", stored, err)
	}
	// An id already in the outbox is refused, alone or twice in one call.
	again := conv.Event{ID: "m", Conv: "c1", Kind: conv.KindNoteAdded, Actor: me, Data: conv.MustData(conv.Note{Text: "n"})}
	if _, err := s.AddLocal([]conv.Event{again}); !errors.Is(err, conv.ErrConflict) {
		t.Fatalf("AddLocal(an id in the outbox) = %v; want conflict", err)
	}
	twice := conv.Event{ID: "n2", Conv: "c1", Kind: conv.KindNoteAdded, Actor: me, Data: conv.MustData(conv.Note{Text: "n"})}
	if _, err := s.AddLocal([]conv.Event{twice, twice}); !errors.Is(err, conv.ErrConflict) {
		t.Fatalf("AddLocal(one id twice) = %v; want conflict", err)
	}
	// A rejected draft stores nothing, not even the valid ones before it.
	bad := conv.Event{ID: "x", Conv: "c1", Kind: conv.KindThreadStarted, Actor: me, Data: conv.MustData(conv.ThreadStarted{Thread: "t"})}
	ok := conv.Event{ID: "y", Conv: "c1", Kind: conv.KindNoteAdded, Actor: me, Data: conv.MustData(conv.Note{Text: "n"})}
	if _, err := s.AddLocal([]conv.Event{ok, bad}); !errors.Is(err, conv.ErrInvalid) {
		t.Fatalf("AddLocal(thread.started without topic) = %v; want invalid", err)
	}
	if n := len(s.Outbox(nil)); n != 2 {
		t.Fatalf("outbox holds %d records after a rejection; want 2", n)
	}
	if err := s.Acknowledged([]Outcome{{ID: "c", Err: &conv.Error{Code: conv.CodeConflict, Message: "taken"}}, {ID: "m", Err: &conv.Error{Code: conv.CodeNoSuchConversation, Message: "no"}}}); err != nil {
		t.Fatal(err)
	}
	r := s.Row("c1", nil)
	if r == nil || r.Failed != 2 || len(r.Overlay) != 2 || r.Overlay[0].Err.Code != conv.CodeConflict || r.View() == nil || !r.Placeholder {
		t.Fatalf("Row(c1) = %+v; want both failed items visible with their errors", r)
	}
	if _, err := s.Retry("m", "m2", 5); !errors.Is(err, conv.ErrNoSuchConversation) {
		t.Fatalf("Retry(message before its conversation) = %v; want no_such_conversation", err)
	}
	if _, err := s.Retry("nope", "z", 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Retry(unknown) = %v; want ErrNotFound", err)
	}
	e, err := s.Retry("c", "c2", 5)
	if err != nil || e.ID != "c2" || e.Mid != 3 || e.At != 5 {
		t.Fatalf("Retry(c) = %+v, %v; want a fresh event c2 with mid 3", e, err)
	}
	if _, err := s.Retry("c2", "c3", 6); !errors.Is(err, ErrNotFailed) {
		t.Fatalf("Retry(pending) = %v; want ErrNotFailed", err)
	}
	if err := s.Discard("m"); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range s.Outbox(nil) {
		ids = append(ids, p.Event.ID+"/"+p.State.String())
	}
	if want := []string{"c2/pending"}; !slices.Equal(ids, want) {
		t.Fatalf("outbox = %v; want %v", ids, want)
	}
	// Sent, then its canonical copy arrives: gone from the outbox, one item.
	if err := s.Acknowledged([]Outcome{{ID: "c2", Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	if p := s.Outbox(nil); len(p) != 1 || p[0].State != StateSent || p[0].Seq != 1 {
		t.Fatalf("outbox after ack = %+v; want c2 sent with seq 1", p)
	}
	canon := e
	canon.Seq = 1
	if err := s.ApplyCanonical("ep", []conv.Event{canon}, 1); err != nil {
		t.Fatal(err)
	}
	if p := s.Outbox(nil); len(p) != 0 {
		t.Fatalf("outbox after the canonical copy = %+v; want empty", p)
	}
	items, _, _ := s.Timeline("c1", 0, 50, nil)
	if len(items) != 1 || items[0].State != StateCanonical || items[0].Event.ID != "c2" {
		t.Fatalf("Timeline(c1) = %+v; want the one canonical creation", items)
	}
}

// Unread counts are the local participant's: opening a store for another
// identity derives them again.
func TestOtherIdentityRebuilds(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	w := run(t, 3, s, 300, true)
	s.Close()
	s, err := Open(dir, Options{Me: ana})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for id, c := range w.r.state {
		mark, n := c.SeenBy(ana.ID), 0
		for _, e := range w.r.log {
			if e.Conv == id && e.Seq > mark && conv.CountsAsUnread(ana, c, e) {
				n++
			}
		}
		if r := s.Row(id, nil); r == nil || r.CanonUnread != n {
			t.Errorf("unread(%s) for ana = %v; want %d", id, r, n)
		}
	}
}

// The snapshot file is a cache: a damaged or stale one is ignored, the rows
// are read from Badger, and a fresh one is written.
func TestSnapshotIsACache(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	run(t, 21, s, 250, false)
	s.Close()
	path := filepath.Join(dir, snapshotFile)
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no snapshot after Close: %v", err)
	}
	// An old snapshot (of a smaller gen) is stale.
	s = openStore(t, dir)
	run(t, 22, s, 50, true)
	want2 := takeSnapshot(t, s)
	s.Close()
	tests := []struct {
		name string
		file []byte
		want snapshot
	}{
		{"current", nil, want2},
		{"stale", good, want2},
		{"damaged", append(bytes.Clone(good[:len(good)/2]), 0xff), want2},
		{"empty", []byte{}, want2},
	}
	for _, tt := range tests {
		if tt.file != nil {
			if err := os.WriteFile(path, tt.file, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s := openStore(t, dir)
		if d := diff(tt.want, takeSnapshot(t, s)); d != "" {
			t.Fatalf("%s snapshot: %s", tt.name, d)
		}
		s.Close()
		if g, err := s.snapshotGen(); err != nil || g != s.meta(nil).Gen {
			t.Fatalf("%s snapshot: after Close the file has gen %d, %v; want %d", tt.name, g, err, s.meta(nil).Gen)
		}
	}
}

// Reads and writes after Close fail with ErrClosed, never a panic.
func TestClosed(t *testing.T) {
	s := openStore(t, t.TempDir())
	run(t, 1, s, 100, true)
	id := ""
	for _, c := range someIDs {
		if s.Row(c, nil) != nil {
			id = c
		}
	}
	s.Close()
	if _, err := s.AddLocal([]conv.Event{{ID: "x", Conv: "c1", Kind: conv.KindNoteAdded, Actor: me, Data: conv.MustData(conv.Note{Text: "n"})}}); !errors.Is(err, ErrClosed) {
		t.Errorf("AddLocal after Close = %v; want ErrClosed", err)
	}
	if err := s.ApplyCanonical("ep1", nil, 1000); !errors.Is(err, ErrClosed) {
		t.Errorf("ApplyCanonical after Close = %v; want ErrClosed", err)
	}
	if _, _, err := s.Timeline(id, 0, 10, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Timeline after Close = %v; want ErrClosed", err)
	}
	if err := s.Log(0, func(conv.Event) bool { return true }); !errors.Is(err, ErrClosed) {
		t.Errorf("Log after Close = %v; want ErrClosed", err)
	}
}

// Between the two phases of opening, the first pages are answered from the
// head of the inbox list, the others wait; both give what the fully indexed
// store gives.
func TestTwoPhaseOpen(t *testing.T) {
	dir := t.TempDir()
	if err := Generate(dir, 3*headRows, 9*headRows, 5); err != nil {
		t.Fatal(err)
	}
	queries := []Query{
		{Status: conv.StatusOpen, Limit: 50},
		{Status: conv.StatusResolved, Limit: 50},
		{Limit: 50},
		{UnreadOnly: true, Limit: 20},
		{Sort: ByPriority, Limit: 50},
		{Tag: "vip", Limit: 50},
		{Status: conv.StatusOpen, Limit: headRows + 10},
	}
	s := openStore(t, dir)
	var want [][]*Row
	var wantNext []string
	for _, q := range queries {
		rows, next, err := s.Page(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		want, wantNext = append(want, rows), append(wantNext, next)
	}
	wantTotal := s.TotalUnread(nil)
	s.Close()

	holdIndexing = make(chan struct{})
	defer func() { holdIndexing = nil }()
	s = openStore(t, dir)
	if s.indexedYet() {
		t.Fatal("the second phase ran while held")
	}
	if got := s.TotalUnread(nil); got != wantTotal {
		t.Errorf("TotalUnread() before indexing = %d; want %d", got, wantTotal)
	}
	got := make(chan int, len(queries))
	for i, q := range queries {
		go func() {
			rows, next, err := s.Page(q, nil)
			if err != nil || next != wantNext[i] || len(rows) != len(want[i]) {
				t.Errorf("Page(%+v) = %d rows, %q, %v; want %d rows, %q", q, len(rows), next, err, len(want[i]), wantNext[i])
			}
			for j := range min(len(rows), len(want[i])) {
				if rows[j].ID != want[i][j].ID {
					t.Errorf("Page(%+v)[%d] = %s; want %s", q, j, rows[j].ID, want[i][j].ID)
					break
				}
			}
			got <- i
		}()
	}
	// The first pages answer while the second phase is held.
	answered := map[int]bool{}
	for range 4 {
		answered[<-got] = true
	}
	for i := range 4 {
		if !answered[i] {
			t.Errorf("Page(%+v) waited for the second phase; it is a first page", queries[i])
		}
	}
	close(holdIndexing)
	for range len(queries) - 4 {
		<-got
	}
}

// A batch of large events, more than one Badger transaction holds, is
// written in chunks sized by bytes, and every event is kept.
func TestApplyCanonicalLargeBatch(t *testing.T) {
	s := openStore(t, t.TempDir())
	r := newRelay()
	agent := conv.Participant{ID: "agent:a", Role: conv.RoleAgent}
	contact := conv.Participant{ID: "contact:c", Role: conv.RoleContact}
	mk := func(i int, kind conv.Kind, data any) conv.Event {
		return conv.Event{ID: fmt.Sprintf("e%d", i), Conv: "c1", Kind: kind, Actor: agent, Device: "d", At: int64(i + 1), Data: conv.MustData(data)}
	}
	if _, o := r.accept(mk(0, conv.KindConversationCreated, conv.Created{Contact: &contact, Subject: "big"})); o.Err != nil {
		t.Fatal(o.Err)
	}
	text := strings.Repeat("x", 8<<10)
	for i := 1; i <= 600; i++ {
		if _, o := r.accept(mk(i, conv.KindNoteAdded, conv.Note{Text: text})); o.Err != nil {
			t.Fatal(o.Err)
		}
	}
	if err := s.ApplyCanonical("ep", r.log, r.head); err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := s.Log(0, func(conv.Event) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n != len(r.log) {
		t.Fatalf("log holds %d events; want %d", n, len(r.log))
	}
	if _, seq := s.Cursor(nil); seq != r.head {
		t.Fatalf("cursor %d; want %d", seq, r.head)
	}
	items, _, err := s.Timeline("c1", 0, 1000, nil)
	if err != nil || len(items) != 601 {
		t.Fatalf("Timeline = %d items, %v; want 601", len(items), err)
	}
}

// TestItemsHoldingTheirEvent: a store written before timeline items pointed
// at the log (each item a key of its own holding its event) reads and
// counts the same, and takes writes (merged runs among its items).
func TestItemsHoldingTheirEvent(t *testing.T) {
	for _, seed := range seeds() {
		dir := t.TempDir()
		s := openStore(t, dir)
		w := run(t, seed, s, 300, false)
		want := takeSnapshot(t, s)
		// Give every item a key of its own holding its event, as the old
		// format did.
		err := s.db.Update(func(btx *badger.Txn) error {
			it := btx.NewIterator(badger.IteratorOptions{Prefix: []byte{prefixTimeline}})
			defer it.Close()
			var gone, keys, vals [][]byte
			for it.Seek([]byte{prefixTimeline}); it.Valid(); it.Next() {
				k := it.Item().KeyCopy(nil)
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				seqs, held, err := itemRun(nil, seqOfItemKey(k), v)
				if err != nil || held != nil {
					return fmt.Errorf("item %q: %v (held %v)", k, err, held != nil)
				}
				gone = append(gone, k)
				for _, seq := range seqs {
					logged, err := btx.Get(logKey(seq))
					if err != nil {
						return err
					}
					enc, err := logged.ValueCopy(nil)
					if err != nil {
						return err
					}
					ik, _ := itemKey(string(k[2:2+k[1]]), seq)
					keys, vals = append(keys, ik), append(vals, enc)
				}
			}
			if len(keys) == 0 || len(keys) == len(gone) {
				return fmt.Errorf("%d items in %d runs: want some runs", len(keys), len(gone))
			}
			for _, k := range gone {
				if err := btx.Delete(k); err != nil {
					return err
				}
			}
			for i := range keys {
				if err := btx.Set(keys[i], vals[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("seed %d: rewriting the items: %v", seed, err)
		}
		if d := diff(want, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: items holding their event read differently: %s", seed, d)
		}
		// Writes on top (unread recounts read the old items too) keep
		// the store equal to its rebuild.
		for range 200 {
			w.step()
		}
		incremental := takeSnapshot(t, s)
		if err := s.Rebuild(); err != nil {
			t.Fatal(err)
		}
		if d := diff(incremental, takeSnapshot(t, s)); d != "" {
			t.Fatalf("seed %d: rebuilt state differs: %s", seed, d)
		}
	}
}

// TestItemRunsNeverOverlap: items a write adds among stored ones (which
// canonical events never are: one at or below its conversation's last seq
// is skipped) are merged with the runs they overlap, so that key order
// stays item order.
func TestItemRunsNeverOverlap(t *testing.T) {
	s := openStore(t, t.TempDir())
	agent := conv.Participant{ID: "agent:a", Role: conv.RoleAgent}
	contact := conv.Participant{ID: "contact:c", Role: conv.RoleContact}
	ev := func(seq uint64, kind conv.Kind, data any) conv.Event {
		return conv.Event{ID: fmt.Sprintf("e%d", seq), Seq: seq, Conv: "c1", Kind: kind, Actor: agent, At: int64(seq), Data: conv.MustData(data)}
	}
	note := conv.Note{Text: "n"}
	if err := s.ApplyCanonical("ep", []conv.Event{ev(10, conv.KindConversationCreated, conv.Created{Contact: &contact}), ev(12, conv.KindNoteAdded, note)}, 12); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyCanonical("ep", []conv.Event{ev(20, conv.KindNoteAdded, note), ev(30, conv.KindNoteAdded, note)}, 30); err != nil {
		t.Fatal(err)
	}
	seqs := func() []uint64 {
		var out []uint64
		err := s.db.View(func(btx *badger.Txn) error {
			return scanItems(btx, "c1", 0, func(seq uint64, _ []byte) (bool, error) {
				out = append(out, seq)
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got, want := seqs(), []uint64{30, 20, 12, 10}; !slices.Equal(got, want) {
		t.Fatalf("items %v; want %v", got, want)
	}
	for _, tc := range []struct {
		add  []uint64
		want []uint64
	}{
		{[]uint64{1, 2}, []uint64{30, 20, 12, 10, 2, 1}},                 // below every run
		{[]uint64{11, 25}, []uint64{30, 25, 20, 12, 11, 10, 2, 1}},       // across two runs
		{[]uint64{40, 3}, []uint64{40, 30, 25, 20, 12, 11, 10, 3, 2, 1}}, // unsorted, across all
	} {
		err := s.write(func(w *writer) error {
			wk, err := w.work("c1")
			if err != nil {
				return err
			}
			wk.items = tc.add
			return w.finish(false)
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := seqs(); !slices.Equal(got, tc.want) {
			t.Fatalf("after adding %v: items %v; want %v", tc.add, got, tc.want)
		}
	}
}

// TestStoreFormat: every meta write stamps this binary's store format; a
// store stamped by a newer binary is refused, untouched; a store written
// before formats opens as it was, and takes the format.
func TestStoreFormat(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	run(t, 5, s, 200, false)
	want := takeSnapshot(t, s)
	if m, err := s.readMeta(); err != nil || m.Format != storeFormat {
		t.Fatalf("meta after writes: format %d (%v); want %d", m.Format, err, storeFormat)
	}
	setMeta := func(s *Store, format int) {
		t.Helper()
		m, err := s.readMeta()
		if err != nil {
			t.Fatal(err)
		}
		// encodeMeta ends with this binary's format (one byte): replace it,
		// or drop it as a binary from before formats wrote.
		b := encodeMeta(m)
		b = b[:len(b)-1]
		if format > 0 {
			b = binary.AppendUvarint(b, uint64(format))
		}
		if err := s.db.Update(func(btx *badger.Txn) error { return btx.Set(metaKey, b) }); err != nil {
			t.Fatal(err)
		}
	}
	setMeta(s, storeFormat+1)
	s.Close()
	for range 2 { // refused, and left as it was: refused again
		if s, err := Open(dir, Options{Me: me}); !errors.Is(err, ErrNewerStore) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open of a newer store = %v; want ErrNewerStore", err)
		}
	}

	// Before formats: the same store, its meta without one.
	db, err := badger.Open(badgerOptions(dir, false, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	setMeta(&Store{db: db}, 0)
	db.Close()
	s = openStore(t, dir)
	if d := diff(want, takeSnapshot(t, s)); d != "" {
		t.Fatalf("a store from before formats reads differently: %s", d)
	}
	if m, _ := s.readMeta(); m.Format != storeFormat {
		t.Fatalf("format %d once opened; want %d", m.Format, storeFormat)
	}
}

// A contact's profile (contact.updated) is state, not a timeline item: the
// row's states carry the name and email, the unread count and the items do
// not move, and a reopened or rebuilt store holds the same.
func TestContactProfileIsState(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	r := newRelay()
	contact := conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	var log []conv.Event
	accept := func(actor conv.Participant, k conv.Kind, data any) {
		t.Helper()
		evs, o := r.accept(conv.Event{ID: fmt.Sprintf("e%d", len(r.log)+1), Conv: "c1", Kind: k, Actor: actor, At: int64(len(r.log) + 1), Base: r.head, Data: conv.MustData(data)})
		if o.Err != nil || len(evs) == 0 {
			t.Fatalf("relay.accept(%s) = %+v; want it logged", k, o)
		}
		log = append(log, evs...)
	}
	accept(contact, conv.KindConversationCreated, conv.Created{Subject: "Billing"})
	accept(conv.System, conv.KindContactUpdated, conv.ContactUpdated{Contact: contact, Name: "Dana Whitfield", Email: "dana@example.com"})
	accept(contact, conv.KindMessageSent, conv.Message{Text: "Where is my invoice?"})
	accept(conv.System, conv.KindContactUpdated, conv.ContactUpdated{Contact: contact, Email: "dana.w@example.com"})
	if err := s.ApplyCanonical("ep1", log, r.head); err != nil {
		t.Fatal(err)
	}
	check := func(when string) {
		t.Helper()
		row := s.Row("c1", nil)
		if row == nil || row.Canon() == nil {
			t.Fatalf("%s: no row c1", when)
		}
		c := row.View()
		if c.Contact.Name != "Dana Whitfield" || c.ContactEmail != "dana.w@example.com" || c.Contact.ID != contact.ID {
			t.Errorf("%s: contact %+v <%s>; want Dana Whitfield <dana.w@example.com>", when, c.Contact, c.ContactEmail)
		}
		if row.Unread != 1 || s.TotalUnread(nil) != 1 {
			t.Errorf("%s: unread %d (total %d); want the message alone", when, row.Unread, s.TotalUnread(nil))
		}
		items, _, err := s.Timeline("c1", 0, 50, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			if it.Event.Kind == conv.KindContactUpdated {
				t.Errorf("%s: contact.updated is a timeline item", when)
			}
		}
	}
	check("applied")
	before := takeSnapshot(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	check("reopened")
	if err := s.Rebuild(); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	if d := diff(before, takeSnapshot(t, s)); d != "" {
		t.Errorf("rebuilt store differs: %s", d)
	}
}
