package relay

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/threadline/threadline/internal/cpulatency"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// Options tune a Server. The zero value uses the protocol's numbers.
type Options struct {
	// Logger receives structured logs; nil discards them. Tokens, hashes
	// and secrets are never logged.
	Logger *slog.Logger

	// PingInterval, IdleTimeout and TypingTTL default to protocol's.
	PingInterval time.Duration
	IdleTimeout  time.Duration
	TypingTTL    time.Duration
	// HelloTimeout is how long a new connection may take to say hello
	// (default 10 s).
	HelloTimeout time.Duration
	// RatePerSecond and RateBurst limit the events one session pushes
	// (default protocol.RatePerSecond and protocol.RateBurst). Raise them
	// only for load tests or trusted integrations.
	RatePerSecond float64
	RateBurst     float64

	// LowLatency holds a zero CPU latency request (Linux PM QoS, see
	// package cpulatency) while events flow, and for a second after: idle
	// CPUs poll instead of halting, so the wake-ups on an event's path
	// cost far less, but the machine's CPUs stay busy meanwhile. It needs
	// write access to /dev/cpu_dma_latency (root); without it the relay
	// says why and runs as without the option.
	LowLatency bool

	// Blobs keeps attachments' bytes (DESIGN §10; files.go): the relay
	// binary gives it OpenDiskBlobs(DIR/files). Nil: the relay keeps no
	// files; PUT /v1/files answers 503, a welcome carries no fileToken and
	// an event naming a file is invalid.
	Blobs Blobs

	queueDepth int         // frames queued per session; protocol.SendQueueDepth
	hooks      hookOptions // webhook delivery's timings (DESIGN §9's by default)
	files      fileOptions // sessions' longest life, the file tokens' clock
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PingInterval <= 0 {
		o.PingInterval = protocol.PingInterval
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = protocol.IdleTimeout
	}
	if o.TypingTTL <= 0 {
		o.TypingTTL = protocol.TypingTTL
	}
	if o.HelloTimeout <= 0 {
		o.HelloTimeout = 10 * time.Second
	}
	if o.RatePerSecond <= 0 {
		o.RatePerSecond = protocol.RatePerSecond
	}
	if o.RateBurst <= 0 {
		o.RateBurst = protocol.RateBurst
	}
	if o.queueDepth <= 0 {
		o.queueDepth = protocol.SendQueueDepth
	}
	o.hooks.defaults()
	o.files.defaults()
}

// Server is a relay: it serves the sync protocol for the workspaces of its
// config, on top of a Log.
type Server struct {
	opts       Options
	lg         *slog.Logger
	log        eventlog.Log
	wsMu       sync.RWMutex
	workspaces map[string]*workspace // guarded by wsMu: a reload may add some
	m          *metrics
	mux        *http.ServeMux
	cpu        *cpulatency.Hold // with Options.LowLatency; nil otherwise
	hooks      *webhooks
	files      *files // the file routes and what the writer asks of the file store

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup // one per session reader
	writers  sync.WaitGroup // one per running session writer (session.flush)
}

// New starts a relay for cfg's workspaces on log. The caller owns log and
// closes it after Shutdown.
func New(cfg *Config, log eventlog.Log, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts.defaults()
	for _, w := range cfg.Warnings() {
		opts.Logger.Warn(w)
	}
	s := &Server{
		opts:       opts,
		lg:         opts.Logger,
		log:        log,
		workspaces: map[string]*workspace{},
		m:          newMetrics(),
		mux:        http.NewServeMux(),
		sessions:   map[*session]struct{}{},
	}
	if opts.LowLatency {
		var err error
		if s.cpu, err = cpulatency.Start(time.Second, s.lg); err != nil {
			s.lg.Warn("low latency: cannot hold a CPU latency request; running without", "err", err)
		}
	}
	s.files = newFiles(s)
	for _, wc := range cfg.Workspaces {
		w, err := newWorkspace(s, wc)
		if err != nil {
			for _, w := range s.workspaces {
				w.stop()
			}
			s.cpu.Close()
			return nil, err
		}
		s.workspaces[wc.ID] = w
		s.lg.Info("workspace open", "workspace", w.id, "epoch", w.epoch, "head", w.acknowledged())
	}
	s.mux.HandleFunc(protocol.Path, s.serveSync)
	s.mux.HandleFunc("/healthz", s.serveHealth)
	s.hooks = newWebhooks(s)
	s.m.more = s.hooks.writeMetrics
	s.hooks.sync()
	s.mux.Handle("/metrics", s.m.handler())
	s.mux.Handle(APIPath, newAPI(s)) // the HTTP API (api.go)
	s.mux.Handle(FilesPath, s.files) // attachments (files.go)
	return s, nil
}

// Handler returns the relay's mux: /v1/sync, /v1/api/, /v1/files/, /healthz and /metrics. More
// routes (the web widget's /widget.js and /demo) can be mounted on it.
func (s *Server) Handler() *http.ServeMux { return s.mux }

// workspace returns the workspace named id, or nil.
func (s *Server) workspace(id string) *workspace {
	s.wsMu.RLock()
	defer s.wsMu.RUnlock()
	return s.workspaces[id]
}

// allWorkspaces returns every workspace, in no order.
func (s *Server) allWorkspaces() []*workspace {
	s.wsMu.RLock()
	defer s.wsMu.RUnlock()
	out := make([]*workspace, 0, len(s.workspaces))
	for _, w := range s.workspaces {
		out = append(out, w)
	}
	return out
}

// Epoch returns workspace ws's epoch ("" for an unknown workspace).
func (s *Server) Epoch(ws string) string {
	if w := s.workspace(ws); w != nil {
		return w.epoch
	}
	return ""
}

// Head returns the highest seq acknowledged in workspace ws: every event
// up to it is durable and was fanned out. A device catching up reads up to
// it once the log's commit, which follows the acknowledgement by a few
// microseconds, has made the last group readable.
func (s *Server) Head(ws string) uint64 {
	if w := s.workspace(ws); w != nil {
		return w.acknowledged()
	}
	return 0
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	err := s.health()
	switch {
	case closing:
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
	case err != nil:
		http.Error(w, "log unavailable", http.StatusServiceUnavailable)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	}
}

func (s *Server) health() error {
	for _, w := range s.allWorkspaces() {
		w.mu.RLock()
		err := w.broken
		w.mu.RUnlock()
		if err != nil {
			return err
		}
	}
	return s.log.Check()
}

// Read buffer sizes of a hijacked connection. net/http hands over 4 KiB
// each way; these are smaller so an idle connection stays cheap (large
// reads and writes bypass bufio anyway).
const (
	connReadBuf  = 1 << 10
	connWriteBuf = 1 << 10
)

func (s *Server) serveSync(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		http.Error(w, "relay shutting down", http.StatusServiceUnavailable)
		return
	}
	sess := &session{srv: s, remote: r.RemoteAddr, origin: r.Header.Get("Origin"), accepted: time.Now()}
	c, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		// Authentication rides in the hello, never in cookies, so any
		// origin may connect: the widget runs on customers' sites. A
		// workspace's allowedOrigins are checked at the hello, which names
		// the workspace.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
		OnPongReceived:     func(context.Context, []byte) { sess.lastHeard.Store(time.Now().UnixNano()) },
	})
	if err != nil {
		return // Accept has answered
	}
	// The limit is enforced by readFrame (so it can answer too_large and
	// close with 4009); this is the library's backstop a byte above it.
	c.SetReadLimit(protocol.MaxFrameBytes + 1)
	sess.conn = c
	sess.lastHeard.Store(time.Now().UnixNano())
	sess.events = newTokenBucket(s.opts.RatePerSecond, s.opts.RateBurst)
	sess.typing = newTokenBucket(5, 20)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close(protocol.CloseShuttingDown, "relay shutting down")
		return
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.connections.Add(1)
	sess.timer = time.AfterFunc(time.Hour, sess.heartbeat) // set before it can fire
	sess.timer.Reset(s.opts.PingInterval)
	// The reader runs on its own goroutine so that net/http's connection
	// goroutine and its buffers are released now.
	go sess.run()
}

func (s *Server) forget(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.m.connections.Add(-1)
	s.wg.Done()
}

// Shutdown closes every session with 4010 (relay shutting down), lets the
// writers finish the group commits already queued, so that every event
// acknowledged is durable, and stops them. It does not close the log. If
// ctx ends first, the remaining connections are dropped without a close
// handshake.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	sessions := make([]*session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.closeWith(protocol.CloseShuttingDown, "relay shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); s.writers.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("relay: shutdown: %w", ctx.Err())
		for _, sess := range sessions {
			_ = sess.conn.CloseNow()
		}
		<-done
	}
	for _, w := range s.allWorkspaces() {
		w.stop()
	}
	s.hooks.close()
	s.cpu.Close()
	s.lg.Info("relay stopped")
	return err
}

// smallBuffers makes the hijacked connection use smaller bufio buffers than
// net/http's 4 KiB pair (see connReadBuf).
type smallBuffers struct{ http.ResponseWriter }

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if brw.Writer.Buffered() > 0 {
		if err := brw.Writer.Flush(); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	var src io.Reader = c
	n := brw.Reader.Buffered()
	if n > 0 {
		// Bytes the client sent right after its upgrade request: keep them
		// in front, inside the new reader's buffer (the library re-reads
		// what is buffered, then the conn).
		b, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(b)), c)
	}
	br := bufio.NewReaderSize(src, max(connReadBuf, n))
	if n > 0 {
		if _, err := br.Peek(n); err != nil {
			c.Close()
			return nil, nil, err
		}
	}
	return c, bufio.NewReadWriter(br, bufio.NewWriterSize(c, connWriteBuf)), nil
}
