package convergence

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/internal/relaytest/relayrun"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// The test workspace: relaytest's standard one.
const (
	testWS = relaytest.Workspace
	tokAna = relaytest.TokAna
	tokBen = relaytest.TokBen
	tokFAQ = relaytest.TokFAQ
)

// Participants. Names are left out: the relay sets an event's actor to
// {id, role} whatever the device wrote.
var (
	ana = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent}
	ben = conv.Participant{ID: "agent:ben", Role: conv.RoleAgent}
	faq = conv.Participant{ID: "ai:faq", Role: conv.RoleAssistant}
	c42 = conv.Participant{ID: "contact:42", Role: conv.RoleContact}
	c77 = conv.Participant{ID: "contact:77", Role: conv.RoleContact}
	c99 = conv.Participant{ID: "contact:99", Role: conv.RoleContact}
)

var attributeDefs = relaytest.Attributes()

var (
	contactHash = relaytest.ContactHash
	agentAuth   = relaytest.AgentAuth
	contactAuth = relaytest.ContactAuth
)

// endpoint is what a device reaches: where its proxy dials, and the head it
// settles at.
type endpoint interface {
	target() string                    // "127.0.0.1:port", "" while down
	head() (epoch string, head uint64) // the log's epoch and newest seq
}

// relaySet is the relays of a convergence run: one relay on Badger
// (*testRelay), or several on one JetStream cluster (*relayCluster). Its
// head is the log's.
type relaySet interface {
	endpoint
	// route returns the endpoint a new device dials.
	route(device string) endpoint
	// restartOne restarts a relay gracefully (SIGTERM, then a start on the
	// same log); rng picks which when there are several.
	restartOne(rng *rand.Rand)
	// readLog stops every relay and reads and checks the log.
	readLog() *relayLog
	// restartCount is how many restarts there were, of any kind.
	restartCount() int
	// logTail is the tail of the relays' logs, for a failure.
	logTail() string
}

// testRelay is a real relay (relayrun's) on a log in a fixed directory,
// served on a fresh 127.0.0.1 port each time it starts. Devices reach it
// through proxies that stay up across restarts, so their URL never changes.
type testRelay struct {
	t    testing.TB
	dir  string
	opts relay.Options

	mu       sync.Mutex
	cur      *relayrun.Relay // nil while down
	restarts int
}

func startRelay(t testing.TB, opts relay.Options) *testRelay {
	t.Helper()
	r := &testRelay{t: t, dir: t.TempDir(), opts: opts}
	r.start()
	return r
}

func (r *testRelay) start() {
	r.t.Helper()
	cur := relayrun.Start(r.t, relayrun.InDir(r.dir), relayrun.WithOptions(r.opts))
	r.mu.Lock()
	r.cur = cur
	r.mu.Unlock()
}

// stop shuts the relay down as its binary does on SIGTERM: sessions get
// 4010, queued group commits finish, then the log closes.
func (r *testRelay) stop() {
	r.mu.Lock()
	cur := r.cur
	r.cur = nil
	r.mu.Unlock()
	if cur != nil {
		cur.Stop()
	}
}

// restart stops the relay and starts it again on the same log.
func (r *testRelay) restart() {
	r.t.Helper()
	r.stop()
	r.start()
	r.mu.Lock()
	r.restarts++
	r.mu.Unlock()
}

func (r *testRelay) route(string) endpoint { return r }
func (r *testRelay) restartOne(*rand.Rand) { r.restart() }
func (r *testRelay) logTail() string       { return "" }
func (r *testRelay) restartCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts
}

// replace stops the relay and starts it on a new, empty log: a new epoch,
// as when a relay's data is lost or moved.
func (r *testRelay) replace() {
	r.t.Helper()
	r.stop()
	r.dir = r.t.TempDir()
	r.start()
}

// target is where proxies dial: the running relay, or "" while it is down.
func (r *testRelay) target() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return ""
	}
	return r.cur.Addr()
}

// head returns the running relay's epoch and published head.
func (r *testRelay) head() (string, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == nil {
		return "", 0
	}
	return r.cur.Server.Epoch(testWS), r.cur.Server.Head(testWS)
}

// readLog stops the relay and reads its log straight from its directory.
func (r *testRelay) readLog() *relayLog {
	r.t.Helper()
	r.stop()
	lg := relaytest.Logs[0].Open(r.t, r.dir, nil) // relayrun.Start's default
	r.t.Cleanup(func() { lg.Close() })
	return readRelayLog(r.t, lg)
}

// wsProxy is a WebSocket man in the middle: it forwards frames between a
// device and the relay and lets a test watch the device's frames and
// swallow the relay's (a route that dies downstream, or a device that dies
// before it reads the answer).
type wsProxy struct {
	ln     net.Listener
	hs     *http.Server
	target func() string // the relay's ws:// URL

	mu    sync.Mutex
	up    []json.RawMessage     // every frame the device sent, in order
	drop  func(typ string) bool // which of the relay's frames to swallow (nil: none)
	conns []*websocket.Conn
}

func newWSProxy(t testing.TB, target func() string) *wsProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &wsProxy{ln: ln, target: target}
	p.hs = &http.Server{Handler: http.HandlerFunc(p.serve)}
	go p.hs.Serve(ln)
	t.Cleanup(func() { p.hs.Close(); p.cut() })
	return p
}

func (p *wsProxy) url() string { return "ws://" + p.ln.Addr().String() }

func (p *wsProxy) serve(w http.ResponseWriter, r *http.Request) {
	dev, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	dev.SetReadLimit(4 << 20)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	rel, _, err := websocket.Dial(ctx, p.target(), nil)
	cancel()
	if err != nil {
		dev.Close(websocket.StatusTryAgainLater, "relay unreachable")
		return
	}
	rel.SetReadLimit(4 << 20)
	p.mu.Lock()
	p.conns = append(p.conns, dev, rel)
	p.mu.Unlock()
	pipe := func(from, to *websocket.Conn, upstream bool) {
		for {
			typ, b, err := from.Read(context.Background())
			if err != nil {
				if code := websocket.CloseStatus(err); code > 0 {
					to.Close(code, "")
				} else {
					to.CloseNow()
				}
				return
			}
			p.mu.Lock()
			drop := false
			if !upstream && p.drop != nil {
				var f protocol.Frame
				_ = json.Unmarshal(b, &f)
				drop = p.drop(f.Type)
			}
			if upstream {
				p.up = append(p.up, append(json.RawMessage(nil), b...))
			}
			p.mu.Unlock()
			if drop {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err = to.Write(ctx, typ, b)
			cancel()
			if err != nil {
				from.CloseNow()
				return
			}
		}
	}
	go pipe(dev, rel, true)
	pipe(rel, dev, false)
}

// swallow makes the proxy drop the relay's frames of the given types (all
// of them with none given); swallowNothing lets everything through again.
func (p *wsProxy) swallow(types ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = func(typ string) bool { return len(types) == 0 || slices.Contains(types, typ) }
}

func (p *wsProxy) swallowNothing() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.drop = nil
}

func (p *wsProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.CloseNow()
	}
	p.conns = nil
}

// pushes returns the events of every push frame the device sent so far.
func (p *wsProxy) pushes() [][]conv.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]conv.Event
	for _, raw := range p.up {
		var f protocol.Push
		if json.Unmarshal(raw, &f) == nil && f.Type == protocol.TypePush {
			out = append(out, f.Events)
		}
	}
	return out
}

func relayURL(addr string) string {
	if addr == "" {
		return "ws://127.0.0.1:1" + protocol.Path // nothing listens: the dial fails
	}
	return "ws://" + addr + protocol.Path
}

// waitFor polls cond until it holds; it fails the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var errCrash = errors.New("convergence: simulated crash")

// trimErr shortens an error text for a log line.
func trimErr(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
