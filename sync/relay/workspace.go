package relay

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/internal/bounded"
	"github.com/threadline/threadline/sync/eventlog"
	"github.com/threadline/threadline/sync/protocol"
)

// A workspace is one hosted team: its configuration, the writer that
// orders its events (group commit), and the hub that fans logged events out
// to its live sessions.
//
// The writer is two goroutines in a pipeline. The sequencer drains the
// request queue into a group, validates it with conv.Apply and assigns its
// seqs, on top of the groups still in flight; the committer writes each
// group in one Log.Append (one fsync), publishes it and answers its
// requests. While one group is being written the next one is validated.
// If an Append fails, that group and every group validated on top of it
// are refused (their sessions reconnect and resend) and the sequencer
// starts again from the committed state.
type workspace struct {
	srv   *Server
	id    string
	set   atomic.Pointer[settings] // the config's part a reload may change
	epoch string

	// Requests queue up here. qmu guards stopped against sends on a closed
	// queue.
	queue   chan *request
	qmu     sync.RWMutex
	stopped bool
	commits chan *group   // sequencer → committer, unbuffered
	done    chan struct{} // closed when the committer has exited

	// Sequencer-owned.
	seqHead   uint64                        // the last seq assigned (committed or in flight)
	gen       uint64                        // bumped after a failed commit
	mids      *bounded.Map[devKey, uint64]  // highest processed mid per device, in flight included
	groupHint int                           // events the last group logged: the next batch's first capacity
	profiles  *bounded.Map[string, profile] // the latest profile a hello gave, per contact or visitor

	flightMu sync.Mutex
	inflight []*group // validated, not yet published; oldest first

	badGen atomic.Uint64 // generation of the last failed commit

	// A shared log (eventlog.Shared: several relays append to it).
	// staleGen is the generation of the last group validated on a head
	// another relay has moved: such groups are not written but validated
	// again, their requests queued in retry (oldest first) ahead of the
	// queue.
	staleGen  atomic.Uint64
	retry     []*request    // guarded by flightMu
	seqExited bool          // guarded by flightMu: the sequencer has returned
	wake      chan struct{} // poked when retry gets requests
	foreign   chan []eventlog.Record
	quit      chan struct{} // closed by stop: the follower stops handing over
	maxEvents int           // events a group may reach before it is full

	// Committer-owned.
	head uint64 // committed head

	// The hub. mu guards everything below; the committer holds it to
	// publish a group, sessions to go live and to relay typing.
	mu     sync.RWMutex
	pub    uint64                                   // published head: readable from the log and fanned out
	fanned uint64                                   // fanned-out head: pub, or above it while a durable group is not yet readable
	unread chan struct{}                            // while fanned > pub: closed when pub reaches it
	states *bounded.Map[string, *conv.Conversation] // committed conversation states
	team   map[*session]struct{}                    // live agent and assistant sessions
	users  map[string]map[*session]struct{}         // live contact and visitor sessions by participant id
	typing map[typingKey]*time.Timer
	broken error // the last log failure; cleared by the next successful commit

	// pubPoke is poked, never blocking, whenever pub advances; the
	// webhooks' watcher drains it (see webhook.go).
	pubPoke chan struct{}
}

// env is what conv.Apply needs of the workspace; next is the seq the first
// resulting event takes.
func (w *workspace) env(next uint64) conv.Env { return w.settings().env(next) }

// settings returns the workspace's current settings.
func (w *workspace) settings() *settings { return w.set.Load() }

type devKey struct{ identity, device string }

type typingKey struct{ conv, participant string }

// Group limits keep one commit inside one Badger transaction.
const (
	maxGroupEvents = 4000
	maxGroupBytes  = 4 << 20
	stateCacheSize = 100_000
	midCacheSize   = 100_000
)

func newWorkspace(srv *Server, cfg WorkspaceConfig) (*workspace, error) {
	epoch, head, err := srv.log.Open(cfg.ID)
	if err != nil {
		return nil, err
	}
	w := &workspace{
		srv:       srv,
		id:        cfg.ID,
		epoch:     epoch,
		queue:     make(chan *request, 1024),
		commits:   make(chan *group),
		done:      make(chan struct{}),
		seqHead:   head,
		gen:       1,
		mids:      bounded.NewMap[devKey, uint64](midCacheSize),
		profiles:  bounded.NewMap[string, profile](midCacheSize),
		head:      head,
		pub:       head,
		fanned:    head,
		states:    bounded.NewMap[string, *conv.Conversation](stateCacheSize),
		team:      map[*session]struct{}{},
		users:     map[string]map[*session]struct{}{},
		typing:    map[typingKey]*time.Timer{},
		pubPoke:   make(chan struct{}, 1),
		wake:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
		maxEvents: maxGroupEvents,
	}
	w.set.Store(newSettings(cfg))
	if l, ok := srv.log.(eventlog.Limited); ok {
		// A push brings at most MaxPushEvents events and as many derived
		// ones again twice over: a group stops growing well before the
		// log's limit.
		w.maxEvents = min(w.maxEvents, l.MaxBatch()-4*protocol.MaxPushEvents)
	}
	if sh, ok := srv.log.(eventlog.Shared); ok {
		w.foreign = make(chan []eventlog.Record)
		if err := sh.Follow(cfg.ID, w.handOver); err != nil {
			return nil, err
		}
	}
	go w.sequence()
	go w.commitLoop()
	return w, nil
}

// request is work for the writer: a push, a new visitor, or identifying a
// visitor as a contact. The writer fills the answer and closes done.
type request struct {
	kind reqKind

	who    conv.Participant // push: the session's identity
	alias  string           // push: the visitor a contact's session proved it was, or ""; identify: the visitor to record as this device's (Alias), or ""
	device string
	events []conv.Event

	visitor eventlog.VisitorToken // newVisitor; identify: the visitor's token record

	visitorID string           // identify: the visitor…
	contact   conv.Participant // …becomes this contact; profile: whose it is

	profile profile // profile: what the hello said of contact

	// push from the HTTP API (api_write.go): the writer's narrow paths for
	// an API key, and for nothing else.
	asContact bool // its message.sent events are the conversation's contact's (DESIGN §9)
	atHead    bool // its events' base is the head they are validated on
	once      bool // Idempotency-Key: once its first mid is processed, every event is answered as the first time

	size int // estimated bytes, for group limits

	// Answers.
	results    []protocol.Result
	identified []string // identify: the conversations that moved
	err        error
	done       chan struct{}
}

type reqKind uint8

const (
	reqPush reqKind = iota
	reqVisitor
	reqIdentify
	reqProfile
)

var (
	errStopped   = errors.New("relay: shutting down")
	errAbandoned = errors.New("relay: an earlier commit failed")
)

// submit hands r to the writer and waits for its answer.
func (w *workspace) submit(r *request) error {
	r.done = make(chan struct{})
	w.qmu.RLock()
	if w.stopped {
		w.qmu.RUnlock()
		return errStopped
	}
	w.queue <- r
	w.qmu.RUnlock()
	<-r.done
	return r.err
}

// stop lets the writer finish what is queued, then waits for it to exit.
func (w *workspace) stop() {
	w.qmu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.queue)
	}
	w.qmu.Unlock()
	<-w.done
	select {
	case <-w.quit:
	default:
		close(w.quit)
	}
	w.mu.Lock()
	for k, t := range w.typing {
		t.Stop()
		delete(w.typing, k)
	}
	w.mu.Unlock()
}
