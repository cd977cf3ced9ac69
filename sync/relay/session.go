package relay

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// A session is one WebSocket connection. Its reader goroutine reads and
// handles frames in order (so a client has one push in flight); frames to
// send wait in a bounded queue that at most one flusher goroutine drains,
// started on demand, so an idle connection holds no writer goroutine. While
// the session catches up, the flusher also reads the backlog from the log
// whenever the queue is empty.
type session struct {
	srv    *Server
	conn   *websocket.Conn
	remote string
	origin string // the upgrade request's Origin header; "" for clients that send none

	accepted  time.Time
	lastHeard atomic.Int64 // unix nanos of the last frame or pong
	welcomed  atomic.Bool
	timer     *time.Timer // heartbeat

	// Set by the hello, read-only afterwards.
	ws     *workspace
	who    conv.Participant
	device string
	alias  string        // a contact's session: the visitor whose token it showed (its mids count as this device's)
	auth   protocol.Auth // as the hello gave it: a reload checks it again

	// Reader-owned.
	events tokenBucket
	typing tokenBucket

	mu       sync.Mutex
	queue    [][]byte
	flushing bool // a flusher goroutine is running
	closing  bool // no more frames are written
	catching bool // still sending the backlog

	// Catch-up state, owned by the flusher.
	pos    uint64   // every seq <= pos has been sent or skipped
	plan   []uint64 // end users: visible seqs still to send, all <= planTo
	planTo uint64   //
	fresh  bool     // the hello's cursor was a visitor's: the contact's other conversations come whole
}

// inFrame is every client frame's fields in one struct, so a frame is
// decoded once.
type inFrame struct {
	Type      string          `json:"type"`
	Protocol  int             `json:"protocol"`
	Workspace string          `json:"workspace"`
	Device    string          `json:"device"`
	Cursor    protocol.Cursor `json:"cursor"`
	Auth      protocol.Auth   `json:"auth"`
	Events    []conv.Event    `json:"events"`
	Conv      string          `json:"conv"`
	On        bool            `json:"on"`
}

var errTooLarge = errors.New("frame too large")

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readFrame reads one message into a pooled buffer, refusing more than
// protocol.MaxFrameBytes itself (so it can answer too_large and close with
// 4009 instead of the library's 1009).
func (s *session) readFrame(ctx context.Context) (*[]byte, websocket.MessageType, error) {
	typ, r, err := s.conn.Reader(ctx)
	if err != nil {
		return nil, 0, err
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > protocol.MaxFrameBytes {
			*bp = b[:0]
			putBuf(bp)
			return nil, typ, errTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b[:0]
			putBuf(bp)
			return nil, typ, err
		}
	}
	*bp = b
	return bp, typ, nil
}

func putBuf(bp *[]byte) {
	if cap(*bp) > 64<<10 {
		return // let big buffers go rather than pin them in the pool
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// run is the reader goroutine. It only reads: each frame is handled on a
// short-lived goroutine while the reader waits for it (frames are still
// handled one at a time, in order). Decoding and validating grow a stack;
// this way that stack is freed after each frame, and an idle connection
// keeps only the small stack of a blocked read.
func (s *session) run() {
	defer s.cleanup()
	ctx := context.Background()
	end := make(chan bool)
	for {
		bp, typ, err := s.readFrame(ctx)
		if errors.Is(err, errTooLarge) {
			s.fatal(protocol.CodeTooLarge, fmt.Sprintf("a frame is at most %d bytes", protocol.MaxFrameBytes))
			return
		}
		if err != nil {
			return
		}
		go func() { end <- s.handle(bp, typ) }()
		if <-end {
			return
		}
	}
}

// handle handles one frame and reports whether the session must end.
func (s *session) handle(bp *[]byte, typ websocket.MessageType) bool {
	t0 := time.Now()
	s.lastHeard.Store(t0.UnixNano())
	var f inFrame
	var derr error
	if typ != websocket.MessageText {
		derr = errors.New("frames are JSON text")
	} else if evs, ok := protocol.DecodePush(*bp); ok {
		f.Type, f.Events = protocol.TypePush, evs
	} else {
		derr = json.Unmarshal(*bp, &f)
	}
	size := len(*bp)
	if derr != nil {
		var t protocol.Frame
		if json.Unmarshal(*bp, &t) == nil && t.Type != "" && !isClientType(t.Type) {
			f.Type, derr = t.Type, nil // unknown types win over a shape error
		}
	}
	putBuf(bp)
	if derr != nil {
		s.refuse(protocol.CodeBadFrame, "not a frame: "+derr.Error())
		return false
	}
	if !s.welcomed.Load() {
		if f.Type != protocol.TypeHello {
			s.fatal(protocol.CodeNotReady, "say hello first")
			return true
		}
		return s.hello(&f)
	}
	switch f.Type {
	case protocol.TypePush:
		s.push(&f, size, t0)
	case protocol.TypeTyping:
		s.typingFrame(&f, t0)
	case protocol.TypeHello:
		s.refuse(protocol.CodeBadFrame, "already welcomed")
	default:
		s.refuse(protocol.CodeUnknownType, fmt.Sprintf("unknown frame type %q", f.Type))
	}
	return false
}

func isClientType(t string) bool {
	return t == protocol.TypeHello || t == protocol.TypePush || t == protocol.TypeTyping
}

// refuse answers a frame with a non-fatal error.
func (s *session) refuse(code, message string) {
	s.srv.m.reject(code)
	s.send(protocol.ErrorFrame(code, message, false))
}

// fatal sends a fatal error and closes with its close code. Called while
// the reader waits (from the reader itself or the frame's handler).
func (s *session) fatal(code, message string) {
	s.srv.m.reject(code)
	s.mu.Lock()
	s.closing, s.queue = true, nil
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	err := s.conn.Write(ctx, websocket.MessageText, protocol.ErrorFrame(code, message, true))
	cancel()
	if err == nil {
		_ = s.conn.Close(websocket.StatusCode(protocol.CloseCodeFor(code)), code)
	}
	_ = s.conn.CloseNow()
}

// closeWith closes the connection with code from any goroutine without
// waiting: queued frames are dropped, the close handshake runs on its own.
// It reports whether this call started the close.
func (s *session) closeWith(code int, reason string) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.closing, s.queue = true, nil
	s.mu.Unlock()
	go func() {
		_ = s.conn.Close(websocket.StatusCode(code), reason)
		_ = s.conn.CloseNow()
	}()
	return true
}

func (s *session) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// send queues one frame. A full queue closes the session as a slow reader:
// publishers never wait for a connection.
func (s *session) send(f []byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if len(s.queue) >= s.srv.opts.queueDepth {
		s.mu.Unlock()
		s.slow()
		return
	}
	s.queue = append(s.queue, f)
	s.kickLocked()
	s.mu.Unlock()
}

// sendAll queues frames that must stay together.
func (s *session) sendAll(fs [][]byte) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	if len(s.queue)+len(fs) > s.srv.opts.queueDepth {
		s.mu.Unlock()
		s.slow()
		return
	}
	s.queue = append(s.queue, fs...)
	s.kickLocked()
	s.mu.Unlock()
}

func (s *session) slow() {
	if s.closeWith(protocol.CloseSlowReader, "slow reader") {
		s.srv.m.slowDisconnects.Add(1)
		s.srv.lg.Info("slow reader disconnected", "identity", s.who.ID, "remote", s.remote)
	}
}

// live ends the catch-up; the workspace calls it holding its hub lock.
func (s *session) live(caughtUp []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catching = false
	s.plan = nil
	if !s.closing {
		s.queue = append(s.queue, caughtUp)
		s.kickLocked()
	}
}

// kickLocked starts the session's writer if it is not running. Callers
// hold s.mu and have seen that s is not closing, so that once Shutdown has
// closed a session no writer starts for it: Shutdown waits for the running
// ones, which may be reading the log for a backlog page, before the log may
// close.
func (s *session) kickLocked() {
	if !s.flushing {
		s.flushing = true
		s.srv.writers.Add(1)
		go func() {
			defer s.srv.writers.Done()
			s.flush()
		}()
	}
}

// flush is the session's only writer: it writes queued frames and, when
// the queue is empty during catch-up, the next backlog page. It exits when
// there is nothing left to write.
func (s *session) flush() {
	for {
		s.mu.Lock()
		if s.closing {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		if len(s.queue) > 0 {
			f := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil // an idle session keeps no buffer
			}
			s.mu.Unlock()
			if err := s.write(f); err != nil {
				s.abort()
				return
			}
			continue
		}
		if !s.catching {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if err := s.catchUp(); err != nil {
			s.srv.lg.Error("backlog read failed", "workspace", s.ws.id, "err", err)
			s.closeWith(protocol.CloseReconnect, "backlog unavailable")
			s.mu.Lock()
			s.flushing = false
			s.mu.Unlock()
			return
		}
	}
}

// write writes one frame. It has no deadline of its own (a per-write
// context would stay referenced by the connection while idle): a write
// stuck on a peer that does not read ends when the heartbeat or the slow
// reader check closes the connection.
func (s *session) write(f []byte) error {
	return s.conn.Write(context.Background(), websocket.MessageText, f)
}

// abort drops a connection whose write failed.
func (s *session) abort() {
	s.mu.Lock()
	s.closing, s.queue, s.flushing = true, nil, false
	s.mu.Unlock()
	_ = s.conn.CloseNow()
}

// catchUp sends one backlog page, or goes live when there is none left.
func (s *session) catchUp() error {
	if s.who.IsTeam() {
		return s.catchUpTeam()
	}
	return s.catchUpUser()
}

var errPageFull = errors.New("page full")

// goLive joins the workspace's live sessions once s has read up to the
// published head; while a durable group is not yet readable from the log,
// it waits for it (the next catch-up then reads it).
func (s *session) goLive() {
	if unread := s.ws.goLive(s, s.pos); unread != nil {
		<-unread
	}
}

func (s *session) catchUpTeam() error {
	w := s.ws
	head := w.published()
	if s.pos >= head {
		s.goLive()
		return nil
	}
	to := min(head, s.pos+protocol.BacklogPage)
	var raws [][]byte
	size, last := 0, s.pos
	err := s.srv.log.Scan(w.id, s.pos+1, to, func(seq uint64, raw []byte) error {
		if len(raws) > 0 && size+len(raw)+1 > protocol.MaxEventsBytes {
			return errPageFull
		}
		raws = append(raws, raw)
		size += len(raw) + 1
		last = seq
		return nil
	})
	if err != nil && !errors.Is(err, errPageFull) {
		return err
	}
	if len(raws) == 0 || last != s.pos+uint64(len(raws)) {
		return fmt.Errorf("relay: log of %s has a gap after seq %d", w.id, s.pos)
	}
	if err := s.write(protocol.EventsFrame(raws)); err != nil {
		s.abort()
		return nil
	}
	s.pos = last
	return nil
}

func (s *session) catchUpUser() error {
	w := s.ws
	if len(s.plan) == 0 {
		s.pos = max(s.pos, s.planTo)
		head := w.published()
		if s.pos >= head {
			s.goLive()
			return nil
		}
		plan, err := s.planFor(s.pos, head)
		if err != nil {
			return err
		}
		s.plan, s.planTo = plan, head
		return nil
	}
	n := min(len(s.plan), protocol.BacklogPage)
	raws, err := s.srv.log.Events(w.id, s.plan[:n])
	if err != nil {
		return err
	}
	if err := forUserRaws(s.who, raws); err != nil {
		return err
	}
	k := pageLen(raws)
	if err := s.write(protocol.EventsFrame(raws[:k])); err != nil {
		s.abort()
		return nil
	}
	s.plan = s.plan[k:]
	return nil
}

// planFor lists the seqs an end user will receive for the log range
// (from, to]: the events of its conversations it may see, judged on their
// current state. A conversation it got within the range (created for it,
// or identified) comes with its whole history, even one this device's hello
// just moved to the contact: the device may have held it as the visitor,
// but it may as well never have seen it (created for the visitor id after
// the device stopped being the visitor), and devices ignore events they
// hold, so resending is safe where skipping loses events.
func (s *session) planFor(from, to uint64) ([]uint64, error) {
	w := s.ws
	owned, err := s.srv.log.Owned(w.id, s.who.ID)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, o := range owned {
		if o.Since > to {
			continue // not yet published
		}
		lo := from
		if o.Since > from || s.fresh {
			lo = 0
		}
		ss, err := s.srv.log.ConversationSeqs(w.id, o.Conv, lo, to)
		if err != nil {
			return nil, err
		}
		seqs = append(seqs, ss...)
	}
	slices.Sort(seqs)
	return s.visible(seqs)
}

// visible keeps the seqs whose events s may see.
func (s *session) visible(seqs []uint64) ([]uint64, error) {
	w := s.ws
	out := seqs[:0]
	states := map[string]*conv.Conversation{}
	for len(seqs) > 0 {
		n := min(len(seqs), 256)
		chunk := seqs[:n]
		raws, err := s.srv.log.Events(w.id, chunk)
		if err != nil {
			return nil, err
		}
		for i, raw := range raws {
			var e conv.Event
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, fmt.Errorf("relay: decode stored event %d: %w", chunk[i], err)
			}
			c, ok := states[e.Conv]
			if !ok {
				if c, err = w.state(e.Conv); err != nil {
					return nil, err
				}
				states[e.Conv] = c
			}
			if conv.Visible(s.who, c, e) {
				out = append(out, chunk[i])
			}
		}
		seqs = seqs[n:]
	}
	return out, nil
}

// lastVisible returns the newest seq <= upTo of an event s may see.
func (s *session) lastVisible(upTo uint64) (uint64, error) {
	w := s.ws
	owned, err := s.srv.log.Owned(w.id, s.who.ID)
	if err != nil {
		return 0, err
	}
	var best uint64
	for _, o := range owned {
		if o.Since > upTo {
			continue
		}
		ss, err := s.srv.log.ConversationSeqs(w.id, o.Conv, best, upTo)
		if err != nil {
			return 0, err
		}
		for i := len(ss) - 1; i >= 0; i-- {
			v, err := s.visible([]uint64{ss[i]})
			if err != nil {
				return 0, err
			}
			if len(v) > 0 {
				best = max(best, ss[i])
				break
			}
		}
	}
	return best, nil
}

// hello authenticates the session and starts its catch-up. It reports
// whether the session must end.
func (s *session) hello(f *inFrame) bool {
	if f.Protocol != protocol.Version {
		s.fatal(protocol.CodeUnsupportedProtocol, fmt.Sprintf("this relay serves protocol %d", protocol.Version))
		return true
	}
	w := s.srv.workspace(f.Workspace)
	if w == nil {
		s.fatal(protocol.CodeUnknownWorkspace, "no such workspace here")
		return true
	}
	if !w.settings().originAllowed(s.origin) {
		s.srv.lg.Info("hello refused", "workspace", w.id, "kind", f.Auth.Kind, "remote", s.remote, "why", "origin not allowed", "origin", s.origin)
		s.fatal(protocol.CodeUnauthorized, "this workspace's chat may not be embedded on "+s.origin)
		return true
	}
	if f.Device == "" || len(f.Device) > conv.MaxIDChars {
		s.refuse(protocol.CodeBadFrame, fmt.Sprintf("hello needs a device id of 1–%d characters", conv.MaxIDChars))
		return false
	}
	s.ws, s.device = w, f.Device
	who, visitorToken, identify, msg := s.authenticate(&f.Auth)
	if msg != "" {
		s.srv.lg.Info("hello refused", "workspace", w.id, "kind", f.Auth.Kind, "remote", s.remote, "why", msg)
		s.fatal(protocol.CodeUnauthorized, msg)
		return true
	}
	s.who, s.auth = who, f.Auth

	var err error
	switch {
	case f.Auth.Kind == protocol.AuthVisitor && visitorToken != "":
		err = w.submit(&request{kind: reqVisitor, visitor: eventlog.VisitorToken{Hash: sha256.Sum256([]byte(visitorToken)), ID: who.ID}})
	case identify.ID != "":
		s.alias = identify.ID
		r := &request{kind: reqIdentify, visitorID: identify.ID, visitor: identify, contact: who}
		if err = w.submit(r); err == nil && len(r.identified) > 0 {
			s.srv.lg.Info("visitor identified", "workspace", w.id, "contact", who.ID, "conversations", len(r.identified))
		}
	}
	if p := helloProfile(who, f.Auth.Email); err == nil && who.IsEndUser() && p != (profile{}) {
		err = w.submit(&request{kind: reqProfile, contact: who, profile: p})
	}
	if err != nil {
		return s.unavailable(err)
	}

	lastMid, err := s.srv.log.LastMid(w.id, who.ID, s.device)
	if err != nil {
		return s.unavailable(err)
	}
	if s.alias != "" {
		// What this device pushed as the visitor it was has outcomes too.
		vm, err := s.srv.log.LastMid(w.id, s.alias, s.device)
		if err != nil {
			return s.unavailable(err)
		}
		lastMid = max(lastMid, vm)
	}
	head := w.published()
	start := f.Cursor.Seq
	if f.Cursor.Epoch != w.epoch {
		start = 0 // another log (or none yet): everything from seq 1
	}
	start = min(start, head)
	if identify.ID != "" {
		// The device's cursor is a visitor's until it has caught up as this
		// contact: the first time it says hello as the contact, and again
		// after a first try that ended before the device got its backlog
		// (the identification is recorded by then, but the cursor is still
		// the visitor's: below identify.Seq). Then the contact's other
		// conversations come whole. Resending what a device holds costs a
		// backlog; skipping it loses events for good.
		s.fresh = identify.Contact != who.ID || start < identify.Seq
	}
	welcome := protocol.Welcome{
		Type:         protocol.TypeWelcome,
		Identity:     who,
		Epoch:        w.epoch,
		Head:         head,
		Backlog:      head - start,
		LastMid:      lastMid,
		VisitorToken: visitorToken,
		FileToken:    s.srv.files.sessionToken(w, who),
	}
	s.pos = start
	if who.IsTeam() {
		welcome.Workspace = w.settings().info // agents and assistants only: never the roster or schema to end users
	} else {
		plan, err := s.planFor(start, head)
		s.fresh = false // for the first range only
		if err != nil {
			return s.unavailable(err)
		}
		s.plan, s.planTo = plan, head
		welcome.Backlog = uint64(len(plan))
		if len(plan) > 0 {
			welcome.Head = plan[len(plan)-1]
		} else if welcome.Head, err = s.lastVisible(start); err != nil {
			return s.unavailable(err)
		}
	}
	s.welcomed.Store(true)
	s.srv.m.sessions.Add(1)
	s.mu.Lock()
	s.catching = true
	if !s.closing {
		s.queue = append(s.queue, protocol.WelcomeFrame(welcome))
		s.kickLocked()
	}
	s.mu.Unlock()
	s.srv.lg.Debug("welcome", "workspace", w.id, "identity", who.ID, "device", s.device, "backlog", welcome.Backlog)
	return false
}

// unavailable ends a session the log cannot serve now; the client retries.
func (s *session) unavailable(err error) bool {
	if errors.Is(err, errStopped) {
		s.closeWith(protocol.CloseShuttingDown, "relay shutting down")
		return true
	}
	s.srv.lg.Error("session refused: log unavailable", "err", err)
	s.closeWith(protocol.CloseReconnect, "log unavailable")
	return true
}

// authenticate checks a hello's auth. It returns the identity, a new
// visitor token to hand out, the visitor id a contact identifies, or a
// message saying why it is refused.
func (s *session) authenticate(a *protocol.Auth) (who conv.Participant, newToken string, identify eventlog.VisitorToken, refused string) {
	w := s.ws
	st := w.settings()
	switch a.Kind {
	case protocol.AuthAgent, protocol.AuthAssistant:
		if who, ok := st.member(teamRole(a.Kind), a.Token); ok {
			return who, "", eventlog.VisitorToken{}, ""
		}
		return who, "", eventlog.VisitorToken{}, "bad token"

	case protocol.AuthContact:
		id := conv.ContactPrefix + a.ContactID
		if a.ContactID == "" || len(id) > conv.MaxIDChars {
			return who, "", eventlog.VisitorToken{}, "contactId must be 1–120 characters"
		}
		if !st.contactHashOK(a.ContactID, a.Hash) {
			return who, "", eventlog.VisitorToken{}, "wrong contact hash"
		}
		who = conv.Participant{ID: id, Role: conv.RoleContact, Name: truncate(a.Name, conv.MaxNameChars)}
		if a.VisitorToken != "" {
			vt, ok, err := s.srv.log.Visitor(w.id, sha256.Sum256([]byte(a.VisitorToken)))
			if err != nil {
				return who, "", eventlog.VisitorToken{}, "visitor lookup failed"
			}
			if !ok {
				return who, "", eventlog.VisitorToken{}, "unknown visitor token"
			}
			identify = vt
		}
		return who, "", identify, ""

	case protocol.AuthVisitor:
		if a.VisitorToken == "" {
			var b [32]byte
			_, _ = rand.Read(b[:])
			return conv.Participant{ID: conv.VisitorPrefix + uuid.NewString(), Role: conv.RoleVisitor, Name: truncate(a.Name, conv.MaxNameChars)},
				base64.RawURLEncoding.EncodeToString(b[:]), eventlog.VisitorToken{}, ""
		}
		vt, ok, err := s.srv.log.Visitor(w.id, sha256.Sum256([]byte(a.VisitorToken)))
		if err != nil {
			return who, "", eventlog.VisitorToken{}, "visitor lookup failed"
		}
		if !ok {
			return who, "", eventlog.VisitorToken{}, "unknown visitor token"
		}
		return conv.Participant{ID: vt.ID, Role: conv.RoleVisitor, Name: truncate(a.Name, conv.MaxNameChars)}, "", eventlog.VisitorToken{}, ""
	}
	return who, "", eventlog.VisitorToken{}, fmt.Sprintf("unknown auth kind %q", a.Kind)
}

// teamRole is the role an agent or assistant hello authenticates as.
func teamRole(kind string) conv.Role {
	if kind == protocol.AuthAssistant {
		return conv.RoleAssistant
	}
	return conv.RoleAgent
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// push logs a push's events and answers it with an ack.
func (s *session) push(f *inFrame, size int, t0 time.Time) {
	switch {
	case f.Events == nil:
		s.refuse(protocol.CodeBadFrame, "a push carries events: [...]")
		return
	case len(f.Events) > protocol.MaxPushEvents:
		s.refuse(protocol.CodeTooMany, fmt.Sprintf("at most %d events in one push", protocol.MaxPushEvents))
		return
	case !s.events.take(len(f.Events), t0):
		s.refuse(protocol.CodeRateLimited, fmt.Sprintf("at most %g events a second (bursts of %g)", s.events.rate, s.events.burst))
		return
	}
	var results []protocol.Result
	if len(f.Events) > 0 {
		r := &request{kind: reqPush, who: s.who, alias: s.alias, device: s.device, events: f.Events, size: size}
		if err := s.ws.submit(r); err != nil {
			if errors.Is(err, errStopped) {
				s.unavailable(err)
				return
			}
			// Nothing of the push is logged: the device pushes it again,
			// on this session, once the log takes writes.
			s.srv.lg.Warn("push refused: the log cannot take writes", "workspace", s.ws.id, "err", err)
			s.refuse(protocol.CodeUnavailable, "the relay cannot log events right now; nothing of this push was logged: push it again in a moment")
			return
		}
		results = r.results
	} else {
		results = []protocol.Result{}
	}
	// Counted first: a device that has its ack may read the metrics.
	s.srv.m.pushes.Add(1)
	s.srv.m.ackLatency.observe(time.Since(t0))
	s.send(protocol.AckFrame(results))
}

// typingFrame relays typing; it is dropped when it names no conversation
// the session may type in, or comes too often.
func (s *session) typingFrame(f *inFrame, now time.Time) {
	if f.Conv == "" {
		s.refuse(protocol.CodeBadFrame, "typing names a conversation")
		return
	}
	if !s.typing.take(1, now) {
		return
	}
	c, err := s.ws.state(f.Conv)
	if err != nil || c == nil || !conv.MayType(c, s.who) {
		return
	}
	s.ws.relayTyping(c, s.who, f.On)
}

// heartbeat runs every PingInterval: it drops a connection that has said
// nothing for IdleTimeout (or no hello in time) and pings the others.
func (s *session) heartbeat() {
	if s.isClosing() {
		return
	}
	o := &s.srv.opts
	now := time.Now()
	if !s.welcomed.Load() && now.Sub(s.accepted) >= o.HelloTimeout {
		s.closeWith(protocol.CloseIdle, "no hello")
		return
	}
	if s.welcomed.Load() && s.srv.files.sessionExpired(s.accepted) {
		// Its fileToken has an hour left: a new session gets a new one.
		s.closeWith(protocol.CloseReconnect, "session renewal: resume for a new fileToken")
		return
	}
	if now.Sub(time.Unix(0, s.lastHeard.Load())) >= o.IdleTimeout {
		s.srv.lg.Debug("idle connection dropped", "remote", s.remote)
		s.closeWith(protocol.CloseIdle, "idle")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.PingInterval)
	if s.conn.Ping(ctx) == nil {
		s.lastHeard.Store(time.Now().UnixNano())
	}
	cancel()
	if !s.isClosing() {
		s.timer.Reset(o.PingInterval)
	}
}

// cleanup runs when the reader goroutine ends.
func (s *session) cleanup() {
	s.mu.Lock()
	s.closing, s.queue = true, nil
	s.mu.Unlock()
	s.timer.Stop()
	if s.ws != nil {
		s.ws.leave(s)
	}
	_ = s.conn.CloseNow()
	if s.welcomed.Load() {
		s.srv.m.sessions.Add(-1)
	}
	s.srv.forget(s)
}
