package eventlog

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

func testEvent(seq uint64, convID string) Record {
	e := conv.Event{ID: fmt.Sprintf("e%d", seq), Seq: seq, Conv: convID, Kind: conv.KindNoteAdded, Actor: conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}, Data: conv.MustData(conv.Note{Text: "x"})}
	return Record{Event: e, JSON: protocol.AppendEvent(nil, &e)}
}

func TestBadgerLog(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	epoch, head, err := l.Open("ws")
	if err != nil || epoch == "" || head != 0 {
		t.Fatalf("Open = %q, %d, %v", epoch, head, err)
	}
	var vh [32]byte
	vh[0] = 7
	b := &Batch{
		Events:   []Record{testEvent(1, "a"), testEvent(2, "b"), testEvent(3, "a")},
		States:   []*conv.Conversation{{ID: "a", Status: conv.StatusOpen, Contact: conv.Participant{ID: "contact:1", Role: conv.RoleContact}}},
		Owners:   []Ownership{{Participant: "contact:1", Conv: "a", Since: 1}, {Participant: "visitor:x", Conv: "b", Since: 2}},
		Results:  []MidResult{{Identity: "agent:ana", Device: "d", Mid: 1, Result: protocol.Result{ID: "e1", Seq: 1}}, {Identity: "agent:ana", Device: "d", Mid: 2, Result: protocol.Result{ID: "e9", Error: &conv.Error{Code: conv.CodeStale, Message: "old"}}}},
		Visitors: []VisitorToken{{Hash: vh, ID: "visitor:x"}},
		Aliases:  []Alias{{Contact: "contact:1", Device: "d", Visitor: "visitor:x"}},
	}
	if err := l.Append("ws", b); err != nil {
		t.Fatal(err)
	}
	// Another workspace is separate.
	if _, h, _ := l.Open("ws2"); h != 0 {
		t.Fatalf("ws2 head %d", h)
	}
	if err := l.Append("ws", &Batch{Owners: []Ownership{{Participant: "visitor:x", Conv: "b", Remove: true}, {Participant: "contact:1", Conv: "b", Since: 4}}, Results: []MidResult{{Identity: "agent:ana", Device: "d", Mid: 1, Result: protocol.Result{ID: "e1", Seq: 1}}}}); err != nil {
		t.Fatal(err)
	}
	// A result for a lower mid (a gap filled late) keeps the highest.
	if m, _ := l.LastMid("ws", "agent:ana", "d"); m != 2 {
		t.Errorf("LastMid before reopening = %d; want 2", m)
	}
	l.Close()

	l, err = OpenBadger(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e2, head, _ := l.Open("ws")
	if e2 != epoch || head != 3 {
		t.Fatalf("reopened: epoch %q head %d; want %q 3", e2, head, epoch)
	}
	var seqs []uint64
	l.Scan("ws", 2, 3, func(s uint64, raw []byte) error { seqs = append(seqs, s); return nil })
	if !slices.Equal(seqs, []uint64{2, 3}) {
		t.Errorf("Scan(2,3) = %v", seqs)
	}
	if s, _ := l.ConversationSeqs("ws", "a", 0, 3); !slices.Equal(s, []uint64{1, 3}) {
		t.Errorf("ConversationSeqs(a) = %v", s)
	}
	if s, _ := l.ConversationSeqs("ws", "a", 1, 2); len(s) != 0 {
		t.Errorf("ConversationSeqs(a, 1, 2) = %v", s)
	}
	if c, _ := l.Conversation("ws", "a"); c == nil || c.Contact.ID != "contact:1" {
		t.Errorf("Conversation(a) = %+v", c)
	}
	if c, _ := l.Conversation("ws", "zz"); c != nil {
		t.Errorf("Conversation(zz) = %+v", c)
	}
	if o, _ := l.Owned("ws", "contact:1"); !slices.Equal(o, []Owned{{"a", 1}, {"b", 4}}) {
		t.Errorf("Owned(contact:1) = %v", o)
	}
	if o, _ := l.Owned("ws", "visitor:x"); len(o) != 0 {
		t.Errorf("Owned(visitor:x) = %v", o)
	}
	if m, _ := l.LastMid("ws", "agent:ana", "d"); m != 2 {
		t.Errorf("LastMid = %d; want 2", m)
	}
	if r, ok, _ := l.Result("ws", "agent:ana", "d", 2); !ok || r.Error == nil || r.Error.Code != conv.CodeStale || r.Error.Message != "old" || r.ID != "e9" {
		t.Errorf("Result(2) = %+v %v", r, ok)
	}
	if _, ok, _ := l.Result("ws", "agent:ana", "d", 3); ok {
		t.Error("Result(3) found")
	}
	if v, ok, _ := l.Visitor("ws", vh); !ok || v.ID != "visitor:x" {
		t.Errorf("Visitor = %+v %v", v, ok)
	}
	if _, ok, _ := l.Visitor("ws2", vh); ok {
		t.Error("visitor leaked across workspaces")
	}
	if v, err := l.Alias("ws", "contact:1", "d"); err != nil || v != "visitor:x" {
		t.Errorf("Alias = %q, %v; want visitor:x", v, err)
	}
	for _, k := range [][3]string{{"ws", "contact:1", "e"}, {"ws", "contact:2", "d"}, {"ws2", "contact:1", "d"}} {
		if v, err := l.Alias(k[0], k[1], k[2]); err != nil || v != "" {
			t.Errorf("Alias(%q, %q, %q) = %q, %v; want none", k[0], k[1], k[2], v, err)
		}
	}
	if err := l.Check(); err != nil {
		t.Error(err)
	}
}

func TestResultEncoding(t *testing.T) {
	for _, r := range []protocol.Result{
		{ID: "a", Seq: 0},
		{ID: "0190c5a4-0000-7000-8000-000000000000", Seq: 1 << 40},
		{ID: "x", Error: &conv.Error{Code: conv.CodeInvalidAttribute, Message: "attribute \"seats\" …"}},
		{ID: "", Error: &conv.Error{Code: conv.CodeForbidden}},
	} {
		got, err := decodeResult(encodeResult(r))
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("decode(encode(%+v)) = %+v, %v", r, got, err)
		}
	}
}

// BenchmarkAppend measures one durable Append of n events, on the disk and
// on tmpfs (the log's own cost).
func BenchmarkAppend(b *testing.B) {
	dirs := map[string]func(b *testing.B) string{"disk": func(b *testing.B) string { return b.TempDir() }}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		dirs["tmpfs"] = func(b *testing.B) string {
			d, err := os.MkdirTemp("/dev/shm", "eventlogbench")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	for name, dir := range dirs {
		for _, n := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/%d", name, n), func(b *testing.B) {
				l, err := OpenBadger(dir(b), nil)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				l.Open("ws")
				var seq uint64
				lat := make([]time.Duration, 0, b.N)
				b.ResetTimer()
				for range b.N {
					batch := &Batch{}
					for range n {
						seq++
						batch.Events = append(batch.Events, testEvent(seq, "c"))
						batch.Results = append(batch.Results, MidResult{Identity: "agent:ana", Device: "d", Mid: seq, Result: protocol.Result{ID: "x", Seq: seq}})
					}
					t0 := time.Now()
					if err := l.Append("ws", batch); err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(t0))
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			})
		}
	}
}

// TestVisitorValue: a visitor token's value round-trips its seq, and an
// older value (id NUL contact) reads with seq 0.
func TestVisitorValue(t *testing.T) {
	for _, v := range []VisitorToken{{ID: "visitor:a"}, {ID: "visitor:a", Contact: "contact:42", Seq: 26}, {ID: "visitor:a", Contact: "contact:x\x00y", Seq: 1 << 40}} {
		var got VisitorToken
		decodeVisitor(&got, encodeVisitor(v))
		if got != v {
			t.Errorf("round trip %+v = %+v", v, got)
		}
	}
	for raw, want := range map[string]VisitorToken{"visitor:a\x00": {ID: "visitor:a"}, "visitor:a\x00contact:42": {ID: "visitor:a", Contact: "contact:42"}} {
		var got VisitorToken
		decodeVisitor(&got, []byte(raw))
		if got != want {
			t.Errorf("older value %q = %+v; want %+v", raw, got, want)
		}
	}
}
