package client

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

const catchupEvents = 100_000

// BenchmarkCatchup measures a new device's first sync of a 100,000-event
// log over loopback WebSocket: the relay pages the log out, the Client
// decodes it and applies it into a Memory (conv.Replay per conversation).
// One op is one whole catch-up, from dial to caughtUp. Budget: ≤ 1 s.
//
//	go test -run '^$' -bench Catchup -benchtime 5x ./sync/client/
//
// real-relay reads the log from the relay's Badger store (filled once,
// through the protocol, by an assistant's client); in-test-relay serves it
// from memory, which isolates the client's own cost.
func BenchmarkCatchup(b *testing.B) {
	// Set up once: the outer function runs once, the sub-benchmarks once per b.N.
	real := newRealRelay(b, relay.Options{RatePerSecond: 1e9, RateBurst: 1e9})
	t0 := time.Now()
	fillReal(b, real, catchupEvents, 50)
	_, realHead := real.head()
	b.Logf("filled the real relay with %d events in %v", realHead, time.Since(t0).Round(time.Millisecond))
	fake := newFakeRelay(b)
	fill(b, fake, catchupEvents, 50)
	_, fakeHead := fake.head()

	b.Run("real-relay", func(b *testing.B) { benchCatchup(b, real.url(), anaToken, realHead) })
	b.Run("in-test-relay", func(b *testing.B) { benchCatchup(b, fake.url(), "ana-token", fakeHead) })
}

func benchCatchup(b *testing.B, url, token string, head uint64) {
	quiet := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for range b.N {
		mem := NewMemory(ana, uuid.NewString())
		c, err := New(Options{URL: url, Workspace: "acme", Device: mem.Device(),
			Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: token}, Local: mem, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()
		for ch := c.Watch(); c.State() != StateOnline; ch = c.Watch() {
			select {
			case <-ch:
			case err := <-done:
				b.Fatalf("Run ended: %v (%+v)", err, c.Status())
			}
		}
		b.StopTimer()
		if _, seq, _ := mem.Cursor(); seq != head || uint64(mem.Len()) != head {
			b.Fatalf("caught up to %d with %d events; want %d", seq, mem.Len(), head)
		}
		cancel()
		<-done
		b.StartTimer()
	}
	b.ReportMetric(float64(head)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	// CPU time of the whole process (client and relay) per catch-up: steadier
	// than the wall clock on a shared machine.
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}

// BenchmarkMemoryHeap measures what a Memory holds after applying a
// 100,000-event log of 2,000 conversations (50 events each, one in ten in
// assistant mode with ai:faq): the whole workspace, and with KeepMine for
// the assistant (every conversation's state, the events of its own only).
//
//	go test -run '^$' -bench MemoryHeap -benchtime 3x ./sync/client/
func BenchmarkMemoryHeap(b *testing.B) {
	evs := syntheticLog(catchupEvents, 50, 10)
	for _, bc := range []struct {
		name string
		opts []MemoryOption
	}{{"all", nil}, {"keep-mine", []MemoryOption{KeepMine(faqBot)}}} {
		b.Run(bc.name, func(b *testing.B) {
			var heap uint64
			for range b.N {
				before := heapInUse()
				mem := NewMemory(faqBot, "bot", bc.opts...)
				for i := 0; i < len(evs); i += mergeMax {
					chunk := evs[i:min(i+mergeMax, len(evs))]
					if err := mem.ApplyCanonical("e1", chunk, chunk[len(chunk)-1].Seq); err != nil {
						b.Fatal(err)
					}
				}
				heap += heapInUse() - before
				b.ReportMetric(float64(mem.Len()), "events-held")
				runtime.KeepAlive(mem)
			}
			b.ReportMetric(float64(heap)/float64(b.N)/(1<<20), "heap-MiB")
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// syntheticLog makes a canonical log of n events, perConv per conversation
// (created, a thread, then messages from the contact and ana in turn), one
// conversation in everyNth created for the assistant faq.
func syntheticLog(n, perConv, everyNth int) []conv.Event {
	evs := make([]conv.Event, 0, n)
	var convID, thread string
	for i := range n {
		seq := uint64(i + 1)
		e := conv.Event{ID: uuid.NewString(), Seq: seq, Device: "d", Mid: seq, At: int64(seq) * 1000}
		switch k := i % perConv; k {
		case 0:
			convID, thread = uuid.NewString(), uuid.NewString()
			created := conv.Created{Contact: &contact, Subject: "conversation " + itoa(i/perConv)}
			if (i/perConv)%everyNth == 0 {
				created.AssistantID = "faq"
			}
			e.Kind, e.Actor, e.Data = conv.KindConversationCreated, contact, conv.MustData(created)
		case 1:
			e.Kind, e.Actor, e.Data = conv.KindThreadStarted, conv.System, conv.MustData(conv.ThreadStarted{Thread: thread})
		default:
			actor := contact
			if k%2 == 1 {
				actor = ana
			}
			e.Kind, e.Actor = conv.KindMessageSent, actor
			e.Data = conv.MustData(conv.Message{Text: "message " + itoa(i) + ": hello, how can we help you today?", Thread: thread})
		}
		e.Conv = convID
		evs = append(evs, e)
	}
	return evs
}
