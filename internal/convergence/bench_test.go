package convergence

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const catchupEvents = 100_000

// BenchmarkCatchupInbox measures a new desktop device's first sync: an
// *inbox.Inbox on Badger in a temp dir catches up 100,000 events from a
// real relay (its Badger log, loopback WebSocket). One op runs from Run's
// start to caughtUp, when every event is applied and durable in the store
// (conversation rows, timeline items, unread counts, the cursor). Opening
// the empty inbox and closing it are outside the timer. Budget: ≤ 1 s.
//
//	go test -run '^$' -bench CatchupInbox -benchtime 1x ./internal/convergence/
//
// The relay is filled once, through the protocol: assistant devices push
// conversations of 50 events (messages with their derived thread starts,
// notes, priority changes) under raised rate limits. Set
// THREADLINE_CATCHUP_PROFILE=file to write a CPU profile of the timed part
// only (the fill would dominate -cpuprofile).
func BenchmarkCatchupInbox(b *testing.B) {
	// The outer function runs once: the relay is filled once for every run.
	r := startRelay(b, relay.Options{RatePerSecond: 1e9, RateBurst: 1e9})
	t0 := time.Now()
	fillRelay(b, r, catchupEvents, 50, 4)
	// Restart the relay on its log, as one that has been up for a while:
	// the fill's memtable flushes and compactions do not run under the timer.
	r.restart()
	epoch, head := r.head()
	b.Logf("filled the relay with %d events in %v", head, time.Since(t0).Round(time.Millisecond))

	b.Run("inbox", func(b *testing.B) {
		benchCatchup(b, r, epoch, head, func() (client.Local, func() int, func()) {
			in, err := inbox.Open(b.TempDir(), inbox.Options{Me: ben, Device: "bench-inbox"})
			if err != nil {
				b.Fatal(err)
			}
			count := func() int {
				n := 0
				if err := in.Store().Log(0, func(conv.Event) bool { n++; return true }); err != nil {
					b.Fatal(err)
				}
				return n
			}
			return inboxLocal{in}, count, func() {
				if err := in.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	// The same catch-up into a client.Memory: the relay's and the client's
	// share of the time, for comparison.
	b.Run("memory", func(b *testing.B) {
		benchCatchup(b, r, epoch, head, func() (client.Local, func() int, func()) {
			mem := client.NewMemory(ben, "bench")
			return mem, mem.Len, func() {}
		})
	})
}

// benchCatchup times b.N first syncs of a new device made by newLocal,
// from Run's start to caughtUp.
func benchCatchup(b *testing.B, r *testRelay, epoch string, head uint64, newLocal func() (client.Local, func() int, func())) {
	quiet := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		local, count, closeLocal := newLocal()
		cl, err := client.New(client.Options{URL: relayURL(r.target()), Workspace: testWS, Device: "bench-" + uuid.NewString(),
			Auth: agentAuth(tokBen), Local: local, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		stopProfile := startProfile(b)
		b.StartTimer()

		go func() { done <- cl.Run(ctx) }()
		for ch := cl.Watch(); cl.State() != client.StateOnline; ch = cl.Watch() {
			select {
			case <-ch:
			case err := <-done:
				b.Fatalf("Run ended: %v (%+v)", err, cl.Status())
			}
		}

		b.StopTimer()
		stopProfile()
		if e, seq, _ := local.Cursor(); e != epoch || seq != head {
			b.Fatalf("caught up to (%s, %d); want (%s, %d)", e, seq, epoch, head)
		}
		if n := count(); uint64(n) != head {
			b.Fatalf("the device holds %d events; want %d", n, head)
		}
		cancel()
		<-done
		closeLocal()
		b.StartTimer()
	}
	b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// startProfile starts a CPU profile into $THREADLINE_CATCHUP_PROFILE, if
// set, and returns what stops it.
func startProfile(b *testing.B) func() {
	path := os.Getenv("THREADLINE_CATCHUP_PROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// fillRelay pushes about n events into r through the protocol, from
// `pushers` assistant devices in parallel (the relay's writer commits
// their pushes in groups), in conversations of perConv events.
func fillRelay(tb testing.TB, r *testRelay, n, perConv, pushers int) {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, pushers)
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fillFrom(r, n/pushers, perConv, p); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

func fillFrom(r *testRelay, n, perConv, p int) error {
	mem := client.NewMemory(faq, uuid.NewString())
	cl, err := client.New(client.Options{URL: relayURL(r.target()), Workspace: testWS, Device: mem.Device(),
		Auth: protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ}, Local: mem,
		Logger: slog.New(slog.DiscardHandler), PushRate: 1e9, PushBurst: 1e9})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { cl.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const chunk = 2000
	contact := conv.Participant{ID: fmt.Sprintf("contact:%d", 1000+p), Role: conv.RoleContact}
	var convID string
	made := 0
	for made < n {
		for start := made; made < n && made-start < chunk; {
			var e conv.Event
			var err error
			switch {
			case made%perConv == 0:
				e, err = mem.Create(conv.Created{Contact: &contact, Subject: fmt.Sprintf("conversation %d-%d", p, made/perConv)})
				convID = e.Conv
				made++
			case made%7 == 3:
				_, err = mem.Act(convID, conv.KindNoteAdded, conv.Note{Text: fmt.Sprintf("internal note %d", made)})
				made++
			case made%7 == 5:
				_, err = mem.Act(convID, conv.KindPriorityChanged, conv.PriorityChanged{Priority: []conv.Priority{"low", "high"}[made%2]})
				made++
			default:
				var c *conv.Conversation
				c, _ = mem.Conversation(convID)
				_, err = mem.Act(convID, conv.KindMessageSent, conv.Message{Text: fmt.Sprintf("message %d: hello, how can we help you today?", made)})
				made++
				if c != nil && c.Thread == nil {
					made++ // the relay derives a thread.started before it
				}
			}
			if err != nil {
				return err
			}
		}
		cl.Kick()
		deadline := time.Now().Add(5 * time.Minute)
		for {
			ob := mem.Outbox()
			pending := 0
			for _, it := range ob {
				switch it.State {
				case client.OutboxFailed:
					return fmt.Errorf("filler event rejected: %v", it.Err)
				case client.OutboxPending:
					pending++
				}
			}
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("filler stuck: %d pending; status %+v", pending, cl.Status())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}
