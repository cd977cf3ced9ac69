package eventlog

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

// jsSpace is one workspace of a JetStream log: its stream, its bucket, the
// index derived from them, and the two goroutines that keep the index
// current: the stream's consumer and the bucket's watcher.
type jsSpace struct {
	j      *JetStream
	ws     string
	stream jetstream.Stream
	kv     jetstream.KeyValue
	idx    *memIndex
	costs  *publishCosts // pipeline or batch (jetstream_pipeline.go)
	pipe   pipeline      // appends in flight

	ctx     context.Context // ends when the space stops
	cancel  context.CancelFunc
	rewatch chan struct{} // the connection is back: the bucket's watcher starts again
	wg      sync.WaitGroup

	// Another writer's events, indexed, not yet handed to the follower.
	fmu      sync.Mutex
	fcond    *sync.Cond
	foreign  []Record
	follower func([]Record) bool
	stopped  bool
}

// Bucket keys: "epoch", "ans.<hex identity>.<hex device>.<mid>" (a mid
// answered without an event), "vis.<hex sha256>" (a visitor token),
// "alias.<hex contact>.<hex device>" (an Alias: the visitor id),
// "hook.<hex endpoint>" (a webhook cursor).
func answerKeyName(identity, device string, mid uint64) string {
	return "ans." + hex.EncodeToString([]byte(identity)) + "." + hex.EncodeToString([]byte(device)) + "." + strconv.FormatUint(mid, 10)
}

func visitorKeyName(h [32]byte) string { return "vis." + hex.EncodeToString(h[:]) }

func aliasKeyName(contact, device string) string {
	return "alias." + hex.EncodeToString([]byte(contact)) + "." + hex.EncodeToString([]byte(device))
}

func hookKeyName(endpoint string) string { return "hook." + hex.EncodeToString([]byte(endpoint)) }

// start reads the bucket and the stream up to the stream's last seq, then
// keeps following both.
func (s *jsSpace) start() error {
	s.fcond = sync.NewCond(&s.fmu)
	s.pipe.cond = sync.NewCond(&s.pipe.mu)
	s.rewatch = make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	s.ctx, s.cancel = ctx, cancel

	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return fmt.Errorf("eventlog: watch bucket of %s: %w", s.ws, err)
	}
	loaded := make(chan struct{})
	s.wg.Add(1)
	go s.watch(ctx, w, loaded)
	select {
	case <-loaded:
	case <-time.After(4 * s.j.opts.Timeout):
		return fmt.Errorf("eventlog: read bucket of %s: timed out", s.ws)
	}

	ictx, icancel := s.j.ctx()
	info, err := s.stream.Info(ictx)
	icancel()
	if err != nil {
		return fmt.Errorf("eventlog: stream of %s: %w", s.ws, err)
	}
	last := info.State.LastSeq
	t0 := time.Now()
	from := s.loadSnapshot(last)
	s.idx.mu.Lock()
	s.idx.starting = true
	s.idx.mu.Unlock()
	if err := s.catchUp(ctx, last); err != nil {
		return err
	}
	s.idx.mu.Lock()
	s.idx.starting = false
	s.maybeSnapshot()
	s.idx.mu.Unlock()
	if last > 0 {
		s.j.lg.Info("read the workspace's log from JetStream", "workspace", s.ws, "events", last, "from snapshot", from, "took", time.Since(t0).Round(time.Millisecond))
	}
	s.wg.Add(2)
	go s.consume(ctx)
	go s.land()
	return nil
}

func (s *jsSpace) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.fmu.Lock()
	s.stopped = true
	s.fcond.Broadcast()
	s.fmu.Unlock()
	s.pipe.mu.Lock()
	s.pipe.stopped = true
	s.pipe.cond.Broadcast()
	s.pipe.mu.Unlock()
	s.idx.mu.Lock()
	s.idx.cond.Broadcast()
	s.idx.mu.Unlock()
	s.wg.Wait()
}

// watch applies the bucket's entries to the index; loaded is closed once
// the entries that existed at start are in.
func (s *jsSpace) watch(ctx context.Context, w jetstream.KeyWatcher, loaded chan struct{}) {
	defer s.wg.Done()
	defer func() {
		if w != nil {
			w.Stop()
		}
		if loaded != nil {
			close(loaded)
		}
	}()
	var rev uint64 // the newest entry indexed
	for {
		var e jetstream.KeyValueEntry
		var ok bool
		select {
		case e, ok = <-w.Updates():
		case <-s.rewatch:
			// The connection is back: nats.go's watcher would resume only
			// once it had missed its heartbeats (16 s here). Watch anew from
			// the entry after the last one indexed.
			w.Stop()
			if w = s.watchFrom(ctx, rev+1); w == nil {
				return
			}
			continue
		case <-ctx.Done(): // whatever the connection's state, stop() ends it
			return
		}
		if !ok {
			return
		}
		if e == nil {
			if loaded != nil {
				close(loaded)
				loaded = nil
			}
			continue
		}
		rev = max(rev, e.Revision())
		s.idx.mu.Lock()
		s.applyEntry(e.Key(), e.Value())
		s.idx.mu.Unlock()
	}
}

// watchFrom watches the bucket from revision rev on, trying every 250 ms
// while JetStream does not answer (it may still be starting). It returns
// nil once ctx ends.
func (s *jsSpace) watchFrom(ctx context.Context, rev uint64) jetstream.KeyWatcher {
	var warned time.Time
	for {
		w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes(), jetstream.ResumeFromRevision(rev))
		if err == nil {
			return w
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(warned) >= 10*time.Second {
			s.j.lg.Warn("eventlog: watching the bucket: retrying every 250 ms", "workspace", s.ws, "err", err)
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// reconnected tells the bucket's watcher that the connection to NATS is
// back.
func (s *jsSpace) reconnected() {
	select {
	case s.rewatch <- struct{}{}:
	default:
	}
}

// applyEntry indexes one bucket entry; idx.mu is held.
func (s *jsSpace) applyEntry(key string, v []byte) {
	kind, rest, _ := strings.Cut(key, ".")
	switch kind {
	case "ans":
		p := strings.Split(rest, ".")
		if len(p) != 3 {
			return
		}
		id, err1 := hex.DecodeString(p[0])
		dev, err2 := hex.DecodeString(p[1])
		mid, err3 := strconv.ParseUint(p[2], 10, 64)
		r, err4 := decodeResult(v)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			s.j.lg.Warn("eventlog: unreadable answer in the bucket", "workspace", s.ws, "key", key)
			return
		}
		s.idx.answer(MidResult{Identity: string(id), Device: string(dev), Mid: mid, Result: r})
	case "vis":
		h, err := hex.DecodeString(rest)
		if err != nil || len(h) != 32 {
			return
		}
		vt := VisitorToken{Hash: [32]byte(h)}
		decodeVisitor(&vt, v)
		s.idx.visitors[vt.Hash] = vt
	case "alias":
		contact, device, ok := decodeAliasKey(rest)
		if !ok {
			s.j.lg.Warn("eventlog: unreadable alias in the bucket", "workspace", s.ws, "key", key)
			return
		}
		s.idx.aliases[deviceKey{contact, device}] = string(v)
	}
}

// catchUp reads the stream from the index's head up to last, in pages of
// direct gets, and indexes it as another writer's.
func (s *jsSpace) catchUp(ctx context.Context, last uint64) error {
	const page = 5000
	for {
		from := s.idx.headNow() + 1
		if from > last {
			return nil
		}
		raws := make([][]byte, 0, min(page, last-from+1))
		whos := map[uint64]string{}
		it, err := jetstreamext.GetBatch(ctx, s.j.js, s.stream.CachedInfo().Config.Name, int(min(page, last-from+1)), jetstreamext.GetBatchSeq(from))
		if err != nil {
			return fmt.Errorf("eventlog: read the log of %s from %d: %w", s.ws, from, err)
		}
		next := from
		for m, err := range it {
			if err != nil {
				return fmt.Errorf("eventlog: read the log of %s at %d: %w", s.ws, next, err)
			}
			if m.Sequence != next {
				return fmt.Errorf("eventlog: the log of %s has a gap: %d after %d", s.ws, m.Sequence, next-1)
			}
			raws = append(raws, m.Data)
			if w := m.Header.Get(whoHeader); w != "" {
				whos[m.Sequence] = w
			}
			next++
		}
		if len(raws) == 0 {
			return fmt.Errorf("eventlog: read the log of %s: nothing at %d (log at %d)", s.ws, from, last)
		}
		if _, err := s.ingest(from, raws, whos, false); err != nil {
			return err
		}
	}
}

// decodeRaws decodes consecutive stored events, on the fast path when it can.
func decodeRaws(raws [][]byte) ([]conv.Event, error) {
	if evs, ok := protocol.DecodeEvents(protocol.EventsFrame(raws)); ok && len(evs) == len(raws) {
		return evs, nil
	}
	evs := make([]conv.Event, len(raws))
	for i, raw := range raws {
		if err := json.Unmarshal(raw, &evs[i]); err != nil {
			return nil, fmt.Errorf("eventlog: decode stored event: %w", err)
		}
	}
	return evs, nil
}

// ingest indexes another writer's consecutive events starting at seq from
// (those at or below the head are skipped). It returns the records it
// indexed; with hand, they are also queued for the follower.
func (s *jsSpace) ingest(from uint64, raws [][]byte, whos map[uint64]string, hand bool) ([]Record, error) {
	evs, err := decodeRaws(raws)
	if err != nil {
		return nil, err
	}
	x := s.idx
	x.mu.Lock()
	var recs []Record
	for i := range evs {
		seq := from + uint64(i)
		for seq > x.head && x.appending > 0 && !s.isStopped() {
			x.cond.Wait() // it may be this relay's, indexed when it lands
		}
		if seq <= x.head {
			continue
		}
		if seq != x.head+1 {
			x.mu.Unlock()
			return nil, fmt.Errorf("eventlog: the log of %s has a gap: %d after %d", s.ws, seq, x.head)
		}
		e := &evs[i]
		if e.Seq != seq {
			x.mu.Unlock()
			return nil, fmt.Errorf("eventlog: the log of %s holds event seq %d at %d: does something else publish to it?", s.ws, e.Seq, seq)
		}
		if err := x.add(e, raws[i], whos[seq], nil); err != nil {
			s.j.lg.Error("eventlog: a logged event does not replay", "workspace", s.ws, "seq", seq, "err", err)
			x.head = seq // it stays in the log; its conversation's state misses it, as on every device
		}
		recs = append(recs, Record{Event: *e, JSON: raws[i]})
	}
	x.compact()
	s.maybeSnapshot()
	x.cond.Broadcast()
	x.mu.Unlock()
	if hand && len(recs) > 0 {
		s.fmu.Lock()
		s.foreign = append(s.foreign, recs...)
		s.fcond.Broadcast()
		s.fmu.Unlock()
	}
	return recs, nil
}

func (s *jsSpace) isStopped() bool {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	return s.stopped
}

// consume follows the stream past the head with an ordered consumer,
// recreated after errors, and indexes what other writers append.
func (s *jsSpace) consume(ctx context.Context) {
	defer s.wg.Done()
	var warned time.Time
	for ctx.Err() == nil {
		err := s.consumeOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		// At most every 10 s (a NATS outage fails every attempt).
		if time.Since(warned) >= 10*time.Second {
			s.j.lg.Warn("eventlog: following the log: retrying every 250 ms", "workspace", s.ws, "err", err)
			warned = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (s *jsSpace) consumeOnce(ctx context.Context) error {
	start := s.idx.headNow() + 1
	c, err := s.stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		// One attempt to recreate the consumer after a reconnect or a
		// gap, then the error comes back here and consume tries again
		// every 250 ms. nats.go's own retries back off 1, 2, 4, 8, 10 s:
		// a relay that reconnected while JetStream was still starting
		// followed nothing for seconds (R1 soak seed 1021).
		MaxResetAttempts: 1,
	})
	if err != nil {
		return err
	}
	// A heartbeat a second: a consumer lost with its NATS node is found
	// missing after two, where nats.go's default (5 s) takes 10 s. In
	// trials of a killed R3 node (not kept as a test: an election of the
	// stream's leader sometimes takes 10 s anyway) it recovered in 2.4 s
	// where the default's recovery took 10 s.
	it, err := c.Messages(jetstream.PullMaxMessages(2000), jetstream.PullHeartbeat(time.Second))
	if err != nil {
		return err
	}
	defer it.Stop()
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { <-cctx.Done(); it.Stop() }()
	go s.watchStall(cctx, stop)
	var (
		raws [][]byte
		whos map[uint64]string
		from uint64
	)
	for {
		if s.j.wedgeNext.CompareAndSwap(true, false) { // tests: a Next that never delivers
			<-cctx.Done()
		}
		m, err := it.Next(jetstream.NextContext(cctx)) // a stopped iterator may not wake a Next; ctx does
		if err != nil {
			if ctx.Err() == nil && cctx.Err() != nil {
				return errStalled
			}
			return err
		}
		md, err := m.Metadata()
		if err != nil {
			return err
		}
		seq := md.Sequence.Stream
		if len(raws) == 0 {
			from = seq
			whos = nil
		}
		raws = append(raws, m.Data())
		if w := m.Headers().Get(whoHeader); w != "" {
			if whos == nil {
				whos = map[uint64]string{}
			}
			whos[seq] = w
		}
		// Index in runs: up to the end of what is buffered.
		if md.NumPending == 0 || len(raws) >= 500 {
			if _, err := s.ingest(from, raws, whos, true); err != nil {
				return err
			}
			raws = nil
		}
	}
}

// errStalled ends a consumer that watchStall found delivering nothing while
// the stream was past the index.
var errStalled = errors.New("eventlog: the consumer delivered nothing while the stream was ahead: following it with a new one")

// stallEvery is how often watchStall looks at a consumer that delivers
// nothing.
const stallEvery = time.Second

// watchStall ends the consumer (stop) when it has delivered nothing for two
// looks in a row while the stream held more than the index both times: a
// consumer that nats.go does not find broken (its heartbeats come) but that
// delivers nothing would otherwise leave this relay behind the others, its
// devices missing their events, until something failed. Only a quiet
// index costs a request (the stream's info, once a second). While this
// relay has appends in flight the stream may be ahead by them: no look
// counts then.
func (s *jsSpace) watchStall(ctx context.Context, stop context.CancelFunc) {
	t := time.NewTicker(stallEvery)
	defer t.Stop()
	seen, behind := s.idx.headNow(), false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.idx.mu.Lock()
		h, own := s.idx.head, s.idx.appending
		s.idx.mu.Unlock()
		if h != seen || own > 0 { // moving, or this relay's own appends are what is ahead
			seen, behind = h, false
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, s.j.opts.Timeout)
		info, err := s.stream.Info(ictx)
		cancel()
		if err != nil {
			continue // NATS is away: the consumer's own errors say so
		}
		if info.State.LastSeq <= seen {
			behind = false
			continue
		}
		if behind {
			s.j.lg.Warn("eventlog: following the log: the consumer delivered nothing for a second while the stream was ahead; starting a new one", "workspace", s.ws, "head", seen, "stream", info.State.LastSeq)
			stop()
			return
		}
		behind = true
	}
}

// Follow implements Shared.
func (j *JetStream) Follow(ws string, fn func([]Record) bool) error {
	s, err := j.space(ws)
	if err != nil {
		return err
	}
	s.fmu.Lock()
	if s.follower != nil {
		s.fmu.Unlock()
		return errors.New("eventlog: already followed")
	}
	s.follower = fn
	s.fmu.Unlock()
	s.wg.Add(1)
	go s.hand()
	return nil
}

// hand gives the follower other writers' events, in log order.
func (s *jsSpace) hand() {
	defer s.wg.Done()
	for {
		s.fmu.Lock()
		for len(s.foreign) == 0 && !s.stopped {
			s.fcond.Wait()
		}
		if s.stopped {
			s.fmu.Unlock()
			return
		}
		recs := s.foreign
		s.foreign = nil
		fn := s.follower
		s.fmu.Unlock()
		if !fn(recs) {
			return
		}
	}
}

// decodeAliasKey reads the contact and device of an alias's key, after
// "alias.".
func decodeAliasKey(rest string) (contact, device string, ok bool) {
	c, d, _ := strings.Cut(rest, ".")
	cb, err1 := hex.DecodeString(c)
	db, err2 := hex.DecodeString(d)
	return string(cb), string(db), err1 == nil && err2 == nil && len(cb) > 0 && len(db) > 0
}

// putSide writes what of b is not an event to the bucket: side (b's
// answers that logged no event), b's visitor tokens and its aliases.
func (s *jsSpace) putSide(side []MidResult, b *Batch) error {
	if len(side) == 0 && len(b.Visitors) == 0 && len(b.Aliases) == 0 {
		return nil
	}
	ctx, cancel := s.j.ctx()
	defer cancel()
	for _, r := range side {
		if _, err := s.kv.Put(ctx, answerKeyName(r.Identity, r.Device, r.Mid), encodeResult(r.Result)); err != nil {
			return fmt.Errorf("eventlog: save an answer of %s: %w", s.ws, err)
		}
	}
	for _, v := range b.Visitors {
		if _, err := s.kv.Put(ctx, visitorKeyName(v.Hash), encodeVisitor(v)); err != nil {
			return fmt.Errorf("eventlog: save a visitor token of %s: %w", s.ws, err)
		}
	}
	for _, a := range b.Aliases {
		if _, err := s.kv.Put(ctx, aliasKeyName(a.Contact, a.Device), []byte(a.Visitor)); err != nil {
			return fmt.Errorf("eventlog: save which visitor a device of %s was: %w", s.ws, err)
		}
	}
	return nil
}
