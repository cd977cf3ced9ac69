package convergence

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
)

// inboxLocal hands *inbox.Inbox to the client as a client.Local and a
// client.WelcomeReceiver. It is a client.Local as is; its Welcomed takes
// (identity, lastMid), not a protocol.Welcome, so it is not a
// WelcomeReceiver (see TestInboxIsAClientLocal): this is the one-line
// adaptation inbox's doc comment asks of its caller.
type inboxLocal struct{ *inbox.Inbox }

func (l inboxLocal) Welcomed(w protocol.Welcome) error {
	return l.Inbox.Welcomed(w.Identity, w.LastMid)
}

// recorder remembers, for one device across all its clients and restarts,
// every event it made (by id, with its mid) and every outcome the relay
// answered, so the end of a test can account for each one.
type recorder struct {
	mu       sync.Mutex
	made     map[string]conv.Event
	outcomes map[string]client.Outcome // the first answer for each id
	at       map[string]time.Time      // when it came, for a failure's message
	mismatch []string                  // a later answer that differed from the first
}

func newRecorder() *recorder {
	return &recorder{made: map[string]conv.Event{}, outcomes: map[string]client.Outcome{}, at: map[string]time.Time{}}
}

func (r *recorder) madeEvent(e conv.Event) {
	if e.ID == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.made[e.ID]; !ok {
		r.made[e.ID] = e
	}
}

// outcome returns the relay's first answer to event id, if any came.
func (r *recorder) outcome(id string) (client.Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.outcomes[id]
	return o, ok
}

func (r *recorder) answered(out []client.Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range out {
		first, ok := r.outcomes[o.ID]
		if !ok {
			r.outcomes[o.ID] = o
			r.at[o.ID] = time.Now()
			continue
		}
		if first.Seq != o.Seq || (first.Err == nil) != (o.Err == nil) ||
			(first.Err != nil && (first.Err.Code != o.Err.Code || first.Err.Message != o.Err.Message)) {
			r.mismatch = append(r.mismatch, fmt.Sprintf("%s: first %s, then %s", o.ID, outcomeString(first), outcomeString(o)))
		}
	}
}

func outcomeString(o client.Outcome) string {
	if o.Err != nil {
		return fmt.Sprintf("%s (%s)", o.Err.Code, o.Err.Message)
	}
	return fmt.Sprintf("seq %d", o.Seq)
}

// recLocal is a Local that tells the recorder what passes through it.
type recLocal struct {
	client.Local
	rec *recorder
}

func (l recLocal) Pending() ([]conv.Event, error) {
	evs, err := l.Local.Pending()
	for _, e := range evs {
		l.rec.madeEvent(e)
	}
	return evs, err
}

func (l recLocal) Acknowledged(out []client.Outcome) error {
	if err := l.Local.Acknowledged(out); err != nil {
		return err
	}
	l.rec.answered(out)
	return nil
}

func (l recLocal) Welcomed(w protocol.Welcome) error {
	if wr, ok := l.Local.(client.WelcomeReceiver); ok {
		return wr.Welcomed(w)
	}
	return nil
}

// logBuf keeps the tail of a device's client log, to show when a test fails.
type logBuf struct {
	mu      sync.Mutex
	b       bytes.Buffer
	resends int // sessions that resent events the relay had processed
}

const logTail = 128 << 10

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if bytes.Contains(p, []byte("resending events the relay already processed")) {
		l.resends++
	}
	l.b.Write(p)
	if l.b.Len() > 2*logTail {
		tail := bytes.Clone(l.b.Bytes()[l.b.Len()-logTail:])
		l.b.Reset()
		l.b.Write(tail)
	}
	return len(p), nil
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// device is one simulated device: an inbox on Badger (agents, contacts) or
// a client.Memory (visitors, a contact's phone), a sync client that can be
// stopped and started again, and a TCP proxy of its own to the relay.
type device struct {
	t     testing.TB
	name  string
	id    string // device id
	me    conv.Participant
	auth  protocol.Auth
	relay endpoint // where the proxy dials, the head to settle at
	proxy *relaytest.FaultProxy
	url   string // where the client dials; the proxy's by default

	// An inbox device.
	dir    string
	inOpts inbox.Options
	in     *inbox.Inbox
	// A memory device.
	mem *client.Memory

	rec  *recorder
	logs *logBuf
	tune func(*client.Options)
	wrap func(client.Local) client.Local // between the client and the device's store

	mu     sync.Mutex
	cl     *client.Client
	cancel context.CancelFunc
	done   chan error
}

// newInboxDevice opens an inbox for me in a new temp dir; schema nil leaves
// attribute checks to the relay.
func newInboxDevice(t testing.TB, r endpoint, name string, me conv.Participant, auth protocol.Auth, schema conv.Schema) *device {
	t.Helper()
	return newInboxDeviceWith(t, r, name, me, auth, func(o *inbox.Options) { o.Schema = schema })
}

// newInboxDeviceWith is newInboxDevice with the inbox's options tuned.
func newInboxDeviceWith(t testing.TB, r endpoint, name string, me conv.Participant, auth protocol.Auth, tune func(*inbox.Options)) *device {
	t.Helper()
	d := &device{t: t, name: name, id: name, me: me, auth: auth, relay: r, dir: t.TempDir(), rec: newRecorder(), logs: &logBuf{}}
	d.inOpts = inbox.Options{Me: me, Device: name}
	tune(&d.inOpts)
	d.open()
	d.proxy = relaytest.NewFaultProxy(t, r.target)
	d.url = d.proxy.URL()
	t.Cleanup(d.close)
	return d
}

// newMemoryDevice makes a client.Memory device; a visitor's me has no id
// until the relay names it at the first welcome.
func newMemoryDevice(t testing.TB, r endpoint, name string, me conv.Participant, auth protocol.Auth) *device {
	t.Helper()
	d := &device{t: t, name: name, id: name, me: me, auth: auth, relay: r, mem: client.NewMemory(me, name),
		rec: newRecorder(), logs: &logBuf{}}
	d.proxy = relaytest.NewFaultProxy(t, r.target)
	d.url = d.proxy.URL()
	t.Cleanup(d.close)
	return d
}

func (d *device) open() {
	d.t.Helper()
	in, err := inbox.Open(d.dir, d.inOpts)
	if err != nil {
		d.t.Fatalf("%s: open inbox: %v", d.name, err)
	}
	d.in = in
}

func (d *device) local() client.Local {
	var l client.Local = recLocal{Local: d.mem, rec: d.rec}
	if d.in != nil {
		l = recLocal{Local: inboxLocal{d.in}, rec: d.rec}
	}
	if d.wrap != nil {
		l = d.wrap(l)
	}
	return l
}

// start runs a new client for the device.
func (d *device) start() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl != nil {
		return
	}
	opts := client.Options{
		URL:              d.url,
		Workspace:        testWS,
		Device:           d.id,
		Auth:             d.auth,
		Local:            d.local(),
		Logger:           slog.New(slog.NewTextHandler(d.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Backoff:          client.Backoff{Min: 10 * time.Millisecond, Max: 150 * time.Millisecond},
		HandshakeTimeout: 10 * time.Second,
	}
	if d.tune != nil {
		d.tune(&opts)
	}
	cl, err := client.New(opts)
	if err != nil {
		d.t.Fatalf("%s: %v", d.name, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	d.cl, d.cancel, d.done = cl, cancel, done
}

// stop ends the device's client (its Run returns) and keeps what it
// learned at the welcome: a visitor's token and id.
func (d *device) stop() {
	d.mu.Lock()
	cl, cancel, done := d.cl, d.cancel, d.done
	d.cl = nil
	d.mu.Unlock()
	if cl == nil {
		return
	}
	cancel()
	if err := <-done; err != nil {
		d.t.Errorf("%s: Run: %v", d.name, err)
	}
	if d.auth.Kind == protocol.AuthVisitor {
		d.auth.VisitorToken = cl.VisitorToken()
	}
	if id := cl.Identity(); id.ID != "" {
		d.me = conv.Participant{ID: id.ID, Role: id.Role}
	}
}

func (d *device) running() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cl != nil
}

func (d *device) client() *client.Client {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cl
}

func (d *device) kick() {
	if cl := d.client(); cl != nil {
		cl.Kick()
	}
}

// reopen restarts the device: client stopped, store closed and opened again
// from its directory, client started.
func (d *device) reopen() {
	d.t.Helper()
	if d.in == nil {
		return
	}
	was := d.running()
	d.stop()
	if err := d.in.Close(); err != nil {
		d.t.Fatalf("%s: close inbox: %v", d.name, err)
	}
	d.open()
	if was {
		d.start()
	}
}

func (d *device) close() {
	d.stop()
	if d.in != nil {
		if err := d.in.Close(); err != nil {
			d.t.Errorf("%s: close inbox: %v", d.name, err)
		}
	}
	if logs := d.logs.String(); d.t.Failed() && logs != "" {
		d.t.Logf("%s: client log tail:\n%s", d.name, tailString(logs, 16<<10))
	}
}

func tailString(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// identity returns who the device is, as the relay named it.
func (d *device) identity() conv.Participant {
	if cl := d.client(); cl != nil {
		if id := cl.Identity(); id.ID != "" {
			return conv.Participant{ID: id.ID, Role: id.Role}
		}
	}
	if d.mem != nil {
		m := d.mem.Me()
		return conv.Participant{ID: m.ID, Role: m.Role}
	}
	return d.me
}

// cursor returns the device's canonical position.
func (d *device) cursor() (string, uint64) {
	var (
		e   string
		s   uint64
		err error
	)
	if d.in != nil {
		e, s, err = d.in.Cursor()
	} else {
		e, s, err = d.mem.Cursor()
	}
	if err != nil {
		d.t.Errorf("%s: cursor: %v", d.name, err)
	}
	return e, s
}

// unsettled counts the device's outbox items still on their way (pending
// or sent); failed ones wait for the user and do not count.
func (d *device) unsettled() int {
	n := 0
	if d.in != nil {
		for _, o := range d.in.Outbox(nil) {
			if o.State != inbox.StateFailed {
				n++
			}
		}
		return n
	}
	for _, o := range d.mem.Outbox() {
		if o.State != client.OutboxFailed {
			n++
		}
	}
	return n
}

// failed returns the device's failed outbox items as (event, error).
func (d *device) failed() []failedItem {
	var out []failedItem
	if d.in != nil {
		for _, o := range d.in.Outbox(nil) {
			if o.State == inbox.StateFailed {
				out = append(out, failedItem{o.Event, o.Error})
			}
		}
		return out
	}
	for _, o := range d.mem.Outbox() {
		if o.State == client.OutboxFailed {
			out = append(out, failedItem{o.Event, o.Err})
		}
	}
	return out
}

type failedItem struct {
	Event conv.Event
	Err   *conv.Error
}

// waitOnline waits until the device's client is online.
func (d *device) waitOnline(t testing.TB) {
	t.Helper()
	waitFor(t, 30*time.Second, d.name+" online", func() bool {
		cl := d.client()
		return cl != nil && cl.State() == client.StateOnline
	})
}

// waitSettled waits until the device has pushed everything and holds the
// relay's head. A live contact or visitor receives only what it may see, so
// its cursor stops at the last event it may see; when that is all that is
// missing, a cut brings it to the head: the new session's caughtUp carries
// the head.
func (d *device) waitSettled(t testing.TB) {
	t.Helper()
	lastCut := time.Now().Add(-200 * time.Millisecond) // the first cut after 100 ms, then every 300 ms
	waitFor(t, 30*time.Second, d.name+" settled at the relay's head", func() bool {
		if d.settled() {
			return true
		}
		if d.identity().IsEndUser() && d.unsettled() == 0 && time.Since(lastCut) > 300*time.Millisecond {
			lastCut = time.Now()
			d.proxy.Cut()
		}
		return false
	})
}

// settled reports whether the device's outbox is settled and its client is
// online at the relay's head.
func (d *device) settled() bool {
	epoch, head := d.relay.head()
	cl := d.client()
	if cl == nil || epoch == "" {
		return false
	}
	st := cl.Status()
	e, s := d.cursor()
	return d.unsettled() == 0 && st.State == client.StateOnline && st.Epoch == epoch && st.Seq == head && e == epoch && s == head
}

// held returns the canonical events the device holds, in seq order.
func (d *device) held() []conv.Event {
	d.t.Helper()
	var out []conv.Event
	if d.in != nil {
		err := d.in.Store().Log(0, func(e conv.Event) bool { out = append(out, e); return true })
		if err != nil {
			d.t.Fatalf("%s: read log: %v", d.name, err)
		}
		return out
	}
	for _, c := range d.mem.Conversations() {
		if _, ok := d.mem.Canonical(c.ID); ok {
			out = append(out, d.mem.Timeline(c.ID)...)
		}
	}
	slices.SortFunc(out, func(a, b conv.Event) int { return cmpU64(a.Seq, b.Seq) })
	return out
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
