package relaytest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/sync/eventlog"
)

// openJetStream opens the JetStream log on a nats-server of its own whose
// store is dir/nats: opened again on the same dir, the server starts again
// on the same store and the log reads back the same streams. R1, with
// sync_interval: always (natstest's), so an ack means on disk.
func openJetStream(t testing.TB, dir string, logger *slog.Logger) eventlog.Log {
	t.Helper()
	srv := natstest.Start(t, func(o *server.Options) { o.StoreDir = filepath.Join(dir, "nats") })
	l, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: srv.URL(), Replicas: 1, Logger: logger, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("connect the JetStream log: %v", err)
	}
	return &serverLog{JetStream: l, srv: srv}
}

// openJetStreamR3 opens the JetStream log at Replicas 3 on a cluster of
// three nats-servers of its own (natstest.StartCluster, sync_interval:
// always on each), node i's store in dir/nats/n<i>: opened again on the same
// dir, the cluster starts again on the same stores (on new ports) and the
// log reads back the same streams.
func openJetStreamR3(t testing.TB, dir string, logger *slog.Logger) eventlog.Log {
	t.Helper()
	c := natstest.StartCluster(t, 3, func(o *server.Options) { o.StoreDir = filepath.Join(dir, "nats", o.ServerName) })
	if err := waitStreamLeaders(c.URLs(), 60*time.Second); err != nil {
		c.Stop()
		t.Fatalf("reopen the R3 cluster in %s: %v", dir, err)
	}
	l, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: c.URLs(), Replicas: 3, Logger: logger, Timeout: 5 * time.Second})
	if err != nil {
		c.Stop()
		t.Fatalf("connect the JetStream log (R3): %v", err)
	}
	return &clusterLog{JetStream: l, c: c}
}

// waitStreamLeaders waits until every stream on the cluster at urls (on a
// reopened cluster: the workspaces' streams and buckets) has a leader
// again: each stream's Raft group elects one only after its election
// timeout, longer than the log's timeout for one call.
func waitStreamLeaders(urls string, d time.Duration) error {
	nc, err := nats.Connect(urls)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(d)
	for {
		err := streamsLed(js)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func streamsLed(js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	names := js.StreamNames(ctx)
	for name := range names.Name() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
		if ci := st.CachedInfo().Cluster; ci == nil || ci.Leader == "" {
			return fmt.Errorf("stream %s has no leader yet", name)
		}
	}
	return names.Err()
}

// clusterLog is a JetStream log that stops its cluster when it closes.
type clusterLog struct {
	*eventlog.JetStream
	c *natstest.Cluster
}

func (l *clusterLog) Close() error {
	err := l.JetStream.Close()
	l.c.Stop()
	return err
}

// serverLog is a JetStream log that stops its server when it closes.
type serverLog struct {
	*eventlog.JetStream
	srv *natstest.Server
}

func (l *serverLog) Close() error {
	err := l.JetStream.Close()
	l.srv.Shutdown()
	return err
}

// NATSOf returns the nats-server under a log LogImpl "jetstream" opened,
// for tests that take it away; nil for any other log (the cluster of
// "jetstream-r3" too).
func NATSOf(l eventlog.Log) *natstest.Server {
	if s, ok := l.(*serverLog); ok {
		return s.srv
	}
	return nil
}

// NATSURLs returns the client URLs (comma-separated) of the NATS under a log
// that LogImpl "jetstream" or "jetstream-r3" opened, for another relay to
// connect to the same log; "" for any other log.
func NATSURLs(l eventlog.Log) string {
	switch l := l.(type) {
	case *serverLog:
		return l.srv.URL()
	case *clusterLog:
		return l.c.URLs()
	}
	return ""
}

// Replicas returns the replica count of a log that LogImpl "jetstream" or
// "jetstream-r3" opened; 0 for any other log.
func Replicas(l eventlog.Log) int {
	switch l := l.(type) {
	case *serverLog:
		return l.Replicas()
	case *clusterLog:
		return l.Replicas()
	}
	return 0
}
