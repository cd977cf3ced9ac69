package convergence

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/internal/natstest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/relay"
)

// The seeds TestConvergenceAcrossRelays runs at R3 and at R1: an even seed
// runs two relays, an odd one three.
var (
	acrossRelaysSeeds   = []uint64{1, 2}
	acrossRelaysR1Seeds = []uint64{3}
)

// TestConvergenceAcrossRelays is TestConvergence's world on several relays
// sharing one log (DESIGN §6): three NATS nodes with JetStream, the
// workspace's stream and bucket at R3, and two or three relays, each a
// relay.Server on its own eventlog.JetStream connection. The devices (two
// agents, a contact's laptop and phone, a visitor, a bot) start on
// different relays (the contact's two devices on two), and to TestConvergence's actions
// (the relay restarts are graceful restarts of one relay) the cluster adds
// its faults:
//
//   - a device moves to another relay: its proxy dials the other relay
//     from now on and its connection is cut;
//   - a relay is killed (at least once a run) and started again a few
//     steps later, serving from JetStream; meanwhile its devices' dials are
//     refused (until they move);
//   - a NATS node is killed (at least once a run) and restarted later;
//     R3 keeps a quorum with one node down.
//
// The R1 runs (the seeds of acrossRelaysR1Seeds) put the stream on one
// nats-server instead, where the relays send small groups as pipelines
// (eventlog's jetstream_pipeline.go): killing it stops every write until it
// is back (pushes are refused as unavailable and pushed again), and a
// killed relay starts again only once it is.
//
// At the end every relay and node is up again, every device settles at the
// stream's last seq, the relays stop, and a fresh JetStream log on the
// cluster is read as TestConvergence reads the Badger one: gap-free seqs, no
// event twice, the stored states (rebuilt from the stream) equal to
// conv.Replay, the results kept in the bucket equal to what devices were
// answered, every device equal to what it may see of the log, and every event
// acknowledged in the log at its seq.
//
// In-process, "kill" is the closest there is to kill -9: every TCP
// connection the relay accepted (the listener and the hijacked WebSocket
// ones) is closed at once, with no close frame, then its NATS connection is
// closed, with no Shutdown before (what was published is in the stream or
// not; what was not acknowledged never will be); only then is Shutdown
// called, to end the dead relay's goroutines. A NATS node's kill is
// natstest's Cluster.Kill (its Shutdown; see there how it differs from a
// crash).
//
// Re-run one seed with
//
//	go test -race -run '^TestConvergenceAcrossRelays$' ./internal/convergence/ -seed N [-actions M]
func TestConvergenceAcrossRelays(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a NATS cluster and several relays")
	}
	seeds, r1Seeds := acrossRelaysSeeds, acrossRelaysR1Seeds
	if *seedFlag != 0 {
		seeds, r1Seeds = []uint64{*seedFlag}, []uint64{*seedFlag}
	}
	n := 300
	if *actionsFlag > 0 {
		n = *actionsFlag
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, acrossRelays(3)) })
	}
	for _, seed := range r1Seeds {
		t.Run(fmt.Sprintf("R1/seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, acrossRelays(1)) })
	}
}

// TestSoakAcrossRelays is TestSoak across relays: many seeds of
// TestConvergenceAcrossRelays, longer ones. It runs with -tags soak (make
// soak) or THREADLINE_SOAK=1; THREADLINE_SOAK_CLUSTER_SEEDS (default 20, at
// R3), THREADLINE_SOAK_CLUSTER_R1_SEEDS (default 5, after them, at R1),
// THREADLINE_SOAK_FIRST (default 1000) and -actions (default 1000) size it.
func TestSoakAcrossRelays(t *testing.T) {
	if !soakTag && os.Getenv("THREADLINE_SOAK") != "1" {
		t.Skip("soak: run with -tags soak or THREADLINE_SOAK=1")
	}
	seeds := envInt("THREADLINE_SOAK_CLUSTER_SEEDS", 20)
	first := envInt("THREADLINE_SOAK_FIRST", 1000)
	n := 1000
	if *actionsFlag > 0 {
		n = *actionsFlag
	}
	for i := range seeds {
		seed := uint64(first + i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, acrossRelays(3)) })
	}
	for i := range envInt("THREADLINE_SOAK_CLUSTER_R1_SEEDS", 5) {
		seed := uint64(first + seeds + i)
		t.Run(fmt.Sprintf("R1/seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, acrossRelays(1)) })
	}
}

// acrossRelays is TestConvergenceAcrossRelays's relay set at the given
// replicas: a new NATS cluster (three nodes at R3, one server at R1) and
// two relays (even seeds) or three (odd ones).
func acrossRelays(replicas int) func(*testing.T, uint64) relaySet {
	return func(t *testing.T, seed uint64) relaySet {
		return startRelayCluster(t, 2+int(seed%2), replicas)
	}
}

// relayCluster is n relays on one JetStream log: the workspace's stream at
// R3 on three NATS nodes, or at R1 on one.
type relayCluster struct {
	t        *testing.T
	replicas int
	nats     *natstest.Cluster
	relays   []*clusterRelay
	js       jetstream.JetStream // the test's own connection, for the stream's head
	epoch    string              // the workspace's, the same on every relay

	routes []*clusterRoute // each device's, in the order route gave them

	relayDown map[int]int // killed relays: steps until they start again
	natsDown  int         // the killed NATS node, -1 for none
	natsSteps int         // steps until it restarts

	headMu   sync.Mutex
	headAt   time.Time
	lastHead uint64

	restarts, kills, natsKills, moves, startFailures int

	events logBuf // what the cluster went through, timed, for a failure
}

// note records one of the cluster's events.
func (c *relayCluster) note(format string, args ...any) {
	fmt.Fprintf(&c.events, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func startRelayCluster(t *testing.T, n, replicas int) *relayCluster {
	t.Helper()
	c := &relayCluster{t: t, replicas: replicas, nats: natstest.StartCluster(t, replicas), relayDown: map[int]int{}, natsDown: -1}
	nc, err := nats.Connect(c.nats.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("nats.Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if c.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := &clusterRelay{c: c, name: fmt.Sprintf("relay-%c", 'a'+i), logs: &logBuf{}}
		c.relays = append(c.relays, r)
		r.start()
		t.Cleanup(r.stop)
	}
	c.epoch = c.relays[0].epoch()
	for _, r := range c.relays[1:] {
		if e := r.epoch(); e != c.epoch {
			t.Fatalf("%s serves epoch %q; %s %q", r.name, e, c.relays[0].name, c.epoch)
		}
	}
	return c
}

// clusterRoute is a device's way to the cluster: the relay it dials.
type clusterRoute struct {
	c *relayCluster
	i atomic.Int32
}

func (r *clusterRoute) target() string         { return r.c.relays[r.i.Load()].addr() }
func (r *clusterRoute) head() (string, uint64) { return r.c.head() }

// route gives devices relays in turn.
func (c *relayCluster) route(string) endpoint {
	r := &clusterRoute{c: c}
	r.i.Store(int32(len(c.routes) % len(c.relays)))
	c.routes = append(c.routes, r)
	return r
}

func (c *relayCluster) target() string { return c.relays[0].addr() }

// head is the workspace's epoch and the stream's last seq (what some relay
// logged: every relay fans it out), read at most every 20 ms; ("", 0) when
// JetStream does not answer.
func (c *relayCluster) head() (string, uint64) {
	c.headMu.Lock()
	defer c.headMu.Unlock()
	if time.Since(c.headAt) < 20*time.Millisecond {
		return c.epoch, c.lastHead
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, eventlog.StreamName(testWS))
	if err != nil {
		return "", 0
	}
	c.headAt, c.lastHead = time.Now(), st.CachedInfo().State.LastSeq
	return c.epoch, c.lastHead
}

// running returns the indexes of the relays up.
func (c *relayCluster) running() []int {
	var up []int
	for i := range c.relays {
		if _, down := c.relayDown[i]; !down {
			up = append(up, i)
		}
	}
	return up
}

func (c *relayCluster) restartOne(rng *rand.Rand) {
	if c.natsDown >= 0 && c.nats.Len() == 1 {
		// A relay starts only once it has read the log: with the only
		// server down it would exit (as the binary does), not restart.
		c.note("relay restart skipped: the only NATS server is down")
		return
	}
	up := c.running()
	r := c.relays[up[rng.IntN(len(up))]]
	c.note("%s: restarts", r.name)
	r.restart()
	c.restarts++
}

func (c *relayCluster) restartCount() int { return c.restarts + c.kills }

// act makes this step a fault of the cluster, or returns false: a device
// moves to another relay, a relay is killed, a NATS node is killed. A
// relay's and a node's first kill come at set steps, so that every run has
// them.
func (c *relayCluster) act(w *world, step, actions int) bool {
	y := w.rng.Float64()
	switch {
	case (y < 0.01 || step == actions/4 && c.kills == 0) && len(c.relayDown) == 0:
		up := c.running()
		i := up[w.rng.IntN(len(up))]
		c.relays[i].kill()
		c.relayDown[i] = 5 + w.rng.IntN(30)
		c.note("%s: killed for %d steps", c.relays[i].name, c.relayDown[i])
		c.kills++
		w.stats["relay kills"]++
	case (y < 0.012 || step == 3*actions/5 && c.natsKills == 0) && c.natsDown < 0:
		c.natsDown = w.rng.IntN(c.nats.Len())
		c.natsSteps = 10 + w.rng.IntN(40)
		c.nats.Kill(c.natsDown)
		c.note("nats n%d: killed for %d steps", c.natsDown, c.natsSteps)
		c.natsKills++
		w.stats["nats node kills"]++
	case y < 0.05:
		d := w.pick(w.devices)
		r := d.relay.(*clusterRoute)
		to := (int(r.i.Load()) + 1 + w.rng.IntN(len(c.relays)-1)) % len(c.relays)
		c.move(d, to)
		w.stats["device moves"]++
	default:
		return false
	}
	return true
}

// move makes d dial relay i from now on and cuts its connection.
func (c *relayCluster) move(d *device, i int) {
	c.note("%s: moves to %s", d.name, c.relays[i].name)
	d.relay.(*clusterRoute).i.Store(int32(i))
	d.proxy.Cut()
	c.moves++
}

// reach moves d to a running relay if its relay is down, and ends an
// outage of the only NATS server: the caller waits for d to settle, which
// takes the log.
func (c *relayCluster) reach(d *device) {
	if c.natsDown >= 0 && c.nats.Len() == 1 {
		c.nats.Restart(c.natsDown)
		c.note("nats n%d: restarted early (a device waits for the log)", c.natsDown)
		c.natsDown = -1
	}
	r := d.relay.(*clusterRoute)
	if _, down := c.relayDown[int(r.i.Load())]; down {
		c.move(d, c.running()[0])
	}
}

// tick starts the killed relay and restarts the killed node when their
// time is up.
func (c *relayCluster) tick() {
	if c.natsDown >= 0 {
		if c.natsSteps--; c.natsSteps <= 0 {
			c.nats.Restart(c.natsDown)
			c.note("nats n%d: restarted", c.natsDown)
			c.natsDown = -1
		}
	}
	for i, n := range c.relayDown {
		switch {
		case n <= 1 && c.natsDown >= 0 && c.nats.Len() == 1:
			// A relay starts only once it has read the log: it waits
			// for the only server.
		case n <= 1:
			delete(c.relayDown, i)
			c.relays[i].start()
		default:
			c.relayDown[i] = n - 1
		}
	}
}

// heal brings every node and relay back up.
func (c *relayCluster) heal(w *world) {
	if c.natsDown >= 0 {
		c.nats.Restart(c.natsDown)
		c.note("nats n%d: restarted", c.natsDown)
		c.natsDown = -1
	}
	for i := range c.relayDown {
		delete(c.relayDown, i)
		c.relays[i].start()
	}
	w.stats["device moves"] = c.moves
	if c.startFailures > 0 {
		w.stats["relay start failures"] = c.startFailures
	}
}

// readLog checks that every relay has fanned out the stream's last seq
// (each follows what the others logged, also one without devices), stops
// them, and reads the log from JetStream with a log of its own, as a relay
// starting now would.
func (c *relayCluster) readLog() *relayLog {
	c.t.Helper()
	_, head := c.head()
	for _, r := range c.relays {
		var got uint64
		deadline := time.Now().Add(10 * time.Second)
		for got = r.fanned(); got != head && time.Now().Before(deadline); got = r.fanned() {
			time.Sleep(10 * time.Millisecond)
		}
		if got != head {
			c.t.Errorf("%s: fanned out up to seq %d; the stream's last is %d", r.name, got, head)
		}
	}
	for _, r := range c.relays {
		r.stop()
	}
	lg, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: c.nats.URLs(), Replicas: c.replicas, Name: "convergence-check"})
	if err != nil {
		c.t.Fatalf("connect to read the log: %v", err)
	}
	c.t.Cleanup(func() { lg.Close() })
	rl := readRelayLog(c.t, lg)
	rl.explain = c.explainAnswer
	return rl
}

// explainAnswer reads the answer to (identity, device, mid) straight from
// the workspace's bucket, under the key eventlog.JetStream gives it.
func (c *relayCluster) explainAnswer(identity, device string, mid uint64) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	kv, err := c.js.KeyValue(ctx, eventlog.StreamName(testWS))
	if err != nil {
		return fmt.Sprintf("bucket: %v", err)
	}
	key := fmt.Sprintf("ans.%x.%x.%d", identity, device, mid)
	e, err := kv.Get(ctx, key)
	if err != nil {
		return fmt.Sprintf("bucket key %s: %v", key, err)
	}
	return fmt.Sprintf("bucket key %s: revision %d, %s, %q", key, e.Revision(), e.Created().Format("15:04:05.000"), e.Value())
}

func (c *relayCluster) logTail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- the cluster's events:\n%s\n", tailString(c.events.String(), 8<<10))
	for _, r := range c.relays {
		fmt.Fprintf(&b, "--- %s:\n%s\n", r.name, tailString(r.logs.String(), 12<<10))
	}
	return b.String()
}

// clusterRelay is one relay of the cluster: a relay.Server on an
// eventlog.JetStream of its own, served on a fresh 127.0.0.1 port each time
// it starts.
type clusterRelay struct {
	c    *relayCluster
	name string
	logs *logBuf

	mu  sync.Mutex
	srv *relay.Server // nil while down
	lg  *eventlog.JetStream
	hs  *http.Server
	ln  *connTracker
}

// start starts the relay; when it cannot (JetStream does not answer in
// time, as while a NATS node is down), it tries again a second later, as
// a supervisor restarts a relay binary that exited, for up to a minute.
func (r *clusterRelay) start() {
	t := r.c.t
	t.Helper()
	logger := slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	deadline := time.Now().Add(time.Minute)
	for {
		err := r.try(logger)
		if err == nil {
			return
		}
		r.c.startFailures++
		r.c.note("%s: start failed: %v", r.name, err)
		logger.Error("start failed; trying again in 1 s", "err", err)
		if time.Now().After(deadline) {
			t.Fatalf("%s: cannot start: %v", r.name, err)
		}
		time.Sleep(time.Second)
	}
}

func (r *clusterRelay) try(logger *slog.Logger) error {
	t := r.c.t
	lg, err := eventlog.Connect(eventlog.JetStreamOptions{URLs: r.c.nats.URLs(), Replicas: r.c.replicas, Name: r.name, Logger: logger})
	if err != nil {
		return fmt.Errorf("connect the JetStream log: %w", err)
	}
	srv, err := relay.New(relayrun.Config(), lg, relay.Options{Logger: logger})
	if err != nil {
		lg.Close()
		return fmt.Errorf("relay.New: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &connTracker{Listener: l, conns: map[net.Conn]struct{}{}}
	hs := &http.Server{Handler: srv.Handler()}
	go hs.Serve(ln)
	r.mu.Lock()
	r.srv, r.lg, r.hs, r.ln = srv, lg, hs, ln
	r.mu.Unlock()
	r.c.note("%s: started on %s", r.name, l.Addr())
	return nil
}

// take returns the running relay's parts and marks it down.
func (r *clusterRelay) take() (*relay.Server, *eventlog.JetStream, *http.Server, *connTracker) {
	r.mu.Lock()
	defer r.mu.Unlock()
	srv, lg, hs, ln := r.srv, r.lg, r.hs, r.ln
	r.srv, r.lg, r.hs, r.ln = nil, nil, nil, nil
	return srv, lg, hs, ln
}

// stop stops the relay as its binary does on SIGTERM (relaytest.Stop's
// order): no new connections, sessions closed with 4010 and queued group
// commits finished, then the log closed.
func (r *clusterRelay) stop() {
	srv, lg, hs, _ := r.take()
	if srv == nil {
		return
	}
	hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		r.c.t.Errorf("%s: Shutdown: %v", r.name, err)
	}
	if err := lg.Close(); err != nil {
		r.c.t.Errorf("%s: log Close: %v", r.name, err)
	}
}

func (r *clusterRelay) restart() {
	r.stop()
	r.start()
}

// kill stops the relay abruptly, as near kill -9 as in-process gets (see
// TestConvergenceAcrossRelays): every connection it accepted closed at once,
// its NATS connection closed, and only then Shutdown, which has nobody left
// to talk to, to end its goroutines.
func (r *clusterRelay) kill() {
	srv, lg, hs, ln := r.take()
	if srv == nil {
		return
	}
	ln.closeAll()
	lg.Close()
	r.c.note("%s: killed", r.name)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	hs.Close()
	fmt.Fprintf(r.logs, "=== killed\n")
}

// addr is the relay's "127.0.0.1:port", "" while it is down.
func (r *clusterRelay) addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// fanned is the relay's Head: the highest seq it has fanned out.
func (r *clusterRelay) fanned() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv.Head(testWS)
}

func (r *clusterRelay) epoch() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.srv.Epoch(testWS)
}

// connTracker is a listener that keeps every connection it accepted, the
// ones net/http hands over to WebSocket sessions (hijacked) too, so that a
// kill can close them all: http.Server's Close leaves hijacked ones open.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *connTracker) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return &trackedConn{Conn: c, l: l}, nil
}

// closeAll closes the listener and every connection it accepted.
func (l *connTracker) closeAll() {
	l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		c.Close()
	}
	l.conns = map[net.Conn]struct{}{}
}

type trackedConn struct {
	net.Conn
	l *connTracker
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
