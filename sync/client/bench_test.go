package client

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"

	"github.com/threadline/threadline/sync/protocol"
)

// BenchmarkCatchup measures a new device's first sync of a 100,000-event
// log over loopback WebSocket: the relay pages it out, the Client decodes
// and applies it into a Memory (conv.Replay per conversation). One op is one
// whole catch-up, from dial to caughtUp. Budget: ≤ 1 s.
//
//	go test -run '^$' -bench Catchup -benchtime 5x ./sync/client/
func BenchmarkCatchup(b *testing.B) {
	const n = 100_000
	r := newFakeRelay(b)
	fill(b, r, n, 50)
	_, head := r.head()
	quiet := slog.New(slog.DiscardHandler)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		mem := NewMemory(ana, uuid.NewString())
		c, err := New(Options{URL: r.url(), Workspace: "acme", Device: mem.Device(),
			Auth: protocol.Auth{Kind: protocol.AuthAgent, Token: "ana-token"}, Local: mem, Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.Run(ctx); close(done) }()
		for ch := c.Watch(); c.State() != StateOnline; ch = c.Watch() {
			<-ch
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
}
