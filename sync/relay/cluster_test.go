package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// Several relays on one JetStream log (DESIGN §6): three NATS nodes at R3.
// These tests start their own cluster; they run in the jetstream pass.

// clusterSeeds is how many seeded storms TestClusterStormConverges runs:
// THREADLINE_CLUSTER_SEEDS (make soak sets many), else 1.
func clusterSeeds() int {
	if n, err := strconv.Atoi(os.Getenv("THREADLINE_CLUSTER_SEEDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// TestClusterStormConverges: devices push to two relay binaries on a
// three-node cluster, moving between relays at random; one relay is killed
// with SIGKILL mid-storm and restarted, one NATS node is killed and
// restarted. At the end both relays serve the same gap-free log holding
// every acknowledged event at its seq, once; resending everything logs the
// rest, nothing twice.
func TestClusterStormConverges(t *testing.T) {
	requireImpl(t, "jetstream")
	if testing.Short() {
		t.Skip("runs a NATS cluster and two relay binaries")
	}
	cluster := natstest.StartCluster(t, 3)
	dir := t.TempDir()
	bin := buildRelayBinary(t, dir)
	cfg := writeTestConfig(t, dir)
	flags := []string{"--nats", cluster.URLs(), "--nats-replicas", "3"}
	start := func(name string) (*exec.Cmd, string) {
		return startRelayProcWith(t, bin, filepath.Join(dir, name), cfg, flags)
	}
	for seed := range clusterSeeds() {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			cmdA, urlA := start(fmt.Sprintf("a%d", seed))
			_, urlB := start(fmt.Sprintf("b%d", seed))
			var mu sync.Mutex
			urls := []string{urlA, urlB}
			pick := func(r *rand.Rand) string { mu.Lock(); defer mu.Unlock(); return urls[r.IntN(len(urls))] }

			const clients = 6
			storm := make([]*stormClient, clients)
			total := 0
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			for i := range storm {
				sc := &stormClient{device: fmt.Sprintf("s%d-%d", seed, i), acked: map[string]uint64{}}
				storm[i] = sc
				rnd := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
				wg.Add(1)
				go func() {
					defer wg.Done()
					cid := newConvID()
					for first := true; ctx.Err() == nil; first = false {
						evs := sc.next(cid, first)
						mu.Lock()
						sc.sent = append(sc.sent, evs...)
						mu.Unlock()
						// A push cut short goes again, through any relay, as a
						// device sends its pending events again: a creation
						// never acknowledged must not be left behind.
						for ctx.Err() == nil && sc.pushAll(ctx, pick(rnd), evs, func(r protocol.Result) {
							mu.Lock()
							defer mu.Unlock()
							if r.Error != nil {
								t.Errorf("storm event rejected: %+v", r)
							}
							sc.acked[r.ID] = r.Seq
							total++
						}) != nil {
						}
					}
				}()
			}
			reach := func(n int) {
				if err := waitFor(60*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return total >= n }); err != nil {
					t.Fatalf("the storm stalled below %d acks", n)
				}
			}
			reach(500)
			cmdA.Process.Signal(syscall.SIGKILL) // a relay dies mid-storm…
			cmdA.Wait()
			reach(900)
			_, urlA = start(fmt.Sprintf("a%d", seed)) // …and comes back, serving from JetStream
			mu.Lock()
			urls[0] = urlA
			mu.Unlock()
			reach(1300)
			cluster.Kill(1) // a NATS node dies: R3 keeps a quorum
			reach(1700)
			cluster.Restart(1)
			reach(2100)
			cancel()
			wg.Wait()

			logA := converged(t, urlA, urlB)
			acked := checkAcked(t, storm, logA)
			t.Logf("%d events acknowledged, %d logged", acked, len(logA))
			// Every device resends everything, through either relay.
			resendStorm(t, storm, logA, func(i int) string { return []string{urlA, urlB}[i%2] })
			logA = converged(t, urlA, urlB)
			checkAllLogged(t, storm, logA)
			replayAll(t, logA)
		})
	}
}

// converged waits until both relays serve as many events (each follows
// what the other logs a moment later), checks the log is gap-free and the
// same on both, and returns it.
func converged(t testing.TB, urlA, urlB string) []conv.Event {
	t.Helper()
	var a, b []conv.Event
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		a, b = wholeLog(t, urlA), wholeLog(t, urlB)
		if len(a) == len(b) || time.Now().After(deadline) {
			break
		}
	}
	checkGapFree(t, a)
	sameLog(t, a, b)
	return a
}

// sameLog asserts two relays serve the same events at the same seqs.
func sameLog(t testing.TB, a, b []conv.Event) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("the relays serve %d and %d events", len(a), len(b))
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].Seq != b[i].Seq {
			t.Fatalf("at %d the relays serve %s@%d and %s@%d", i, a[i].ID, a[i].Seq, b[i].ID, b[i].Seq)
		}
	}
}

// replayAll replays the log through the reducer: every event applies.
func replayAll(t testing.TB, log []conv.Event) map[string]*conv.Conversation {
	t.Helper()
	states := map[string]*conv.Conversation{}
	for _, e := range log {
		c, err := conv.Replay(states[e.Conv], e)
		if err != nil {
			t.Fatalf("seq %d (%s) does not replay: %v", e.Seq, e.Kind, err)
		}
		states[e.Conv] = c
	}
	return states
}

// inProcessRelay is a relay of the cluster in this process, with its
// workspace's config edited by conf (when set) and its options by opts. It
// returns its WebSocket URL and a stop that shuts it down (once).
func inProcessRelay(t *testing.T, urls string, replicas int, conf func(*Config), opts ...func(*Options)) (string, func()) {
	t.Helper()
	l, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: urls, Replicas: replicas, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	if conf != nil {
		conf(cfg)
	}
	var o Options
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(cfg, l, o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	var once sync.Once
	stop := func() {
		once.Do(func() {
			hs.CloseClientConnections()
			srv.Shutdown(context.Background())
			hs.Close()
			l.Close()
		})
	}
	t.Cleanup(stop)
	return wsURL(hs.URL), stop
}

// TestClusterWebhooksDeliverOnce: two relays share the log and an endpoint;
// the one holding the endpoint's lease delivers each event once, and when
// it stops the other takes over from the saved cursor.
func TestClusterWebhooksDeliverOnce(t *testing.T) {
	requireImpl(t, "jetstream")
	nats := natstest.Start(t)
	rc := newReceiver(t, nil)
	hooks := func(c *Config) { c.Workspaces[0].Webhooks = []Webhook{rc.hook("crm", conv.KindMessageSent)} }
	lease := func(o *Options) { fastHooks(o); o.hooks.lease = 600 * time.Millisecond }
	urlA, stopA := inProcessRelay(t, nats.URL(), 1, hooks, lease)
	urlB, _ := inProcessRelay(t, nats.URL(), 1, hooks, lease)
	a := connect(t, urlA, agentAuth(tokAna), protocol.Cursor{}, "ana-a")
	b := connect(t, urlB, agentAuth(tokBen), protocol.Cursor{}, "ben-b")
	cid := newConvID()
	a.mustLog(a.ev(conv.KindConversationCreated, cid, created("contact:zoe")))
	sent := map[string]bool{}
	push := func(s *tsession, n int) {
		for range n {
			e := s.ev(conv.KindMessageSent, cid, msg("hi"))
			s.mustLog(e)
			sent[e.ID] = true
		}
	}
	push(a, 10)
	push(b, 10)
	rc.wait(t, 20)
	stopA() // whichever held the lease, B delivers from here
	push(b, 10)
	rc.wait(t, 30)
	time.Sleep(300 * time.Millisecond) // a second delivery would come now
	seen := map[string]int{}
	for _, h := range rc.got() {
		seen[h.id]++
	}
	for id := range sent {
		if seen[id] != 1 {
			t.Errorf("event %s delivered %d times; want once", id, seen[id])
		}
	}
	if len(seen) != len(sent) {
		t.Errorf("%d events delivered; %d sent", len(seen), len(sent))
	}
}

// TestClusterRacesGiveTheReducersResult: two relays validate against the
// same head at once; whichever logs second validates again on top of the
// first, so the log reads as one relay would have written it: a resolve
// racing a contact's message is either logged first (and the message
// reopens) or refused as stale; two thread starts give one active thread,
// the later one, with the earlier ended before it.
func TestClusterRacesGiveTheReducersResult(t *testing.T) {
	requireImpl(t, "jetstream")
	// R1 publishes small groups as pipelines of conditional publishes, R3
	// as atomic batches: both must give one log order's results.
	t.Run("R1", func(t *testing.T) { testRaces(t, natstest.Start(t).URL(), 1) })
	t.Run("R3", func(t *testing.T) { testRaces(t, natstest.StartCluster(t, 3).URLs(), 3) })
}

func testRaces(t *testing.T, urls string, replicas int) {
	urlA, _ := inProcessRelay(t, urls, replicas, nil)
	urlB, _ := inProcessRelay(t, urls, replicas, nil)
	zoe := connect(t, urlA, contactAuth("contact:zoe"), protocol.Cursor{}, "zoe-phone")
	ana := connect(t, urlB, agentAuth(tokAna), protocol.Cursor{}, "ana-laptop")
	ben := connect(t, urlA, agentAuth(tokBen), protocol.Cursor{}, "ben-laptop")

	const rounds = 15
	stale, first := 0, 0
	for i := range rounds {
		cid := newConvID()
		res := zoe.mustLog(zoe.ev(conv.KindConversationCreated, cid, conv.Created{Subject: fmt.Sprint("race ", i)}),
			zoe.ev(conv.KindMessageSent, cid, msg("hello")))
		head := res[len(res)-1].Seq
		resolve := ana.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved})
		resolve.Base = head
		again := zoe.ev(conv.KindMessageSent, cid, msg("one more thing"))
		var rr, mr []protocol.Result
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); rr, _ = ana.push(resolve) }()
		go func() { defer wg.Done(); mr, _ = zoe.push(again) }()
		wg.Wait()
		if mr[0].Error != nil {
			t.Fatalf("round %d: the contact's message was rejected: %+v", i, mr[0])
		}
		switch {
		case rr[0].Error != nil && rr[0].Error.Code == conv.CodeStale:
			stale++ // the message came first: nobody resolves what they have not seen
			if rr[0].Seq != 0 {
				t.Errorf("round %d: a stale resolve has seq %d", i, rr[0].Seq)
			}
		case rr[0].Error == nil && rr[0].Seq < mr[0].Seq:
			first++ // the resolve came first: the message reopens
		default:
			t.Fatalf("round %d: resolve %+v, message %+v: not a result of one log order", i, rr[0], mr[0])
		}

		// Two agents on two relays start a thread at once.
		s1 := ana.ev(conv.KindThreadStarted, cid, conv.ThreadStarted{Thread: newConvID(), Topic: "billing"})
		s2 := ben.ev(conv.KindThreadStarted, cid, conv.ThreadStarted{Thread: newConvID(), Topic: "refund"})
		var r1, r2 []protocol.Result
		wg.Add(2)
		go func() { defer wg.Done(); r1, _ = ana.push(s1) }()
		go func() { defer wg.Done(); r2, _ = ben.push(s2) }()
		wg.Wait()
		if r1[0].Error != nil || r2[0].Error != nil || r1[0].Seq == r2[0].Seq {
			t.Fatalf("round %d: thread starts answered %+v and %+v", i, r1[0], r2[0])
		}
	}
	t.Logf("resolve first in %d rounds, refused as stale in %d", first, stale)
	logA := converged(t, urlA, urlB)
	states := replayAll(t, logA)
	// Each conversation's active thread is the later start in log order,
	// the earlier ended right before it (derived).
	lastStart := map[string]conv.Event{}
	for i, e := range logA {
		if e.Kind == conv.KindThreadStarted && e.Actor.Role == conv.RoleAgent {
			if prev, ok := lastStart[e.Conv]; ok {
				if i == 0 || logA[i-1].Kind != conv.KindThreadEnded || logA[i-1].Cause != e.ID {
					t.Errorf("thread start at %d follows %s@%d without ending it first", e.Seq, prev.ID, prev.Seq)
				}
			}
			lastStart[e.Conv] = e
		}
	}
	for id, e := range lastStart {
		var d conv.ThreadStarted
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatal(err)
		}
		if c := states[id]; c.Thread == nil || c.Thread.ID != d.Thread {
			t.Errorf("conversation %s: active thread %+v; want %s (the later start)", id, c.Thread, d.Thread)
		}
	}
}

// Pushes through two relays at once on an R1 stream, where each relay has
// several groups in flight: an agent on each relay receives every event
// once, in log order, gap-free (another relay's events are fanned out only
// after this relay's groups before them have landed).
func TestClusterFansOutInLogOrder(t *testing.T) {
	requireImpl(t, "jetstream")
	urls := natstest.Start(t).URL()
	fast := func(o *Options) { o.RatePerSecond, o.RateBurst = 10_000, 10_000 }
	urlA, _ := inProcessRelay(t, urls, 1, nil, fast)
	urlB, _ := inProcessRelay(t, urls, 1, nil, fast)
	agentA := connect(t, urlA, agentAuth(tokAna), protocol.Cursor{}, "ana-laptop")
	agentB := connect(t, urlB, agentAuth(tokBen), protocol.Cursor{}, "ben-laptop")

	const pushers, messages = 12, 60
	var head atomic.Uint64
	var wg sync.WaitGroup
	for i := range pushers {
		url := urlA
		if i%2 == 1 {
			url = urlB
		}
		c := connect(t, url, contactAuth(fmt.Sprint("contact:p", i)), protocol.Cursor{}, fmt.Sprint("phone-", i))
		wg.Add(1)
		go func() {
			defer wg.Done()
			cid := newConvID()
			evs := []conv.Event{c.ev(conv.KindConversationCreated, cid, conv.Created{Subject: "order"})}
			for range messages {
				evs = append(evs, c.ev(conv.KindMessageSent, cid, msg("and another thing")))
				res, _ := c.push(evs...)
				for _, r := range res {
					if r.Error != nil {
						t.Errorf("push: %+v", r)
						return
					}
					for h := head.Load(); r.Seq > h && !head.CompareAndSwap(h, r.Seq); h = head.Load() {
					}
				}
				evs = evs[:0]
			}
		}()
	}
	wg.Wait()
	for _, a := range []*tsession{agentA, agentB} {
		var got []conv.Event
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if got = a.received(); len(got) > 0 && got[len(got)-1].Seq >= head.Load() {
				break
			}
		}
		for i, e := range got {
			if e.Seq != uint64(i+1) {
				t.Fatalf("%s: event %d of those received has seq %d: not in log order, gap-free (%d received, head %d)", a.device, i, e.Seq, len(got), head.Load())
			}
		}
		if uint64(len(got)) != head.Load() {
			t.Errorf("%s: received %d events; the log holds %d", a.device, len(got), head.Load())
		}
	}
}
