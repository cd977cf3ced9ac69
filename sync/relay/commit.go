package relay

import (
	"runtime"
	"slices"
	"time"

	"github.com/threadline/threadline/sync/protocol"
)

// The writer's second stage (see workspace): the committer writes each
// validated group in one Log.Append, publishes it and answers its requests.

// commitLoop is the committer goroutine.
func (w *workspace) commitLoop() {
	defer close(w.done)
	for g := range w.commits {
		if g.barrier != nil {
			close(g.barrier)
			continue
		}
		w.commit(g)
	}
}

func (w *workspace) commit(g *group) {
	b := &g.batch
	var err error
	early := false // answered and fanned out from b.Durable
	switch {
	case g.gen <= w.badGen.Load():
		err = errAbandoned
	case len(b.Events) > 0 || len(b.Results) > 0 || len(b.Visitors) > 0:
		// One buffer holds every event's JSON: sized from the data, it
		// is allocated once rather than grown event by event.
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
		// A group of pushes is answered and fanned out as soon as it is
		// durable: the log may take a while longer to make it readable
		// (Badger's commit after the journal's sync), and only catch-up
		// reads need that. Hellos (visitor tokens, identification) go
		// on to read what they wrote, so their groups wait for Append.
		if g.pushesOnly() {
			b.Durable = func() {
				early = true
				w.logged(g)
				w.fanOut(g) // first: a pushing device gets its events before its ack
				answer(g, nil)
				// Let the goroutines just readied write the fan-out and
				// the acknowledgements before Badger's commit takes this
				// thread: otherwise they wait for an idle CPU to wake
				// and take them (40 µs here, on the latency's path).
				runtime.Gosched()
			}
		}
		w.srv.cpu.Busy()
		t0 := time.Now()
		err = w.srv.log.Append(w.id, b)
		w.srv.m.commitTime.observe(time.Since(t0))
		switch {
		case err != nil && early:
			// Durable, answered and fanned out, but not readable: the log
			// takes no more writes until a restart recovers the group.
			w.srv.lg.Error("log failed after a group was durable; restart the relay",
				"workspace", w.id, "events", len(b.Events), "err", err)
		case err != nil:
			w.badGen.Store(g.gen)
			w.srv.lg.Error("log append failed; the group is refused and its sessions will resend",
				"workspace", w.id, "events", len(b.Events), "err", err)
		}
		if err != nil {
			w.mu.Lock()
			w.broken = err
			w.mu.Unlock()
		}
	}
	if err != nil && !early {
		w.land(g)
		answer(g, err)
		return
	}
	if n := len(b.Events); n > 0 {
		w.head = b.Events[n-1].Event.Seq
	}
	if !early {
		w.logged(g)
		w.fanOut(g)
	}
	// Catch-up reads may go up to head now (or, after a failure, find the
	// gap and send their sessions away to reconnect).
	w.readable()
	w.land(g)
	if !early {
		answer(g, nil)
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
