// Package relayrun starts real relays for tests: the relay.Config of the
// standard test workspace (relaytest's), and Start, a relay.Server on a
// loopback httptest server over one of relaytest.Logs, stopped in t's
// cleanup.
//
// It is a package apart from relaytest because it imports sync/relay, and
// sync/relay's own tests (package relay) import relaytest: were this in
// relaytest, those tests would import their own package. They start their
// relays with a helper of their own, from the same relaytest pieces.
package relayrun

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/threadline/threadline/internal/relaytest"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

// Config returns the standard test workspace's config (relaytest.Workspace,
// its secret, agents, assistants and attributes), changed by each edit in
// turn (a nil edit changes nothing).
func Config(edit ...func(*relay.WorkspaceConfig)) *relay.Config {
	w := relay.WorkspaceConfig{
		ID:             relaytest.Workspace,
		Name:           relaytest.WorkspaceName,
		IdentitySecret: relaytest.Secret,
		Agents:         members(relaytest.Agents()),
		Assistants:     members(relaytest.Assistants()),
		Attributes:     relaytest.Attributes(),
	}
	for _, e := range edit {
		if e != nil {
			e(&w)
		}
	}
	return &relay.Config{Workspaces: []relay.WorkspaceConfig{w}}
}

func members(ms []relaytest.Member) []relay.Member {
	out := make([]relay.Member, len(ms))
	for i, m := range ms {
		out[i] = relay.Member{ID: m.ID, Name: m.Name, Token: m.Token}
	}
	return out
}

// Relay is a running relay: a relay.Server on its log, served by an
// httptest server on 127.0.0.1.
type Relay struct {
	Server *relay.Server
	Log    eventlog.Log
	HTTP   *httptest.Server
	Dir    string // the log's directory
	URL    string // http(s)://127.0.0.1:port
	WS     string // ws(s)://127.0.0.1:port, without a path (relaytest.WS)

	t    testing.TB
	once sync.Once
}

// Socket is the relay's WebSocket endpoint (WS + protocol.Path), for a raw
// websocket.Dial.
func (r *Relay) Socket() string { return r.WS + protocol.Path }

// Addr is the relay's "127.0.0.1:port", for a relaytest.FaultProxy.
func (r *Relay) Addr() string { return r.HTTP.Listener.Addr().String() }

// An Option changes how Start starts a relay.
type Option func(*settings)

type settings struct {
	cfg   *relay.Config
	opts  relay.Options
	log   relaytest.LogImpl
	dir   string
	tls   *tls.Config
	mount func(*http.ServeMux)
}

// WithConfig runs the relay with cfg instead of Config().
func WithConfig(cfg *relay.Config) Option { return func(s *settings) { s.cfg = cfg } }

// WithOptions runs the relay with opts. Its Logger, when set, is the log's
// too.
func WithOptions(opts relay.Options) Option { return func(s *settings) { s.opts = opts } }

// WithLog runs the relay on impl instead of relaytest.Logs[0].
func WithLog(impl relaytest.LogImpl) Option { return func(s *settings) { s.log = impl } }

// InDir keeps the log in dir instead of a new t.TempDir(): a relay started
// again on the same dir finds the same log (a restart).
func InDir(dir string) Option { return func(s *settings) { s.dir = dir } }

// WithTLS serves https and wss with cfg instead of http and ws.
func WithTLS(cfg *tls.Config) Option { return func(s *settings) { s.tls = cfg } }

// Mount adds routes to the relay's mux before it serves (the widget, test
// routes).
func Mount(fn func(*http.ServeMux)) Option { return func(s *settings) { s.mount = fn } }

// Start runs a relay for t and stops it in t's cleanup (or earlier, with
// Stop). It fails t when the relay cannot start.
func Start(t testing.TB, opts ...Option) *Relay {
	t.Helper()
	s := settings{log: relaytest.Logs[0]}
	for _, o := range opts {
		o(&s)
	}
	if s.cfg == nil {
		s.cfg = Config()
	}
	if s.dir == "" {
		s.dir = t.TempDir()
	}
	r := &Relay{t: t, Dir: s.dir}
	r.Log = s.log.Open(t, s.dir, s.opts.Logger)
	srv, err := relay.New(s.cfg, r.Log, s.opts)
	if err != nil {
		r.Log.Close()
		t.Fatalf("relay.New: %v", err)
	}
	r.Server = srv
	mux := srv.Handler()
	if s.mount != nil {
		s.mount(mux)
	}
	r.HTTP = httptest.NewUnstartedServer(mux)
	if s.tls != nil {
		r.HTTP.TLS = s.tls
		r.HTTP.StartTLS()
	} else {
		r.HTTP.Start()
	}
	r.URL = r.HTTP.URL
	r.WS = relaytest.WS(r.URL)
	t.Cleanup(r.Stop)
	return r
}

// Stop stops the relay (relaytest.Stop: the HTTP server, the relay, its
// log). A second Stop waits for the first.
func (r *Relay) Stop() {
	r.once.Do(func() { relaytest.Stop(r.t, r.HTTP, r.Server.Shutdown, r.Log) })
}
