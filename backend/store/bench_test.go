package store

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/threadline/threadline/backend/conv"
)

// The benchmarks run against a generated store of 100,000 conversations and
// 2,000,000 timeline items (THREADLINE_BENCH_CONVS and THREADLINE_BENCH_ITEMS
// change it), built once and cached under the user's cache directory
// (GeneratedStore). Run them with
//
//	go test -run '^$' -bench . -benchmem ./backend/store/
//
// and print the report figures (p50/p99 of the first inbox page, open time,
// durable actions per second, heap in use after open) with
//
//	THREADLINE_REPORT=1 go test -run TestReportFigures -v ./backend/store/

func benchSize() (convs, items int) {
	convs, items = 100_000, 2_000_000
	if n, err := strconv.Atoi(os.Getenv("THREADLINE_BENCH_CONVS")); err == nil && n > 0 {
		convs = n
	}
	if n, err := strconv.Atoi(os.Getenv("THREADLINE_BENCH_ITEMS")); err == nil && n > 0 {
		items = n
	}
	return convs, items
}

func benchDir(tb testing.TB) string {
	tb.Helper()
	convs, items := benchSize()
	start := time.Now()
	dir, err := GeneratedStore(convs, items, 1)
	if err != nil {
		tb.Fatalf("GeneratedStore: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		tb.Logf("generated %d conversations, %d items in %v (cached in %s)", convs, items, d, dir)
	}
	return dir
}

// copyStore makes a writable copy of a generated store. (Not hard links:
// when Badger drops a table after a compaction it truncates the file before
// removing it, which would empty the original too.)
func copyStore(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		if err := copyFile(from, to); err != nil {
			tb.Fatal(err)
		}
	}
	return dst
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func openBench(tb testing.TB, dir string) *Store {
	tb.Helper()
	s, err := Open(dir, Options{Me: GenerateMe})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// firstPage is the inbox's default view: the team's open conversations (those
// in assistant mode are the bot's), latest message first.
var firstPage = Query{Status: conv.StatusOpen, Lane: HumanLane, Sort: ByActivity, Limit: 50}

// BenchmarkOpen measures open store → inbox ready: Open returns and the
// first page is answered. ms/indexed adds the background id index.
func BenchmarkOpen(b *testing.B) {
	dir := benchDir(b)
	s := openBench(b, dir) // a first open writes the snapshot if it is stale
	s.Close()
	var indexed time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		s := openBench(b, dir)
		if rows, _, err := s.Page(firstPage, nil); err != nil || len(rows) == 0 {
			b.Fatalf("Page = %d rows, %v", len(rows), err)
		}
		b.StopTimer()
		s.ready()
		indexed += time.Since(start)
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(indexed.Milliseconds())/float64(b.N), "ms/indexed")
}

// BenchmarkInboxFirstPage measures the first inbox page: open
// conversations, latest activity first, 50 rows with their unread counts.
func BenchmarkInboxFirstPage(b *testing.B) {
	s := openBench(b, benchDir(b))
	defer s.Close()
	s.ready()
	var lat []time.Duration
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		rows, _, err := s.Page(firstPage, nil)
		if err != nil || len(rows) != 50 {
			b.Fatalf("Page = %d rows, %v", len(rows), err)
		}
		for _, r := range rows { // what a row of the list shows
			v := r.View()
			_, _, _ = v.Contact.Name, v.LastMessage, r.Unread
		}
		lat = append(lat, time.Since(start))
	}
	p50, p99 := percentiles(lat)
	b.ReportMetric(float64(p50.Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(p99.Nanoseconds())/1e3, "p99-µs")
}

// BenchmarkTimelinePage measures the newest 50 items of a conversation, read
// from Badger by prefix scan.
func BenchmarkTimelinePage(b *testing.B) {
	s := openBench(b, benchDir(b))
	defer s.Close()
	s.ready()
	rows, _, _ := s.Page(Query{Limit: 500}, nil)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, _, err := s.Timeline(rows[i%len(rows)].ID, 0, 50, nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkLocalAction measures durable local actions (a message to an open
// conversation, synced to disk before it returns) on a copy of the big store.
func BenchmarkLocalAction(b *testing.B) {
	s := openBench(b, copyStore(b, benchDir(b)))
	defer s.Close()
	s.ready()
	rows, _, _ := s.Page(Query{Status: conv.StatusOpen, Limit: 200}, nil)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r := rows[i%len(rows)]
		e := conv.Event{ID: fmt.Sprintf("bench-%d", i), Conv: r.ID, Kind: conv.KindMessageSent, Actor: GenerateMe,
			At: int64(i), Data: conv.MustData(conv.Message{Text: "on it, give me a minute"})}
		if _, err := s.AddLocal([]conv.Event{e}); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
}

func percentiles(d []time.Duration) (p50, p99 time.Duration) {
	if len(d) == 0 {
		return 0, 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2], d[min(len(d)-1, len(d)*99/100)]
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestReportFigures prints the figures of issue 3's budgets. It runs only
// with THREADLINE_REPORT=1: it builds (or reuses) the big generated store.
func TestReportFigures(t *testing.T) {
	if os.Getenv("THREADLINE_REPORT") == "" {
		t.Skip("set THREADLINE_REPORT=1 to measure the budgets on the generated store")
	}
	dir := benchDir(t)
	convs, items := benchSize()
	load, _ := os.ReadFile("/proc/loadavg")
	t.Logf("store: %d conversations, %d timeline items, GOMAXPROCS %d, load average %s", convs, items, runtime.GOMAXPROCS(0), strings.TrimSpace(string(load)))

	// (d) Badger's own share of the heap: the same options, nothing loaded.
	base := heapInUse()
	db, err := badger.Open(badgerOptions(dir, false, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	badgerHeap := heapInUse() - base
	db.Close()

	// (b) open → inbox ready, and (d) heap in use after open.
	base = heapInUse()
	var ready, indexed, cpu []time.Duration
	var heap, heapIndexed uint64
	for i := range 9 {
		runtime.GC()
		start, c0 := time.Now(), cpuTime()
		s := openBench(t, dir)
		if _, _, err := s.Page(firstPage, nil); err != nil {
			t.Fatal(err)
		}
		ready = append(ready, time.Since(start))
		s.ready()
		indexed = append(indexed, time.Since(start))
		cpu = append(cpu, cpuTime()-c0)
		if i == 0 {
			heapIndexed = heapInUse() - base
		}
		s.Close()
	}
	{ // the heap when Open returns (phase 2 done, to measure it alone first)
		s := openBench(t, dir)
		heap = heapInUse() - base
		s.ready()
		s.Close()
	}
	r50, _ := percentiles(ready)
	i50, _ := percentiles(indexed)
	c50, _ := percentiles(cpu)
	t.Logf("(b) open → inbox ready (Open returns, first page answered): p50 %v, min %v, max %v over %d opens",
		r50.Round(time.Millisecond), slices.Min(ready).Round(time.Millisecond), slices.Max(ready).Round(time.Millisecond), len(ready))
	t.Logf("    fully indexed (second phase, in the background): p50 %v; CPU time of the whole open: p50 %v",
		i50.Round(time.Millisecond), c50.Round(time.Millisecond))
	t.Logf("(d) heap in use after open: %d MiB when Open returns, %d MiB once fully indexed; of which Badger alone (memtable, caches, table indexes): %d MiB",
		heap>>20, heapIndexed>>20, badgerHeap>>20)

	// (a) first inbox page.
	s := openBench(t, dir)
	s.ready()
	var first []time.Duration
	for range 5000 {
		start := time.Now()
		rows, _, err := s.Page(firstPage, nil)
		if err != nil || len(rows) != 50 {
			t.Fatalf("Page = %d rows, %v", len(rows), err)
		}
		for _, r := range rows {
			v := r.View()
			_, _, _ = v.Contact.Name, v.LastMessage, r.Unread
		}
		first = append(first, time.Since(start))
	}
	p50, p99 := percentiles(first)
	t.Logf("(a) first inbox page (open, latest activity, 50 rows with unread counts): p50 %v, p99 %v over %d queries (the very first, which decodes 50 states: %v)",
		p50, p99, len(first), first[0])
	for _, q := range []Query{
		{Sort: ByPriority, Limit: 50},
		{Status: conv.StatusOpen, Tag: "vip", Limit: 50},
		{Status: conv.StatusOpen, Assignee: GenerateMe.ID, Sort: ByPriority, Limit: 50},
		{UnreadOnly: true, Limit: 50},
	} {
		var lat []time.Duration
		for range 500 {
			start := time.Now()
			if _, _, err := s.Page(q, nil); err != nil {
				t.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		p50, p99 = percentiles(lat)
		t.Logf("    %+v: p50 %v, p99 %v", q, p50, p99)
	}
	rows, _, _ := s.Page(Query{Limit: 200}, nil)
	var tl []time.Duration
	for i := range 2000 {
		start := time.Now()
		if _, _, err := s.Timeline(rows[i%len(rows)].ID, 0, 50, nil); err != nil {
			t.Fatal(err)
		}
		tl = append(tl, time.Since(start))
	}
	p50, p99 = percentiles(tl)
	t.Logf("    timeline page (newest 50 items, Badger prefix scan): p50 %v, p99 %v", p50, p99)
	s.Close()

	// (c) durable local actions per second, on a copy.
	cp := copyStore(t, dir)
	s = openBench(t, cp)
	s.ready()
	open, _, _ := s.Page(Query{Status: conv.StatusOpen, Limit: 200}, nil)
	const n = 500
	start := time.Now()
	for i := range n {
		r := open[i%len(open)]
		e := conv.Event{ID: fmt.Sprintf("report-%d", i), Conv: r.ID, Kind: conv.KindMessageSent, Actor: GenerateMe,
			At: int64(i), Data: conv.MustData(conv.Message{Text: "on it, give me a minute"})}
		if _, err := s.AddLocal([]conv.Event{e}); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("(c) durable local actions: %.0f/s (%v each: one synced Badger commit per action, sequential)", n/el.Seconds(), el/n)
	var par sync.WaitGroup
	start = time.Now()
	for g := range 4 {
		par.Go(func() {
			for i := range n / 4 {
				r := open[(g*50+i)%len(open)]
				e := conv.Event{ID: fmt.Sprintf("par-%d-%d", g, i), Conv: r.ID, Kind: conv.KindNoteAdded, Actor: GenerateMe,
					At: int64(i), Data: conv.MustData(conv.Note{Text: "noted"})}
				if _, err := s.AddLocal([]conv.Event{e}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	par.Wait()
	el = time.Since(start)
	t.Logf("    from 4 goroutines at once: %.0f/s", n/el.Seconds())
	// The relay's copies of those actions: canonical changes to 200 rows.
	_, head := s.Cursor(nil)
	var logged []conv.Event
	states := map[string]*conv.Conversation{}
	for _, e := range s.Pending(nil) {
		c, ok := states[e.Conv]
		if !ok {
			c = s.Row(e.Conv, nil).Canon()
		}
		next, evs, err := conv.Apply(c, e, conv.Env{NextSeq: head + 1})
		if err != nil {
			t.Fatal(err)
		}
		states[e.Conv], head = next, evs[len(evs)-1].Seq
		logged = append(logged, evs...)
	}
	start = time.Now()
	if err := s.ApplyCanonical("generated", logged, head); err != nil {
		t.Fatal(err)
	}
	t.Logf("    their %d canonical copies applied in %v", len(logged), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := s.writeSnapshot(); err != nil {
		t.Fatal(err)
	}
	snap := time.Since(start)
	start = time.Now()
	s.Close()
	t.Logf("    close after canonical changes: the snapshot of %d rows rewritten in %v, then Badger closed in %v",
		convs, snap.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))

	// Open without a current snapshot (after a crash): the rows are read one
	// key each.
	if err := os.Remove(filepath.Join(cp, snapshotFile)); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s = openBench(t, cp)
	slow := time.Since(start)
	s.ready()
	t.Logf("    open after a crash (no current snapshot): inbox ready in %v, fully indexed in %v (then it writes the snapshot in the background)",
		slow.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	s.Close()
}
