package relay

import (
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// The writer's second stage (see workspace): the committer writes each
// validated group in one Log.Append, publishes it and answers its requests.
// On a log that takes appends back to back (eventlog.Pipelined: JetStream)
// it starts the next group's append while the ones before it wait for
// their acks, and lands them in order.

// A flight is a group whose append has started.
type flight struct {
	g     *group
	done  <-chan error // the append's outcome
	t0    time.Time
	wrote bool // it went to the log (else it had nothing to write, or was refused before)
}

// errStale ends a flight whose group was validated on a head another relay
// has moved: it is validated again.
var errStale = errors.New("relay: validated on a stale head")

// commitLoop is the committer goroutine.
func (w *workspace) commitLoop() {
	defer close(w.done)
	pl, _ := w.srv.log.(eventlog.Pipelined)
	var (
		flights []flight    // started, oldest first
		barrier *group      // a barrier waiting for the flights to land
		commits = w.commits // nil once the sequencer has closed it
	)
	for {
		if barrier != nil && len(flights) == 0 {
			barrier.next = w.head // the committed head, for the sequencer to go on from
			close(barrier.barrier)
			barrier = nil
		}
		if commits == nil && len(flights) == 0 {
			return
		}
		// A group is taken while the log takes it at once, and nothing in
		// flight failed: otherwise it waits in the sequencer, and grows.
		in := commits
		if barrier != nil || len(flights) > 0 && (pl == nil || !pl.Ready(w.id) || w.failedSince(flights[0].g.gen)) {
			in = nil
		}
		// Another relay's events come after every flight still up: the log
		// hands them over once ours have landed there (or failed, then
		// finish takes them in), so they are fanned out after ours.
		var landed <-chan error
		foreign := w.foreign // nil, never ready, unless the log is shared
		if len(flights) > 0 {
			landed = flights[0].done
			foreign = nil
		}
		select {
		case g, ok := <-in:
			switch {
			case !ok:
				commits = nil
			case g.barrier != nil:
				barrier = g
			default:
				flights = append(flights, w.launch(g, pl))
			}
		case err := <-landed:
			f := flights[0]
			flights[0] = flight{}
			flights = flights[1:]
			w.finish(f, err)
		case recs := <-foreign:
			w.follow(recs)
		}
	}
}

// failedSince reports whether a commit of generation gen or later failed or
// was found stale: the groups behind it are refused or validated again, in
// the order they were validated, once the flights before them land.
func (w *workspace) failedSince(gen uint64) bool {
	return max(w.badGen.Load(), w.staleGen.Load()) >= gen
}

// launch starts g's append (on a log without Pipelined, writes it: its
// flight has landed already).
func (w *workspace) launch(g *group, pl eventlog.Pipelined) flight {
	b := &g.batch
	f := flight{g: g}
	var err error
	switch {
	case g.gen <= w.badGen.Load():
		err = errAbandoned
	case g.gen <= w.staleGen.Load():
		err = errStale
	case g.writes():
		encodeEvents(b)
		w.srv.cpu.Busy()
		f.t0, f.wrote = time.Now(), true
		if pl != nil {
			f.done = pl.StartAppend(w.id, b)
			return f
		}
		// A group of pushes is published as soon as it is durable: the log
		// may take a while longer to make it readable (Badger's commit
		// after the journal's sync), and only catch-up reads need that.
		// Hellos (visitor tokens, identification) go on to read what they
		// wrote, so their groups are answered once it is readable.
		if g.pushesOnly() {
			b.Durable = func() { w.publish(g) }
		}
		err = w.srv.log.Append(w.id, b)
	}
	done := make(chan error, 1)
	done <- err
	f.done = done
	return f
}

// publish counts g, fans it out and, for a group of pushes, answers it:
// once per commit, from b.Durable or when g lands, whichever is first.
func (w *workspace) publish(g *group) {
	g.published = true
	w.logged(g)
	w.fanOut(g) // first: a pushing device gets its events before its ack
	if g.pushesOnly() {
		answer(g, nil)
		// Let the goroutines just readied write the fan-out and the
		// acknowledgements before the log's commit takes this thread:
		// otherwise they wait for an idle CPU to wake and take them
		// (40 µs here, on the latency's path).
		runtime.Gosched()
	}
}

// finish lands g's flight, whose append ended with err.
func (w *workspace) finish(f flight, err error) {
	g := f.g
	b := &g.batch
	if f.wrote {
		w.srv.m.commitTime.observe(time.Since(f.t0))
	} else if err == nil {
		// Its answers may be those of a group before it (a resend's), which
		// may have failed since it was launched.
		switch {
		case g.gen <= w.badGen.Load():
			err = errAbandoned
		case g.gen <= w.staleGen.Load():
			err = errStale
		}
	}
	var behind *eventlog.BehindError
	switch {
	case errors.Is(err, errStale):
		w.requeue(g)
		return
	case errors.As(err, &behind) && !g.published:
		// Another relay appended first: nothing of g is logged (or what
		// is, the log delivers as the other relay's). Take in what it
		// logged, then validate g's requests again on top.
		first := w.staleGen.Load() < g.gen // the first of its generation to find it
		w.staleGen.Store(max(w.staleGen.Load(), g.gen))
		w.requeue(g)
		w.catchUp(catchUpTo(behind, first))
		return
	case errors.Is(err, errAbandoned):
		w.land(g)
		answer(g, err)
		return
	case err != nil && g.published:
		// Durable, answered and fanned out, but not readable: the log
		// takes no more writes until a restart recovers the group.
		w.srv.lg.Error("log failed after a group was durable; restart the relay",
			"workspace", w.id, "events", len(b.Events), "err", err)
	case err != nil:
		w.badGen.Store(max(w.badGen.Load(), g.gen))
		w.srv.lg.Error("log append failed; the group is refused and its sessions will push again",
			"workspace", w.id, "events", len(b.Events), "err", err)
	}
	if err != nil {
		w.mu.Lock()
		w.broken = err
		w.mu.Unlock()
		if !g.published {
			w.land(g)
			answer(g, err)
			return
		}
	}
	if n := len(b.Events); n > 0 {
		w.head = b.Events[n-1].Event.Seq
	}
	if !g.published {
		w.publish(g)
	}
	// Catch-up reads may go up to head now (or, after a failure, find the
	// gap and send their sessions away to reconnect).
	w.readable()
	w.land(g)
	if !g.pushesOnly() {
		answer(g, nil)
	}
}

// encodeEvents writes b's events' JSON into one buffer, sized from the
// data so that it is allocated once rather than grown event by event.
func encodeEvents(b *eventlog.Batch) {
	size := 0
	for i := range b.Events {
		size += len(b.Events[i].Event.Data) + eventOverhead
	}
	buf := make([]byte, 0, size)
	for i := range b.Events {
		start := len(buf)
		buf = protocol.AppendEvent(buf, &b.Events[i].Event)
		b.Events[i].JSON = buf[start:len(buf):len(buf)]
	}
}

// logged counts g's commit in the metrics: before any answer, so that a
// device that has its ack finds its events counted.
func (w *workspace) logged(g *group) {
	w.srv.m.eventsLogged.Add(uint64(len(g.batch.Events)))
	w.srv.m.groupCommits.Add(1)
}

// pushesOnly reports whether every request of g is a push.
func (g *group) pushesOnly() bool {
	for _, r := range g.reqs {
		if r.kind != reqPush {
			return false
		}
	}
	return true
}

// answer ends g's requests, with err or with their results.
func answer(g *group, err error) {
	for _, r := range g.reqs {
		if err != nil {
			r.results, r.identified, r.err = nil, nil, err
		}
		close(r.done)
	}
}

// land removes g from the groups in flight (after publish has cached its
// states, so a lookup always finds them in one place or the other).
func (w *workspace) land(g *group) {
	w.flightMu.Lock()
	w.inflight = slices.DeleteFunc(w.inflight, func(x *group) bool { return x == g })
	w.flightMu.Unlock()
}

// flying returns the groups in flight, newest first.
func (w *workspace) flying() []*group {
	w.flightMu.Lock()
	defer w.flightMu.Unlock()
	fs := slices.Clone(w.inflight)
	slices.Reverse(fs)
	return fs
}

// requeue hands g's requests back to the sequencer, to be validated again
// ahead of the queue, and takes g out of the flight. Once the sequencer
// has returned (the relay is stopping), they are refused instead.
func (w *workspace) requeue(g *group) {
	w.flightMu.Lock()
	exited := w.seqExited
	if !exited {
		for _, r := range g.reqs {
			r.results, r.identified, r.err = nil, nil, nil
		}
		w.retry = append(w.retry, g.reqs...)
	}
	w.inflight = slices.DeleteFunc(w.inflight, func(x *group) bool { return x == g })
	w.flightMu.Unlock()
	if exited {
		answer(g, errStopped)
		return
	}
	w.srv.m.commitRetries.Add(1)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// handOver is the shared log's follower: it passes another relay's events
// to the committer, which fans them out in log order between its own
// commits. It returns false once the workspace stops.
func (w *workspace) handOver(recs []eventlog.Record) bool {
	select {
	case w.foreign <- recs:
		return true
	case <-w.quit:
		return false
	}
}

// follow takes in events another relay logged and fans them out like the
// committer's own. recs are readable from the log already.
func (w *workspace) follow(recs []eventlog.Record) {
	for len(recs) > 0 && recs[0].Event.Seq <= w.head {
		recs = recs[1:]
	}
	if len(recs) == 0 {
		return
	}
	// Groups validated before them are not written: their seqs are taken,
	// so the log answers their Append with a BehindError and they are
	// validated again.
	g := &group{w: w, batch: eventlog.Batch{Events: recs}, states: map[string]*conv.Conversation{}}
	for _, r := range recs {
		if _, ok := g.states[r.Event.Conv]; ok {
			continue
		}
		c, err := w.srv.log.Conversation(w.id, r.Event.Conv)
		if err != nil || c == nil {
			w.srv.lg.Error("follow: read conversation", "workspace", w.id, "conv", r.Event.Conv, "err", err)
			continue
		}
		g.states[r.Event.Conv] = c
		if r.Event.Kind == conv.KindContactIdentified {
			var d conv.ContactIdentified
			if json.Unmarshal(r.Event.Data, &d) == nil {
				g.moved = append(g.moved, movedConv{conv: r.Event.Conv, contact: d.Contact, seq: r.Event.Seq})
			}
		}
	}
	w.head = recs[len(recs)-1].Event.Seq
	w.srv.m.eventsFollowed.Add(uint64(len(recs)))
	w.fanOut(g)
	w.readable()
}

// catchUpTo is the head to take other relays' events in up to after a
// group was refused as behind: past the stream's last seq when the log
// said it, else past the head the group was validated on when it is the
// first of its generation refused (the stream had moved past that head;
// the groups after it in the same generation expected heads of groups
// that were never logged, so they wait for nothing more). 0: no wait.
func catchUpTo(behind *eventlog.BehindError, first bool) uint64 {
	switch {
	case behind.Last > 0:
		return behind.Last
	case first:
		return behind.Expected + 1
	}
	return 0
}

// catchUp takes in other relays' events until the head reaches last. The
// follower hands them over in log order; if it has not within 10 s, the
// requests are validated again anyway (and refused again, if still behind).
func (w *workspace) catchUp(last uint64) {
	if w.head >= last {
		return
	}
	deadline := time.After(10 * time.Second)
	for w.head < last {
		select {
		case recs := <-w.foreign:
			w.follow(recs)
		case <-deadline:
			w.srv.lg.Error("follow: the log did not deliver what another relay appended", "workspace", w.id, "head", w.head, "want", last)
			return
		}
	}
}
