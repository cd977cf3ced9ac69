package eventlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/threadline/threadline/sync/protocol"
)

// JetStream is the Log on NATS JetStream (DESIGN §6): several relays share
// it. Each workspace is one stream, TL_<ws>, whose stream sequence is the
// seq: only relays publish to it, one atomic batch per group commit, with
// Nats-Expected-Last-Sequence set to the head the relay validated against
// and Nats-Msg-Id to each event's id. A relay that lost the race gets a
// *BehindError and validates again on top of what it missed. On an R1
// stream a small group may be a pipeline of publishes each conditional on
// the one before instead, sent while the groups before it wait for their
// acks (jetstream_pipeline.go): the server's R1 atomic batches cost 7 ms or
// more each, and one group at a time leaves the stream idle between them.
//
// What is not an event (answers to mids that logged nothing, visitor
// tokens, webhook cursors, the epoch) lives in the workspace's key-value
// bucket, TL_<ws> too. Everything else a relay needs to validate (states,
// highest mids, owners, which event answered which mid) is derived from the
// stream and kept in memory; Open rebuilds it by reading the stream, and a
// consumer keeps it current with what other relays append. The relay's
// --data holds nothing of it.
//
// An ack promises what the stream's settings promise: at Replicas 3, the
// batch is on a majority of three servers; at Replicas 1, it is on one
// server's disk only when that server runs with sync_interval: always
// (NATS acknowledges R1 writes before fsync by default).
type JetStream struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts JetStreamOptions
	lg   *slog.Logger

	mu     sync.Mutex
	spaces map[string]*jsSpace
	closed bool
	id     string // this relay in leases (Lease)

	wedgeNext atomic.Bool // tests: the consumer's next Next delivers nothing until watchStall ends it
}

// JetStreamOptions configure Connect.
type JetStreamOptions struct {
	// URLs is one or more nats:// or tls:// server URLs, comma-separated.
	URLs string
	// Creds is a NATS credentials file (JWT and NKey seed); empty for none.
	Creds string
	// Replicas is each stream's and bucket's replica count: 3 in a
	// cluster, 1 on one server (then run it with sync_interval: always).
	// Zero means 3.
	Replicas int
	// Timeout bounds each JetStream call (default 5 s).
	Timeout time.Duration
	// Name is this relay's NATS connection name.
	Name   string
	Logger *slog.Logger
	// NATS adds options to the connection (tests: reconnect timings).
	NATS []nats.Option

	snapshotEvery uint64 // tests: events between two snapshots of the index (default snapshotEvery)
}

// BehindError is Append's answer when another writer appended first: the
// batch was validated against a head that is no longer the stream's. Last
// is the stream's last seq when known (0 when not). Nothing of the batch is
// in the log; the caller catches up past Last and validates again.
type BehindError struct {
	Expected, Last uint64
}

func (e *BehindError) Error() string {
	return fmt.Sprintf("eventlog: another relay appended first (expected head %d, log at %d)", e.Expected, e.Last)
}

// MaxAtomicBatch is the most messages NATS takes in one atomic batch.
const MaxAtomicBatch = 1000

// Connect connects to NATS and returns the JetStream log. It fails when no
// server answers, or JetStream is not enabled there.
func Connect(o JetStreamOptions) (*JetStream, error) {
	if o.Replicas == 0 {
		o.Replicas = 3
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		return nil, fmt.Errorf("eventlog: nats replicas %d: want 1 to 5", o.Replicas)
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	lg := o.Logger
	var made atomic.Pointer[JetStream] // for the reconnect handler, once made
	nopts := []nats.Option{
		nats.Name(o.Name),
		nats.Timeout(o.Timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			lg.Warn("nats: disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			lg.Info("nats: reconnected", "server", c.ConnectedUrlRedacted())
			if j := made.Load(); j != nil {
				j.reconnected()
			}
		}),
	}
	if o.Creds != "" {
		nopts = append(nopts, nats.UserCredentials(o.Creds))
	}
	nopts = append(nopts, o.NATS...)
	nc, err := nats.Connect(o.URLs, nopts...)
	if err != nil {
		return nil, fmt.Errorf("eventlog: connect to nats at %s: %w", RedactURLs(o.URLs), err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(o.Timeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventlog: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.Timeout)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("eventlog: jetstream at %s: %w", RedactURLs(o.URLs), err)
	}
	j := &JetStream{nc: nc, js: js, opts: o, lg: lg, spaces: map[string]*jsSpace{}}
	made.Store(j)
	return j, nil
}

// reconnected tells every open workspace that the connection is back.
func (j *JetStream) reconnected() {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, s := range j.spaces {
		s.reconnected()
	}
}

// transient reports whether err may pass once the cluster has a leader.
func transient(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)
}

// RedactURLs drops user:password from NATS URLs, for logs and errors.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				parts[i] = u[:s+3] + "***" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

var plainToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,48}$`)

// token is ws as a stream-name and subject token: itself when plain, else
// "x" and its hex.
func token(ws string) string {
	if plainToken.MatchString(ws) {
		return ws
	}
	return "x" + hex.EncodeToString([]byte(ws))
}

// StreamName is the stream holding workspace ws's log.
func StreamName(ws string) string { return "TL_" + token(ws) }

func subject(ws string) string { return "tl." + token(ws) + ".events" }

// whoHeader names, on an event's message, the identity whose mid the event
// answers when it is not the event's actor (an API key acting as the
// contact).
const whoHeader = "Tl-Who"

func (j *JetStream) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), j.opts.Timeout)
}

// streamConfig is what a workspace's stream must be.
func (j *JetStream) streamConfig(ws string) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:               StreamName(ws),
		Description:        "Threadline workspace log: " + ws,
		Subjects:           []string{subject(ws)},
		Retention:          jetstream.LimitsPolicy,
		MaxMsgs:            -1,
		MaxBytes:           -1,
		MaxAge:             0,
		MaxMsgsPerSubject:  -1,
		MaxMsgSize:         protocol.MaxFrameBytes,
		Storage:            jetstream.FileStorage,
		Replicas:           j.opts.Replicas,
		Duplicates:         2 * time.Minute,
		AllowAtomicPublish: true,
		AllowDirect:        true,
		DenyDelete:         true,
		DenyPurge:          true,
	}
}

// checkStream names the first setting of an existing stream that differs
// from want, or returns nil.
func checkStream(have, want jetstream.StreamConfig) error {
	diff := func(name string, h, w any) error {
		return fmt.Errorf("eventlog: stream %s exists with %s %v, this relay needs %v: fix the stream or the relay's settings", want.Name, name, h, w)
	}
	switch {
	case len(have.Subjects) != 1 || have.Subjects[0] != want.Subjects[0]:
		return diff("subjects", have.Subjects, want.Subjects)
	case have.Storage != want.Storage:
		return diff("storage", have.Storage, want.Storage)
	case have.Replicas != want.Replicas:
		return diff("replicas", have.Replicas, want.Replicas)
	case have.Retention != want.Retention:
		return diff("retention", have.Retention, want.Retention)
	case have.MaxMsgs != want.MaxMsgs:
		return diff("max_msgs", have.MaxMsgs, want.MaxMsgs)
	case have.MaxBytes != want.MaxBytes:
		return diff("max_bytes", have.MaxBytes, want.MaxBytes)
	case have.MaxAge != want.MaxAge:
		return diff("max_age", have.MaxAge, want.MaxAge)
	case have.MaxMsgsPerSubject != want.MaxMsgsPerSubject:
		return diff("max_msgs_per_subject", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	case !have.AllowAtomicPublish:
		return diff("allow_atomic", false, true)
	case !have.AllowDirect:
		return diff("allow_direct", false, true)
	case !have.DenyDelete:
		return diff("deny_delete", false, true)
	case !have.DenyPurge:
		return diff("deny_purge", false, true)
	}
	return nil
}

// space opens (once) workspace ws's stream, bucket and index.
func (j *JetStream) space(ws string) (*jsSpace, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil, errors.New("eventlog: closed")
	}
	if s := j.spaces[ws]; s != nil {
		return s, nil
	}
	want := j.streamConfig(ws)
	ctx, cancel := j.ctx()
	defer func() { cancel() }()
	st, err := j.js.Stream(ctx, want.Name)
	// A cluster just (re)started may take a few seconds to elect the
	// stream's leader: wait for it rather than give up at once.
	for deadline := time.Now().Add(30 * time.Second); transient(err) && time.Now().Before(deadline); {
		j.lg.Warn("eventlog: stream not answering yet; retrying", "stream", want.Name, "err", err)
		time.Sleep(time.Second)
		cancel()
		ctx, cancel = j.ctx()
		st, err = j.js.Stream(ctx, want.Name)
	}
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = j.js.CreateStream(ctx, want)
		if err != nil {
			return nil, fmt.Errorf("eventlog: create stream %s: %w", want.Name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("eventlog: stream %s: %w", want.Name, err)
	default:
		if err := checkStream(st.CachedInfo().Config, want); err != nil {
			return nil, err
		}
	}
	kv, err := j.js.KeyValue(ctx, want.Name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = j.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      want.Name,
			Description: "Threadline workspace state that is not an event: " + ws,
			History:     1,
			Storage:     jetstream.FileStorage,
			Replicas:    j.opts.Replicas,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("eventlog: bucket %s: %w", want.Name, err)
	}
	s := &jsSpace{j: j, ws: ws, stream: st, kv: kv, idx: newMemIndex(), costs: newPublishCosts()}
	if err := s.start(); err != nil {
		s.stop()
		return nil, err
	}
	j.spaces[ws] = s
	return s, nil
}

// Open implements Log: the epoch is kept in the bucket, made by the first
// relay to open the workspace; the head is the stream's, once this relay
// has read the stream up to it.
func (j *JetStream) Open(ws string) (string, uint64, error) {
	s, err := j.space(ws)
	if err != nil {
		return "", 0, err
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	epoch := hex.EncodeToString(b[:])
	// A bucket just made at R3 may not answer until its leader is elected
	// ("no response from stream" once in a CI run): wait for it, as space
	// does for the stream.
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := j.epoch(s, epoch)
		if err == nil {
			return got, s.idx.headNow(), nil
		}
		if !transient(err) || time.Now().After(deadline) {
			return "", 0, fmt.Errorf("eventlog: epoch of %s: %w", ws, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// epoch makes the workspace's epoch fresh, or reads the one already made.
func (j *JetStream) epoch(s *jsSpace, fresh string) (string, error) {
	ctx, cancel := j.ctx()
	defer cancel()
	_, err := s.kv.Create(ctx, "epoch", []byte(fresh))
	if err == nil {
		return fresh, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", err
	}
	e, err := s.kv.Get(ctx, "epoch")
	if err != nil {
		return "", err
	}
	return string(e.Value()), nil
}

// Check implements Log: the connection is up and JetStream answers.
func (j *JetStream) Check() error {
	if !j.nc.IsConnected() {
		return fmt.Errorf("eventlog: nats: %s", j.nc.Status())
	}
	ctx, cancel := context.WithTimeout(context.Background(), min(j.opts.Timeout, 2*time.Second))
	defer cancel()
	if _, err := j.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("eventlog: jetstream: %w", err)
	}
	return nil
}

// Close implements Log.
func (j *JetStream) Close() error {
	j.mu.Lock()
	spaces := j.spaces
	j.spaces, j.closed = nil, true
	j.mu.Unlock()
	for _, s := range spaces {
		s.stop()
	}
	// Every write was acknowledged before Append returned: nothing waits
	// to be flushed, and a connection that is reconnecting closes too.
	j.nc.Close()
	return nil
}

// MaxBatch implements Limited: an atomic batch holds at most
// MaxAtomicBatch messages.
func (j *JetStream) MaxBatch() int { return MaxAtomicBatch }

// Limited is a Log whose Append takes at most MaxBatch events at once.
type Limited interface{ MaxBatch() int }

// JetStream returns the log's JetStream context, for stores that live
// beside the log on the same connection (attachments' object store).
func (j *JetStream) JetStream() jetstream.JetStream { return j.js }

// Replicas is the replica count the log gives its streams and buckets.
func (j *JetStream) Replicas() int { return j.opts.Replicas }
