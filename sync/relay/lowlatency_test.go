package relay

import (
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/cpulatency"
	"github.com/threadline/threadline/sync/protocol"
)

// With LowLatency the relay holds a zero CPU latency request while events
// flow, and drops it at shutdown.
func TestLowLatencyHoldsWhileEventsFlow(t *testing.T) {
	r := newTestRelay(t, func(o *Options) { o.LowLatency = true })
	if r.srv.cpu == nil {
		t.Skip("no CPU latency request here (needs root and /dev/cpu_dma_latency)")
	}
	if v, err := cpulatency.Current(); err != nil || v == 0 {
		t.Skipf("another process holds a zero latency request (limit %d, %v)", v, err)
	}
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:zoe")))
	if err := waitFor(5*time.Second, func() bool { v, _ := cpulatency.Current(); return v == 0 }); err != nil {
		t.Fatalf("limit not 0 while events flow: %v", err)
	}
	hold := r.srv.cpu
	r.stop()
	if hold.Held() {
		t.Fatal("request still held after shutdown")
	}
}
