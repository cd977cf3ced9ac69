package relay

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// BenchmarkWebhookLag measures how far webhook delivery trails the log: an
// agent's device pushes single messages at 1,000 events/s to a relay (log
// on disk, in this process) whose workspace has one endpoint for
// message.sent, an HTTP server on loopback that answers 200 at once. Lag
// is from the push being sent to its event's POST arriving at the
// endpoint, so it includes the push's own trip and durable commit. One op
// is one event.
func BenchmarkWebhookLag(b *testing.B) {
	var mu sync.Mutex
	arrived := map[string]time.Time{}
	rc := newReceiver(b, func(h hookHit) int {
		now := time.Now()
		mu.Lock()
		arrived[h.id] = now
		mu.Unlock()
		return http.StatusOK
	})
	r := &testRelay{t: b, dir: b.TempDir(), conf: func(c *Config) {
		c.Workspaces[0].Webhooks = []Webhook{rc.hook("bench", conv.KindMessageSent)}
	}}
	r.opts.RatePerSecond, r.opts.RateBurst = 1e9, 1e9
	r.start()
	b.Cleanup(r.stop)
	s := connect(b, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("warm-up")))
	if err := waitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) == 1 }); err != nil {
		b.Fatal("the warm-up message was not delivered")
	}

	const every = time.Millisecond // 1,000 events/s
	sent := make(map[string]time.Time, b.N)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		e := s.ev(conv.KindMessageSent, cid, msg("lag"))
		sent[e.ID] = time.Now()
		s.mustLog(e)
	}
	if err := waitFor(time.Minute, func() bool { mu.Lock(); defer mu.Unlock(); return len(arrived) == b.N+1 }); err != nil {
		mu.Lock()
		b.Fatalf("%d of %d events delivered", len(arrived)-1, b.N)
	}
	b.StopTimer()
	mu.Lock()
	defer mu.Unlock()
	lags := make([]float64, 0, b.N)
	for id, t0 := range sent {
		lags = append(lags, float64(arrived[id].Sub(t0))/float64(time.Millisecond))
	}
	slices.Sort(lags)
	q := func(p float64) float64 { return lags[min(len(lags)-1, int(p*float64(len(lags))))] }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(lags[len(lags)-1], "max-ms")
	b.ReportMetric(0, "ns/op")
}
