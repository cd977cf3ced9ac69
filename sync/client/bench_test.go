package client

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

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
