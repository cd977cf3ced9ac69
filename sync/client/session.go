package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// inFrame is any frame the relay sends, decoded in one pass: the frame types
// share no field name, so one struct holds them all.
type inFrame struct {
	Type string `json:"type"`

	// welcome
	Identity     conv.Participant        `json:"identity"`
	Epoch        string                  `json:"epoch"`
	Head         uint64                  `json:"head"`
	Backlog      uint64                  `json:"backlog"`
	LastMid      uint64                  `json:"lastMid"`
	VisitorToken string                  `json:"visitorToken"`
	FileToken    string                  `json:"fileToken"`
	Workspace    *protocol.WorkspaceInfo `json:"workspace"`
	// events
	Events []conv.Event `json:"events"`
	// caughtUp
	Cursor protocol.Cursor `json:"cursor"`
	// ack
	Results []protocol.Result `json:"results"`
	// typing
	Conv        string            `json:"conv"`
	Participant *conv.Participant `json:"participant"`
	On          bool              `json:"on"`
	// error
	Code    string `json:"code"`
	Message string `json:"message"`
	Fatal   bool   `json:"fatal"`

	err error // set by the reader instead of a frame when the connection ends
}

const (
	frameQueue = 16   // decoded frames waiting for the session loop
	mergeMax   = 4096 // canonical events handed to Local in one ApplyCanonical
)

// session is one connection, from dial to close. Its loop is the only
// goroutine that calls Local and writes data frames; a reader goroutine
// reads and decodes frames, a heartbeat goroutine pings.
type session struct {
	c    *Client
	conn *websocket.Conn
	log  *slog.Logger

	frames chan *inFrame
	stop   chan struct{}
	wg     sync.WaitGroup

	lastAlive atomic.Int64 // unix nanos of the last frame, ping or pong
	busy      atomic.Bool  // the reader is waiting for the loop: the relay is alive, we are behind
	dead      atomic.Bool  // the heartbeat gave up
	pinging   atomic.Bool  // a ping is waiting for its pong

	welcome   protocol.Welcome
	epoch     string
	applied   uint64 // the last seq handed to Local
	caughtUp  bool
	received  uint64
	fatal     *inFrame // a fatal error frame, waiting for its close
	held      *inFrame // a frame read while merging events frames
	resendLog bool     // "resending what the relay already processed" logged

	inflight   []string // ids of the push in flight; nil when none
	wantPush   bool
	retryAt    time.Time
	retry      *time.Timer
	pushFails  int
	maxBatch   int
	tokens     float64 // client-side pacing under the relay's rate limit
	tokensAt   time.Time
	lastStatus time.Time

	// An upload of a pending event's files (files.go) runs on a goroutine
	// of its own, so the loop keeps reading and pushing what comes before;
	// uploading names its event ("" when none), uploadDone brings its end.
	uploading    string
	uploadDone   chan uploadResult
	uploadCancel context.CancelFunc
}

// session runs one connection until it ends; welcomed tells whether the
// relay got as far as a welcome.
func (c *Client) session(ctx context.Context) (welcomed bool, err error) {
	c.n.update(func(s *Status) {
		s.State, s.RetryAt, s.Received, s.Backlog, s.Pushing = StateConnecting, time.Time{}, 0, 0, 0
	})
	epoch, seq, err := c.opts.Local.Cursor()
	if err != nil {
		return false, fmt.Errorf("client: read cursor: %w", err)
	}
	c.mu.Lock()
	auth := c.auth
	c.mu.Unlock()

	s := &session{
		c:          c,
		log:        c.log,
		frames:     make(chan *inFrame, frameQueue),
		stop:       make(chan struct{}),
		maxBatch:   protocol.MaxPushEvents,
		uploadDone: make(chan uploadResult, 1),
		tokens:     c.opts.PushBurst,
		tokensAt:   time.Now(),
	}
	s.alive()

	hctx, cancel := context.WithTimeout(ctx, c.opts.HandshakeTimeout)
	defer cancel()
	conn, _, err := websocket.Dial(hctx, c.url, &websocket.DialOptions{
		HTTPClient:     c.opts.HTTPClient,
		OnPingReceived: func(context.Context, []byte) bool { s.alive(); return true },
		OnPongReceived: func(context.Context, []byte) { s.alive() },
	})
	if err != nil {
		return false, fmt.Errorf("client: dial %s: %w", c.url, err)
	}
	s.conn = conn
	conn.SetReadLimit(protocol.MaxFrameBytes)

	hello := protocol.Hello{
		Type: protocol.TypeHello, Protocol: protocol.Version,
		Workspace: c.opts.Workspace, Device: c.opts.Device,
		Cursor: protocol.Cursor{Epoch: epoch, Seq: seq}, Auth: auth,
	}
	if err := s.write(hctx, hello); err != nil {
		conn.CloseNow()
		return false, fmt.Errorf("client: send hello: %w", err)
	}
	first, err := s.readOne(hctx)
	if err != nil {
		conn.CloseNow()
		return false, err
	}
	cancel()

	s.wg.Add(2)
	go s.reader()
	go s.heartbeat()
	defer s.teardown(ctx)

	if err := s.onWelcome(first, epoch, seq, auth); err != nil {
		return false, err
	}
	return true, s.loop(ctx)
}

// readOne reads the relay's answer to hello: a welcome, or an error and a
// close, which it turns into a *SessionError.
func (s *session) readOne(ctx context.Context) (*inFrame, error) {
	_, data, err := s.conn.Read(ctx)
	if err != nil {
		return nil, s.endError(err)
	}
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("client: bad frame from relay: %w", err)
	}
	switch f.Type {
	case protocol.TypeWelcome:
		return &f, nil
	case protocol.TypeError:
		s.fatal = &f
		// The close follows a fatal error; wait for it briefly to learn its code.
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for {
			if _, _, err := s.conn.Read(cctx); err != nil {
				return nil, s.endError(err)
			}
		}
	}
	return nil, fmt.Errorf("client: relay answered hello with %q", f.Type)
}

// endError describes how the connection ended: with the fatal error frame
// the relay sent, if any, and the close code.
func (s *session) endError(err error) error {
	code := int(websocket.CloseStatus(err))
	if s.dead.Load() {
		return &SessionError{CloseCode: -1, Err: ErrDeadConnection}
	}
	se := &SessionError{CloseCode: code, Err: err}
	if f := s.fatal; f != nil {
		se.Code, se.Message = f.Code, f.Message
		if code < 0 && f.Fatal { // the close frame got lost: infer it
			se.CloseCode = protocol.CloseCodeFor(f.Code)
		}
	}
	return se
}

func (s *session) onWelcome(w *inFrame, epoch string, seq uint64, auth protocol.Auth) error {
	c := s.c
	if w.Epoch == "" {
		return errors.New("client: welcome names no epoch")
	}
	s.welcome = protocol.Welcome{
		Type: protocol.TypeWelcome, Identity: w.Identity, Epoch: w.Epoch, Head: w.Head,
		Backlog: w.Backlog, LastMid: w.LastMid, VisitorToken: w.VisitorToken, Workspace: w.Workspace,
		FileToken: w.FileToken,
	}
	s.epoch = w.Epoch
	s.applied = seq
	if epoch != w.Epoch && (epoch != "" || seq != 0) {
		s.log.Warn("sync: the relay's log changed epoch; resyncing from the start, pending events kept",
			"old_epoch", epoch, "old_seq", seq, "epoch", w.Epoch)
		if err := c.opts.Local.Reset(w.Epoch); err != nil {
			return fmt.Errorf("client: reset to epoch %s: %w", w.Epoch, err)
		}
		c.forgetLogged()
		clear(c.uploaded) // the new log's relay may not hold them
		s.applied = 0
	}
	if w.VisitorToken != "" && auth.Kind == protocol.AuthVisitor {
		c.mu.Lock()
		c.auth.VisitorToken = w.VisitorToken
		c.mu.Unlock()
	}
	if wr, ok := c.opts.Local.(WelcomeReceiver); ok {
		if err := wr.Welcomed(s.welcome); err != nil {
			return fmt.Errorf("client: welcome: %w", err)
		}
	}
	s.log.Info("sync: welcome", "identity", w.Identity.ID, "epoch", w.Epoch, "head", w.Head,
		"backlog", w.Backlog, "last_mid", w.LastMid, "cursor", s.applied)
	vt := c.VisitorToken()
	c.n.update(func(st *Status) {
		st.State, st.Error, st.Code, st.CloseCode, st.Attempt = StateSyncing, "", "", 0, 0
		st.Identity, st.Epoch, st.Seq, st.LastMid, st.VisitorToken = w.Identity, w.Epoch, s.applied, w.LastMid, vt
		st.Received, st.Backlog = 0, w.Backlog
	})
	// Drop typing queued while offline: it is stale.
	for {
		select {
		case <-c.typingOut:
			continue
		default:
		}
		break
	}
	s.wantPush = true
	// The relay's rate bucket started full when it accepted the connection;
	// starting this one now keeps it behind the relay's, never ahead.
	s.tokens, s.tokensAt = c.opts.PushBurst, time.Now()
	return nil
}

// loop is the session's heart: it applies frames in order, pushes, sends
// typing, until the connection ends.
func (s *session) loop(ctx context.Context) error {
	c := s.c
	for {
		if err := s.maybePush(ctx); err != nil {
			return err
		}
		f := s.held
		s.held = nil
		if f == nil {
			var retryC <-chan time.Time
			if s.retry != nil {
				retryC = s.retry.C
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case f = <-s.frames:
			case <-c.kick:
				s.wantPush = true
				continue
			case <-retryC:
				s.retry = nil
				s.wantPush = true
				continue
			case res := <-s.uploadDone:
				if err := s.uploaded(res); err != nil {
					return err
				}
				continue
			case t := <-c.typingOut:
				if err := s.write(ctx, t); err != nil {
					return fmt.Errorf("client: send typing: %w", err)
				}
				continue
			}
		}
		if err := s.handle(f); err != nil {
			return err
		}
	}
}

func (s *session) handle(f *inFrame) error {
	if f.err != nil {
		return f.err
	}
	switch f.Type {
	case protocol.TypeEvents:
		if err := ascending(f.Events); err != nil {
			return err
		}
		evs := f.Events
		// Merge the events frames already waiting, one durable write for
		// many, as long as seqs keep ascending (a contact's frame may start
		// below the last one: see apply).
	merge:
		for len(evs) < mergeMax {
			select {
			case g := <-s.frames:
				if g.err == nil && g.Type == protocol.TypeEvents && ascending(g.Events) == nil &&
					(len(g.Events) == 0 || len(evs) == 0 || g.Events[0].Seq > evs[len(evs)-1].Seq) {
					evs = append(evs, g.Events...)
					continue
				}
				s.held = g
				break merge
			default:
				break merge
			}
		}
		return s.apply(evs)
	case protocol.TypeCaughtUp:
		if f.Cursor.Epoch != "" && f.Cursor.Epoch != s.epoch {
			return fmt.Errorf("client: caughtUp in epoch %q, session is in %q", f.Cursor.Epoch, s.epoch)
		}
		if f.Cursor.Seq > s.applied {
			if err := s.c.opts.Local.ApplyCanonical(s.epoch, nil, f.Cursor.Seq); err != nil {
				return fmt.Errorf("client: apply caughtUp %d: %w", f.Cursor.Seq, err)
			}
			s.applied = f.Cursor.Seq
		}
		s.caughtUp = true
		s.log.Info("sync: caught up", "seq", s.applied, "received", s.received)
		s.c.n.update(func(st *Status) {
			st.State, st.Seq = StateOnline, s.applied
			st.Received = max(st.Received, s.received)
		})
		return nil
	case protocol.TypeAck:
		return s.onAck(f)
	case protocol.TypeTyping:
		if f.Participant != nil {
			s.c.n.pushTyping(protocol.Typing{Type: protocol.TypeTyping, Conv: f.Conv, Participant: f.Participant, On: f.On})
		}
		return nil
	case protocol.TypeError:
		return s.onError(f)
	case protocol.TypeWelcome:
		return errors.New("client: a second welcome")
	}
	s.log.Debug("sync: ignoring an unknown frame", "type", f.Type)
	return nil
}

// apply hands canonical events to Local, in the order the relay sent them
// (ascending seqs, checked per frame), and moves the cursor to the highest
// seq seen. Events are not filtered against the cursor: when a conversation
// becomes a contact's (created for it, or a visitor identified), the relay
// sends its history, whose seqs lie below the cursor of the contact's other
// devices. Local keeps what it does not hold yet and ignores the rest.
func (s *session) apply(evs []conv.Event) error {
	n := uint64(len(evs))
	if n > 0 {
		upTo := max(s.applied, evs[n-1].Seq)
		if err := s.c.opts.Local.ApplyCanonical(s.epoch, evs, upTo); err != nil {
			return fmt.Errorf("client: apply events %d..%d: %w", evs[0].Seq, evs[n-1].Seq, err)
		}
		s.applied = upTo
	}
	if !s.caughtUp {
		s.received += n
	}
	// Progress: at most every 50 ms while syncing, every frame after.
	if now := time.Now(); s.caughtUp || now.Sub(s.lastStatus) >= 50*time.Millisecond {
		s.lastStatus = now
		s.c.n.update(func(st *Status) {
			st.Seq = s.applied
			if !s.caughtUp {
				st.Received = s.received
			}
		})
	}
	return nil
}

// maybePush sends the next push if none is in flight and there is
// something to push: Local's pending events in mid order, minus those the
// relay has answered for, at most maxBatch of them and under the frame limit,
// paced under the relay's rate limit.
func (s *session) maybePush(ctx context.Context) error {
	if s.inflight != nil || !s.wantPush || s.retry != nil {
		return nil
	}
	c := s.c
	pending, err := c.opts.Local.Pending()
	if err != nil {
		return fmt.Errorf("client: read pending: %w", err)
	}
	s.wantPush = false
	if len(c.outcomes) > 0 { // forget answered ids Local has let go of
		live := make(map[string]struct{}, len(pending))
		for _, e := range pending {
			live[e.ID] = struct{}{}
		}
		for id := range c.outcomes {
			if _, ok := live[id]; !ok {
				delete(c.outcomes, id)
			}
		}
	}

	// Pace: wait for enough tokens for a worthwhile push.
	now := time.Now()
	rate := s.c.opts.PushRate
	s.tokens = min(s.c.opts.PushBurst, s.tokens+now.Sub(s.tokensAt).Seconds()*rate)
	s.tokensAt = now
	// One token of margin: the relay's bucket and this one never tick
	// exactly together.
	limit := min(s.maxBatch, int(s.tokens)-1)

	var (
		ids     []string
		raws    [][]byte
		size    int
		failed  []Outcome // events that can never be sent
		resends int
		more    bool
	)
	for _, e := range pending {
		if _, answered := c.outcomes[e.ID]; answered {
			continue
		}
		if len(ids) >= limit {
			more = true
			break
		}
		if len(e.Data) > 0 && !json.Valid(e.Data) { // AppendEvent copies data as it is
			failed = append(failed, Outcome{ID: e.ID, Err: &conv.Error{Code: conv.CodeInvalid,
				Message: "the event's data is not JSON"}})
			continue
		}
		raw := protocol.AppendEvent(nil, &e)
		if size+len(raw)+1 > protocol.MaxEventsBytes {
			if len(ids) == 0 { // alone over the frame limit: it can never be sent
				failed = append(failed, Outcome{ID: e.ID, Err: &conv.Error{Code: conv.CodeTooLarge,
					Message: fmt.Sprintf("the event is %d bytes; a frame holds at most %d", len(raw), protocol.MaxEventsBytes-1)}})
				continue
			}
			more = true
			break
		}
		// Files first (DESIGN §10): the relay refuses an event naming a file
		// it does not hold. The push stops before an event whose files are
		// not up yet (mids go in order); it follows when they are.
		if need := s.needUpload(&e); len(need) > 0 {
			if s.uploading == "" {
				s.startUpload(ctx, e, need)
			}
			break
		}
		size += len(raw) + 1
		ids = append(ids, e.ID)
		raws = append(raws, raw)
		if e.Mid <= s.welcome.LastMid {
			resends++
		}
	}
	if len(failed) > 0 {
		s.log.Error("sync: events that cannot be pushed (too large, malformed, or a file refused); marked failed", "count", len(failed))
		if err := c.opts.Local.Acknowledged(failed); err != nil {
			return fmt.Errorf("client: record unsendable events: %w", err)
		}
		c.rememberOutcomes(failed)
	}
	if len(ids) == 0 {
		if more { // out of tokens: come back when there are enough for a push
			need := min(float64(s.maxBatch), max(1, rate/5), s.c.opts.PushBurst-1) + 1
			s.schedule(time.Duration((need - s.tokens) / rate * float64(time.Second)))
		}
		return nil
	}
	if resends > 0 && !s.resendLog {
		s.resendLog = true
		s.log.Info("sync: resending events the relay already processed; it answers with their outcome",
			"count", resends, "last_mid", s.welcome.LastMid)
	}

	if err := s.writeRaw(ctx, protocol.PushFrame(raws)); err != nil {
		return fmt.Errorf("client: push: %w", err)
	}
	s.tokens -= float64(len(ids))
	s.inflight = ids
	s.wantPush = more
	s.log.Debug("sync: pushed", "events", len(ids))
	c.n.update(func(st *Status) { st.Pushing = len(ids) })
	return nil
}

// ascending checks that a frame's events come in strictly ascending seqs;
// a frame that does not is a broken stream, and the connection is dropped
// to resume from the cursor.
func ascending(evs []conv.Event) error {
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			return fmt.Errorf("client: relay sent seq %d after %d in one frame", evs[i].Seq, evs[i-1].Seq)
		}
	}
	for _, e := range evs {
		if e.Seq == 0 {
			return fmt.Errorf("client: relay sent event %s without a seq", e.ID)
		}
	}
	return nil
}

// schedule arms the push retry timer.
func (s *session) schedule(d time.Duration) {
	if s.retry != nil {
		s.retry.Stop()
	}
	s.retry = time.NewTimer(max(d, time.Millisecond))
}

func (s *session) onAck(f *inFrame) error {
	if s.inflight == nil {
		s.log.Warn("sync: ack with no push in flight; ignored", "results", len(f.Results))
		return nil
	}
	out := make([]Outcome, 0, len(s.inflight))
	missing := 0
	if len(f.Results) == len(s.inflight) {
		// Results come in push order. One that names another id answers a
		// mid this device already used for another event (a device id reused
		// by a store that forgot its mids): that event can never be logged
		// under its mid, so it fails, for the user to retry under a new one.
		for i, id := range s.inflight {
			r := f.Results[i]
			if r.ID != id {
				s.log.Error("sync: the relay already processed this mid for another event; is this device id reused?",
					"id", id, "other", r.ID)
				out = append(out, Outcome{ID: id, Err: &conv.Error{Code: conv.CodeConflict,
					Message: "this device already used the event's mid for event " + r.ID + "; retry it"}})
				continue
			}
			out = append(out, Outcome{ID: id, Seq: r.Seq, Err: r.Error})
		}
	} else {
		byID := make(map[string]protocol.Result, len(f.Results))
		for _, r := range f.Results {
			byID[r.ID] = r
		}
		for _, id := range s.inflight {
			r, ok := byID[id]
			if !ok {
				missing++ // pushed again, after a backoff
				continue
			}
			out = append(out, Outcome{ID: id, Seq: r.Seq, Err: r.Error})
		}
		s.log.Warn("sync: ack does not match the push", "pushed", len(s.inflight), "results", len(f.Results), "missing", missing)
	}
	for _, o := range out {
		if o.Err != nil {
			s.log.Info("sync: relay rejected an event", "id", o.ID, "code", o.Err.Code, "msg", o.Err.Message)
		}
	}
	if err := s.c.opts.Local.Acknowledged(out); err != nil {
		return fmt.Errorf("client: record acknowledgements: %w", err)
	}
	s.c.rememberOutcomes(out)
	s.inflight = nil
	s.wantPush = true
	// Tokens accrue again from the ack, not from the send: the relay took
	// its tokens when it received the push, somewhere in between, so this
	// bucket stays behind the relay's whatever the push's latency.
	s.tokensAt = time.Now()
	if missing > 0 {
		s.schedule(s.c.opts.Backoff.Delay(s.pushFails, s.c.rnd()))
		s.pushFails++
	} else {
		s.pushFails = 0
	}
	s.c.n.update(func(st *Status) { st.Pushing = 0 })
	return nil
}

func (s *session) onError(f *inFrame) error {
	if f.Fatal {
		s.fatal = f // the close follows; the reader reports it
		s.log.Warn("sync: relay reports a fatal error", "code", f.Code, "msg", f.Message)
		return nil
	}
	if s.inflight == nil {
		s.log.Warn("sync: relay reports an error", "code", f.Code, "msg", f.Message)
		return nil
	}
	// An error in place of the ack: nothing of the push was logged. Back off
	// and push again.
	n := len(s.inflight)
	s.inflight = nil
	delay := s.c.opts.Backoff.Delay(s.pushFails, s.c.rnd())
	s.pushFails++
	switch f.Code {
	case protocol.CodeRateLimited:
		delay = max(delay, time.Second)
		s.tokens, s.tokensAt = 0, time.Now()
	case protocol.CodeTooMany, protocol.CodeTooLarge:
		s.maxBatch = max(1, n/2)
	}
	s.log.Warn("sync: relay refused a push; retrying", "code", f.Code, "msg", f.Message, "events", n, "retry_in", delay)
	s.schedule(delay)
	s.c.n.update(func(st *Status) { st.Pushing = 0 })
	return nil
}

func (s *session) write(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.writeRaw(ctx, b)
}

func (s *session) writeRaw(ctx context.Context, b []byte) error {
	wctx, cancel := context.WithTimeout(ctx, s.c.opts.WriteTimeout)
	defer cancel()
	return s.conn.Write(wctx, websocket.MessageText, b)
}

func (s *session) alive() { s.lastAlive.Store(time.Now().UnixNano()) }

// reader reads and decodes frames and hands them to the loop in order; the
// end of the connection comes last, as a frame with err set.
func (s *session) reader() {
	defer s.wg.Done()
	send := func(f *inFrame) bool {
		defer s.busy.Store(false)
		select {
		case s.frames <- f:
			return true
		case <-s.stop:
			return false
		}
	}
	for {
		_, data, err := s.conn.Read(context.Background())
		if err != nil {
			s.busy.Store(true)
			send(&inFrame{err: s.endError(err)})
			return
		}
		// From here until the loop takes the frame, the reader is busy: the
		// relay is alive, this device is behind (decoding a big frame on a
		// loaded machine, or waiting for a slow Local).
		s.busy.Store(true)
		s.alive()
		f := new(inFrame)
		if err := decodeFrame(data, f); err != nil {
			send(&inFrame{err: fmt.Errorf("client: bad frame from relay: %w", err)})
			return
		}
		if !send(f) {
			return
		}
	}
}

// heartbeat pings a silent relay and drops the connection when neither a
// frame nor a pong arrived within the idle timeout. A reader waiting for the
// loop counts as alive: the relay is sending, the device is behind.
func (s *session) heartbeat() {
	defer s.wg.Done()
	tick := max(s.c.opts.PingInterval/2, time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		if s.busy.Load() {
			s.alive()
			continue
		}
		silent := time.Since(time.Unix(0, s.lastAlive.Load()))
		if silent >= s.c.opts.IdleTimeout {
			s.log.Warn("sync: no frame or pong from the relay; dropping the connection", "silent", silent.Round(time.Millisecond))
			s.dead.Store(true)
			s.conn.CloseNow()
			return
		}
		if silent >= s.c.opts.PingInterval/2 && s.pinging.CompareAndSwap(false, true) {
			// One ping at a time, on its own goroutine, so that this loop
			// keeps watching the clock. Its context is long: coder/websocket
			// closes the connection when a write's context ends, even just
			// after the write, so a short one could kill a healthy
			// connection. The pong counts through OnPongReceived.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.pinging.Store(false)
				ctx, cancel := context.WithTimeout(context.Background(), s.c.opts.IdleTimeout)
				defer cancel()
				if s.conn.Ping(ctx) == nil {
					s.alive()
				}
			}()
		}
	}
}

// teardown ends the connection: gracefully when the caller is done (the
// relay sees a normal close), at once otherwise, and stops the goroutines.
func (s *session) teardown(ctx context.Context) {
	close(s.stop)
	if s.uploadCancel != nil {
		s.uploadCancel() // an upload cut here starts again on the next session
	}
	if s.retry != nil {
		s.retry.Stop()
	}
	if ctx.Err() != nil {
		done := make(chan struct{})
		go func() {
			s.conn.Close(websocket.StatusNormalClosure, "client closing")
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(time.Second): // a dead peer: do not hold up the caller
			return
		}
	} else {
		s.conn.CloseNow()
	}
	s.wg.Wait()
}
