package natstest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func connect(t *testing.T, urls string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(urls, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect(%s): %v", urls, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// publish publishes data with msgID, trying again until ctx ends when an
// attempt gets no ack within a second. That is what a client must do anyway,
// and the stream dedupes a repeat by its Nats-Msg-Id: right after the client
// reconnected to another node, an ack was lost here about once in ten runs
// with the stream healthy (the likely cause: the reply left the stream leader
// before the client's interest in its inbox reached it over the route, and
// core NATS drops a message nobody is known to want).
func publish(ctx context.Context, js jetstream.JetStream, subject, data, msgID string) (*jetstream.PubAck, error) {
	return again(ctx, func(ctx context.Context) (*jetstream.PubAck, error) {
		return js.Publish(ctx, subject, []byte(data), jetstream.WithMsgID(msgID))
	})
}

// again calls f with a second to answer until it succeeds or ctx ends. A
// request written while the server restarts can go to the closing
// connection before the client has seen it close, and is lost: a CI run
// waited 30 s for such an answer. A client asks again, as publish does.
func again[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		v, err := f(actx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return v, err
		}
	}
}

// readAll reads messages 1…n of stream by sequence and checks their data.
func readAll(ctx context.Context, t *testing.T, s jetstream.Stream, want []string) {
	t.Helper()
	for i, w := range want {
		m, err := again(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return s.GetMsg(ctx, uint64(i+1)) })
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", i+1, err)
		}
		if string(m.Data) != w {
			t.Errorf("GetMsg(%d) = %q; want %q", i+1, m.Data, w)
		}
	}
}

func TestServerR1PublishReadBackAcrossRestart(t *testing.T) {
	srv := Start(t)
	if c := srv.NATS().JetStreamConfig(); !c.SyncAlways {
		t.Errorf("JetStreamConfig().SyncAlways = false; want true (sync_interval: always)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := connect(t, srv.URL())
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R1", Subjects: []string{"r1.>"}, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	want := []string{"one", "two", "three"}
	for i, w := range want {
		ack, err := js.Publish(ctx, "r1.x", []byte(w))
		if err != nil {
			t.Fatalf("Publish(%q): %v", w, err)
		}
		if ack.Sequence != uint64(i+1) {
			t.Errorf("Publish(%q).Sequence = %d; want %d", w, ack.Sequence, i+1)
		}
	}
	readAll(ctx, t, s, want)

	url := srv.URL()
	srv.Restart()
	if srv.URL() != url {
		t.Errorf("after Restart, URL() = %s; want %s", srv.URL(), url)
	}
	// The client reconnects to the same port; the stream is read back from
	// the store directory.
	s, err = again(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.Stream(ctx, "R1") })
	if err != nil {
		t.Fatalf("Stream(R1) after restart: %v", err)
	}
	readAll(ctx, t, s, want)
}

func TestNATSDefaultSyncOption(t *testing.T) {
	srv := Start(t, NATSDefaultSync())
	if c := srv.NATS().JetStreamConfig(); c.SyncAlways {
		t.Errorf("with NATSDefaultSync, JetStreamConfig().SyncAlways = true; want false")
	}
}

// replicas is what StreamInfo says of the stream's group: the leader's
// server name, and the other members by server name.
func replicas(ctx context.Context, s jetstream.Stream) (leader string, peers map[string]*jetstream.PeerInfo, err error) {
	info, err := s.Info(ctx)
	if err != nil {
		return "", nil, err
	}
	if info.Cluster == nil {
		return "", nil, errors.New("no cluster info")
	}
	peers = map[string]*jetstream.PeerInfo{}
	for _, p := range info.Cluster.Replicas {
		peers[p.Name] = p
	}
	return info.Cluster.Leader, peers, nil
}

func TestClusterR3SurvivesKilledNodeAndRejoins(t *testing.T) {
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := connect(t, c.URLs())
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Storage: jetstream.FileStorage, Replicas: 3})
	if err != nil {
		t.Fatalf("CreateStream(R3): %v", err)
	}
	if _, err := publish(ctx, js, "r3.x", "before", "before"); err != nil {
		t.Fatalf("Publish(before): %v", err)
	}

	// Kill the node that leads the stream: the other two keep a quorum and
	// one of them takes over.
	leader, _, err := replicas(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	victim := -1
	for i := range c.Len() {
		if c.Node(i).NATS().Name() == leader {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("stream R3's leader %q is no node of the cluster", leader)
	}
	victimName := fmt.Sprintf("n%d", victim)
	c.Kill(victim)
	if c.Node(victim).Running() {
		t.Fatalf("after Kill(%d), node still running", victim)
	}

	// Two of three is a quorum: the publish is acked, by a new leader.
	if _, err := publish(ctx, js, "r3.x", "during", "during"); err != nil {
		t.Fatalf("Publish(during) with %s down: %v", victimName, err)
	}

	c.Restart(victim)
	// The restarted node catches up on the stream: its replica is current
	// with nothing to apply.
	for {
		_, peers, err := replicas(ctx, s)
		if err == nil {
			if p := peers[victimName]; p != nil && p.Current && !p.Offline && p.Lag == 0 {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("replica %s not current after restart: %v, %+v", victimName, err, peers[victimName])
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := publish(ctx, js, "r3.x", "after", "after"); err != nil {
		t.Fatalf("Publish(after): %v", err)
	}
	readAll(ctx, t, s, []string{"before", "during", "after"})
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{info.Cluster.Leader}
	for _, p := range info.Cluster.Replicas {
		names = append(names, p.Name)
	}
	slices.Sort(names)
	if want := []string{"n0", "n1", "n2"}; !slices.Equal(names, want) {
		t.Errorf("stream R3 lives on %v; want %v", names, want)
	}
}

func TestClusterURLs(t *testing.T) {
	c := StartCluster(t, 3)
	want := c.Node(0).URL() + "," + c.Node(1).URL() + "," + c.Node(2).URL()
	if got := c.URLs(); got != want {
		t.Errorf("URLs() = %s; want %s", got, want)
	}
	c.Stop()
	c.Stop() // twice is fine, and t.Cleanup does it again
	for i := range c.Len() {
		if c.Node(i).Running() {
			t.Errorf("after Stop, node %d runs", i)
		}
	}
}
