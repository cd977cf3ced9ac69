package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/backend/conv"
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

var errPageFull = errors.New("page full")

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
