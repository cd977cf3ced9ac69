package relay

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// joinEventsEnv sets BenchmarkJoin's workspace size (default 1,000,000).
const joinEventsEnv = "THREADLINE_JOIN_EVENTS"

// BenchmarkJoin measures a relay joining a shared log that already holds a
// big workspace (issue 13 part 5: 1,000,000 events served within 5 s): the
// workspace's stream is filled first (10,000 conversations of 100 events,
// contacts' messages validated with conv.Apply, appended through the log in
// atomic batches of 1,000), then a NEW relay connects to the same NATS
// (eventlog.Connect, relay.New, which reads the stream to rebuild what it
// validates with) and is timed from its start until it has served an agent
// whose cursor is at the head its welcome and caughtUp. One op is one join.
// JetStream logs only.
//
//	THREADLINE_RELAY_LOGS=jetstream,jetstream-r3 go test -run '^$' -bench BenchmarkJoin -benchtime 1x ./sync/relay/
func BenchmarkJoin(b *testing.B) {
	if !strings.HasPrefix(testLog.Name, "jetstream") {
		b.Skipf("a relay joining a shared log: JetStream only (this pass runs on %s)", testLog.Name)
	}
	n := 1_000_000
	if v := os.Getenv(joinEventsEnv); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("%s=%q: want a positive number of events", joinEventsEnv, v)
		}
	}
	// The NATS of this pass's log; the log itself opens no workspace, so
	// nothing in this process follows the stream but the joining relay.
	lg := testLog.Open(b, b.TempDir(), nil)
	b.Cleanup(func() { lg.Close() })
	urls, replicas := relaytest.NATSURLs(lg), relaytest.Replicas(lg)
	connect := func() *eventlog.JetStream {
		jl, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: urls, Replicas: replicas, Timeout: 30 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		return jl
	}
	// Filled by a client of its own, closed before the join: its index of
	// the workspace is not left in this process's heap.
	filler := connect()
	epoch, head, err := filler.Open(testWS)
	if err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	head = fillLog(b, filler, head, n)
	fill := time.Since(t0)
	filler.Close()
	b.Logf("filled %d events in %v (%.0f events/s), R%d", head, fill.Round(time.Millisecond), float64(head)/fill.Seconds(), replicas)
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		jl := connect()
		srv, err := New(testConfig(), jl, Options{})
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Since(start)
		hs := newHTTPTest(srv)
		if got := srv.Head(testWS); got != head {
			b.Fatalf("the new relay's head is %d; want %d", got, head)
		}
		c := dialRaw(b, wsURL(hs.URL), hello(testWS, "joiner", protocol.Cursor{Epoch: epoch, Seq: head}, agentAuth(tokAna)))
		el := time.Since(start)
		c.c.CloseNow()
		b.StopTimer()
		relaytest.Stop(b, hs, srv.Shutdown, jl)
		b.StartTimer()
		b.Logf("joined in %v (log read and relay.New: %v)", el.Round(time.Millisecond), opened.Round(time.Millisecond))
		b.ReportMetric(el.Seconds(), "join-s")
	}
	b.ReportMetric(fill.Seconds(), "fill-s") // after ResetTimer, which drops metrics
	b.ReportMetric(0, "ns/op")
}

// fillLog appends n valid events to testWS's log lg after head, the way the
// relay's sequencer makes them (conv.Apply, seqs from head+1, each mid's
// result), in batches of at most 1,000: conversations of 100 events each
// (created by a contact, the derived thread.started, 98 messages), and
// returns the new head.
func fillLog(b *testing.B, lg eventlog.Log, head uint64, n int) uint64 {
	const perConv, batchMax = 100, eventlog.MaxAtomicBatch
	env := conv.Env{Schema: nil}
	text := "How do I reset my password? I tried the link in the email twice."
	var batch eventlog.Batch
	states := map[string]*conv.Conversation{}
	flush := func() {
		if len(batch.Events) == 0 {
			return
		}
		for _, c := range states {
			batch.States = append(batch.States, c)
		}
		batch.Head = head
		if err := lg.Append(testWS, &batch); err != nil {
			b.Fatalf("append at %d: %v", head, err)
		}
		head = batch.Events[len(batch.Events)-1].Event.Seq
		batch = eventlog.Batch{}
		clear(states)
	}
	var c *conv.Conversation
	var who conv.Participant
	var convID, device string
	var mid uint64
	for left := n; left > 0; {
		if c == nil || mid >= perConv-1 {
			i := n - left
			who = conv.Participant{ID: fmt.Sprintf("contact:j%d", i), Role: conv.RoleContact}
			convID, device, mid = uuid.Must(uuid.NewV7()).String(), fmt.Sprintf("jd%d", i), 0
			c = nil
		}
		mid++
		e := conv.Event{ID: uuid.Must(uuid.NewV7()).String(), Conv: convID, Actor: who, Device: device, Mid: mid, At: 1}
		if mid == 1 {
			e.Kind, e.Data = conv.KindConversationCreated, conv.MustData(conv.Created{Subject: "help"})
		} else {
			e.Kind, e.Data = conv.KindMessageSent, conv.MustData(conv.Message{Text: text})
			e.Base = head + uint64(len(batch.Events))
		}
		if len(batch.Events)+2 > batchMax {
			flush()
		}
		env.NextSeq = head + uint64(len(batch.Events)) + 1
		next, out, err := conv.Apply(c, e, env)
		if err != nil || len(out) == 0 {
			b.Fatalf("fill: conv.Apply of %s: %d events, %v", e.Kind, len(out), err)
		}
		for _, o := range out {
			raw, err := json.Marshal(o)
			if err != nil {
				b.Fatal(err)
			}
			batch.Events = append(batch.Events, eventlog.Record{Event: o, JSON: raw})
			if o.Kind == conv.KindConversationCreated {
				batch.Owners = append(batch.Owners, eventlog.Ownership{Participant: who.ID, Conv: convID, Since: o.Seq})
			}
		}
		last := out[len(out)-1].Seq
		batch.Results = append(batch.Results, eventlog.MidResult{Identity: who.ID, Device: device, Mid: mid, Result: protocol.Result{ID: e.ID, Seq: last}})
		c = next
		states[convID] = next
		left -= len(out)
	}
	flush()
	return head
}
