package relaytest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy forwards TCP connections on 127.0.0.1 to a relay, and makes the
// failures a network makes: it cuts every live connection (Cut), makes them
// go silent one way (Hush), or refuses new ones (Block), as when the relay's
// host is unreachable. Clients dial URL; the relay behind it may move (a
// restart on a new port) since the proxy asks target for each connection.
type FaultProxy struct {
	ln      net.Listener
	target  func() string
	blocked atomic.Bool
	conns   atomic.Int64

	mu   sync.Mutex
	live map[*proxyConn]struct{}
}

type proxyConn struct {
	client, server net.Conn
	silent         atomic.Bool // the relay's bytes to the client are dropped
}

// NewFaultProxy starts a proxy to the address target returns for each new
// connection ("host:port"; "" while the relay is down, and then the
// connection is refused). t's cleanup stops it and cuts what is live.
func NewFaultProxy(t testing.TB, target func() string) *FaultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{ln: ln, target: target, live: map[*proxyConn]struct{}{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.Cut() })
	return p
}

// Addr is the proxy's "127.0.0.1:port".
func (p *FaultProxy) Addr() string { return p.ln.Addr().String() }

// URL is the proxy's ws:// base URL, without a path (see WS).
func (p *FaultProxy) URL() string { return "ws://" + p.Addr() }

// Conns is how many connections the proxy has forwarded so far.
func (p *FaultProxy) Conns() int64 { return p.conns.Load() }

func (p *FaultProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		addr := p.target()
		if p.blocked.Load() || addr == "" {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		pc := &proxyConn{client: c, server: s}
		p.mu.Lock()
		if p.blocked.Load() { // blocked while dialing
			p.mu.Unlock()
			c.Close()
			s.Close()
			continue
		}
		p.live[pc] = struct{}{}
		p.mu.Unlock()
		p.conns.Add(1)
		go p.forward(pc)
	}
}

// forward copies the client's bytes to the relay and the relay's back,
// dropping those while pc is silent, until either side ends.
func (p *FaultProxy) forward(pc *proxyConn) {
	c, s := pc.client, pc.server
	go func() { io.Copy(s, c); s.Close(); c.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := s.Read(buf)
		if n > 0 && !pc.silent.Load() {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	c.Close()
	s.Close()
	p.mu.Lock()
	delete(p.live, pc)
	p.mu.Unlock()
}

// Cut closes every live connection, as a network failure does.
func (p *FaultProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.live {
		pc.client.Close()
		pc.server.Close()
	}
}

// Hush makes the live connections silent downstream, as a route that dies
// one way: the client's frames still reach the relay (its pushes are
// logged), the relay's answers and pongs are lost. A client's heartbeat
// notices, it reconnects and resends, and the relay answers from memory.
func (p *FaultProxy) Hush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for pc := range p.live {
		pc.silent.Store(true)
	}
}

// Block refuses new connections and cuts the live ones (an offline period:
// clients keep retrying with backoff) until Block(false).
func (p *FaultProxy) Block(on bool) {
	p.mu.Lock()
	p.blocked.Store(on)
	p.mu.Unlock()
	if on {
		p.Cut()
	}
}
