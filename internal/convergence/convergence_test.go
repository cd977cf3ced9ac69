package convergence

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/backend/inbox"
	"github.com/threadline/threadline/sync/client"
	"github.com/threadline/threadline/sync/protocol"
	"github.com/threadline/threadline/sync/relay"
)

var (
	seedFlag    = flag.Uint64("seed", 0, "run TestConvergence with this seed only (0: the built-in seeds)")
	actionsFlag = flag.Int("actions", 0, "actions per convergence run (0: 150, or 2000 in TestSoak)")
)

// The seeds `go test` runs. Each run is short; TestSoak runs many more.
var convergenceSeeds = []uint64{1, 2, 3}

// TestConvergence is DESIGN §7's convergence bar, end to end: two agents
// (inboxes on Badger, one with the workspace's attribute schema, one
// without), a contact on two devices (an inbox and a client.Memory), a
// visitor (a Memory) and an assistant bot (a Memory), each with its own sync
// client and TCP proxy to one real relay, make seeded random actions
// (conversations, messages, notes, threads started and ended, resolve,
// reopen, priority, tags, assignment, attributes, join and leave, seen
// marks, hand-offs, retries and discards of failed events) while
// connections are cut, routes die one way (the relay's answers lost: lost
// acks, resends), devices go offline (client stopped, or the network
// refusing them) and keep acting, inboxes are closed and reopened, and the
// relay restarts on its log.
//
// Then every device settles (nothing pending or sent, at the relay's head),
// the relay stops, and its log, read from Badger, is the yardstick: seqs
// gap-free, no event twice, its stored states equal to conv.Replay; every
// device's events, states, timelines and unread counts equal to what it may
// see of the log (conv.Visible on the final states, for end users), also
// after its inbox is reopened and rebuilt; every event each device made
// accounted for: logged once with its id, mid and device, or answered as a
// no-op or a rejection exactly as the relay stored it, and a resend always
// answered as the first time.
//
// The seed fixes the actions and the network events; goroutine scheduling
// still varies between runs of a seed. Re-run one with
//
//	go test -race -run Convergence ./internal/convergence/ -seed N [-actions M]
func TestConvergence(t *testing.T) {
	seeds := convergenceSeeds
	if *seedFlag != 0 {
		seeds = []uint64{*seedFlag}
	}
	n := 150
	if *actionsFlag > 0 {
		n = *actionsFlag
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, oneRelay) })
	}
}

// TestSoak runs many seeds with many more actions. It runs with -tags soak
// (make soak) or THREADLINE_SOAK=1; THREADLINE_SOAK_SEEDS (default 60),
// THREADLINE_SOAK_FIRST (default 1000) and -actions (default 2000) size it.
// Without -race a seed of 2000 actions takes about 10 s on two cores.
func TestSoak(t *testing.T) {
	if !soakTag && os.Getenv("THREADLINE_SOAK") != "1" {
		t.Skip("soak: run with -tags soak or THREADLINE_SOAK=1")
	}
	seeds := envInt("THREADLINE_SOAK_SEEDS", 60)
	first := envInt("THREADLINE_SOAK_FIRST", 1000)
	n := 2000
	if *actionsFlag > 0 {
		n = *actionsFlag
	}
	for i := range seeds {
		seed := uint64(first + i)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runConvergence(t, seed, n, oneRelay) })
	}
}

// rerunPattern is the -run pattern of the test that runs t's seed alone
// with -seed: a soak's seed runs in its short test (TestSoakAcrossRelays'
// in TestConvergenceAcrossRelays).
func rerunPattern(t *testing.T) string {
	name := t.Name()
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i]
	}
	return "^" + strings.Replace(name, "TestSoak", "TestConvergence", 1) + "$"
}

// envInt is $name as a count (0 included), or def when it is unset or not one.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v >= 0 {
		return v
	}
	return def
}

// oneRelay is TestConvergence's relay set: one relay on Badger.
func oneRelay(t *testing.T, _ uint64) relaySet { return startRelay(t, relay.Options{}) }

// world is one convergence run: the relays, the devices, and what the
// driver knows about the conversations.
type world struct {
	t       *testing.T
	rng     *rand.Rand
	relays  relaySet
	cluster *relayCluster // relays when they share a JetStream cluster; nil for one relay
	devices []*device
	agents  []*device
	users   []*device // contacts' and visitors' devices

	convs   []string            // every conversation created, by anyone
	ownedBy map[string][]string // conversations of each contact or visitor, by participant id

	offline map[*device]int // client stopped: steps left
	blocked map[*device]int // network refusing: steps left
	stats   map[string]int
}

var topics = []string{"Billing", "Shipping", "Refund", "Login", "Upgrade"}

// tagPool has more tags than a conversation may carry (20), so the limit is
// reached now and then: devices racing to add tags get rejected as invalid.
var tagPool = func() []string {
	var out []string
	for i := range 24 {
		out = append(out, fmt.Sprintf("tag-%02d", i))
	}
	return out
}()

// runConvergence runs one seed's world on the relays newRelays starts:
// oneRelay, or several relays on one JetStream cluster (acrossRelays), which
// adds the faults of a cluster to the actions (devices moving between
// relays, a relay killed, a NATS node killed).
func runConvergence(t *testing.T, seed uint64, actions int, newRelays func(*testing.T, uint64) relaySet) {
	start := time.Now()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("FAILED with seed %d (%d actions); re-run: go test -race -run '%s' ./internal/convergence/ -seed %d -actions %d",
				seed, actions, rerunPattern(t), seed, actions)
		}
	})
	w := &world{
		t:       t,
		rng:     rand.New(rand.NewPCG(seed, 0x7468726561646c6e)),
		relays:  newRelays(t, seed),
		ownedBy: map[string][]string{},
		offline: map[*device]int{},
		blocked: map[*device]int{},
		stats:   map[string]int{},
	}
	r := w.relays
	w.cluster, _ = r.(*relayCluster)
	t.Cleanup(func() {
		if tail := r.logTail(); t.Failed() && tail != "" {
			t.Logf("relays' log tail:\n%s", tail)
		}
	})
	// On several relays, the devices start on relays in turn: the agents on
	// different ones, the contact's two devices too, the visitor on another.
	anaD := newInboxDevice(t, r.route("ana-laptop"), "ana-laptop", ana, agentAuth(tokAna), conv.NewSchema(attributeDefs))
	benD := newInboxDevice(t, r.route("ben-desktop"), "ben-desktop", ben, agentAuth(tokBen), nil) // no schema: the relay judges attributes
	laptop := newInboxDevice(t, r.route("c42-laptop"), "c42-laptop", c42, contactAuth("42"), nil)
	phone := newMemoryDevice(t, r.route("c42-phone"), "c42-phone", c42, contactAuth("42"))
	visitor := newMemoryDevice(t, r.route("visitor-tablet"), "visitor-tablet", conv.Participant{Role: conv.RoleVisitor}, protocol.Auth{Kind: protocol.AuthVisitor})
	bot := newMemoryDevice(t, r.route("faq-bot"), "faq-bot", faq, protocol.Auth{Kind: protocol.AuthAssistant, Token: tokFAQ})
	w.agents = []*device{anaD, benD}
	w.users = []*device{laptop, phone, visitor}
	w.devices = append(append([]*device{}, w.agents...), w.users...)
	w.devices = append(w.devices, bot)
	for _, d := range w.devices {
		// A hushed route is noticed within a second.
		d.tune = func(o *client.Options) { o.PingInterval, o.IdleTimeout = 150*time.Millisecond, time.Second }
	}
	for _, d := range w.devices {
		d.start()
	}
	visitor.waitOnline(t) // the relay names the visitor at its first welcome

	restartAt := actions / 2 // at least one relay restart per run
	identifyAt := actions/3 + w.rng.IntN(actions/3+1)
	for step := range actions {
		w.tick()
		if w.cluster != nil && step != identifyAt && step != restartAt && w.cluster.act(w, step, actions) {
			continue // the step was a fault of the cluster
		}
		x := w.rng.Float64()
		switch {
		case step == identifyAt:
			w.stats["visitor identified"]++
			w.identify(visitor, "77")
		case x < 0.012 || step == restartAt:
			w.stats["relay restarts"]++
			r.restartOne(w.rng)
		case x < 0.04:
			d := w.pick(w.devices)
			w.stats["cuts"]++
			d.proxy.Cut()
		case x < 0.075:
			d := w.pick(w.devices)
			if d.running() {
				w.stats["offline (client stopped)"]++
				d.stop()
				w.offline[d] = 5 + w.rng.IntN(40)
			}
		case x < 0.105:
			d := w.pick(w.devices)
			if w.blocked[d] == 0 {
				w.stats["offline (network down)"]++
				d.proxy.Block(true)
				w.blocked[d] = 5 + w.rng.IntN(40)
			}
		case x < 0.115:
			d := w.pick([]*device{anaD, benD, laptop})
			w.stats["inbox reopened"]++
			d.reopen()
		case x < 0.135:
			d := w.pick(w.devices)
			w.stats["routes hushed"]++
			d.proxy.Hush()
		default:
			d := w.pick(w.devices)
			switch {
			case d == bot:
				w.botAction(d)
			case d.in != nil && !d.me.IsEndUser():
				w.agentAction(d)
			default:
				w.userAction(d)
			}
			d.kick()
		}
		if w.rng.IntN(3) == 0 {
			time.Sleep(time.Duration(w.rng.IntN(4000)) * time.Microsecond)
		}
	}
	t.Logf("seed %d: %d actions in %v; %v", seed, actions, time.Since(start).Round(time.Millisecond), w.stats)

	// Everyone back online (every relay and NATS node up again); wait until
	// every device has pushed everything and holds the log's head.
	if w.cluster != nil {
		w.cluster.heal(w)
	}
	for _, d := range w.devices {
		d.proxy.Block(false)
		d.start()
		d.kick()
	}
	w.settle()
	t.Logf("seed %d: settled after %v", seed, time.Since(start).Round(time.Millisecond))
	for _, d := range w.devices {
		d.stop()
	}
	rl := r.readLog()
	var logged, noops, rejected int
	for _, d := range w.devices {
		checkDevice(t, rl, d)
		l, n, x := checkAccounted(t, rl, d)
		logged, noops, rejected = logged+l, noops+n, rejected+x
	}
	// What the inboxes derived survives a reopen (snapshot and indexes) and
	// is what a rebuild from their logs gives.
	for _, d := range w.devices {
		if d.in == nil {
			continue
		}
		if err := d.in.Close(); err != nil {
			t.Fatalf("%s: close: %v", d.name, err)
		}
		d.open()
		checkDevice(t, rl, d)
		if err := d.in.Store().Rebuild(); err != nil {
			t.Fatalf("%s: rebuild: %v", d.name, err)
		}
		checkDevice(t, rl, d)
	}
	codes := map[conv.Code]int{}
	resent := 0
	for _, d := range w.devices {
		d.logs.mu.Lock()
		resent += d.logs.resends
		d.logs.mu.Unlock()
		for _, o := range d.rec.outcomes {
			if o.Err != nil {
				codes[o.Err.Code]++
			}
		}
	}
	t.Logf("seed %d: relay log %d events, %d conversations; devices' events: %d logged, %d no-ops, %d rejected %v, %d sessions resent processed events; %d relay restarts; done in %v",
		seed, rl.head, len(rl.states), logged, noops, rejected, codes, resent, r.restartCount(), time.Since(start).Round(time.Millisecond))
	if logged == 0 {
		t.Errorf("nothing was logged")
	}
}

// tick brings back devices whose offline period is over, and relays and
// NATS nodes whose down time is.
func (w *world) tick() {
	if w.cluster != nil {
		w.cluster.tick()
	}
	for d, n := range w.offline {
		if n <= 1 {
			delete(w.offline, d)
			d.start()
		} else {
			w.offline[d] = n - 1
		}
	}
	for d, n := range w.blocked {
		if n <= 1 {
			delete(w.blocked, d)
			d.proxy.Block(false)
		} else {
			w.blocked[d] = n - 1
		}
	}
}

// settle waits until every device is settled at the relay's head. A contact
// or visitor that is live receives only what it may see, so its cursor
// stops at the last event it may see; a new session (after a cut) brings it
// to the head with caughtUp.
func (w *world) settle() {
	t := w.t
	deadline := time.Now().Add(90 * time.Second)
	lastCut := time.Now()
	for {
		all := true
		for _, d := range w.devices {
			if !d.settled() {
				all = false
			}
		}
		if all {
			return
		}
		if time.Since(lastCut) > time.Second {
			lastCut = time.Now()
			for _, d := range w.users {
				if d.unsettled() == 0 && !d.settled() {
					d.proxy.Cut()
				}
			}
		}
		if time.Now().After(deadline) {
			epoch, head := w.relays.head()
			for _, d := range w.devices {
				var st client.Status
				if cl := d.client(); cl != nil {
					st = cl.Status()
				}
				e, s := d.cursor()
				t.Logf("%s: settled=%v unsettled=%d cursor=(%s,%d) status=%+v", d.name, d.settled(), d.unsettled(), e, s, st)
			}
			t.Fatalf("devices did not settle at the relay's head (%s, %d)", epoch, head)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *world) pick(ds []*device) *device { return ds[w.rng.IntN(len(ds))] }

// pickConv picks a conversation, the newest few more often than the rest,
// so that devices race on the same conversations (stale resolves, threads
// ended under each other, tag limits).
func (w *world) pickConv(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	if hot := min(len(ids), 3); w.rng.IntN(2) == 0 {
		return ids[len(ids)-1-w.rng.IntN(hot)]
	}
	return ids[w.rng.IntN(len(ids))]
}

func (w *world) text(who string) string {
	return fmt.Sprintf("%s says %d", who, w.rng.IntN(1_000_000))
}

// note records an action's outcome: done, a local rejection (the device's
// optimistic check refused it; nothing stored), or a failure of the test.
func (w *world) note(d *device, what string, e conv.Event, err error) {
	var ce *conv.Error
	switch {
	case err == nil && e.ID == "":
		w.stats["no-op actions"]++
	case err == nil:
		d.rec.madeEvent(e)
		w.stats["actions"]++
	case errors.As(err, &ce):
		w.stats["refused locally"]++
	case errors.Is(err, inbox.ErrNotFound), errors.Is(err, client.ErrNotFailed):
		w.stats["refused locally"]++
	default:
		w.t.Fatalf("%s: %s: %v", d.name, what, err)
	}
}

// agentAction makes one random action on an agent's inbox.
func (w *world) agentAction(d *device) {
	in := d.in
	rng := w.rng
	id := w.pickConv(w.convs)
	x := rng.IntN(100)
	if id == "" {
		x = 0
	}
	var (
		e   conv.Event
		err error
	)
	switch {
	case x < 10: // create a conversation for a contact or the visitor
		var contacts []conv.Participant
		contacts = append(contacts, c42, c77)
		if v := w.users[2].identity(); v.ID != "" {
			contacts = append(contacts, v)
		}
		who := contacts[rng.IntN(len(contacts))]
		opts := inbox.CreateOptions{Channel: "email"}
		if rng.IntN(3) == 0 {
			opts.Priority = []conv.Priority{conv.PriorityLow, conv.PriorityHigh, conv.PriorityUrgent}[rng.IntN(3)]
		}
		if rng.IntN(3) == 0 {
			opts.Tags = []string{tagPool[rng.IntN(len(tagPool))], tagPool[rng.IntN(len(tagPool))]}
		}
		if rng.IntN(5) == 0 {
			opts.Attributes = w.attributes()
		}
		text := ""
		if rng.IntN(3) > 0 {
			text = w.text(d.name)
		}
		var cid string
		cid, err = in.CreateConversation(who, "Subject "+strconv.Itoa(rng.IntN(1000)), text, opts)
		if err == nil {
			w.convs = append(w.convs, cid)
			w.ownedBy[who.ID] = append(w.ownedBy[who.ID], cid)
			for _, o := range in.Outbox(nil) {
				if o.Event.Conv == cid {
					d.rec.madeEvent(o.Event)
				}
			}
			w.stats["actions"]++
			return
		}
	case x < 30:
		e, err = in.Send(id, w.text(d.name))
	case x < 38:
		e, err = in.AddNote(id, "note: "+w.text(d.name))
	case x < 44:
		e, err = in.StartThread(id, topics[rng.IntN(len(topics))])
	case x < 49:
		topic := ""
		if rng.IntN(2) == 0 {
			topic = topics[rng.IntN(len(topics))]
		}
		e, err = in.EndThread(id, topic)
	case x < 56:
		e, err = in.Resolve(id)
	case x < 60:
		e, err = in.Reopen(id)
	case x < 64:
		e, err = in.SetPriority(id, []conv.Priority{conv.PriorityLow, conv.PriorityMedium, conv.PriorityHigh, conv.PriorityUrgent}[rng.IntN(4)])
	case x < 70:
		var add, remove []string
		for range 1 + rng.IntN(4) {
			add = append(add, tagPool[rng.IntN(len(tagPool))])
		}
		if rng.IntN(2) == 0 {
			remove = []string{tagPool[rng.IntN(len(tagPool))]}
		}
		e, err = in.ChangeTags(id, add, remove)
	case x < 74:
		var p *conv.Participant
		switch rng.IntN(3) {
		case 0:
			p = &conv.Participant{ID: ana.ID, Role: ana.Role}
		case 1:
			p = &conv.Participant{ID: ben.ID, Role: ben.Role}
		}
		e, err = in.Assign(id, p)
	case x < 82:
		e, err = in.MarkSeen(id)
	case x < 86:
		e, err = in.SetAttributes(id, w.attributes())
	case x < 89:
		if rng.IntN(2) == 0 {
			e, err = in.Join(id, conv.RoleAgent)
		} else {
			e, err = in.Leave(id)
		}
	default:
		w.handleFailed(d)
		return
	}
	w.note(d, "agent action", e, err)
}

// attributes returns attribute values, now and then ones the workspace
// does not define or of the wrong type (an inbox without the schema lets
// them through; the relay rejects them).
func (w *world) attributes() map[string]any {
	switch w.rng.IntN(6) {
	case 0:
		return map[string]any{"plan": "gold"} // not one of the enum's values
	case 1:
		return map[string]any{"color": "teal"} // not defined
	case 2:
		return map[string]any{"seats": float64(1 + w.rng.IntN(50))}
	case 3:
		return map[string]any{"vip": w.rng.IntN(2) == 0, "company": "Acme " + strconv.Itoa(w.rng.IntN(9))}
	}
	return map[string]any{"plan": []string{"free", "pro"}[w.rng.IntN(2)]}
}

// userAction makes one random action on a contact's or visitor's device.
func (w *world) userAction(d *device) {
	me := d.identity()
	own := w.ownedBy[me.ID]
	id := w.pickConv(own)
	x := w.rng.IntN(100)
	if id == "" {
		x = 0
	}
	var (
		e   conv.Event
		err error
	)
	switch {
	case x < 12:
		var cid string
		if d.in != nil {
			cid, err = d.in.CreateConversation(me, "Help "+strconv.Itoa(w.rng.IntN(1000)), w.text(d.name), inbox.CreateOptions{})
			if err == nil {
				for _, o := range d.in.Outbox(nil) {
					if o.Event.Conv == cid {
						d.rec.madeEvent(o.Event)
					}
				}
			}
		} else {
			e, err = d.mem.Create(conv.Created{Subject: "Help " + strconv.Itoa(w.rng.IntN(1000)), Channel: "chat"})
			if err == nil {
				cid = e.Conv
				d.rec.madeEvent(e)
				e, err = d.mem.Act(cid, conv.KindMessageSent, conv.Message{Text: w.text(d.name)})
				w.note(d, "user action", e, err)
			}
		}
		if err == nil {
			w.convs = append(w.convs, cid)
			w.ownedBy[me.ID] = append(w.ownedBy[me.ID], cid)
			w.stats["actions"]++
			return
		}
	case x < 55:
		e, err = w.userAct(d, id, conv.KindMessageSent, conv.Message{Text: w.text(d.name)})
	case x < 65:
		e, err = w.userAct(d, id, conv.KindThreadStarted, conv.ThreadStarted{Topic: topics[w.rng.IntN(len(topics))]})
	case x < 73:
		topic := ""
		if w.rng.IntN(2) == 0 {
			topic = topics[w.rng.IntN(len(topics))]
		}
		e, err = w.userAct(d, id, conv.KindThreadEnded, conv.ThreadEnded{Topic: topic})
	case x < 90:
		e, err = w.userAct(d, id, conv.KindSeenMarked, nil)
	default:
		w.handleFailed(d)
		return
	}
	w.note(d, "user action", e, err)
}

// userAct makes an end user's action through the device's own API.
func (w *world) userAct(d *device, id string, k conv.Kind, data any) (conv.Event, error) {
	if d.in != nil {
		switch k {
		case conv.KindMessageSent:
			return d.in.Send(id, data.(conv.Message).Text)
		case conv.KindThreadStarted:
			return d.in.StartThread(id, data.(conv.ThreadStarted).Topic)
		case conv.KindThreadEnded:
			return d.in.EndThread(id, data.(conv.ThreadEnded).Topic)
		case conv.KindSeenMarked:
			return d.in.MarkSeen(id)
		}
	}
	if k == conv.KindSeenMarked {
		c, ok := d.mem.Canonical(id)
		if !ok {
			return conv.Event{}, nil
		}
		data = conv.SeenMarked{UpTo: c.LastSeq}
	}
	return d.mem.Act(id, k, data)
}

// handleFailed retries or discards one of the device's failed events, as
// a user does with a failed item.
func (w *world) handleFailed(d *device) {
	failed := d.failed()
	if len(failed) == 0 {
		return
	}
	f := failed[w.rng.IntN(len(failed))]
	if w.rng.IntN(2) == 0 {
		var (
			e   conv.Event
			err error
		)
		if d.in != nil {
			e, err = d.in.Retry(f.Event.ID)
		} else {
			e, err = d.mem.Retry(f.Event.ID)
		}
		w.stats["retries"]++
		w.note(d, "retry", e, err)
		return
	}
	var err error
	if d.in != nil {
		err = d.in.Discard(f.Event.ID)
	} else {
		err = d.mem.Discard(f.Event.ID)
	}
	w.stats["discards"]++
	if err != nil {
		w.t.Fatalf("%s: discard %s: %v", d.name, f.Event.ID, err)
	}
}

// botAction makes one random action of the assistant (a client.Memory, as
// the Go SDK's bots run): conversations in assistant mode, answers, notes,
// hand-offs to an agent, tags.
func (w *world) botAction(d *device) {
	rng := w.rng
	id := w.pickConv(w.convs)
	x := rng.IntN(100)
	if id == "" {
		x = 0
	}
	var (
		e   conv.Event
		err error
	)
	switch {
	case x < 15:
		contacts := []conv.Participant{c42, c77}
		if v := w.users[2].identity(); v.ID != "" {
			contacts = append(contacts, v)
		}
		who := contacts[rng.IntN(len(contacts))]
		e, err = d.mem.Create(conv.Created{Contact: &who, Subject: "Bot " + strconv.Itoa(rng.IntN(1000)), AssistantID: "faq"})
		w.note(d, "bot create", e, err)
		if err != nil {
			return
		}
		w.convs = append(w.convs, e.Conv)
		w.ownedBy[who.ID] = append(w.ownedBy[who.ID], e.Conv)
		e, err = d.mem.Act(e.Conv, conv.KindMessageSent, conv.Message{Text: "Hi! I am the FAQ bot."})
	case x < 55:
		e, err = d.mem.Act(id, conv.KindMessageSent, conv.Message{Text: w.text(d.name)})
	case x < 70:
		to := &conv.Participant{ID: ana.ID, Role: ana.Role}
		if rng.IntN(3) == 0 {
			to = nil
		}
		e, err = d.mem.Act(id, conv.KindAssistantHandedOff, conv.HandedOff{To: to})
	case x < 80:
		e, err = d.mem.Act(id, conv.KindNoteAdded, conv.Note{Text: "bot note " + w.text(d.name)})
	case x < 90:
		e, err = d.mem.Act(id, conv.KindTagsChanged, conv.TagsChanged{Add: []string{tagPool[rng.IntN(len(tagPool))]}})
	default:
		w.handleFailed(d)
		return
	}
	w.note(d, "bot action", e, err)
}

// identify makes the visitor's device say hello as contact externalID with
// its visitor token: the relay logs contact.identified and the visitor's
// conversations become the contact's; the device, now the contact, gets
// the contact's other conversations whole. Then the device forgets the
// token, so that later hellos do not identify again (one that does can
// move a conversation created for the visitor id in the meantime without
// its history: see TestLateVisitorConversationReachesTheIdentifiedDevice).
//
// The device first settles as the visitor: events it resent after
// identifying, had it lost their acks, would be processed again under the
// contact (TestResendAcrossIdentificationIsAnsweredOnce).
func (w *world) identify(d *device, externalID string) {
	visitorID := d.identity().ID
	if w.cluster != nil {
		w.cluster.reach(d) // its relay (or the log) may be down: it waits for nothing here
	}
	delete(w.offline, d)
	delete(w.blocked, d)
	d.proxy.Block(false)
	d.start()
	d.kick()
	d.waitSettled(w.t)
	d.stop()
	d.auth = protocol.Auth{Kind: protocol.AuthContact, ContactID: externalID, Hash: contactHash(externalID), VisitorToken: d.auth.VisitorToken}
	d.start()
	d.waitOnline(w.t)
	d.stop()
	d.auth.VisitorToken = ""
	d.start()
	contact := "contact:" + externalID
	w.ownedBy[contact] = append(w.ownedBy[contact], w.ownedBy[visitorID]...)
	delete(w.ownedBy, visitorID)
}
