package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

var (
	ana     = conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: "Ana"}
	bob     = conv.Participant{ID: "agent:bob", Role: conv.RoleAgent, Name: "Bob"}
	contact = conv.Participant{ID: "contact:42", Role: conv.RoleContact}
)

// testLogger logs to t when -v, and keeps the text for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	c      *Client
	mem    *Memory
	logs   *logBuf
	states *stateLog
	typing chan protocol.Typing
	runErr chan error
}

type stateLog struct {
	mu  sync.Mutex
	all []Status
}

func (s *stateLog) add(st Status) {
	s.mu.Lock()
	s.all = append(s.all, st)
	s.mu.Unlock()
}

func (s *stateLog) list() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Status(nil), s.all...)
}

// start runs a Client for mem against url until the test ends.
func start(t testing.TB, url string, mem *Memory, auth protocol.Auth, tweak func(*Options)) *harness {
	t.Helper()
	h := &harness{mem: mem, logs: &logBuf{}, states: &stateLog{}, typing: make(chan protocol.Typing, 16), runErr: make(chan error, 1)}
	var w io.Writer = h.logs
	opts := Options{
		URL:       url,
		Workspace: "acme",
		Device:    mem.Device(),
		Auth:      auth,
		Local:     mem,
		Logger:    slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnState:   h.states.add,
		OnTyping:  func(tp protocol.Typing) { h.typing <- tp },
		Backoff:   Backoff{Min: 20 * time.Millisecond, Max: 200 * time.Millisecond},
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	ctx, cancel := context.WithCancel(context.Background())
	go func() { h.runErr <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		c.Close()
		if t.Failed() {
			t.Logf("client log:\n%s", h.logs.String())
		}
	})
	return h
}

func agentAuth(token string) protocol.Auth {
	return protocol.Auth{Kind: protocol.AuthAgent, Token: token}
}

// waitFor polls cond until it holds, failing the test after 30 s (generous:
// the race detector and a busy machine slow everything down).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitState(t testing.TB, c *Client, want State) {
	t.Helper()
	waitFor(t, "state "+string(want), func() bool { return c.State() == want })
}

func TestRunAfterCloseAndOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New(empty options) = nil error")
	}
	mem := NewMemory(ana, "d")
	c, err := New(Options{URL: "ws://127.0.0.1:1", Workspace: "acme", Device: "d", Auth: agentAuth("x"), Local: mem})
	if err != nil {
		t.Fatal(err)
	}
	if c.url != "ws://127.0.0.1:1"+protocol.Path {
		t.Errorf("url = %s; want the sync path appended", c.url)
	}
	c.Close()
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v; want ErrClosed", err)
	}
}

func TestCloseFromCallback(t *testing.T) {
	r := newRealRelay(t, relay.Options{})
	mem := NewMemory(ana, "d")
	var c *Client
	closed := make(chan struct{})
	var once sync.Once
	c, err := New(Options{URL: r.url(), Workspace: testWorkspce, Device: "d", Auth: agentAuth(anaToken), Local: mem,
		Logger: slog.New(slog.DiscardHandler),
		OnState: func(s Status) {
			if s.State == StateOnline {
				once.Do(func() { c.Close(); close(closed) })
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v; want nil after Close", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close from a callback deadlocked")
	}
	<-closed
	if st := c.State(); st != StateOffline {
		t.Errorf("state after Close = %s; want offline", st)
	}
}
