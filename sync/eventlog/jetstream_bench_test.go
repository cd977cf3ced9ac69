package eventlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/internal/hoprate"
	"github.com/threadline/threadline/internal/natstest"
)

// BenchmarkJetStreamPeer is the baseline the relay's JetStream rows are
// measured against (issue 13 part 5): JetStream alone, no relay, on the
// same nats-servers the relay's benchmarks run on (natstest: file storage,
// sync_interval: always). R1 is one server; R3 three routed servers on
// loopback, on this machine's same cores and disk. R1-process is R1 with the
// server in a process of its own (natstest.StartProcess), measured from
// outside as the relay binary is (the relay's BenchmarkLatency/process):
// the embedded relay's hop is held against it. One op is one message of
// peerMsgBytes.
//
//	go test -run '^$' -bench BenchmarkJetStreamPeer -benchtime 20000x ./sync/eventlog/
//
// "latency" mirrors the relay's BenchmarkLatency: 20 publishers, each a
// synchronous js.Publish every 20 ms (staggered: 1,000 msgs/s in all), and
// an ordered consumer receiving; a message's latency is from just before its
// Publish to its arrival at the consumer. Metrics p50-ms, p99-ms, p99.9-ms as
// the relay's (microsecond resolution), and the publishers' ack p50.
//
// "throughput" mirrors BenchmarkThroughput's 100 pushers: 100 goroutines,
// each a synchronous js.Publish after the other (one message in flight
// each), durable msgs/s.
func BenchmarkJetStreamPeer(b *testing.B) {
	b.Run("R1", func(b *testing.B) {
		srv := natstest.Start(b)
		benchPeer(b, srv.URL(), 1)
	})
	b.Run("R1-process", func(b *testing.B) {
		benchPeer(b, natstest.StartProcess(b), 1)
	})
	b.Run("R3", func(b *testing.B) {
		c := natstest.StartCluster(b, 3)
		benchPeer(b, c.URLs(), 3)
	})
}

// peerMsgBytes is about a relay event's JSON (a message.sent with a short
// text, its envelope and ids).
const peerMsgBytes = 300

func benchPeer(b *testing.B, urls string, replicas int) {
	nc, err := nats.Connect(urls)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	var streams atomic.Int64
	newStream := func(b *testing.B) (jetstream.Stream, string) {
		n := streams.Add(1)
		name := fmt.Sprintf("PEER_%d", n)
		subj := fmt.Sprintf("peer.%d", n)
		st, err := js.CreateStream(b.Context(), jetstream.StreamConfig{
			Name:     name,
			Subjects: []string{subj},
			Storage:  jetstream.FileStorage,
			Replicas: replicas,
		})
		if err != nil {
			b.Fatal(err)
		}
		return st, subj
	}
	b.Run("latency", func(b *testing.B) {
		st, subj := newStream(b)
		benchPeerLatency(b, js, st, subj)
	})
	b.Run("throughput", func(b *testing.B) {
		_, subj := newStream(b)
		benchPeerThroughput(b, js, subj)
	})
}

func benchPeerLatency(b *testing.B, js jetstream.JetStream, st jetstream.Stream, subj string) {
	rate, publishers, err := hoprate.Get()
	if err != nil {
		b.Fatal(err)
	}
	sent := make([]atomic.Int64, b.N) // message i → UnixNano just before its Publish
	lat := make([]time.Duration, 0, b.N)
	var latMu sync.Mutex
	received := make(chan struct{})
	var got atomic.Int64
	cons, err := st.OrderedConsumer(b.Context(), jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
	if err != nil {
		b.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now().UnixNano()
		d := m.Data()
		if len(d) < 8 {
			return
		}
		i := binary.BigEndian.Uint64(d)
		if i >= uint64(len(sent)) {
			return
		}
		t0 := sent[i].Load()
		latMu.Lock()
		lat = append(lat, time.Duration(now-t0))
		latMu.Unlock()
		if got.Add(1) == int64(b.N) {
			close(received)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	// The consumer's first pull is out before the first publish.
	time.Sleep(200 * time.Millisecond)
	var ackMu sync.Mutex
	acks := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	var wg sync.WaitGroup
	var next atomic.Int64
	interval := time.Second * time.Duration(publishers) / time.Duration(rate)
	for p := range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(interval * time.Duration(p) / time.Duration(publishers)) // stagger
			tick := time.NewTicker(interval)
			defer tick.Stop()
			msg := make([]byte, peerMsgBytes)
			mine := make([]time.Duration, 0, b.N/publishers+1)
			defer func() { ackMu.Lock(); acks = append(acks, mine...); ackMu.Unlock() }()
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				<-tick.C
				binary.BigEndian.PutUint64(msg, uint64(i))
				t0 := time.Now()
				sent[i].Store(t0.UnixNano())
				if _, err := js.Publish(context.Background(), subj, msg); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	select {
	case <-received:
	case <-time.After(30 * time.Second):
		b.Fatalf("received %d of %d", got.Load(), b.N)
	}
	b.StopTimer()
	latMu.Lock()
	defer latMu.Unlock()
	ms := func(ds []time.Duration, p float64) float64 {
		return float64(ds[min(len(ds)-1, int(p*float64(len(ds))))].Microseconds()) / 1000
	}
	slices.Sort(lat)
	slices.Sort(acks)
	b.ReportMetric(ms(lat, 0.50), "p50-ms")
	b.ReportMetric(ms(lat, 0.99), "p99-ms")
	b.ReportMetric(ms(lat, 0.999), "p99.9-ms")
	b.ReportMetric(ms(acks, 0.50), "ack-p50-ms")
	b.ReportMetric(0, "ns/op")
}

func benchPeerThroughput(b *testing.B, js jetstream.JetStream, subj string) {
	const publishers = 100
	msg := make([]byte, peerMsgBytes)
	for i := range msg {
		msg[i] = 'x'
	}
	var next atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range publishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := js.Publish(context.Background(), subj, msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "msgs/s")
}
