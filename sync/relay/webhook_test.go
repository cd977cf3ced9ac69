package relay

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threadline/threadline/backend/conv"
	"github.com/threadline/threadline/sync/protocol"
)

const hookSecret = "whsec-test-0123456789abcdef"

// hookHit is one request a test receiver got.
type hookHit struct {
	id      string // Threadline-Event-Id
	sig     error  // what checking Threadline-Signature found; nil: valid
	body    []byte
	ws      string
	event   conv.Event
	raw     json.RawMessage // the payload's event, as sent
	attempt int             // 1 for the first request for this id, 2 for the next…
}

// receiver is a webhook endpoint on loopback that records every request.
// answer, when set, gives the status of each (and may block); 200 when nil.
type receiver struct {
	srv    *httptest.Server
	secret string
	answer func(h hookHit) int

	mu    sync.Mutex
	hits  []hookHit
	tries map[string]int
}

func newReceiver(t testing.TB, answer func(hookHit) int) *receiver {
	rc := &receiver{secret: hookSecret, answer: answer, tries: map[string]int{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h := hookHit{id: r.Header.Get(EventIDHeader), body: body}
	h.sig = checkSignature(rc.secret, r.Header.Get(SignatureHeader), body, time.Now())
	var p struct {
		Workspace string          `json:"workspace"`
		Event     json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(body, &p); err == nil {
		h.ws, h.raw = p.Workspace, p.Event
		_ = json.Unmarshal(p.Event, &h.event)
	}
	rc.mu.Lock()
	rc.tries[h.id]++
	h.attempt = rc.tries[h.id]
	rc.hits = append(rc.hits, h)
	rc.mu.Unlock()
	status := http.StatusOK
	if rc.answer != nil {
		status = rc.answer(h)
	}
	w.WriteHeader(status)
}

func (rc *receiver) got() []hookHit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.hits)
}

// wait returns every request so far once there are at least n.
func (rc *receiver) wait(t testing.TB, n int) []hookHit {
	t.Helper()
	if err := waitFor(20*time.Second, func() bool { return len(rc.got()) >= n }); err != nil {
		t.Fatalf("receiver got %d requests; want %d", len(rc.got()), n)
	}
	return rc.got()
}

func (rc *receiver) hook(id string, kinds ...conv.Kind) Webhook {
	ks := make([]string, len(kinds))
	for i, k := range kinds {
		ks[i] = string(k)
	}
	return Webhook{ID: id, URL: rc.srv.URL + "/hooks/threadline", Secret: rc.secret, Events: ks}
}

// checkSignature verifies a Threadline-Signature the way DESIGN §9 tells
// receivers to, independently of the relay's Signature.
func checkSignature(secret, header string, body []byte, now time.Time) error {
	var ts, v1 string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no t in %q", header)
	}
	if d := now.Sub(time.Unix(t, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("t is %v away", d)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", t)
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(v1), []byte(want)) {
		return errors.New("v1 does not match")
	}
	return nil
}

// fastHooks are test timings: retries within milliseconds.
func fastHooks(o *Options) {
	o.hooks = hookOptions{backoffMin: 5 * time.Millisecond, backoffMax: 40 * time.Millisecond, timeout: 5 * time.Second}
}

// newHookRelay is a test relay whose workspace has hooks.
func newHookRelay(t testing.TB, hooks []Webhook, opts ...func(*Options)) *testRelay {
	t.Helper()
	r := &testRelay{t: t, dir: t.TempDir(), conf: func(c *Config) { c.Workspaces[0].Webhooks = hooks }}
	fastHooks(&r.opts)
	for _, o := range opts {
		o(&r.opts)
	}
	r.start()
	t.Cleanup(r.stop)
	return r
}

// logged returns the stored JSON of the workspace's events with one of
// kinds (all when none), by seq.
func (r *testRelay) logged(t testing.TB, kinds ...conv.Kind) (seqs []uint64, raws [][]byte) {
	t.Helper()
	w := r.srv.workspace(testWS)
	if err := waitFor(5*time.Second, func() bool { return w.published() == w.acknowledged() }); err != nil {
		t.Fatal("the events acknowledged do not become readable")
	}
	err := r.log.Scan(testWS, 1, w.published(), func(seq uint64, raw []byte) error {
		var e conv.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		if len(kinds) == 0 || slices.Contains(kinds, e.Kind) {
			seqs, raws = append(seqs, seq), append(raws, raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seqs, raws
}

// someTraffic logs n conversations for contacts, each with a message (and
// its derived thread.started), a note and a resolve.
func someTraffic(t testing.TB, s *tsession, n int) {
	t.Helper()
	for i := range n {
		cid := newConvID()
		s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:"+strconv.Itoa(40+i))))
		s.mustLog(s.ev(conv.KindMessageSent, cid, msg("hello "+strconv.Itoa(i))),
			s.ev(conv.KindNoteAdded, cid, conv.Note{Text: "vip"}))
		s.mustLog(s.ev(conv.KindStatusChanged, cid, conv.StatusChanged{Status: conv.StatusResolved}))
	}
}

// TestWebhookDeliversEveryEventOfItsKindsInLogOrderSigned: each endpoint
// gets exactly the logged events of its kinds (derived ones included), in
// seq order, each once when it answers 200, as {"workspace", "event"} with
// the event's JSON exactly as stored and sent on the wire, its id in
// Threadline-Event-Id and a valid signature.
func TestWebhookDeliversEveryEventOfItsKindsInLogOrderSigned(t *testing.T) {
	crm := newReceiver(t, nil)
	all := newReceiver(t, nil)
	all.secret = "another-secret-0123456789abcdef"
	kinds := []conv.Kind{conv.KindMessageSent, conv.KindThreadStarted, conv.KindStatusChanged}
	allKinds := []conv.Kind{conv.KindConversationCreated, conv.KindMessageSent, conv.KindNoteAdded, conv.KindThreadStarted,
		conv.KindThreadEnded, conv.KindStatusChanged, conv.KindPriorityChanged, conv.KindTagsChanged,
		conv.KindAssigneeChanged, conv.KindParticipantJoined, conv.KindParticipantLeft,
		conv.KindAttributesSet, conv.KindSeenMarked, conv.KindAssistantHandedOff, conv.KindContactIdentified,
		conv.KindContactUpdated}
	r := newHookRelay(t, []Webhook{crm.hook("crm", kinds...), all.hook("", allKinds...)})
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	someTraffic(t, s, 5)

	for _, c := range []struct {
		name  string
		rc    *receiver
		kinds []conv.Kind
	}{{"crm", crm, kinds}, {"all kinds", all, nil}} {
		seqs, raws := r.logged(t, c.kinds...)
		c.rc.wait(t, len(seqs))
		time.Sleep(50 * time.Millisecond) // a stray extra delivery would show here
		hits := c.rc.got()
		if len(hits) != len(seqs) {
			t.Fatalf("%s: got %d deliveries; want %d (one per logged event of its kinds)", c.name, len(hits), len(seqs))
		}
		derived := 0
		for i, h := range hits {
			if h.sig != nil {
				t.Errorf("%s: delivery %d: signature: %v", c.name, i, h.sig)
			}
			if h.event.Seq != seqs[i] {
				t.Errorf("%s: delivery %d is seq %d; want %d (log order)", c.name, i, h.event.Seq, seqs[i])
			}
			if !bytes.Equal(h.raw, raws[i]) {
				t.Errorf("%s: delivery %d's event is\n%s\nwant as logged\n%s", c.name, i, h.raw, raws[i])
			}
			if want := `{"workspace":"acme","event":` + string(raws[i]) + `}`; string(h.body) != want {
				t.Errorf("%s: body %s; want %s", c.name, h.body, want)
			}
			if h.id != h.event.ID || h.ws != testWS {
				t.Errorf("%s: Threadline-Event-Id %q, workspace %q; want %q, %q", c.name, h.id, h.ws, h.event.ID, testWS)
			}
			if h.event.Cause != "" {
				derived++
			}
		}
		if derived == 0 {
			t.Errorf("%s: no derived event delivered", c.name)
		}
	}
}

// TestWebhookRetriesInOrder: an endpoint that fails (500, a hang past the
// timeout, a closed connection) gets the same event again until it answers
// 2xx, and never a later event before that.
func TestWebhookRetriesInOrder(t *testing.T) {
	var rc *receiver
	rc = newReceiver(t, func(h hookHit) int {
		switch h.attempt {
		case 1:
			return http.StatusInternalServerError
		case 2:
			time.Sleep(400 * time.Millisecond) // past the timeout below
			return http.StatusOK
		case 3:
			return http.StatusTemporaryRedirect // not a 2xx
		case 4:
			return http.StatusTooManyRequests
		}
		return http.StatusAccepted
	})
	r := newHookRelay(t, []Webhook{rc.hook("crm", conv.KindMessageSent)}, func(o *Options) { o.hooks.timeout = 150 * time.Millisecond })
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	for i := range 4 {
		s.mustLog(s.ev(conv.KindMessageSent, cid, msg("m"+strconv.Itoa(i))))
	}
	seqs, _ := r.logged(t, conv.KindMessageSent)
	hits := rc.wait(t, 5*len(seqs))
	var order []uint64
	for i, h := range hits {
		want := seqs[i/5]
		if h.event.Seq != want || h.attempt != i%5+1 {
			t.Fatalf("request %d: seq %d attempt %d; want seq %d attempt %d (each event until it succeeds, in order)", i, h.event.Seq, h.attempt, want, i%5+1)
		}
		if h.sig != nil {
			t.Errorf("request %d: %v", i, h.sig)
		}
		order = append(order, h.event.Seq)
	}
	m := scrape(t, r)
	if got := m[`threadline_relay_webhook_delivered_total{workspace="acme",endpoint="crm"}`]; got != "4" {
		t.Errorf("delivered = %s; want 4", got)
	}
	if got := m[`threadline_relay_webhook_failures_total{workspace="acme",endpoint="crm"}`]; got != "16" {
		t.Errorf("failures = %s; want 16", got)
	}
	if got := m[`threadline_relay_webhook_lag_events{workspace="acme",endpoint="crm"}`]; got != "0" {
		t.Errorf("lag_events = %s; want 0 once caught up", got)
	}
}

// TestWebhookDropsAfterGivingUp: an event that keeps failing past the give
// up delay is counted dropped and delivery moves on to the next.
func TestWebhookDropsAfterGivingUp(t *testing.T) {
	var poison string
	var mu sync.Mutex
	rc := newReceiver(t, func(h hookHit) int {
		mu.Lock()
		defer mu.Unlock()
		if poison == "" && strings.Contains(string(h.raw), "poison") {
			poison = h.id
		}
		if h.id == poison {
			return http.StatusBadGateway
		}
		return http.StatusOK
	})
	r := newHookRelay(t, []Webhook{rc.hook("crm", conv.KindMessageSent)}, func(o *Options) { o.hooks.giveUp = 300 * time.Millisecond })
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("before")))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("poison")))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("after")))
	seqs, _ := r.logged(t, conv.KindMessageSent)
	if err := waitFor(20*time.Second, func() bool {
		h := rc.got()
		return len(h) > 0 && h[len(h)-1].event.Seq == seqs[2]
	}); err != nil {
		t.Fatalf("the event after the failing one never came: %d requests", len(rc.got()))
	}
	var bySeq = map[uint64]int{}
	for _, h := range rc.got() {
		bySeq[h.event.Seq]++
	}
	if bySeq[seqs[0]] != 1 || bySeq[seqs[1]] < 2 || bySeq[seqs[2]] != 1 {
		t.Errorf("requests by seq %v; want the first and last once, the failing one several times", bySeq)
	}
	m := scrape(t, r)
	if got := m[`threadline_relay_webhook_dropped_total{workspace="acme",endpoint="crm"}`]; got != "1" {
		t.Errorf("dropped = %s; want 1", got)
	}
	if got := m[`threadline_relay_webhook_delivered_total{workspace="acme",endpoint="crm"}`]; got != "2" {
		t.Errorf("delivered = %s; want 2", got)
	}
}

// TestWebhookDeadEndpointHoldsUpNothing: an endpoint that never answers
// does not hold up pushes, live sessions or another endpoint; its lag
// shows in /metrics.
func TestWebhookDeadEndpointHoldsUpNothing(t *testing.T) {
	hang := make(chan struct{})
	dead := newReceiver(t, func(hookHit) int { <-hang; return http.StatusOK })
	t.Cleanup(func() { close(hang) })
	live := newReceiver(t, nil)
	r := newHookRelay(t, []Webhook{dead.hook("dead", conv.KindMessageSent), live.hook("live", conv.KindMessageSent)},
		func(o *Options) { o.hooks.timeout = time.Hour })
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	other := connect(t, r.url, agentAuth(tokBen), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	for i := range 200 {
		s.mustLog(s.ev(conv.KindMessageSent, cid, msg("m"+strconv.Itoa(i))))
	}
	seqs, _ := r.logged(t, conv.KindMessageSent)
	live.wait(t, len(seqs))
	if got := other.events(int(r.head())); len(got) < int(r.head()) {
		t.Fatalf("a live session got %d events of %d", len(got), r.head())
	}
	if n := len(dead.got()); n != 1 {
		t.Errorf("the dead endpoint got %d requests; want 1 (the one it holds)", n)
	}
	m := scrape(t, r)
	lag, _ := strconv.Atoi(m[`threadline_relay_webhook_lag_events{workspace="acme",endpoint="dead"}`])
	if lag < len(seqs) {
		t.Errorf("dead endpoint's lag_events = %d; want at least %d", lag, len(seqs))
	}
	if s := m[`threadline_relay_webhook_lag_seconds{workspace="acme",endpoint="dead"}`]; s == "" || s == "0" {
		t.Errorf("dead endpoint's lag_seconds = %q; want above 0", s)
	}
	if got := m[`threadline_relay_webhook_lag_events{workspace="acme",endpoint="live"}`]; got != "0" {
		t.Errorf("live endpoint's lag_events = %s; want 0", got)
	}
}

// TestWebhookResumesFromItsCursor: after a graceful restart delivery
// continues after the last event answered, nothing skipped and nothing
// sent twice (a stop saves the cursor).
func TestWebhookResumesFromItsCursor(t *testing.T) {
	rc := newReceiver(t, nil)
	r := newHookRelay(t, []Webhook{rc.hook("crm", conv.KindMessageSent, conv.KindConversationCreated)})
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	someTraffic(t, s, 3)
	first, _ := r.logged(t, conv.KindMessageSent, conv.KindConversationCreated)
	rc.wait(t, len(first))
	// Once the relay has taken the last answer (not just sent the
	// request), a graceful stop saves the cursor past it.
	want := strconv.Itoa(len(first))
	if err := waitFor(10*time.Second, func() bool {
		return scrape(t, r)[`threadline_relay_webhook_delivered_total{workspace="acme",endpoint="crm"}`] == want
	}); err != nil {
		t.Fatal("the relay did not count the deliveries")
	}
	r.restart()
	s = connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	someTraffic(t, s, 3)
	seqs, _ := r.logged(t, conv.KindMessageSent, conv.KindConversationCreated)
	rc.wait(t, len(seqs))
	time.Sleep(50 * time.Millisecond) // a stray extra delivery would show here
	var got []uint64
	for _, h := range rc.got() {
		got = append(got, h.event.Seq)
	}
	if !slices.Equal(got, seqs) {
		t.Errorf("delivered seqs %v; want %v", got, seqs)
	}
}

// TestWebhookReload: a reload starts an added endpoint from the head,
// restarts a changed one from its cursor with its new kinds, and stops a
// removed one.
func TestWebhookReload(t *testing.T) {
	a := newReceiver(t, nil)
	b := newReceiver(t, nil)
	r := newHookRelay(t, nil)
	s := connect(t, r.url, agentAuth(tokAna), protocol.Cursor{})
	cid := newConvID()
	s.mustLog(s.ev(conv.KindConversationCreated, cid, created("contact:7")))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("before any endpoint")))
	reload := func(hooks ...Webhook) {
		t.Helper()
		cfg := testConfig()
		cfg.Workspaces[0].Webhooks = hooks
		if err := r.srv.Reload(cfg); err != nil {
			t.Fatal(err)
		}
	}
	reload(a.hook("a", conv.KindMessageSent))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("one")))
	if h := a.wait(t, 1); !strings.Contains(string(h[0].raw), `"text":"one"`) {
		t.Fatalf("a's first delivery is %s; want the message logged after it was added", h[0].raw)
	}
	reload(a.hook("a", conv.KindMessageSent, conv.KindNoteAdded), b.hook("b", conv.KindNoteAdded))
	s.mustLog(s.ev(conv.KindNoteAdded, cid, conv.Note{Text: "two"}))
	a.wait(t, 2)
	b.wait(t, 1)
	reload(b.hook("b", conv.KindNoteAdded))
	s.mustLog(s.ev(conv.KindMessageSent, cid, msg("three")), s.ev(conv.KindNoteAdded, cid, conv.Note{Text: "four"}))
	b.wait(t, 2)
	time.Sleep(50 * time.Millisecond)
	// A reload abandons an attempt in flight, so a may have got "one"
	// twice (at least once); never anything logged after its removal.
	var texts []string
	for _, h := range a.got() {
		var m conv.Message
		json.Unmarshal(h.event.Data, &m)
		texts = append(texts, m.Text)
	}
	if slices.Contains(texts, "three") || slices.Contains(texts, "four") ||
		!slices.Contains(texts, "one") || !slices.Contains(texts, "two") {
		t.Errorf("endpoint a got %q; want one and two (its kinds while configured), nothing after its removal", texts)
	}
	m := scrape(t, r)
	if _, ok := m[`threadline_relay_webhook_delivered_total{workspace="acme",endpoint="a"}`]; ok {
		t.Errorf("removed endpoint a still in /metrics")
	}
	if got := m[`threadline_relay_webhook_delivered_total{workspace="acme",endpoint="b"}`]; got != "2" {
		t.Errorf("b delivered = %s; want 2", got)
	}
}

// scrape reads /metrics into name{labels} → value.
func scrape(t testing.TB, r *testRelay) map[string]string {
	t.Helper()
	resp, err := http.Get(r.hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			out[line[:i]] = line[i+1:]
		}
	}
	return out
}

// TestEventIDKind: the fast read of a stored event's id and kind agrees
// with encoding/json, for the relay's encoding and for odd ids.
func TestEventIDKind(t *testing.T) {
	ana := conv.Participant{ID: "agent:ana", Role: conv.RoleAgent, Name: `Ana "the" \ boss`}
	for _, id := range []string{"0190f0a4-7c1e-7abc-8def-000000000001", `with "quotes"`, `back\slash`, "ünï/客户", ""} {
		for _, convID := range []string{"c1", `c,"kind":"note.added"`} {
			e := conv.Event{ID: id, Seq: 7, Conv: convID, Kind: conv.KindMessageSent, Actor: ana, At: 1, Data: conv.MustData(msg(`"kind":"x"`))}
			plain, _ := json.Marshal(e)
			for _, raw := range [][]byte{protocol.AppendEvent(nil, &e), plain} {
				gotID, gotKind, err := eventIDKind(raw)
				if err != nil || gotID != id || gotKind != conv.KindMessageSent {
					t.Errorf("eventIDKind(%s) = %q, %q, %v; want %q, %q", raw, gotID, gotKind, err, id, conv.KindMessageSent)
				}
			}
		}
	}
	if _, _, err := eventIDKind([]byte(`{"id":"x","seq":`)); err == nil {
		t.Error("eventIDKind of a torn event: no error")
	}
}

// An event that names files comes with a download link for each (issue
// 14: webhooks carry the metadata, in the event, and an authenticated link).
func TestWebhookCarriesFileLinks(t *testing.T) {
	rc := newReceiver(t, nil)
	r := newHookRelay(t, []Webhook{rc.hook("files", conv.KindMessageSent)}, withBlobs(t))
	s, tok := fileSession(t, r, agentAuth(tokAna))
	c := convFor(t, s, "contact:42")
	photo, label := r.mustUpload(t, tok, pngFile), r.mustUpload(t, tok, pdfFile)
	s.mustLog(s.ev(conv.KindMessageSent, c, conv.Message{Text: "your label",
		Attachments: []conv.Attachment{attachment(pngFile, "box.png"), attachment(pdfFile, "label.pdf")}}))
	s.mustLog(s.ev(conv.KindMessageSent, c, msg("no files")))
	hits := rc.wait(t, 2)
	var p struct {
		Files map[string]string `json:"files"`
	}
	if err := json.Unmarshal(hits[0].body, &p); err != nil || len(p.Files) != 2 {
		t.Fatalf("delivery of a message with two files: %s; want a link per file", hits[0].body)
	}
	for _, f := range []struct {
		b    Blob
		data []byte
	}{{photo, pngFile}, {label, pdfFile}} {
		a := fileDo(t, http.MethodGet, r.hs.URL+p.Files[f.b.ID], "", nil)
		if a.status != http.StatusOK || !bytes.Equal(a.body, f.data) {
			t.Errorf("GET the delivery's link for %s = %d; want its bytes", f.b.Type, a.status)
		}
	}
	if bytes.Contains(hits[1].body, []byte(`"files"`)) {
		t.Errorf("a message without files came with links: %s", hits[1].body)
	}
	if hits[0].sig != nil {
		t.Errorf("signature over the body with links: %v", hits[0].sig)
	}
}
