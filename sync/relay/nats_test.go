package relay

import (
	"net/http"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/protocol"
)

// TestNATSLostWhileServing: with NATS gone, a push is refused whole with
// unavailable (nothing acknowledged that is not durable), the session
// stays, /healthz says 503; when NATS is back the same session pushes it
// again and it is logged once, and /healthz is 200 again.
func TestNATSLostWhileServing(t *testing.T) {
	requireImpl(t, "jetstream")
	r := newTestRelay(t)
	nats := relaytest.NATSOf(r.log)
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:zoe")))

	health := func() int {
		resp, err := http.Get(r.hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	nats.Shutdown()
	if h := health(); h != http.StatusServiceUnavailable {
		t.Errorf("healthz %d with NATS down; want 503", h)
	}
	e := s.ev(conv.KindMessageSent, cid, msg("while NATS is down"))
	s.send(protocol.Push{Type: protocol.TypePush, Events: []conv.Event{e}})
	f := s.nextOf(protocol.TypeError, protocol.TypeEvents, protocol.TypeTyping)
	if got := decode[protocol.Error](t, f); got.Code != protocol.CodeUnavailable || got.Fatal {
		t.Fatalf("push with NATS down: %+v; want a non-fatal unavailable", got)
	}

	nats.Restart()
	// The device pushes it again after a backoff until it is acknowledged.
	var ack protocol.Ack
	for deadline := time.Now().Add(15 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("the same push was not acknowledged after NATS came back")
		}
		time.Sleep(200 * time.Millisecond)
		s.send(protocol.Push{Type: protocol.TypePush, Events: []conv.Event{e}})
		f := s.next()
		for f.Type != protocol.TypeAck && f.Type != protocol.TypeError {
			f = s.next() // live events
		}
		if f.Type == protocol.TypeAck {
			ack = decode[protocol.Ack](t, f)
			break
		}
	}
	if len(ack.Results) != 1 || ack.Results[0].Error != nil || ack.Results[0].Seq == 0 {
		t.Fatalf("ack after NATS came back: %+v", ack)
	}
	if h := health(); h != http.StatusOK {
		t.Errorf("healthz %d once NATS is back and a commit went through; want 200", h)
	}
	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	n := 0
	for _, ev := range all {
		if ev.ID == e.ID {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the message is logged %d times; want once", n)
	}
}
