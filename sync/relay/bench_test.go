package relay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/cpulatency"
	"github.com/threadline/threadline/internal/hoprate"
	"github.com/threadline/threadline/sync/protocol"
)

// Benchmarks run a real relay (httptest, real Badger) and real WebSocket
// clients in this process; with two cores the clients' own work competes
// with the relay's. Run them with
//
//	go test -run '^$' -bench . -benchtime 1x ./sync/relay/
//
// "disk" sub-benchmarks keep the log in a temporary directory (fsync to the
// real disk); "tmpfs" ones in /dev/shm, which shows the relay's own cost
// without the disk's flush latency.

type benchDir struct {
	name string
	dir  func(b *testing.B) string
}

func benchDirs() []benchDir {
	ds := []benchDir{{"disk", func(b *testing.B) string { return b.TempDir() }}}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		ds = append(ds, benchDir{"tmpfs", func(b *testing.B) string {
			d, err := os.MkdirTemp("/dev/shm", "relaybench")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { os.RemoveAll(d) })
			return d
		}})
	}
	return ds
}

func newBenchRelay(b *testing.B, dir string, opts ...func(*Options)) *testRelay {
	r := &testRelay{t: b, dir: dir}
	for _, o := range opts {
		o(&r.opts)
	}
	r.start()
	b.Cleanup(r.stop)
	return r
}

// rawConn is a minimal bench client: it writes pre-built frames and reads
// frames without decoding events.
type rawConn struct {
	c     *websocket.Conn
	epoch string // the welcome's
}

func dialRaw(b testing.TB, url string, h protocol.Hello) *rawConn {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.SetReadLimit(8 << 20)
	rc := &rawConn{c: c}
	if err := c.Write(ctx, websocket.MessageText, mustJSON(h)); err != nil {
		b.Fatal(err)
	}
	for {
		_, m, err := c.Read(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(m, []byte(`{"type":"welcome"`)) {
			var w protocol.Welcome
			if err := json.Unmarshal(m, &w); err != nil {
				b.Fatal(err)
			}
			rc.epoch = w.Epoch
		}
		if bytes.HasPrefix(m, []byte(`{"type":"caughtUp"`)) {
			return rc
		}
		if bytes.HasPrefix(m, []byte(`{"type":"error"`)) {
			b.Fatalf("hello: %s", m)
		}
	}
}

// appendMessage appends a message.sent event's JSON to buf.
func appendMessage(buf []byte, id, convID, device string, mid uint64, sentAt int64, text string) []byte {
	buf = append(buf, `{"id":"`...)
	buf = append(buf, id...)
	buf = append(buf, `","conv":"`...)
	buf = append(buf, convID...)
	buf = append(buf, `","kind":"message.sent","device":"`...)
	buf = append(buf, device...)
	buf = append(buf, `","mid":`...)
	buf = strconv.AppendUint(buf, mid, 10)
	buf = append(buf, `,"at":`...)
	buf = strconv.AppendInt(buf, sentAt, 10)
	buf = append(buf, `,"base":0,"data":{"text":"`...)
	buf = append(buf, text...)
	return append(buf, `"}}`...)
}

// BenchmarkLatency measures device → relay → device latency: 20 contacts
// (each within the protocol's 50 events/s) push single messages at 1,000
// events/s in total; an agent's device receives them. One op is one event.
//
// In "disk" and "tmpfs" the relay runs in this process, its goroutines
// scheduled with the devices' on the same two cores. The "process" ones
// run the relay binary (log on disk) as its own process, as a relay runs,
// with the devices in this one: the kernel, not one Go scheduler, then
// decides who runs when a frame arrives. "+lowlatency" adds Options.
// LowLatency (the binary's --low-latency); it needs root, and is skipped
// without.
func BenchmarkLatency(b *testing.B) {
	for _, d := range benchDirs() {
		b.Run(d.name, func(b *testing.B) {
			r := newBenchRelay(b, d.dir(b))
			benchLatency(b, r.url, r.srv)
		})
	}
	b.Run("disk+lowlatency", func(b *testing.B) {
		r := newBenchRelay(b, b.TempDir(), func(o *Options) { o.LowLatency = true })
		if r.srv.cpu == nil {
			b.Skip("no CPU latency request here (needs root and /dev/cpu_dma_latency)")
		}
		benchLatency(b, r.url, r.srv)
	})
	var bin string
	binDir := b.TempDir() // outlives the runs of each sub-benchmark
	for _, low := range []bool{false, true} {
		name := "process"
		var flags []string
		if low {
			name += "+lowlatency"
			flags = append(flags, "--low-latency")
			// The binary runs without the request when it cannot make
			// it: check here that it can, as the in-process run does.
			h, err := cpulatency.Start(time.Second, nil)
			if err != nil {
				b.Run(name, func(b *testing.B) { b.Skipf("no CPU latency request here: %v", err) })
				continue
			}
			h.Close()
		}
		b.Run(name, func(b *testing.B) {
			if bin == "" {
				bin = buildRelayIn(b, binDir)
			}
			dir := b.TempDir()
			_, url := startRelayProcWith(b, bin, filepath.Join(dir, "data"), writeTestConfig(b, dir), flags)
			benchLatency(b, url, nil)
		})
	}
}

// benchLatency runs the latency benchmark against the relay at url; srv,
// when the relay runs in this process, for its commit time histogram.
func benchLatency(b *testing.B, url string, srv *Server) {
	rate, pushers, err := hoprate.Get()
	if err != nil {
		b.Fatal(err)
	}
	agent := dialRaw(b, url, hello(testWS, "agent-desk", protocol.Cursor{}, agentAuth(tokAna)))
	epoch := agent.epoch
	type pusher struct {
		c      *rawConn
		conv   string
		device string
		mid    uint64
	}
	ps := make([]*pusher, pushers)
	for i := range ps {
		dev := fmt.Sprintf("widget-%d", i)
		p := &pusher{device: dev, conv: newConvID()}
		p.c = dialRaw(b, url, hello(testWS, dev, protocol.Cursor{Epoch: epoch, Seq: 1 << 40}, contactAuth(fmt.Sprint("c", i))))
		// Create the conversation and its thread first.
		p.mid = 2
		frame := `{"type":"push","events":[{"id":"` + p.conv + `","conv":"` + p.conv + `","kind":"conversation.created","device":"` + dev + `","mid":1,"at":0,"base":0,"data":{}},` +
			string(appendMessage(nil, p.conv+"-m2", p.conv, dev, 2, 0, "hello")) + `]}`
		p.c.c.Write(b.Context(), websocket.MessageText, []byte(frame))
		ps[i] = p
	}
	// Let the setup's acks and echoes drain.
	for _, p := range ps {
		go func() {
			for {
				if _, _, err := p.c.c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	var sent sync.Map // event id → time sent
	lat := make([]time.Duration, 0, b.N)
	var latMu sync.Mutex
	received := make(chan struct{})
	var got atomic.Int64
	go func() {
		idKey := []byte(`"id":"`)
		for {
			_, m, err := agent.c.Read(context.Background())
			if err != nil {
				return
			}
			now := time.Now()
			if !bytes.HasPrefix(m, []byte(`{"type":"events"`)) {
				continue
			}
			// Find each event's id without decoding the frame.
			rest := m
			for {
				i := bytes.Index(rest, idKey)
				if i < 0 {
					break
				}
				rest = rest[i+len(idKey):]
				j := bytes.IndexByte(rest, '"')
				id := string(rest[:j])
				if t0, ok := sent.LoadAndDelete(id); ok {
					latMu.Lock()
					lat = append(lat, now.Sub(t0.(time.Time)))
					latMu.Unlock()
					if got.Add(1) == int64(b.N) {
						close(received)
					}
				}
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + pushers - 1) / pushers
	total := atomic.Int64{}
	interval := time.Second * time.Duration(pushers) / time.Duration(rate)
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(interval * time.Duration(i) / time.Duration(pushers)) // stagger
			tick := time.NewTicker(interval)
			defer tick.Stop()
			buf := make([]byte, 0, 512)
			for range per {
				if total.Add(1) > int64(b.N) {
					return
				}
				<-tick.C
				p.mid++
				id := p.conv + "-" + strconv.FormatUint(p.mid, 10)
				buf = append(buf[:0], `{"type":"push","events":[`...)
				buf = appendMessage(buf, id, p.conv, p.device, p.mid, time.Now().UnixMilli(), "How do I reset my password?")
				buf = append(buf, `]}`...)
				sent.Store(id, time.Now())
				if err := p.c.c.Write(context.Background(), websocket.MessageText, buf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
	b.StopTimer()
	latMu.Lock()
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
	}
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(0.999), "p99.9-ms")
	if srv != nil {
		var m strings.Builder
		srv.m.commitTime.write(&m, "commit", "")
		b.Logf("group commits (eventlog.Log.Append, fsync included):\n%s", m.String())
	}
	b.ReportMetric(0, "ns/op")
	latMu.Unlock()
}

// BenchmarkThroughput measures sustained durable throughput: 100 contacts,
// each in its own conversation, push batches of 100 messages with one push
// in flight each (the rate limit is lifted), and read their echoes and
// acks. One op is one acknowledged event.
func BenchmarkThroughput(b *testing.B) {
	for _, d := range benchDirs() {
		b.Run(d.name, func(b *testing.B) { benchThroughput(b, d.dir(b), false) })
		b.Run(d.name+"+agent", func(b *testing.B) { benchThroughput(b, d.dir(b), true) })
	}
}

func benchThroughput(b *testing.B, dir string, watcher bool) {
	const clients, batch = 100, 100
	r := newBenchRelay(b, dir, func(o *Options) { o.RatePerSecond, o.RateBurst = 1e9, 1e9 })
	epoch := r.srv.Epoch(testWS)
	if watcher {
		w := dialRaw(b, r.url, hello(testWS, "watcher", protocol.Cursor{Epoch: epoch}, agentAuth(tokBen)))
		go func() {
			for {
				if _, _, err := w.c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
	}
	type pusher struct {
		c      *rawConn
		conv   string
		device string
		mid    uint64
	}
	ps := make([]*pusher, clients)
	for i := range ps {
		dev := fmt.Sprintf("tp-%d", i)
		p := &pusher{device: dev, conv: newConvID(), mid: 1}
		p.c = dialRaw(b, r.url, hello(testWS, dev, protocol.Cursor{Epoch: epoch, Seq: 1 << 40}, contactAuth(fmt.Sprint("tp", i))))
		frame := `{"type":"push","events":[{"id":"` + p.conv + `","conv":"` + p.conv + `","kind":"conversation.created","device":"` + dev + `","mid":1,"at":0,"base":0,"data":{}}]}`
		p.c.c.Write(b.Context(), websocket.MessageText, []byte(frame))
		waitAck(b, p.c)
		ps[i] = p
	}
	text := "Thanks, that fixed it. One more question about invoices please"
	pushes := (b.N + batch - 1) / batch
	var next atomic.Int64
	logged0 := r.srv.m.eventsLogged.Load()
	commits0 := r.srv.m.groupCommits.Load()
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, 24<<10)
			for next.Add(1) <= int64(pushes) {
				buf = append(buf[:0], `{"type":"push","events":[`...)
				for i := range batch {
					if i > 0 {
						buf = append(buf, ',')
					}
					p.mid++
					buf = appendMessage(buf, p.device+"-"+strconv.FormatUint(p.mid, 10), p.conv, p.device, p.mid, 0, text)
				}
				buf = append(buf, `]}`...)
				if err := p.c.c.Write(context.Background(), websocket.MessageText, buf); err != nil {
					b.Error(err)
					return
				}
				waitAck(b, p.c)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	events := float64(pushes * batch)
	b.ReportMetric(events/el.Seconds(), "events/s")
	// CPU time of the whole process (relay and its 100 clients) per event:
	// steadier than events/s when other work shares the machine.
	b.ReportMetric(float64(cpu.Microseconds())/events, "cpu-µs/event")
	logged := r.srv.m.eventsLogged.Load() - logged0
	commits := r.srv.m.groupCommits.Load() - commits0
	if commits > 0 {
		b.ReportMetric(float64(logged)/float64(commits), "events/commit")
	}
}

func waitAck(b testing.TB, c *rawConn) {
	for {
		_, m, err := c.c.Read(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if bytes.HasPrefix(m, []byte(`{"type":"ack"`)) {
			if bytes.Contains(m, []byte(`"error"`)) {
				b.Fatalf("rejected: %.300s", m)
			}
			return
		}
		if bytes.HasPrefix(m, []byte(`{"type":"error"`)) {
			b.Fatalf("%s", m)
		}
	}
}

// BenchmarkCatchUp measures the relay side of a new device's catch-up: an
// agent device with an empty cursor reads a log of 100,000 events to
// caughtUp (frames read, not decoded). One op is one catch-up.
func BenchmarkCatchUp(b *testing.B) {
	const n = 100_000
	r := newBenchRelay(b, b.TempDir(), func(o *Options) { o.RatePerSecond, o.RateBurst = 1e9, 1e9 })
	benchFill(b, r, n)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		c := dialRaw(b, r.url, hello(testWS, "new-device", protocol.Cursor{}, agentAuth(tokBen)))
		el := time.Since(start)
		c.c.CloseNow()
		b.ReportMetric(n/el.Seconds(), "events/s")
	}
}

// benchFill is fill (n conversation.created events) from 8 agent devices
// pushing at once: their pushes share group commits, which on JetStream,
// where one push at a time makes a commit of 100 events, fills 100,000
// events in seconds rather than minutes.
func benchFill(b *testing.B, r *testRelay, n int) {
	const fillers = 8
	var wg sync.WaitGroup
	per := (n + fillers - 1) / fillers
	for i := range fillers {
		k := min(per, n-i*per)
		if k <= 0 {
			break
		}
		c := connect(b, r.url, agentAuth(tokAna), protocol.Cursor{Epoch: r.srv.Epoch(testWS), Seq: r.head()}, fmt.Sprint("filler-", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.c.Close(websocket.StatusNormalClosure, "")
			for k > 0 {
				var evs []conv.Event
				for len(evs) < min(k, protocol.MaxPushEvents) {
					evs = append(evs, c.ev(conv.KindConversationCreated, newConvID(), created("contact:zoe")))
				}
				res, _ := c.push(evs...)
				for _, r := range res {
					if r.Error != nil || r.Seq == 0 {
						b.Errorf("fill: result %+v; want logged", r)
						return
					}
				}
				k -= len(evs)
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	if got := r.head(); got != uint64(n) {
		b.Fatalf("filled to head %d; want %d", got, n)
	}
}

// BenchmarkIdleConnections opens 10,000 welcomed, idle agent connections
// from a child process and reports the relay's memory per connection: Go
// heap and stacks (after GC), and the process's resident set.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 10_000
	raiseNoFile(b, n+1000)
	r := newBenchRelay(b, b.TempDir())
	for range b.N {
		heap0, rss0 := memNow()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.v")
		cmd.Env = append(os.Environ(), "RELAY_IDLE_URL="+r.url, "RELAY_IDLE_N="+strconv.Itoa(n), "RELAY_IDLE_EPOCH="+r.srv.Epoch(testWS))
		out, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdin, _ := cmd.StdinPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		ready := false
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "ready" {
				ready = true
				break
			}
		}
		if !ready {
			cmd.Process.Kill()
			b.Fatal("client process did not get ready")
		}
		if got := r.srv.m.sessions.Load(); got < n {
			b.Fatalf("%d sessions; want %d", got, n)
		}
		time.Sleep(time.Second)
		heap1, rss1 := memNow()
		if p := os.Getenv("RELAY_IDLE_HEAPPROFILE"); p != "" {
			f, _ := os.Create(p)
			pprof.WriteHeapProfile(f)
			f.Close()
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("goroutines %d, stack in use %d B/conn, heap in use %d B/conn", runtime.NumGoroutine(), ms.StackInuse/n, ms.HeapInuse/n)
		b.ReportMetric(float64(heap1-heap0)/n, "heap-B/conn")
		b.ReportMetric(float64(rss1-rss0)/n, "rss-B/conn")
		stdin.Close()
		cmd.Wait()
		waitFor(30*time.Second, func() bool { return r.srv.m.connections.Load() == 0 })
	}
}

// cpuTime returns the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// memNow returns Go's heap and stack bytes in use after a GC, and the
// resident set size.
func memNow() (goBytes, rss int64) {
	for range 3 {
		runtime.GC()
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goBytes = int64(ms.HeapInuse + ms.StackInuse)
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			rss = kb << 10
		}
	}
	return goBytes, rss
}

func raiseNoFile(t testing.TB, want uint64) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Fatal(err)
	}
	if l.Cur < want {
		l.Cur = min(want, l.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			t.Fatal(err)
		}
	}
	if l.Cur < want {
		t.Skipf("RLIMIT_NOFILE is %d; need %d", l.Cur, want)
	}
}

// TestIdleClientsHelper is BenchmarkIdleConnections' client process.
func TestIdleClientsHelper(t *testing.T) {
	url := os.Getenv("RELAY_IDLE_URL")
	if url == "" {
		t.Skip("the client side of BenchmarkIdleConnections")
	}
	n, _ := strconv.Atoi(os.Getenv("RELAY_IDLE_N"))
	epoch := os.Getenv("RELAY_IDLE_EPOCH")
	raiseNoFile(t, uint64(n)+1000)
	conns := make([]*websocket.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c := dialRaw(t, url, hello(testWS, fmt.Sprint("idle-", i), protocol.Cursor{Epoch: epoch}, agentAuth(tokAna)))
			c.c.CloseRead(context.Background()) // answers pings
			conns[i] = c.c
		}()
	}
	wg.Wait()
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the benchmark closes stdin
	for _, c := range conns {
		c.CloseNow()
	}
}
