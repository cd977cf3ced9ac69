package eventlog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// journalWorkload appends n varied batches to ws: events in a few
// conversations, their states, owners added and removed, results and
// visitors. It returns the head.
func journalWorkload(t *testing.T, l *Badger, ws string, n int) uint64 {
	t.Helper()
	if _, _, err := l.Open(ws); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for i := range n {
		c := fmt.Sprintf("c%d", i%7)
		b := &Batch{}
		for range 1 + i%3 {
			seq++
			b.Events = append(b.Events, testEvent(seq, c))
		}
		b.States = []*conv.Conversation{{ID: c, Status: conv.StatusOpen, LastSeq: seq}}
		b.Owners = []Ownership{{Participant: fmt.Sprintf("contact:%d", i%5), Conv: c, Since: seq, Remove: i%4 == 3}}
		b.Results = []MidResult{{Identity: "agent:ana", Device: fmt.Sprintf("d%d", i%2), Mid: uint64(i + 1), Result: protocol.Result{ID: fmt.Sprintf("e%d", seq), Seq: seq}}}
		if i%10 == 0 {
			var h [32]byte
			h[0], h[1] = byte(i), byte(i>>8)
			b.Visitors = []VisitorToken{{Hash: h, ID: fmt.Sprintf("visitor:%d", i), Seq: seq}}
		}
		if err := l.Append(ws, b); err != nil {
			t.Fatal(err)
		}
	}
	return seq
}

// dumpLog returns every key and value Badger holds, but the health probe.
func dumpLog(t *testing.T, l *Badger) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := l.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if bytes.Equal(k, healthKey) {
				continue
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(k)] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func copySegments(t *testing.T, from, to string) []string {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(to, journalDir), 0o700); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(from, journalDir, "*"+journalExtension))
	var out []string
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(to, journalDir, filepath.Base(n))
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, dst)
	}
	return out
}

// The journal alone rebuilds the log: its segments, replayed into an empty
// Badger, give the same keys and values as the Badger they were written
// beside, and the same answers.
func TestJournalReplayRebuildsTheLog(t *testing.T) {
	a := t.TempDir()
	la, err := OpenBadger(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	head := journalWorkload(t, la, "ws", 400)
	want := dumpLog(t, la)
	b := t.TempDir()
	if segs := copySegments(t, a, b); len(segs) != 1 {
		t.Fatalf("%d segments; want 1", len(segs))
	}
	la.Close()
	if left, _ := filepath.Glob(filepath.Join(a, journalDir, "*"+journalExtension)); len(left) != 0 {
		t.Errorf("a clean close left %v", left)
	}

	lb, err := OpenBadger(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	got := dumpLog(t, lb)
	if len(got) != len(want) {
		t.Fatalf("replayed %d keys; want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("key %q: replayed %q, want %q", k, got[k], v)
		}
	}
	if _, h, _ := lb.Open("ws"); h != head {
		t.Errorf("head %d; want %d", h, head)
	}
	// The replayed log takes new writes where the old one stopped.
	if err := lb.Append("ws", &Batch{Events: []Record{testEvent(head+1, "c0")}}); err != nil {
		t.Fatal(err)
	}
}

// A record torn by a crash (a partial write, or bytes that fail the
// checksum) ends the replay: what came before it is back, nothing after.
func TestJournalTornRecordEndsReplay(t *testing.T) {
	a := t.TempDir()
	la, err := OpenBadger(a, nil)
	if err != nil {
		t.Fatal(err)
	}
	head := journalWorkload(t, la, "ws", 20)
	b := t.TempDir()
	seg := copySegments(t, a, b)[0]
	la.Close()

	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	// Find the last record and flip a byte of its payload.
	var last, off int
	for {
		_, n, err := decodeRecord(data[off:], 1)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		last, off = off, off+n
	}
	data[last+journalHeader+3] ^= 0xff
	if err := os.WriteFile(seg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	lb, err := OpenBadger(b, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	_, h, _ := lb.Open("ws")
	// The last batch (i = 19) logged 1 + 19%3 = 2 events.
	if h != head-2 {
		t.Errorf("head after a torn last record: %d; want %d", h, head-2)
	}
}

// Full segments are sealed, and each goes once Badger's tables hold the
// version it was sealed at (its memtables are flushed); those sealed since
// stay. The log reads the same before and after a reopen, and a clean Close
// leaves no segment.
func TestJournalSegmentsGoOnceBadgerFlushesThem(t *testing.T) {
	dir := t.TempDir()
	// 7 MiB memtables: the smallest whose batches still take Badger's
	// default value threshold (15% of a memtable ≥ 1 MiB).
	l, err := openBadger(dir, nil, 64<<10, 7<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open("ws"); err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("a long message ", 300)
	var seq uint64
	for l.flushed() == 0 || seq < 3000 {
		if seq > 20000 {
			t.Fatalf("no memtable flushed after %d events", seq)
		}
		seq++
		e := conv.Event{ID: fmt.Sprintf("e%d", seq), Seq: seq, Conv: "c", Kind: conv.KindNoteAdded, Actor: conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, Data: conv.MustData(conv.Note{Text: text})}
		b := &Batch{Events: []Record{{Event: e, JSON: protocol.AppendEvent(nil, &e)}}}
		b.States = []*conv.Conversation{{ID: "c", Status: conv.StatusOpen, LastSeq: seq}}
		if err := l.Append("ws", b); err != nil {
			t.Fatal(err)
		}
	}
	// The segments filled so far are sealed in the background; wait until
	// every one but the current is either gone or sealed.
	var (
		segs    []uint64
		sealed  []sealedSegment
		flushed uint64
	)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		flushed = l.flushed()
		if err := l.j.collect(flushed); err != nil {
			t.Fatal(err)
		}
		if segs, err = l.j.segments(); err != nil {
			t.Fatal(err)
		}
		l.j.mu.Lock()
		sealed = slices.Clone(l.j.sealed)
		l.j.mu.Unlock()
		if len(segs) == len(sealed)+1 || time.Now().After(deadline) {
			break
		}
	}
	if len(segs) == 0 || segs[0] == 1 {
		t.Fatalf("segments %v after %d events in 64 KiB segments, Badger flushed to version %d: none went", segs, seq, flushed)
	}
	if len(segs) != len(sealed)+1 {
		t.Errorf("segments %v; want the %d sealed above version %d and the current one", segs, len(sealed), flushed)
	}
	on := map[uint64]bool{}
	for _, s := range segs {
		on[s] = true
	}
	for _, s := range sealed {
		if s.written <= flushed || !on[s.seg] {
			t.Errorf("sealed segment %d (version %d; flushed %d) on disk %v", s.seg, s.written, flushed, on[s.seg])
		}
	}
	want := dumpLog(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if segs, _ := l.j.segments(); len(segs) != 0 {
		t.Errorf("segments %v after Close", segs)
	}
	l, err = openBadger(dir, nil, 64<<10, 7<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, h, _ := l.Open("ws"); h != seq {
		t.Errorf("head %d; want %d", h, seq)
	}
	if got := dumpLog(t, l); len(got) != len(want) {
		t.Errorf("%d keys after reopen; want %d", len(got), len(want))
	}
}

// A sealed segment stays until Badger's tables hold the version it was
// sealed at.
func TestJournalKeepsSegmentsForUnflushedVersions(t *testing.T) {
	dir := t.TempDir()
	j := journal{dir: dir, segSize: 4096}
	if err := j.create(1, 0); err != nil {
		t.Fatal(err)
	}
	if err := j.create(2, 0); err != nil {
		t.Fatal(err)
	}
	j.seal([]uint64{1}, 10, false)
	if err := j.collect(9); err != nil {
		t.Fatal(err)
	}
	if segs, _ := j.segments(); len(segs) != 2 {
		t.Fatalf("segments %v; want [1 2] while Badger's tables end at version 9", segs)
	}
	if err := j.collect(10); err != nil {
		t.Fatal(err)
	}
	if segs, _ := j.segments(); len(segs) != 1 || segs[0] != 2 {
		t.Fatalf("segments %v; want [2] once version 10 is flushed", segs)
	}
}

func TestDecodeRecordRejectsGarbage(t *testing.T) {
	j := journal{}
	j.begin()
	j.set([]byte("k"), []byte("v"))
	j.delete([]byte("gone"))
	size := len(j.buf) - journalHeader
	putHeader(j.buf, size, 5)
	ops, n, err := decodeRecord(j.buf, 5)
	if err != nil || n != len(j.buf) || len(ops) != 2 || string(ops[0].value) != "v" || !ops[1].del {
		t.Fatalf("decode = %+v, %d, %v", ops, n, err)
	}
	if _, _, err := decodeRecord(j.buf, 6); err == nil {
		t.Error("a record of another segment decoded")
	}
	if _, _, err := decodeRecord(j.buf[:len(j.buf)-1], 5); err == nil {
		t.Error("a short record decoded")
	}
	if _, n, err := decodeRecord(make([]byte, 64), 5); n != 0 || err != nil {
		t.Errorf("zeros = %d, %v; want the end", n, err)
	}
}

// A recycled segment still holds its old records; a new segment made from
// it replays only its own.
func TestJournalRecycledSegmentReplaysOnlyItsRecords(t *testing.T) {
	dir := t.TempDir()
	j := journal{dir: dir, segSize: 4096}
	if err := j.create(1, 0); err != nil {
		t.Fatal(err)
	}
	var written int
	for {
		j.begin()
		j.set([]byte(fmt.Sprintf("k%d", written)), bytes.Repeat([]byte("v"), 100))
		if j.full() {
			break
		}
		if err := j.write(); err != nil {
			t.Fatal(err)
		}
		written++
	}
	if err := j.create(2, 0); err != nil {
		t.Fatal(err)
	}
	// Writing segment 1 started a spare in the background; drop it, so
	// that segment 1 is what becomes the spare.
	j.fills.Wait()
	os.Remove(filepath.Join(dir, spareName))
	j.spareReady = false
	j.seal([]uint64{1}, 1, true)
	if err := j.collect(1); err != nil {
		t.Fatal(err)
	}
	if !j.spareReady {
		t.Fatal("the full segment did not become the spare")
	}
	j.begin()
	j.set([]byte("seg2"), []byte("x"))
	if err := j.write(); err != nil { // segment 2: a fresh file
		t.Fatal(err)
	}
	if err := j.create(3, 0); err != nil { // segment 3: the recycled 1
		t.Fatal(err)
	}
	if j.spareReady {
		t.Fatal("the spare was not used")
	}
	j.begin()
	j.set([]byte("seg3"), []byte("y"))
	if err := j.write(); err != nil {
		t.Fatal(err)
	}
	j.close()
	var keys []string
	n, err := j.replay([]uint64{2, 3}, func(ops []journalOp) error {
		for _, o := range ops {
			keys = append(keys, string(o.key))
		}
		return nil
	})
	if err != nil || n != 2 || fmt.Sprint(keys) != "[seg2 seg3]" {
		t.Fatalf("replayed %d records %v, %v; want seg2 and seg3 only (segment 1 had %d)", n, keys, err, written)
	}
}

// TestJournalKeepsSegmentsUntilClose: a segment sealed while Badger's
// memtable holds its records stays however often the janitor runs, and
// Close, which flushes Badger, removes it.
func TestJournalKeepsSegmentsUntilClose(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.Open("ws"); err != nil {
		t.Fatal(err)
	}
	seg, path := l.j.seg, l.j.path(l.j.seg)
	if err := l.checkpoint([]uint64{seg}, false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := l.j.collect(l.flushed()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the segment went before Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("after Close the segment is still there (%v)", err)
	}
}
