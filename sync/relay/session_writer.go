package relay

// A session's writer: the frames queued for it (live events, acks, typing),
// written by one goroutine at a time, and what happens to a reader too slow
// for them.

import (
	"context"

	"github.com/coder/websocket"
	"github.com/threadline/threadline/sync/protocol"
)

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
