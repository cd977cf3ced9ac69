package relay

// Catch-up: what a session reads from the log after its welcome, up to the
// published head, before it goes live (DESIGN §5): the whole log for the
// team, a contact's or visitor's own conversations, as it may see them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// catchUp sends one backlog page, or goes live when there is none left.
func (s *session) catchUp() error {
	if s.who.IsTeam() {
		return s.catchUpTeam()
	}
	return s.catchUpUser()
}

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
