package relay

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// The test workspace: relaytest's standard one.
const (
	testWS     = relaytest.Workspace
	testSecret = relaytest.Secret
	tokAna     = relaytest.TokAna
	tokBen     = relaytest.TokBen
	tokFAQ     = relaytest.TokFAQ
)

// testConfig is the standard test workspace's config: what relayrun.Config
// gives the other packages, built here from the same relaytest pieces (these
// tests, in package relay, cannot import relayrun).
func testConfig() *Config {
	members := func(ms []relaytest.Member) []Member {
		out := make([]Member, len(ms))
		for i, m := range ms {
			out[i] = Member{ID: m.ID, Name: m.Name, Token: m.Token}
		}
		return out
	}
	return &Config{Workspaces: []WorkspaceConfig{{
		ID:             testWS,
		Name:           relaytest.WorkspaceName,
		IdentitySecret: testSecret,
		Agents:         members(relaytest.Agents()),
		Assistants:     members(relaytest.Assistants()),
		Attributes:     relaytest.Attributes(),
	}}}
}

var (
	contactHash = relaytest.ContactHash
	agentAuth   = relaytest.AgentAuth
	contactAuth = relaytest.ContactAuth
)

// testRelay is a real relay on a real log (testLog's: see TestMain), served
// by httptest.
type testRelay struct {
	t    testing.TB
	dir  string
	opts Options
	wrap func(*eventlog.Badger) eventlog.Log // when set, the relay runs on what it returns
	conf func(*Config)                       // when set, changes testConfig() before the relay starts
	log  eventlog.Log
	srv  *Server
	hs   *httptest.Server
	url  string
}

func newTestRelay(t testing.TB, opts ...func(*Options)) *testRelay {
	t.Helper()
	return newWrappedRelay(t, nil, opts...)
}

// newWrappedRelay is newTestRelay on a Log that wraps the Badger one (the
// test skips on the other implementations).
func newWrappedRelay(t testing.TB, wrap func(*eventlog.Badger) eventlog.Log, opts ...func(*Options)) *testRelay {
	t.Helper()
	if wrap != nil {
		requireImpl(t, "badger")
	}
	r := &testRelay{t: t, dir: t.TempDir(), wrap: wrap}
	for _, o := range opts {
		o(&r.opts)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *testRelay) start() {
	r.t.Helper()
	r.log = testLog.Open(r.t, r.dir, nil)
	lg := r.log
	if r.wrap != nil {
		lg = r.wrap(r.log.(*eventlog.Badger)) // newWrappedRelay checked
	}
	cfg := testConfig()
	if r.conf != nil {
		r.conf(cfg)
	}
	var err error
	r.srv, err = New(cfg, lg, r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.hs = newHTTPTest(r.srv)
	r.url = wsURL(r.hs.URL)
}

func newHTTPTest(s *Server) *httptest.Server { return httptest.NewServer(s.Handler()) }

func wsURL(httpURL string) string { return relaytest.WS(httpURL) + protocol.Path }

func (r *testRelay) stop() {
	if r.srv == nil {
		return
	}
	relaytest.Stop(r.t, r.hs, r.srv.Shutdown, r.log)
	r.srv = nil
}

func (r *testRelay) restart() {
	r.t.Helper()
	r.stop()
	r.start()
}

func (r *testRelay) head() uint64 { return r.srv.Head(testWS) }

// client is a raw protocol client: frames in, frames out.
type client struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan frame
	done   chan struct{}
	err    error // why the reader stopped; read after done
	device string
	mid    uint64

	mu  sync.Mutex
	got []conv.Event // every event received, in order
}

// received returns every event the client has received so far.
func (c *client) received() []conv.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

type frame struct {
	Type string
	Raw  []byte
}

const waitFrame = 10 * time.Second

func dial(t testing.TB, url string) *client {
	t.Helper()
	return dialHeader(t, url, nil)
}

// dialHeader dials with the upgrade request's headers h (an Origin, as a
// browser sends it).
func dialHeader(t testing.TB, url string, h http.Header) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	c.SetReadLimit(4 << 20)
	cl := &client{t: t, c: c, frames: make(chan frame, 4096), done: make(chan struct{}), device: "dev-" + uuid.NewString()[:8]}
	go cl.read()
	t.Cleanup(func() { c.CloseNow() })
	return cl
}

func (c *client) read() {
	defer close(c.done)
	for {
		_, b, err := c.c.Read(context.Background())
		if err != nil {
			c.err = err
			return
		}
		var f struct {
			Type   string
			Events []conv.Event
		}
		_ = json.Unmarshal(b, &f)
		if f.Type == protocol.TypeEvents {
			c.mu.Lock()
			c.got = append(c.got, f.Events...)
			c.mu.Unlock()
		}
		c.frames <- frame{Type: f.Type, Raw: b}
	}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// next returns the next frame, failing the test after waitFrame.
func (c *client) next() frame {
	c.t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-time.After(waitFrame):
		c.t.Fatalf("no frame within %v", waitFrame)
	}
	return frame{}
}

// nextOf returns the next frame of type typ, skipping others of skip.
func (c *client) nextOf(typ string, skip ...string) frame {
	c.t.Helper()
	for {
		f := c.next()
		if f.Type == typ {
			return f
		}
		ok := false
		for _, s := range skip {
			ok = ok || s == f.Type
		}
		if !ok {
			c.t.Fatalf("got %s frame %s; want %s", f.Type, trunc(f.Raw), typ)
		}
	}
}

// quiet asserts no frame arrives within d.
func (c *client) quiet(d time.Duration) {
	c.t.Helper()
	select {
	case f := <-c.frames:
		c.t.Fatalf("unexpected %s frame: %s", f.Type, trunc(f.Raw))
	case <-time.After(d):
	}
}

func trunc(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

func decode[T any](t testing.TB, f frame) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(f.Raw, &v); err != nil {
		t.Fatalf("decode %s: %v", trunc(f.Raw), err)
	}
	return v
}

// closed waits for the connection to end and returns its close code.
func (c *client) closed() websocket.StatusCode {
	c.t.Helper()
	// Drain frames so the reader can reach the close.
	deadline := time.After(15 * time.Second)
	for {
		select {
		case <-c.frames:
		case <-c.done:
			for len(c.frames) > 0 {
				<-c.frames
			}
			return websocket.CloseStatus(c.err)
		case <-deadline:
			c.t.Fatal("connection not closed")
		}
	}
}

// expectError reads frames until an error frame and checks it.
func (c *client) expectError(code string, fatal bool) protocol.Error {
	c.t.Helper()
	f := c.nextOf(protocol.TypeError, protocol.TypeEvents, protocol.TypeCaughtUp, protocol.TypeTyping)
	e := decode[protocol.Error](c.t, f)
	if e.Code != code || e.Fatal != fatal {
		c.t.Fatalf("error = %s (fatal %v) %q; want %s (fatal %v)", e.Code, e.Fatal, e.Message, code, fatal)
	}
	return e
}

func hello(ws string, device string, cur protocol.Cursor, a protocol.Auth) protocol.Hello {
	return protocol.Hello{Type: protocol.TypeHello, Protocol: protocol.Version, Workspace: ws, Device: device, Cursor: cur, Auth: a}
}

// session is a welcomed client with everything it received.
type tsession struct {
	*client
	welcome  protocol.Welcome
	backlog  []conv.Event
	caughtUp protocol.Cursor
}

// connect dials, says hello with auth and cursor, and reads the backlog up
// to caughtUp.
func connect(t testing.TB, url string, a protocol.Auth, cur protocol.Cursor, device ...string) *tsession {
	t.Helper()
	c := dial(t, url)
	if len(device) > 0 {
		c.device = device[0]
	}
	c.send(hello(testWS, c.device, cur, a))
	f := c.next()
	if f.Type != protocol.TypeWelcome {
		t.Fatalf("hello as %s: got %s", a.Kind, trunc(f.Raw))
	}
	s := &tsession{client: c, welcome: decode[protocol.Welcome](t, f)}
	c.mid = s.welcome.LastMid
	for {
		f := c.next()
		switch f.Type {
		case protocol.TypeEvents:
			s.backlog = append(s.backlog, decode[protocol.Events](t, f).Events...)
		case protocol.TypeCaughtUp:
			s.caughtUp = decode[protocol.CaughtUp](t, f).Cursor
			return s
		default:
			t.Fatalf("during backlog: %s", trunc(f.Raw))
		}
	}
}

// ev makes an event of the client's device with the next mid.
func (c *client) ev(kind conv.Kind, convID string, data any) conv.Event {
	c.mid++
	return conv.Event{
		ID:     uuid.Must(uuid.NewV7()).String(),
		Conv:   convID,
		Kind:   kind,
		Device: c.device,
		Mid:    c.mid,
		At:     time.Now().UnixMilli(),
		Data:   conv.MustData(data),
	}
}

// push sends events and returns the ack (skipping events frames, which
// it returns too).
func (c *client) push(evs ...conv.Event) ([]protocol.Result, []conv.Event) {
	c.t.Helper()
	if evs == nil {
		evs = []conv.Event{}
	}
	c.send(protocol.Push{Type: protocol.TypePush, Events: evs})
	var got []conv.Event
	for {
		f := c.next()
		switch f.Type {
		case protocol.TypeEvents:
			got = append(got, decode[protocol.Events](c.t, f).Events...)
		case protocol.TypeAck:
			a := decode[protocol.Ack](c.t, f)
			if len(a.Results) != len(evs) {
				c.t.Fatalf("ack has %d results for %d events", len(a.Results), len(evs))
			}
			return a.Results, got
		case protocol.TypeTyping:
		default:
			c.t.Fatalf("push: got %s", trunc(f.Raw))
		}
	}
}

// mustLog pushes events and fails unless every one is logged.
func (c *client) mustLog(evs ...conv.Event) []protocol.Result {
	c.t.Helper()
	res, _ := c.push(evs...)
	for i, r := range res {
		if r.Error != nil || r.Seq == 0 {
			c.t.Fatalf("push %s: result %+v; want logged", evs[i].Kind, r)
		}
	}
	return res
}

// events reads events frames until n events arrived.
func (c *client) events(n int) []conv.Event {
	c.t.Helper()
	var got []conv.Event
	for len(got) < n {
		f := c.nextOf(protocol.TypeEvents, protocol.TypeAck, protocol.TypeTyping)
		got = append(got, decode[protocol.Events](c.t, f).Events...)
	}
	return got
}

// wholeLog returns every event of the test workspace, read as a new agent
// device.
func wholeLog(t testing.TB, url string) []conv.Event {
	t.Helper()
	s := connect(t, url, agentAuth(tokAna), protocol.Cursor{})
	s.c.Close(websocket.StatusNormalClosure, "")
	return s.backlog
}

// checkGapFree asserts evs are seqs 1..n with distinct ids.
func checkGapFree(t testing.TB, evs []conv.Event) {
	t.Helper()
	ids := map[string]uint64{}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d; want %d", i, e.Seq, i+1)
		}
		if prev, dup := ids[e.ID]; dup {
			t.Fatalf("event %s logged twice: seqs %d and %d", e.ID, prev, e.Seq)
		}
		ids[e.ID] = e.Seq
	}
}

func kinds(evs []conv.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(string(e.Kind))
	}
	return b.String()
}

func newConvID() string { return uuid.Must(uuid.NewV7()).String() }

// created is the data of a conversation.created for contact (empty: the
// actor's own).
func created(contact string) conv.Created {
	if contact == "" {
		return conv.Created{Subject: "help"}
	}
	role := conv.RoleContact
	if strings.HasPrefix(contact, "visitor:") {
		role = conv.RoleVisitor
	}
	return conv.Created{Subject: "help", Contact: &conv.Participant{ID: contact, Role: role}}
}

func msg(text string) conv.Message { return conv.Message{Text: text} }

var errTimeout = errors.New("timeout")

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) error {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return errTimeout
}

func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
