package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// flakyLog fails Append while failing > 0 (counting down), and Check while
// broken is set.
type flakyLog struct {
	*eventlog.Badger
	failing atomic.Int32
	broken  atomic.Bool
}

var errDiskFull = errors.New("disk full (injected)")

func (l *flakyLog) Append(ws string, b *eventlog.Batch) error {
	if l.failing.Add(-1) >= 0 {
		return errDiskFull
	}
	return l.Badger.Append(ws, b)
}

func (l *flakyLog) Check() error {
	if l.broken.Load() {
		return errDiskFull
	}
	return l.Badger.Check()
}

func TestFailedAppendIsRefusedAndResent(t *testing.T) {
	fl := &flakyLog{}
	r := newWrappedRelay(t, func(bl *eventlog.Badger) eventlog.Log { fl.Badger = bl; return fl },
		func(o *Options) { o.RatePerSecond, o.RateBurst = 1e6, 1e6 })
	srv := r.srv

	health := func() int {
		resp, err := http.Get(r.hs.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if h := health(); h != 200 {
		t.Fatalf("healthz %d", h)
	}

	// Several devices push concurrently; some commits fail. A failed
	// commit refuses its whole group (unavailable), so how many
	// commits one round of pushes makes depends on how they group: rounds
	// go on, every device reconnecting and pushing its events again from
	// the first, until all the injected failures are hit.
	const devices = 6
	sent := make([][]conv.Event, devices)
	for i := range devices {
		s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, fmt.Sprint("dev-", i))
		cid := newConvID()
		var evs []conv.Event
		evs = append(evs, s.ev(conv.KindConversationCreated, cid, created("contact:zoe")))
		for range 199 {
			evs = append(evs, s.ev(conv.KindMessageSent, cid, msg("hello")))
		}
		sent[i] = evs
		s.c.Close(websocket.StatusNormalClosure, "")
	}
	fl.failing.Store(3)
	for deadline := time.Now().Add(30 * time.Second); fl.failing.Load() >= 0; {
		if time.Now().After(deadline) {
			t.Fatalf("the injected failures were not all hit")
		}
		var wg sync.WaitGroup
		for i := range devices {
			s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, fmt.Sprint("dev-", i))
			evs := sent[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer s.c.Close(websocket.StatusNormalClosure, "")
				for j := 0; j < len(evs); j += 50 {
					if err := s.c.Write(t.Context(), websocket.MessageText, mustJSON(protocol.Push{Type: protocol.TypePush, Events: evs[j : j+50]})); err != nil {
						return
					}
					select {
					case <-s.done:
						return
					case acked := <-waitAckCh(s.client):
						if !acked {
							return // refused whole: a device pushes it again before anything after it
						}
					}
				}
			}()
		}
		wg.Wait()
	}
	// The broken state shows in healthz until a commit succeeds (and while
	// the log itself says it cannot write).
	fl.broken.Store(true)
	if h := health(); h != http.StatusServiceUnavailable {
		t.Errorf("healthz %d while the log fails; want 503", h)
	}
	fl.broken.Store(false)

	// Every device reconnects and resends everything, in mid order.
	for i := range devices {
		s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{}, fmt.Sprint("dev-", i))
		for j := 0; j < len(sent[i]); j += 100 {
			res, _ := s.push(sent[i][j : j+100]...)
			for _, x := range res {
				if x.Error != nil || x.Seq == 0 {
					t.Fatalf("resend: %+v", x)
				}
			}
		}
	}
	if h := health(); h != 200 {
		t.Errorf("healthz %d after a good commit; want 200", h)
	}
	all := wholeLog(t, r.url)
	checkGapFree(t, all)
	if want := devices * (200 + 1); len(all) != want { // +1: each conversation's first message starts a thread
		t.Fatalf("%d events logged; want %d", len(all), want)
	}
	var m strings.Builder
	srv.m.write(&m)
	if !strings.Contains(m.String(), "threadline_relay_events_logged_total 1206") {
		t.Errorf("metrics:\n%s", m.String())
	}
}

// waitAckCh returns a channel that gets true when c receives its next ack,
// false on an error in its place (or when its connection ends).
func waitAckCh(c *client) <-chan bool {
	ch := make(chan bool, 1)
	go func() {
		for {
			select {
			case f := <-c.frames:
				switch f.Type {
				case protocol.TypeAck:
					ch <- true
					return
				case protocol.TypeError:
					ch <- false
					return
				}
			case <-c.done:
				ch <- false
				return
			case <-time.After(10 * time.Second):
				ch <- false
				return
			}
		}
	}()
	return ch
}
