package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/backoff"
	"github.com/threadline/threadline/sync/eventlog"
)

// Webhooks (DESIGN §9). Each endpoint of each workspace has one deliverer
// goroutine that reads the log itself, from its durable cursor up to the
// published head, and POSTs every event of the endpoint's kinds, one at a
// time, in log order, until it is answered 2xx or has failed for a day.
// Nothing on the write path waits for it: the committer only pokes a
// channel of one slot when the published head moves (workspace.pubPoke), a
// watcher goroutine per workspace passes the poke on to its deliverers, and
// a deliverer that is busy or far behind simply finds more to read next
// time. An endpoint that is slow or down holds up its own deliveries only.
//
// The cursor (WebhookCursor) moves past an event once the endpoint has
// answered it 2xx, or it was dropped, and past every event not of the
// endpoint's kinds. It is saved durably within cursorSaveEvery of moving
// (and no more often), and when the deliverer stops: so after a crash the
// events answered in the last moments before it are sent again (at least
// once), and none is ever skipped.

// Webhook request headers.
const (
	SignatureHeader = "Threadline-Signature"
	EventIDHeader   = "Threadline-Event-Id"
)

// How webhooks are delivered, unless Options say otherwise (tests do).
const (
	hookBackoffMin = time.Second
	hookBackoffMax = 5 * time.Minute // DESIGN §9: attempts at most 5 minutes apart
	hookGiveUp     = 24 * time.Hour  // then the event is dropped
	hookTimeout    = 10 * time.Second
	// hookLease is how long an endpoint's lease outlives its last renewal
	// (every third of it) when several relays share the log: a relay that
	// dies stops delivering, and another takes over within it.
	hookLease = 10 * time.Second

	// cursorSaveEvery spaces an endpoint's cursor saves (an fdatasync
	// each), so that busy endpoints do not crowd the disk the log syncs to.
	cursorSaveEvery = 100 * time.Millisecond
	// A read of the log takes at most this many events, or the events of
	// the endpoint's kinds up to about this many bytes.
	hookPageEvents = 1024
	hookPageBytes  = 1 << 20
	// hookReplyBytes of an answer are read (so the connection can be
	// reused); the rest is not.
	hookReplyBytes = 64 << 10
)

// hookOptions are the delivery's timings (Options.hooks).
type hookOptions struct {
	backoffMin, backoffMax time.Duration
	giveUp, timeout        time.Duration
	lease                  time.Duration // how long an endpoint's lease lasts unrenewed (shared log)
}

func (o *hookOptions) defaults() {
	if o.backoffMin <= 0 {
		o.backoffMin = hookBackoffMin
	}
	if o.backoffMax <= 0 {
		o.backoffMax = hookBackoffMax
	}
	if o.giveUp <= 0 {
		o.giveUp = hookGiveUp
	}
	if o.timeout <= 0 {
		o.timeout = hookTimeout
	}
	if o.lease <= 0 {
		o.lease = hookLease
	}
}

// Signature returns the Threadline-Signature header of a webhook request
// whose body is body, signed at t with the endpoint's secret:
// t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
func Signature(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// webhooks runs the deliverers of every workspace.
type webhooks struct {
	srv    *Server
	opts   hookOptions
	client *http.Client

	mu     sync.Mutex
	ws     map[string]*wsHooks // workspaces with endpoints
	closed bool
}

func newWebhooks(s *Server) *webhooks {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &webhooks{
		srv:  s,
		opts: s.opts.hooks,
		client: &http.Client{
			Transport: tr,
			// A redirect is not a 2xx: it fails, and is retried as is.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		ws: map[string]*wsHooks{},
	}
}

// sync starts, stops and restarts deliverers so that they match the
// workspaces' current settings: an endpoint added starts from the published
// head, one removed stops (its cursor stays: re-added under the same id, it
// resumes there), one whose URL, secret or kinds changed restarts from its
// cursor.
func (m *webhooks) sync() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	for _, w := range m.srv.allWorkspaces() {
		want := w.settings().webhooks
		h := m.ws[w.id]
		if h == nil {
			if len(want) == 0 {
				continue
			}
			h = newWSHooks(m, w)
			m.ws[w.id] = h
		}
		if h.set(want) == 0 {
			h.stop()
			delete(m.ws, w.id)
		}
	}
}

// close stops every deliverer, each saving its cursor.
func (m *webhooks) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	for id, h := range m.ws {
		h.set(nil)
		h.stop()
		delete(m.ws, id)
	}
}

// wsHooks are one workspace's deliverers and their watcher.
type wsHooks struct {
	m     *webhooks
	w     *workspace
	clock headClock

	mu    sync.Mutex
	ds    map[string]*deliverer // by endpoint id
	stats map[string]*hookStats // by endpoint id; outlive a restarted deliverer

	quit chan struct{}
	done chan struct{}
}

// hookStats are an endpoint's figures for /metrics.
type hookStats struct {
	delivered atomic.Uint64
	failures  atomic.Uint64
	dropped   atomic.Uint64
	pos       atomic.Uint64 // the cursor's Done, in memory
	ready     atomic.Bool   // pos is loaded
}

func newWSHooks(m *webhooks, w *workspace) *wsHooks {
	h := &wsHooks{
		m:     m,
		w:     w,
		ds:    map[string]*deliverer{},
		stats: map[string]*hookStats{},
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	h.clock.note(w.published(), time.Now())
	go h.watch()
	return h
}

// set makes h's deliverers those of hooks and returns how many run.
func (h *wsHooks) set(hooks []Webhook) int {
	want := map[string]Webhook{}
	for _, hk := range hooks {
		want[hk.EndpointID()] = hk
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, d := range h.ds {
		if hk, ok := want[id]; ok && sameHook(hk, d.hook) {
			continue
		}
		d.stop()
		delete(h.ds, id)
	}
	for id := range h.stats {
		if _, ok := want[id]; !ok {
			delete(h.stats, id)
		}
	}
	head := h.w.acknowledged() // every event answered so far is before a new endpoint
	for id, hk := range want {
		if h.ds[id] != nil {
			continue
		}
		st := h.stats[id]
		if st == nil {
			st = &hookStats{}
			h.stats[id] = st
		}
		d := newDeliverer(h, id, hk, st, head)
		h.ds[id] = d
		go d.run()
	}
	return len(h.ds)
}

func sameHook(a, b Webhook) bool {
	return a.URL == b.URL && a.Secret == b.Secret && slices.Equal(a.Events, b.Events)
}

// stop ends the watcher (the deliverers are stopped by set(nil)).
func (h *wsHooks) stop() {
	close(h.quit)
	<-h.done
}

// watch passes each advance of the published head on to the deliverers,
// and notes when it happened for their lag.
func (h *wsHooks) watch() {
	defer close(h.done)
	for {
		select {
		case <-h.quit:
			return
		case <-h.w.pubPoke:
		}
		head := h.w.published()
		h.clock.note(head, time.Now())
		low := head
		h.mu.Lock()
		for _, d := range h.ds {
			d.poke()
			if d.st.ready.Load() {
				low = min(low, d.st.pos.Load())
			} else {
				low = 0
			}
		}
		h.mu.Unlock()
		h.clock.forget(low)
	}
}

// headClock remembers when the published head reached which seq, so that
// an endpoint's lag can be told in seconds: the age of the first event it
// is not done with. A relay learns of events logged before it started only
// at its start, so their age counts from there.
type headClock struct {
	mu     sync.Mutex
	stamps []headStamp // ascending heads
}

type headStamp struct {
	head uint64
	at   time.Time
}

const maxHeadStamps = 4096

func (c *headClock) note(head uint64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.stamps); n > 0 && c.stamps[n-1].head >= head {
		return
	}
	if len(c.stamps) == maxHeadStamps {
		// Keep every other stamp (the oldest first): ages get coarser
		// rather than lost.
		j := 0
		for i := 0; i < len(c.stamps); i += 2 {
			c.stamps[j] = c.stamps[i]
			j++
		}
		c.stamps = c.stamps[:j]
	}
	c.stamps = append(c.stamps, headStamp{head, at})
}

// since returns when seq was first seen published (zero if not yet).
func (c *headClock) since(seq uint64) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.stamps), func(i int) bool { return c.stamps[i].head >= seq })
	if i == len(c.stamps) {
		return time.Time{}
	}
	return c.stamps[i].at
}

// forget drops what no endpoint needs: stamps at or below done, the lowest
// cursor.
func (c *headClock) forget(done uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.stamps), func(i int) bool { return c.stamps[i].head > done })
	c.stamps = slices.Delete(c.stamps, 0, i)
}

// deliverer delivers one endpoint's events.
type deliverer struct {
	h     *wsHooks
	id    string
	hook  Webhook
	kinds map[conv.Kind]bool
	first uint64 // the head when the endpoint was configured: its first cursor
	st    *hookStats
	lg    *slog.Logger
	head  []byte // the payload's start: {"workspace":<ws>,"event":

	wake   chan struct{}   // one slot: the published head moved
	life   context.Context // until stop
	cancel context.CancelFunc
	ctx    context.Context // the current term: life, or while this relay holds the endpoint's lease
	done   chan struct{}

	// mu guards the cursor: run moves it, and saves it or leaves the
	// save to saver, a timer, when the last one was under cursorSaveEvery
	// ago.
	mu      sync.Mutex
	cur     eventlog.WebhookCursor
	dirty   bool // cur is not saved
	savedAt time.Time
	saver   *time.Timer
	armed   bool // saver will fire
	stopped bool // run has made its last save
}

func newDeliverer(h *wsHooks, id string, hk Webhook, st *hookStats, first uint64) *deliverer {
	ws, _ := json.Marshal(h.w.id)
	d := &deliverer{
		h:     h,
		id:    id,
		hook:  hk,
		kinds: map[conv.Kind]bool{},
		first: first,
		st:    st,
		lg:    h.m.srv.lg.With("workspace", h.w.id, "webhook", id),
		head:  append(append([]byte(`{"workspace":`), ws...), `,"event":`...),
		wake:  make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	for _, k := range hk.Events {
		d.kinds[conv.Kind(k)] = true
	}
	d.life, d.cancel = context.WithCancel(context.Background())
	d.ctx = d.life
	return d
}

func (d *deliverer) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// stop ends d's goroutine (an attempt in flight is abandoned: its event
// comes again) once it has saved its cursor.
func (d *deliverer) stop() {
	d.cancel()
	<-d.done
}

// hookEvent is a logged event to deliver.
type hookEvent struct {
	seq uint64
	id  string
	raw []byte
}

var errHookPageFull = errors.New("page full")

func (d *deliverer) run() {
	defer close(d.done)
	l, shared := d.h.m.srv.log.(eventlog.Leaser)
	if !shared {
		d.serve()
		return
	}
	// Several relays share the log: the one holding the endpoint's lease
	// delivers, from the cursor it finds saved, while it renews the lease.
	ws, name, ttl := d.h.w.id, "webhook "+d.id, d.h.m.opts.lease
	defer l.Release(ws, name)
	for d.life.Err() == nil {
		held, err := l.Lease(ws, name, ttl)
		if err != nil {
			d.lg.Warn("webhook: lease", "err", err)
		}
		if !held {
			if !d.sleepLife(ttl / 3) {
				return
			}
			continue
		}
		term, end := context.WithCancel(d.life)
		d.ctx = term
		go func() {
			defer end()
			for d.sleepCtx(term, ttl/3) {
				if held, err := l.Lease(ws, name, ttl); !held {
					d.lg.Warn("webhook: lease lost; another relay delivers", "err", err)
					return
				}
			}
		}()
		d.serve()
		end()
	}
}

// sleepLife waits d (false once d stops).
func (d *deliverer) sleepLife(wait time.Duration) bool { return d.sleepCtx(d.life, wait) }

func (d *deliverer) sleepCtx(ctx context.Context, wait time.Duration) bool {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// serve delivers from the saved cursor until d.ctx ends.
func (d *deliverer) serve() {
	log := d.h.m.srv.log
	ws := d.h.w.id
	d.mu.Lock()
	d.stopped = false // a new term
	d.mu.Unlock()
	if !d.load() {
		return
	}
	defer func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.stopped = true
		if d.saver != nil {
			d.saver.Stop()
		}
		if d.dirty {
			d.saveLocked()
		}
	}()
	readFails := 0
	for {
		head := d.h.w.published()
		if d.cur.Done > head {
			if ack := d.h.w.acknowledged(); d.cur.Done > ack {
				// A cursor ahead of the log: the log is not the one the
				// cursor was saved for.
				d.lg.Warn("webhook cursor is ahead of the log; delivering from the log's head", "cursor", d.cur.Done, "head", ack)
				d.setDone(ack)
			}
			// Else the events up to it are durable, not yet readable:
			// nothing to read before they are.
		}
		if d.cur.Done >= head {
			// Caught up: wait for the head to move.
			select {
			case <-d.ctx.Done():
				return
			case <-d.wake:
			}
			continue
		}
		page, end, err := d.read(log, ws, head)
		if err != nil {
			readFails++
			d.lg.Error("webhook: read the log", "from", d.cur.Done+1, "err", err)
			if !d.sleep(backoff.Delay(d.h.m.opts.backoffMin, d.h.m.opts.backoffMax, readFails-1, rand.Float64())) {
				return
			}
			continue
		}
		readFails = 0
		for _, e := range page {
			d.setDone(e.seq - 1) // the events before it are not of its kinds
			if !d.deliver(e) {
				return
			}
			d.setDone(e.seq)
		}
		d.setDone(end)
	}
}

// load reads the endpoint's cursor, or saves its first one; false when d
// was stopped first.
func (d *deliverer) load() bool {
	for n := 0; ; n++ {
		c, ok, err := d.h.m.srv.log.WebhookCursor(d.h.w.id, d.id)
		if err == nil && !ok {
			c = eventlog.WebhookCursor{Done: d.first}
			err = d.h.m.srv.log.SaveWebhookCursor(d.h.w.id, d.id, c)
		}
		if err == nil {
			d.cur, d.savedAt = c, time.Now()
			d.st.pos.Store(c.Done)
			d.st.ready.Store(true)
			return true
		}
		d.lg.Error("webhook: read cursor", "err", err)
		if !d.sleep(backoff.Delay(d.h.m.opts.backoffMin, d.h.m.opts.backoffMax, n, rand.Float64())) {
			return false
		}
	}
}

// read returns the events of d's kinds after the cursor, up to head, at
// most a page of them, and the last seq it looked at.
func (d *deliverer) read(log eventlog.Log, ws string, head uint64) ([]hookEvent, uint64, error) {
	from := d.cur.Done + 1
	to := min(head, d.cur.Done+hookPageEvents)
	next := from
	size := 0
	var page []hookEvent
	err := log.Scan(ws, from, to, func(seq uint64, raw []byte) error {
		if seq != next {
			return fmt.Errorf("relay: webhook: event %d is missing from the log", next)
		}
		next++
		id, kind, err := eventIDKind(raw)
		if err != nil {
			return fmt.Errorf("relay: webhook: stored event %d: %w", seq, err)
		}
		if !d.kinds[kind] {
			return nil
		}
		page = append(page, hookEvent{seq: seq, id: id, raw: raw})
		if size += len(raw); size >= hookPageBytes {
			return errHookPageFull
		}
		return nil
	})
	switch {
	case errors.Is(err, errHookPageFull):
	case err != nil:
		return nil, 0, err
	case next <= to:
		// The head says these are readable, yet the log ends before.
		return nil, 0, fmt.Errorf("relay: webhook: events %d–%d are missing from the log", next, to)
	}
	return page, next - 1, nil
}

// hookLinkTTL is how long the download links a delivery carries work: a
// receiver fetches the files when it gets the event, or while the
// delivery is retried (a day at most).
const hookLinkTTL = 7 * 24 * time.Hour

// links returns, for an event that names files, the payload's member
// ,"files":{"<id>":"/v1/files/<ws>/<id>?token=…"}: a download link per file
// (Server.FileLink, relative to the relay's address), so that a receiver
// needs no key to fetch them. Nil for any other event, or a relay without a
// file store.
func (d *deliverer) links(raw []byte) []byte {
	if !bytes.Contains(raw, []byte(`"attachments":`)) {
		return nil
	}
	var e struct {
		Data struct {
			Attachments []conv.Attachment `json:"attachments"`
		} `json:"data"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || len(e.Data.Attachments) == 0 {
		return nil
	}
	files := make(map[string]string, len(e.Data.Attachments))
	for _, a := range e.Data.Attachments {
		link, err := d.h.m.srv.FileLink(d.h.w.id, a.ID, hookLinkTTL)
		if err != nil {
			d.lg.Warn("webhook: no download link for a file", "file", a.ID, "err", err)
			continue
		}
		files[a.ID] = link
	}
	if len(files) == 0 {
		return nil
	}
	b, _ := json.Marshal(files) // strings only: always marshals
	return append([]byte(`,"files":`), b...)
}

// eventIDKind reads a stored event's id and kind. The relay's encoder
// writes {"id":…,"seq":…,"conv":…,"kind":… first, so those are found
// without decoding the rest (every endpoint looks at every event); anything
// else, such as an escaped string, goes through encoding/json.
func eventIDKind(raw []byte) (string, conv.Kind, error) {
	const idAt, kindAt = `{"id":"`, `,"kind":"`
	if rest, ok := bytes.CutPrefix(raw, []byte(idAt)); ok {
		if id, rest, ok := bytes.Cut(rest, []byte{'"'}); ok && bytes.IndexByte(id, '\\') < 0 {
			if i := bytes.Index(rest, []byte(kindAt)); i >= 0 {
				if kind, _, ok := bytes.Cut(rest[i+len(kindAt):], []byte{'"'}); ok && bytes.IndexByte(kind, '\\') < 0 {
					return string(id), conv.Kind(kind), nil
				}
			}
		}
	}
	var e struct {
		ID   string    `json:"id"`
		Kind conv.Kind `json:"kind"`
	}
	err := json.Unmarshal(raw, &e)
	return e.ID, e.Kind, err
}

// deliver POSTs e until the endpoint answers 2xx or it has failed for
// giveUp (then it is dropped): true either way; false when d was stopped.
func (d *deliverer) deliver(e hookEvent) bool {
	opts := d.h.m.opts
	links := d.links(e.raw)
	body := make([]byte, 0, len(d.head)+len(e.raw)+len(links)+1)
	body = append(append(append(append(body, d.head...), e.raw...), links...), '}')
	for n := 0; ; n++ {
		start := time.Now()
		status, err := d.post(e.id, body)
		if err == nil && status >= 200 && status <= 299 {
			d.st.delivered.Add(1)
			return true
		}
		if d.ctx.Err() != nil {
			return false
		}
		d.st.failures.Add(1)
		if d.cur.FailingSince.IsZero() {
			// Saved at once, so that a restart keeps the day's count.
			d.mu.Lock()
			d.cur.FailingSince = start
			d.saveLocked()
			d.mu.Unlock()
		}
		why := "status " + strconv.Itoa(status)
		if err != nil {
			why = err.Error()
		}
		if failing := time.Since(d.cur.FailingSince); failing >= opts.giveUp {
			d.st.dropped.Add(1)
			d.lg.Error("webhook: event dropped after failing too long", "seq", e.seq, "event", e.id,
				"failing", failing.Round(time.Second).String(), "attempts", n+1, "last", why)
			return true
		}
		// The next attempt starts at most backoffMax after this one did.
		wait := backoff.Delay(opts.backoffMin, opts.backoffMax, n, rand.Float64())
		d.lg.Warn("webhook: delivery failed; will retry", "seq", e.seq, "event", e.id,
			"attempt", n+1, "err", why, "retry_in", wait.Round(time.Millisecond).String())
		if !d.sleep(wait - time.Since(start)) {
			return false
		}
	}
}

// post sends one attempt and returns the endpoint's status.
func (d *deliverer) post(id string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(d.ctx, d.h.m.opts.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.hook.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Threadline-Relay")
	req.Header.Set(EventIDHeader, id)
	req.Header.Set(SignatureHeader, Signature(d.hook.Secret, time.Now(), body))
	resp, err := d.h.m.client.Do(req)
	if err != nil {
		// The URL may hold credentials: say what failed, not where.
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			err = ue.Unwrap()
		}
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, hookReplyBytes))
	resp.Body.Close()
	return resp.StatusCode, nil
}

// sleep waits d (nothing when d <= 0); false when the deliverer was
// stopped first.
func (d *deliverer) sleep(wait time.Duration) bool {
	if wait <= 0 {
		return d.ctx.Err() == nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-d.ctx.Done():
		return false
	}
}

// setDone moves the cursor to seq and has it saved: now if the last save
// was cursorSaveEvery ago, else when that much time has passed.
func (d *deliverer) setDone(seq uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if seq == d.cur.Done {
		return
	}
	d.cur = eventlog.WebhookCursor{Done: seq}
	d.dirty = true
	d.st.pos.Store(seq)
	switch wait := cursorSaveEvery - time.Since(d.savedAt); {
	case wait <= 0:
		d.saveLocked()
	case d.armed:
	case d.saver == nil:
		d.armed = true
		d.saver = time.AfterFunc(wait, d.saveDue)
	default:
		d.armed = true
		d.saver.Reset(wait)
	}
}

// saveDue is the saver timer's: it saves the cursor if it moved.
func (d *deliverer) saveDue() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.armed = false
	if d.dirty && !d.stopped {
		d.saveLocked()
	}
}

// saveLocked writes the cursor durably; mu is held. A failure is logged
// and the cursor stays dirty: the next save tries again (after a crash the
// events since the last save come again).
func (d *deliverer) saveLocked() {
	d.savedAt = time.Now()
	if err := d.h.m.srv.log.SaveWebhookCursor(d.h.w.id, d.id, d.cur); err != nil {
		d.lg.Error("webhook: save cursor", "err", err)
		d.dirty = true
		return
	}
	d.dirty = false
}

// writeMetrics writes every endpoint's figures.
func (m *webhooks) writeMetrics(w io.Writer) {
	type row struct {
		ws, id    string
		st        *hookStats
		behind    uint64
		lagSecond float64
	}
	var rows []row
	now := time.Now()
	m.mu.Lock()
	for _, h := range m.ws {
		head := h.w.published()
		h.mu.Lock()
		for id, st := range h.stats {
			r := row{ws: h.w.id, id: id, st: st}
			if pos := st.pos.Load(); st.ready.Load() && pos < head {
				r.behind = head - pos
				if t := h.clock.since(pos + 1); !t.IsZero() {
					r.lagSecond = now.Sub(t).Seconds()
				}
			}
			rows = append(rows, r)
		}
		h.mu.Unlock()
	}
	m.mu.Unlock()
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.ws, b.ws); c != 0 {
			return c
		}
		return strings.Compare(a.id, b.id)
	})
	family := func(name, typ, help string, value func(r row) string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, r := range rows {
			fmt.Fprintf(w, "%s{workspace=\"%s\",endpoint=\"%s\"} %s\n", name, labelValue(r.ws), labelValue(r.id), value(r))
		}
	}
	u := func(n uint64) string { return strconv.FormatUint(n, 10) }
	family("threadline_relay_webhook_delivered_total", "counter",
		"Events a webhook endpoint answered with a 2xx.",
		func(r row) string { return u(r.st.delivered.Load()) })
	family("threadline_relay_webhook_failures_total", "counter",
		"Webhook attempts that failed: not a 2xx, no answer in time, no connection.",
		func(r row) string { return u(r.st.failures.Load()) })
	family("threadline_relay_webhook_dropped_total", "counter",
		"Events a webhook endpoint still failed a day after their first attempt, given up on.",
		func(r row) string { return u(r.st.dropped.Load()) })
	family("threadline_relay_webhook_lag_events", "gauge",
		"Events logged after a webhook endpoint's cursor (of any kind).",
		func(r row) string { return u(r.behind) })
	family("threadline_relay_webhook_lag_seconds", "gauge",
		"How long the oldest event a webhook endpoint is not done with has been logged (0 when caught up).",
		func(r row) string { return strconv.FormatFloat(r.lagSecond, 'g', 6, 64) })
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func labelValue(s string) string { return labelEscaper.Replace(s) }
