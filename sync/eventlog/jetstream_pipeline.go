package eventlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
	"github.com/threadline/threadline/backend/conv"
)

// A workspace's appends to JetStream go through its pipeline. StartAppend
// sends a small group's events at once, even while the groups before it
// wait for their acks: each publish is conditional on the one before it
// (Nats-Expected-Last-Sequence and Nats-Expected-Last-Msg-Id), the group's
// first on the last event of the group before, so nats-server takes one
// relay's groups back to back, as it takes its own publishers' messages,
// and refuses everything after a publish it refused. One goroutine per
// workspace, the lander, waits for the acks in order, writes what is not an
// event to the bucket and indexes each group.
//
// Only R1 streams take pipelines (on one server or in a cluster: an R1
// stream checks each publish as it takes it). A replicated stream checks
// Nats-Expected-Last-Msg-Id only when it applies a message, and nats-server
// 2.15.2 mishandles a second such refusal in a row: it answers neither
// that publish nor the next, and then counts the stream's last sequence
// wrong (TestCutChainOnR1AndR3Streams shows both). A chain cut by another
// relay is refused exactly that way, so at R3 every group goes as an
// atomic batch, one at a time.
//
// A group that goes as an atomic batch (a batch cannot carry
// Nats-Expected-Last-Msg-Id, so it cannot follow a group still in flight)
// and a group that logs no event (its answers are only right if the stream's
// head is still the one it was validated on) wait in the queue until
// everything before them has landed; the lander then writes them, and the
// groups started behind them wait their turn too.

// jsAppend is one append in the pipeline.
type jsAppend struct {
	b    *Batch
	who  map[uint64]string // events answering another identity's mid than their actor's
	side []MidResult       // answers that logged no event: to the bucket
	pipe bool              // published event by event (else as one atomic batch)

	sent    bool                     // its events have been published (futs)
	futs    []jetstream.PubAckFuture // one per event sent, in order
	sendErr error                    // why the events after futs were not sent
	at      time.Time                // when it was sent

	done chan error // its outcome; buffered
}

// last is the seq a's batch ends at (its head when it logs no event).
func (a *jsAppend) last() uint64 {
	if n := len(a.b.Events); n > 0 {
		return a.b.Events[n-1].Event.Seq
	}
	return a.b.Head
}

// pipeline is one workspace's appends in flight.
type pipeline struct {
	mu      sync.Mutex
	cond    *sync.Cond  // signalled when queue grows or stopped is set
	queue   []*jsAppend // started, not landed, oldest first; queue[0] is the lander's
	last    *Batch      // the last append landed, until one fails
	unsent  int         // appends in queue waiting to be written by the lander
	flying  int         // events sent and not landed
	stopped bool
}

var errClosed = errors.New("eventlog: closed")

// StartAppend implements Pipelined.
func (j *JetStream) StartAppend(ws string, b *Batch) <-chan error {
	s, err := j.space(ws)
	if err != nil {
		ch := make(chan error, 1)
		ch <- err
		return ch
	}
	return s.startAppend(b)
}

// Ready implements Pipelined: nothing is in flight, or the events in flight
// cost less than one atomic batch and nothing waits to be written by the
// lander.
func (j *JetStream) Ready(ws string) bool {
	s, err := j.space(ws)
	if err != nil {
		return true // StartAppend will say why
	}
	p := &s.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue) == 0 || (s.pipelines() && p.unsent == 0 && s.costs.keepsUp(p.flying))
}

// Append implements Log: StartAppend, waited for.
func (j *JetStream) Append(ws string, b *Batch) error {
	s, err := j.space(ws)
	if err != nil {
		return err
	}
	if err := <-s.startAppend(b); err != nil {
		return err
	}
	if b.Durable != nil {
		b.Durable()
	}
	return nil
}

// startAppend queues b behind the appends in flight, and sends its events
// at once when it is a pipeline and nothing queued waits to be written.
func (s *jsSpace) startAppend(b *Batch) <-chan error {
	a := &jsAppend{b: b, done: make(chan error, 1)}
	a.who, a.side = splitResults(b)
	p := &s.pipe
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		a.done <- errClosed
		return a.done
	}
	x := s.idx
	x.mu.Lock()
	tail, after := x.head, p.last
	if n := len(p.queue); n > 0 {
		tail, after = p.queue[n-1].last(), p.queue[n-1].b
	}
	var err error
	switch {
	case len(b.Events) > 0 && b.Events[0].Event.Seq != b.Head+1:
		err = fmt.Errorf("eventlog: a batch validated on head %d starts at seq %d", b.Head, b.Events[0].Event.Seq)
	case b.Head != tail || b.After != after && (b.After != nil || len(p.queue) > 0):
		// Validated on another log than the one this continues: on other
		// seqs, or on a batch that failed (After), or on the head alone
		// while batches are in flight.
		err = &BehindError{Expected: b.Head, Last: tail}
	case len(b.Events) > 0:
		// The consumer leaves seqs above the head to this append.
		x.appending++
	}
	x.mu.Unlock()
	if err != nil {
		a.done <- err
		return a.done
	}
	n := len(b.Events)
	a.pipe = n > 0 && s.pipelines() && s.costs.pipeline(n)
	if a.pipe && p.unsent == 0 {
		prevID := ""
		if k := len(p.queue); k > 0 {
			// Every append queued is a pipeline already sent.
			prev := p.queue[k-1].b.Events
			prevID = prev[len(prev)-1].Event.ID
		}
		s.send(a, prevID)
		p.flying += n
	} else {
		p.unsent++
	}
	p.queue = append(p.queue, a)
	p.cond.Signal()
	return a.done
}

// pipelines reports whether groups may go as pipelines: on R1 streams.
func (s *jsSpace) pipelines() bool { return s.j.opts.Replicas == 1 }

// splitResults finds, of b's results, the events that answer another
// identity's mid than their actor's, and the answers that logged no event.
func splitResults(b *Batch) (who map[uint64]string, side []MidResult) {
	for _, r := range b.Results {
		if r.Result.Error != nil || r.Result.Seq == 0 {
			side = append(side, r)
			continue
		}
		for i := range b.Events {
			e := &b.Events[i].Event
			if e.Seq == r.Result.Seq && e.Actor.ID != r.Identity {
				if who == nil {
					who = map[uint64]string{}
				}
				who[e.Seq] = r.Identity
			}
		}
	}
	return who, side
}

// send publishes a's events without waiting, each conditional on the one
// before: the first on the stream's last seq being a's head and, when a
// follows a group still in flight (prevID), on the last message being that
// group's last event. So what the stream takes of the pipeline is a prefix,
// every event of it validated on exactly the log before it.
func (s *jsSpace) send(a *jsAppend, prevID string) {
	b := a.b
	subj := subject(s.ws)
	a.sent, a.at = true, time.Now()
	a.futs = make([]jetstream.PubAckFuture, 0, len(b.Events))
	for i := range b.Events {
		m := eventMsg(subj, b, i, a.who)
		if i == 0 {
			m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(b.Head, 10))
			if prevID != "" {
				m.Header.Set(jetstream.ExpectedLastMsgIDHeader, prevID)
			}
		} else {
			prev := &b.Events[i-1].Event
			m.Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(prev.Seq, 10))
			m.Header.Set(jetstream.ExpectedLastMsgIDHeader, prev.ID)
		}
		f, err := s.j.js.PublishMsgAsync(m)
		if err != nil {
			a.sendErr = err
			return
		}
		a.futs = append(a.futs, f)
	}
}

// land is the lander goroutine: it ends the appends in the order they
// started. When one fails, every one queued behind it fails too (the stream
// refuses their events, conditional on its own), and the consumer takes in
// as another writer's whatever of them did get in.
func (s *jsSpace) land() {
	defer s.wg.Done()
	p := &s.pipe
	var prev time.Time // when the append before landed
	for {
		p.mu.Lock()
		for len(p.queue) == 0 && !p.stopped {
			p.cond.Wait()
		}
		if p.stopped {
			rest := p.queue
			p.queue, p.unsent, p.flying = nil, 0, 0
			p.mu.Unlock()
			s.fail(rest, errClosed)
			return
		}
		a := p.queue[0]
		wasSent := a.sent
		p.mu.Unlock()

		err := s.complete(a, prev)
		prev = time.Now()

		p.mu.Lock()
		p.queue[0] = nil
		p.queue = p.queue[1:]
		if wasSent {
			p.flying -= len(a.b.Events)
		} else {
			p.unsent--
		}
		var rest []*jsAppend
		if err != nil {
			rest = p.queue
			p.queue, p.unsent, p.flying, p.last = nil, 0, 0, nil
		} else {
			p.last = a.b
		}
		p.mu.Unlock()
		a.done <- err
		s.fail(rest, err)
	}
}

// fail ends appends queued behind one that failed with err.
func (s *jsSpace) fail(rest []*jsAppend, err error) {
	for _, a := range rest {
		s.endAppending(a)
		var be *BehindError
		switch {
		case errors.As(err, &be):
			a.done <- &BehindError{Expected: a.b.Head, Last: be.Last}
		case errors.Is(err, errClosed):
			a.done <- errClosed
		default:
			a.done <- fmt.Errorf("eventlog: an append before this one failed: %w", err)
		}
	}
}

// endAppending lets the consumer index seqs above the head again once no
// append of this relay's is publishing.
func (s *jsSpace) endAppending(a *jsAppend) {
	if len(a.b.Events) == 0 {
		return
	}
	x := s.idx
	x.mu.Lock()
	x.appending--
	x.cond.Broadcast()
	x.mu.Unlock()
}

// complete writes a when it waited for its turn, waits for its events'
// acks, writes its answers that logged no event and its visitor tokens to
// the bucket, and indexes it. Everything queued before a has landed.
func (s *jsSpace) complete(a *jsAppend, prev time.Time) error {
	b := a.b
	if err := s.publish(a, prev); err != nil {
		s.endAppending(a)
		return err
	}
	// The events are in; what is not an event goes to the bucket, and only
	// once both are in is the batch indexed here. When the bucket's part
	// fails after the events went in, they are not indexed as this relay's
	// own: the consumer takes them in as any other writer's, so the relay
	// follows them, and the requests are validated again (their logged
	// events found by mid).
	if err := s.putSide(a.side, b); err != nil {
		s.endAppending(a)
		return err
	}
	x := s.idx
	x.mu.Lock()
	if len(b.Events) > 0 {
		x.appending--
		states := make(map[string]*conv.Conversation, len(b.States))
		for _, c := range b.States {
			states[c.ID] = c
		}
		// Each event's state is the batch's final one for its
		// conversation: readers see the batch whole or not at all.
		for i := range b.Events {
			e := &b.Events[i].Event
			_ = x.add(e, b.Events[i].JSON, a.who[e.Seq], states[e.Conv])
		}
		x.compact()
		s.maybeSnapshot()
	}
	for _, r := range a.side {
		x.answer(r)
	}
	for _, v := range b.Visitors {
		x.visitors[v.Hash] = v
	}
	for _, al := range b.Aliases {
		x.aliases[deviceKey{al.Contact, al.Device}] = al.Visitor
	}
	x.cond.Broadcast()
	x.mu.Unlock()
	return nil
}

// publish gets a's events into the stream: sends them now if a waited for
// its turn, and waits for their acks. A batch that logs no event but
// answers is checked against the stream's head instead.
func (s *jsSpace) publish(a *jsAppend, prev time.Time) error {
	b := a.b
	ctx, cancel := context.WithTimeout(s.ctx, s.j.opts.Timeout)
	defer cancel()
	n := len(b.Events)
	switch {
	case n == 0 && len(b.Results)+len(b.Visitors)+len(b.Aliases) == 0:
		return nil
	case n == 0:
		// Answers alone: still only right on the head they were validated
		// on, which the stream, not this index, says is still the head.
		info, err := s.stream.Info(ctx)
		if err != nil {
			return fmt.Errorf("eventlog: head of %s: %w", s.ws, err)
		}
		if last := info.State.LastSeq; last != b.Head {
			return &BehindError{Expected: b.Head, Last: last}
		}
		return nil
	case !a.pipe:
		t0 := time.Now()
		err := s.publishBatch(ctx, b, a.who)
		if err == nil {
			s.costs.note(false, n, time.Since(t0))
		}
		return err
	}
	if !a.sent {
		s.send(a, "") // everything before it has landed: its head is the stream's
	}
	err := s.await(ctx, a)
	if err == nil {
		// Its cost is from when the server could start on it: its sending,
		// or the group before it landing.
		s.costs.note(true, n, time.Since(later(a.at, prev)))
	}
	return err
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// await waits for the acks of a pipeline. When the stream took less than
// all of it (another writer got in between), the group is behind: the
// prefix is in the log (the consumer indexes it as any other writer's, and
// the relay, validating again, finds its mids answered) and the rest is
// validated again on top.
func (s *jsSpace) await(ctx context.Context, a *jsAppend) error {
	b := a.b
	subj := subject(s.ws)
	took, behind := 0, false
	err := a.sendErr
	for i, f := range a.futs {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate && ack.Sequence > b.Head && ack.Sequence != b.Events[i].Event.Seq {
				// Stored already, above the head the group was validated
				// on: another relay, or an append of this relay's whose
				// acks were lost, got it in first.
				behind = true
				continue
			}
			if ack.Sequence != b.Events[i].Event.Seq {
				return fmt.Errorf("eventlog: %s logged seq %d at %d: does something else publish to %s?", s.ws, b.Events[i].Event.Seq, ack.Sequence, subj)
			}
			if !behind {
				took++
			}
		case ferr := <-f.Err():
			if isBehind(ferr) {
				behind = true
			} else if err == nil {
				err = ferr
			}
		case <-ctx.Done():
			if err == nil {
				err = ctx.Err()
			}
		}
	}
	switch {
	case took == len(b.Events):
		return nil
	case behind:
		return s.behind(ctx, b.Head)
	default:
		return fmt.Errorf("eventlog: publish %d events to %s (%d taken): %w", len(b.Events), s.ws, took, err)
	}
}

// publishBatch writes b's events as one atomic batch expected at its head.
func (s *jsSpace) publishBatch(ctx context.Context, b *Batch, who map[uint64]string) error {
	msgs := make([]*nats.Msg, len(b.Events))
	subj := subject(s.ws)
	for i := range b.Events {
		msgs[i] = eventMsg(subj, b, i, who)
	}
	msgs[0].Header.Set(jetstream.ExpectedLastSeqHeader, strconv.FormatUint(b.Head, 10))
	ack, err := jetstreamext.PublishMsgBatch(ctx, s.j.js, msgs)
	if err != nil {
		if isBehind(err) {
			return s.behind(ctx, b.Head)
		}
		if isDuplicate(err) {
			// Behind when the stream is ahead of the group's head; a
			// message id it held at or below the head would fail again.
			if be := s.behind(ctx, b.Head); be.Last > b.Head {
				return be
			}
		}
		return fmt.Errorf("eventlog: publish %d events to %s: %w", len(msgs), s.ws, err)
	}
	if last := b.Events[len(b.Events)-1].Event.Seq; ack.Sequence != last {
		// The stream took the batch at other seqs than validated: only a
		// writer other than relays could do that.
		return fmt.Errorf("eventlog: %s logged the batch up to %d, not %d: does something else publish to %s?", s.ws, ack.Sequence, last, subj)
	}
	return nil
}

// eventMsg is event i of b as the stream stores it.
func eventMsg(subj string, b *Batch, i int, who map[uint64]string) *nats.Msg {
	r := &b.Events[i]
	m := nats.NewMsg(subj)
	m.Data = r.JSON
	m.Header.Set(jetstream.MsgIDHeader, r.Event.ID)
	if w, ok := who[r.Event.Seq]; ok {
		m.Header.Set(whoHeader, w)
	}
	return m
}

// isBehind reports whether err is the stream refusing a publish whose
// expected last sequence or message id is not its own.
func isBehind(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant ||
		apiErr.ErrorCode == jsErrCodeStreamWrongLastMsgID)
}

// isDuplicate reports whether err is the stream refusing an atomic batch
// one of whose message ids it holds already: an event with an id derived
// from what it does (a contact.identified's), which another relay logged
// first, or one an append of this relay's got in while its acks were lost.
func isDuplicate(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeAtomicPublishDuplicate
}

// jsErrCodeAtomicPublishDuplicate is nats-server's
// JSAtomicPublishContainsDuplicateMessageErr.
const jsErrCodeAtomicPublishDuplicate jetstream.ErrorCode = 10201

// jsErrCodeStreamWrongLastMsgID is nats-server's JSStreamWrongLastMsgIDErrF.
const jsErrCodeStreamWrongLastMsgID jetstream.ErrorCode = 10070

// behind is the BehindError for a group expected at head, with the stream's
// last seq when it can be read.
func (s *jsSpace) behind(ctx context.Context, head uint64) *BehindError {
	be := &BehindError{Expected: head}
	if info, err := s.stream.Info(ctx); err == nil {
		be.Last = info.State.LastSeq
	}
	return be
}

// On an R1 stream a group is published as a pipeline of conditional
// publishes or as an atomic batch, whichever costs less now: nats-server
// stages an R1 file-storage atomic batch in a file store made for it (about
// 7 ms for one event here, 15 ms for 50), while each publish of a pipeline
// costs its own fsync (0.2–0.6 ms, more while the disk is busy). The choice
// follows what each way has cost lately, so that a busy disk moves growing
// groups to batches instead of holding them in pipelines whose cost grows
// with them; Ready holds the relay's next group back, to grow, once the
// events in flight cost a batch.
type publishCosts struct {
	mu       sync.Mutex
	perEvent time.Duration // a pipeline's cost per event
	batch    time.Duration // an atomic batch's cost (small batches)
}

func newPublishCosts() *publishCosts {
	return &publishCosts{perEvent: 300 * time.Microsecond, batch: 8 * time.Millisecond}
}

// pipeline reports whether n events cost less as a pipeline.
func (c *publishCosts) pipeline(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(n)*c.perEvent < c.batch
}

// keepsUp reports whether a pipeline with n events in flight still takes
// more: until they cost two atomic batches. Below that, the pipeline is the
// shorter wait even near the stream's capacity (a batch first waits for the
// pipeline to land and then holds the next group for its own 7 ms or more);
// beyond it, events come faster than one by one goes, and the relay's next
// group grows into a batch.
func (c *publishCosts) keepsUp(n int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(n)*c.perEvent < 2*c.batch
}

// note folds in what publishing n events took, as a pipeline or not.
func (c *publishCosts) note(pipeline bool, n int, took time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pipeline {
		c.perEvent += (took/time.Duration(n) - c.perEvent) / 8
	} else if n <= 100 {
		c.batch += (took - c.batch) / 8
	}
}
