package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// Options configure a Client. URL, Workspace, Device, Auth and Local are
// required; the rest have defaults.
type Options struct {
	// URL is the relay: "ws://host:port" (or wss://, http://, https://).
	// protocol.Path is appended when the URL has no path.
	URL       string
	Workspace string
	// Device names this device (a stable id the caller keeps, UUID
	// recommended); the relay remembers mids per identity and device.
	Device string
	Auth   protocol.Auth
	Local  Local
	Logger *slog.Logger // nil: slog.Default()

	// OnState is called with the latest Status after it changes. It runs on
	// a goroutine of its own, never concurrently with itself or OnTyping,
	// and may skip intermediate statuses when it is slow (progress ticks
	// coalesce); the last status is always delivered.
	OnState func(Status)
	// OnTyping is called when someone else starts or stops typing in a
	// conversation this device may see (same goroutine as OnState). Typing
	// lapses protocol.TypingTTL after its last renewal: the caller expires it.
	OnTyping func(protocol.Typing)

	Backoff          Backoff       // reconnect delays; DefaultBackoff when zero
	PingInterval     time.Duration // ping a silent relay this often; protocol.PingInterval when zero
	IdleTimeout      time.Duration // drop a connection silent this long; protocol.IdleTimeout when zero
	HandshakeTimeout time.Duration // dial, hello and welcome; 15 s when zero
	WriteTimeout     time.Duration // one frame; 10 s when zero
	// StableAfter is how long a connection must have lasted for the next
	// reconnect to start again from the shortest delay; 10 s when zero.
	StableAfter time.Duration
	HTTPClient  *http.Client // for the WebSocket handshake; http.DefaultClient when nil

	// PushRate and PushBurst pace pushes under the relay's per-session rate
	// limit (events per second, and the burst allowed); they default to
	// protocol.RatePerSecond and protocol.RateBurst. Raise them only for a
	// relay configured with higher limits (a trusted integration, a load
	// test).
	PushRate  float64
	PushBurst float64
}

// Errors.
var (
	// ErrOffline is returned by Typing when no session is up.
	ErrOffline = errors.New("client: not connected")
	// ErrClosed is returned by Run after Close.
	ErrClosed = errors.New("client: closed")
	// ErrRunning is returned by a second concurrent Run.
	ErrRunning = errors.New("client: already running")
	// ErrDeadConnection ends a connection on which neither a frame nor a pong
	// arrived within the idle timeout.
	ErrDeadConnection = errors.New("client: relay silent: connection presumed dead")
)

// SessionError is why a session ended on the relay's word: an error frame,
// a close code, or both.
type SessionError struct {
	Code      string // the relay's error code, if it sent an error frame
	Message   string // its message for people
	CloseCode int    // the WebSocket close code, -1 when the connection ended without one
	Err       error  // the underlying read or dial error, if any
}

func (e *SessionError) Error() string {
	switch {
	case e.Code != "" && e.CloseCode > 0:
		return fmt.Sprintf("client: relay refused the session: %s: %s (close %d)", e.Code, e.Message, e.CloseCode)
	case e.Code != "":
		return fmt.Sprintf("client: relay error: %s: %s", e.Code, e.Message)
	case e.CloseCode > 0:
		return fmt.Sprintf("client: relay closed the connection (%d): %v", e.CloseCode, e.Err)
	}
	return fmt.Sprintf("client: connection lost: %v", e.Err)
}

func (e *SessionError) Unwrap() error { return e.Err }

// Terminal reports whether the session must not be retried as is: the relay
// closed it with a code in 4500–4999.
func (e *SessionError) Terminal() bool { return !protocol.Retryable(e.CloseCode) }

// Client keeps one device in sync with a relay. Make one with New and run it
// with Run; it pushes Local's new events as soon as Local tells it (a
// PendingNotifier, as Memory is), or when Kick says so. Its methods are safe
// for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
	url  string
	n    *notifier

	kick      chan struct{}        // cap 1: something to push
	typingOut chan protocol.Typing // typing frames to send

	mu      sync.Mutex
	auth    protocol.Auth
	running bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{}

	// Owned by the Run goroutine.
	outcomes map[string]outcomeKind // ids the relay has answered for, to skip in Pending
	uploaded map[string]bool        // files (sha256) the relay has stored for this Client
	rnd      func() float64
}

type outcomeKind uint8

const (
	outcomeLogged outcomeKind = iota + 1 // acknowledged with a seq: waits for its canonical copy
	outcomeNoop                          // acknowledged with seq 0: dropped
	outcomeFailed                        // rejected: failed until the user acts
)

// New checks opts and returns a Client that does nothing until Run.
func New(opts Options) (*Client, error) {
	switch {
	case opts.URL == "":
		return nil, errors.New("client: no relay URL")
	case opts.Workspace == "":
		return nil, errors.New("client: no workspace")
	case opts.Device == "":
		return nil, errors.New("client: no device id")
	case opts.Auth.Kind == "":
		return nil, errors.New("client: no auth kind")
	case opts.Local == nil:
		return nil, errors.New("client: no Local store")
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("client: relay URL %q: %w", opts.URL, err)
	}
	switch u.Scheme {
	case "ws", "wss", "http", "https":
	default:
		return nil, fmt.Errorf("client: relay URL %q: want ws:// or wss://", opts.URL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = protocol.Path
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = protocol.PingInterval
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = protocol.IdleTimeout
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.StableAfter <= 0 {
		opts.StableAfter = 10 * time.Second
	}
	if opts.PushRate <= 0 {
		opts.PushRate = protocol.RatePerSecond
	}
	if opts.PushBurst <= 0 {
		opts.PushBurst = protocol.RateBurst
	}
	opts.PushBurst = max(opts.PushBurst, 2) // one token is kept as margin
	c := &Client{
		opts:      opts,
		log:       opts.Logger.With("workspace", opts.Workspace, "device", opts.Device),
		url:       u.String(),
		n:         newNotifier(),
		kick:      make(chan struct{}, 1),
		typingOut: make(chan protocol.Typing, 16),
		auth:      opts.Auth,
		outcomes:  map[string]outcomeKind{},
		uploaded:  map[string]bool{},
		rnd:       rand.Float64,
	}
	if pn, ok := opts.Local.(PendingNotifier); ok {
		pn.NotifyPending(c.Kick)
	}
	return c, nil
}

// Status returns the current status.
func (c *Client) Status() Status { return c.n.status() }

// State returns the current state.
func (c *Client) State() State { return c.n.status().State }

// Watch returns a channel closed at the next status change, for a caller
// that waits for a state without a callback:
//
//	for ch := c.Watch(); c.State() != client.StateOnline; ch = c.Watch() { <-ch }
//
// (take the channel before reading the state, as above, not to miss a change).
func (c *Client) Watch() <-chan struct{} { return c.n.watch() }

// Identity returns who the relay said this device speaks for at the last
// welcome (zero before the first one).
func (c *Client) Identity() conv.Participant { return c.n.status().Identity }

// VisitorToken returns the visitor token in use: the one the caller passed,
// or the one the relay issued at the welcome. The caller persists it, so the
// visitor keeps its conversations across restarts.
func (c *Client) VisitorToken() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.auth.VisitorToken
}

// Kick tells the Client that Local has new pending events: it pushes them at
// once if it is connected (and at the next connection otherwise). It never
// blocks. A Local that is a PendingNotifier (Memory) kicks by itself: Kick
// is for the others (the desktop app's inbox).
func (c *Client) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Typing tells the others in conversation convID that this device's user
// started (on) or stopped typing. It never blocks; while no session is up it
// returns ErrOffline, and typing is dropped rather than queued (a stale
// "typing…" is worse than none). Renew it within protocol.TypingTTL.
func (c *Client) Typing(convID string, on bool) error {
	switch c.State() {
	case StateOnline, StateSyncing:
	default:
		return ErrOffline
	}
	select {
	case c.typingOut <- protocol.Typing{Type: protocol.TypeTyping, Conv: convID, On: on}:
	default: // the connection is backed up; typing is ephemeral
	}
	return nil
}

// Run connects and keeps the device in sync until ctx is done or Close is
// called, reconnecting with backoff after every failure; it then returns nil.
// It returns early, with a *SessionError, only when the relay refused the
// session for good (state failed): retrying would be refused again, so the
// caller must change something (credentials, workspace, app version) and
// start a new Client.
func (c *Client) Run(ctx context.Context) error {
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return ErrClosed
	case c.running:
		c.mu.Unlock()
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	c.running, c.cancel, c.done = true, cancel, make(chan struct{})
	done := c.done
	c.mu.Unlock()

	stopNotify := make(chan struct{})
	notified := make(chan struct{})
	go func() {
		defer close(notified)
		c.n.deliver(stopNotify, c.opts.OnState, c.opts.OnTyping)
	}()
	defer func() {
		cancel()
		c.mu.Lock()
		c.running = false
		c.mu.Unlock()
		close(done) // before the last delivery: a callback may call Close
		close(stopNotify)
		<-notified
	}()

	attempt := 0
	for {
		start := time.Now()
		welcomed, err := c.session(ctx)
		if ctx.Err() != nil {
			c.n.update(func(s *Status) { *s = offline(*s, "", 0) })
			return nil
		}
		var se *SessionError
		if errors.As(err, &se) && se.Terminal() {
			c.log.Error("sync: relay refused the session; not retrying", "code", se.Code, "close", se.CloseCode, "err", se.Message)
			c.n.update(func(s *Status) {
				*s = offline(*s, err.Error(), attempt)
				s.State, s.Code, s.CloseCode = StateFailed, se.Code, se.CloseCode
			})
			return err
		}
		if welcomed && time.Since(start) >= c.opts.StableAfter {
			attempt = 0
		}
		delay := c.opts.Backoff.Delay(attempt, c.rnd())
		attempt++
		c.log.Warn("sync: disconnected", "err", err, "retry_in", delay.Round(time.Millisecond), "attempt", attempt)
		c.n.update(func(s *Status) {
			*s = offline(*s, err.Error(), attempt)
			s.RetryAt = time.Now().Add(delay)
			if se != nil {
				s.Code, s.CloseCode = se.Code, se.CloseCode
			}
		})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			c.n.update(func(s *Status) { *s = offline(*s, "", 0) })
			return nil
		case <-t.C:
		}
	}
}

// offline returns s as offline, keeping what identifies the device and its
// cursor, and clearing what belonged to the connection.
func offline(s Status, errText string, attempt int) Status {
	return Status{
		State:        StateOffline,
		Error:        errText,
		Attempt:      attempt,
		Identity:     s.Identity,
		Epoch:        s.Epoch,
		Seq:          s.Seq,
		VisitorToken: s.VisitorToken,
		LastMid:      s.LastMid,
	}
}

// Close stops Run (closing the connection gracefully) and waits for the
// connection to end; the last status (offline) may reach OnState just after.
// It may be called from a callback. The Client cannot run again.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cancel, done, running := c.cancel, c.done, c.running
	c.mu.Unlock()
	if running {
		cancel()
		<-done
	}
	return nil
}

// rememberOutcomes records the relay's answers so that a Local which keeps
// returning answered events from Pending does not get them resent.
func (c *Client) rememberOutcomes(out []Outcome) {
	for _, o := range out {
		switch {
		case o.Err != nil:
			c.outcomes[o.ID] = outcomeFailed
		case o.Seq > 0:
			c.outcomes[o.ID] = outcomeLogged
		default:
			c.outcomes[o.ID] = outcomeNoop
		}
	}
}

// forgetLogged forgets the events acknowledged in a log that is gone (epoch
// change): the new log may not hold them, so they are pushed again.
func (c *Client) forgetLogged() {
	for id, k := range c.outcomes {
		if k != outcomeFailed {
			delete(c.outcomes, id)
		}
	}
}
