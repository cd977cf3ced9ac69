// Package natstest runs real nats-servers with JetStream on loopback for tests: one node, or a cluster of routed nodes.
//
// The servers are the embedded nats-server (the same code as the binary),
// with file storage in t.TempDir() and random ports on 127.0.0.1. Everything
// started here is shut down by t.Cleanup.
//
// Durability is the production one (DESIGN §6): JetStream fsyncs every write
// before it acks (`sync_interval: always`), so an R1 ack means on disk, and a
// test that finds an acked event lost has found a real bug.
package natstest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds every wait here: a server accepting clients, a
// JetStream meta leader, a restarted node rejoining. On loopback most take
// well under a second; a new cluster's first meta election sometimes waits
// out nats-server's Raft election timeout (4–9 s, not configurable from
// outside the server package). The bound only turns a hang into a failure.
const readyTimeout = 20 * time.Second

// An Option changes a server's options before it starts, e.g.
//
//	func(o *server.Options) { o.MaxPayload = 1 << 20 }
//
// In a cluster it applies to every node.
type Option func(*server.Options)

// NATSDefaultSync restores nats-server's own default, fsync every two minutes
// (acks come before the fsync), in place of this package's `sync_interval:
// always`. Only for a test about that difference.
func NATSDefaultSync() Option {
	return func(o *server.Options) { o.SyncAlways = false; o.SyncInterval = 0 }
}

// Server is one nats-server with JetStream.
type Server struct {
	t    testing.TB
	opts *server.Options // what every (re)start clones; ports fixed after the first
	srv  *server.Server  // nil while shut down
}

// Start runs one nats-server with JetStream on 127.0.0.1 (random port, file
// storage in t.TempDir(), `sync_interval: always`), ready for connections.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	o := baseOptions("natstest", t.TempDir())
	for _, opt := range opts {
		opt(o)
	}
	if err := pickPort(o); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, opts: o}
	t.Cleanup(s.Shutdown)
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	return s
}

func baseOptions(name, storeDir string) *server.Options {
	return &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT, // Start and StartCluster pick one (freePorts)
		NoLog:      true,
		NoSigs:     true,
		JetStream:  true,
		StoreDir:   storeDir,
		// sync_interval: always (opts.go sets exactly this pair for it).
		SyncAlways: true,
	}
}

// start (re)starts s from its options and waits until it takes clients. The
// port is kept, so that clients and routes find a restarted server where it
// was.
func (s *Server) start() error {
	srv, err := server.NewServer(s.opts.Clone())
	if err != nil {
		return fmt.Errorf("natstest: %s: new server: %w", s.opts.ServerName, err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		return fmt.Errorf("natstest: %s: not ready for connections after %v", s.opts.ServerName, readyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		return fmt.Errorf("natstest: %s: JetStream did not start", s.opts.ServerName)
	}
	s.srv = srv
	if tcp, ok := srv.Addr().(*net.TCPAddr); ok {
		s.opts.Port = tcp.Port
	}
	return nil
}

// URL is the client URL, nats://127.0.0.1:PORT. It stays the same across
// Shutdown and Restart.
func (s *Server) URL() string { return "nats://127.0.0.1:" + strconv.Itoa(s.opts.Port) }

// StoreDir is the JetStream store directory, kept across Restart.
func (s *Server) StoreDir() string { return s.opts.StoreDir }

// NATS is the running server, for what this package does not wrap (nil
// while shut down).
func (s *Server) NATS() *server.Server { return s.srv }

// Running reports whether the server is up.
func (s *Server) Running() bool { return s.srv != nil }

// Shutdown stops the server and waits until it has. It is the closest the
// embedded server has to kill -9, and what nats-server's own tests use for a
// lost node: connections and routes drop at once, with no lame-duck period.
// It is gentler than a crash in two ways, though: nats-server first steps
// down the Raft groups this node leads (their leadership moves in well under
// a second, where a crashed leader's followers wait out an election timeout,
// 4–9 s), and the file store closes its files cleanly, so no write is torn.
// A test of either takes a separate nats-server process and SIGKILL.
// Shutting down a stopped server does nothing.
func (s *Server) Shutdown() {
	if s.srv == nil {
		return
	}
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	s.srv = nil
}

// Restart shuts the server down if it runs and starts it again on the same
// port with the same store directory.
func (s *Server) Restart() {
	s.t.Helper()
	s.Shutdown()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Cluster is n nats-servers routed together on loopback, JetStream on each.
type Cluster struct {
	t     testing.TB
	nodes []*Server
}

// clusterName is the NATS cluster name of every Cluster.
const clusterName = "natstest"

// StartCluster runs n nodes (3 for R3 streams) named n0…n(n-1), each with its
// own store directory, routed to one another in a cluster named "natstest",
// and returns once JetStream has a meta leader that every node follows. One
// node is a server on its own, not clustered (what R1 runs on), that tests
// of several nodes' faults can kill and restart the same way.
func StartCluster(t testing.TB, n int, opts ...Option) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: StartCluster(%d): want at least one node", n)
	}
	// JetStream's meta group sizes itself from the configured routes, so
	// every node is told every node's route port (its own included, which
	// nats-server skips) before the first starts: the ports are picked
	// here. Another process could take one between here and the start;
	// on loopback in a test that is rare enough to be a flake, not a design.
	ports, err := freePorts(2 * n) // routes', then clients'
	if err != nil {
		t.Fatal(err)
	}
	clusterPorts, clientPorts := ports[:n], ports[n:]
	routes := make([]string, n)
	for i, p := range clusterPorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Cluster{t: t}
	t.Cleanup(c.Stop)
	for i := range n {
		o := baseOptions(fmt.Sprintf("n%d", i), t.TempDir())
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: clusterName, Host: "127.0.0.1", Port: clusterPorts[i]}
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		for _, opt := range opts {
			opt(o)
		}
		if o.Port == server.RANDOM_PORT {
			o.Port = clientPorts[i]
		}
		c.nodes = append(c.nodes, &Server{t: t, opts: o})
	}
	// Start them together: a node waits for its peers before JetStream
	// elects, so starting one after the other only adds up the waits.
	errs := make(chan error, n)
	for _, s := range c.nodes {
		go func() { errs <- s.start() }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	if err := c.waitJetStream(); err != nil {
		t.Fatal(err)
	}
	return c
}

// pickPort gives a lone server's o a client port from freePorts unless an
// Option set one.
func pickPort(o *server.Options) error {
	if o.Port != server.RANDOM_PORT {
		return nil
	}
	p, err := freePorts(1)
	if err != nil {
		return err
	}
	o.Port = p[0]
	return nil
}

// freePorts returns n distinct ports free on 127.0.0.1 a moment ago, below
// the kernel's ephemeral range. A port the kernel hands out (a listener on
// port 0, or the local end of any outgoing connection) could be taken while
// a node is down, and the node's restart would then never listen: under
// parallel test packages that happened (a restarted node "not ready for
// connections after 20s"). Ports below the range are only ever taken by
// asking for them.
func freePorts(n int) ([]int, error) {
	lo, hi := 10000, ephemeralStart()
	var ports []int
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt == 1000 {
			return nil, fmt.Errorf("natstest: no free port in %d–%d", lo, hi-1)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", lo+rand.IntN(hi-lo)))
		if err != nil {
			continue // taken
		}
		defer l.Close() // held until all are picked, so they differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// ephemeralStart is the first port of Linux's ephemeral range: 32768 where
// it cannot be read, or where the range starts too low to leave ports
// below it from 10000.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	if p, err := strconv.Atoi(f[0]); err == nil && p > 10100 {
		return p
	}
	return 32768
}

// URLs is every node's client URL, comma-separated, as nats.Connect takes
// them. Killed nodes stay in the list: their URLs come back with Restart.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.nodes))
	for i, s := range c.nodes {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Node is node i.
func (c *Cluster) Node(i int) *Server { return c.nodes[i] }

// Len is the number of nodes, running or not.
func (c *Cluster) Len() int { return len(c.nodes) }

// Kill shuts node i down abruptly (see Server.Shutdown: the embedded
// server's closest analogue of kill -9, which hands over the leaderships it
// holds first) and returns once it is down. The others are not waited for:
// what happens next is what a test of a lost node is about.
func (c *Cluster) Kill(i int) { c.nodes[i].Shutdown() }

// Restart starts node i again (shutting it down first if it runs) on the
// same ports with the same store directory, and returns once it has rejoined
// the cluster and follows the current JetStream meta leader. Streams on it
// catch up on their own; a test that needs a replica current waits for it
// (e.g. until StreamInfo's Cluster.Replicas are all Current).
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.nodes[i].Restart()
	if err := c.waitJetStream(); err != nil {
		c.t.Fatal(err)
	}
}

// Stop shuts every node down. Stopping twice does nothing.
func (c *Cluster) Stop() {
	for _, s := range c.nodes {
		s.Shutdown()
	}
}

// waitJetStream waits until one running node is the JetStream meta leader,
// every running node follows it and can be given a stream's replica, and
// each sees a route to every other running node.
func (c *Cluster) waitJetStream() error {
	if len(c.nodes) == 1 {
		return nil // on its own, it serves JetStream once started
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		var running []*server.Server
		for _, s := range c.nodes {
			if s.srv != nil {
				running = append(running, s.srv)
			}
		}
		leaders, current, routed, placeable := 0, 0, 0, 0
		for _, srv := range running {
			if srv.JetStreamIsLeader() {
				leaders++
				// The meta leader places a new stream's replicas only on
				// peers whose JetStream stats it has: before then, an R3
				// create fails with "insufficient resources".
				peers := srv.JetStreamClusterPeers()
				for _, other := range running {
					if slices.Contains(peers, other.Name()) {
						placeable++
					}
				}
			}
			if srv.JetStreamIsCurrent() {
				current++
			}
			if srv.NumRemotes() >= len(running)-1 { // remote servers, not route connections (a pool per server)
				routed++
			}
		}
		if leaders == 1 && current == len(running) && routed == len(running) && placeable == len(running) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("natstest: after %v, of %d running nodes %d lead JetStream, %d follow the leader, %d are routed to all, %d have sent the leader their stats",
				readyTimeout, len(running), leaders, current, routed, placeable)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
